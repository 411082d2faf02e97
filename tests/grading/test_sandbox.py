"""The grading sandbox keeps each of its promises (one test per promise; see ``nst_lab.grading.sandbox``)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import sysconfig
import textwrap
import time
import uuid
from pathlib import Path

import pytest

import nst_lab.grading.sandbox as sandbox_module
from nst_lab.grading.probe import probe
from nst_lab.grading.sandbox import SANDBOX_HOME, Limits, Sandbox, SandboxUnavailable, worker_env

pytestmark = pytest.mark.skipif(
    shutil.which("bwrap") is None, reason="bubblewrap is not installed (apt-get install bubblewrap)"
)

SMALL = Limits(
    memory_bytes=1 << 30, cpu_seconds=20, processes=256, open_files=64, file_bytes=1 << 20, tmp_bytes=64 << 20
)


def run_py(code: str, *args: str, sandbox: Sandbox | None = None, stdin: bytes = b"") -> subprocess.CompletedProcess:
    """Run Python ``code`` (dedented) in ``sandbox`` (default: sandboxed, small limits)."""
    box = sandbox or Sandbox(limits=SMALL)
    return box.run([sys.executable, "-c", textwrap.dedent(code), *args], input=stdin, timeout=60)


def result(done: subprocess.CompletedProcess) -> dict:
    """The JSON object printed last by a sandboxed program (with its stderr when it failed)."""
    assert done.returncode == 0, done.stderr.decode(errors="replace")[-2000:]
    return json.loads(done.stdout.decode().strip().splitlines()[-1])


def processes_with(marker: str, *, argv: list[str] | None = None) -> list[int]:
    """Host PIDs whose command line contains ``marker`` (or is exactly ``argv``): a /proc scan of every namespace."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            args = Path(f"/proc/{entry}/cmdline").read_bytes().decode(errors="replace").split("\0")[:-1]
        except OSError:
            continue
        if (args == argv) if argv is not None else any(marker in arg for arg in args):
            found.append(int(entry))
    return found


def wait_started(marker: str, seconds: float = 10.0) -> None:
    """Poll until ``sleep <marker>`` itself runs (not just a wrapper whose arguments mention it)."""
    deadline = time.monotonic() + seconds
    while not processes_with(marker, argv=["sleep", marker]):
        assert time.monotonic() < deadline, f"sleep {marker} never started"
        time.sleep(0.02)


def wait_gone(marker: str, seconds: float = 5.0) -> list[int]:
    """Poll until no process carries ``marker`` (the kernel reaps a dead namespace asynchronously)."""
    deadline = time.monotonic() + seconds
    while (left := processes_with(marker)) and time.monotonic() < deadline:
        time.sleep(0.05)
    return left


# -- start-up check ---------------------------------------------------------------------------------------------


def test_probe_passes_here():
    probe(Sandbox())
    probe(Sandbox(limits=SMALL))


def test_probe_with_missing_bwrap_raises_one_line():
    with pytest.raises(SandboxUnavailable) as caught:
        probe(Sandbox(bwrap="/nonexistent/bin/bwrap"))
    message = str(caught.value)
    assert "\n" not in message
    assert "apt-get install bubblewrap" in message and "--no-sandbox" in message


def test_probe_with_broken_bwrap_raises_one_line():
    with pytest.raises(SandboxUnavailable) as caught:
        probe(Sandbox(bwrap="/bin/false"))
    assert "\n" not in str(caught.value) and "could not start" in str(caught.value)


def test_opted_out_probe_passes():
    probe(Sandbox(enabled=False, limits=SMALL))


# -- pipes, fds and lifetime ------------------------------------------------------------------------------------


def test_json_request_on_stdin_result_on_stdout():
    code = "import json, sys; req = json.load(sys.stdin); print(json.dumps({'sum': sum(req['xs'])}))"
    assert result(run_py(code, stdin=json.dumps({"xs": [1, 2, 3]}).encode())) == {"sum": 6}


def test_pass_fds_channel_reaches_the_worker():
    read_fd, write_fd = os.pipe()
    box = Sandbox(limits=SMALL)
    code = "import os, sys; os.write(int(sys.argv[1]), b'ready\\n')"
    proc = box.popen([sys.executable, "-c", code, str(write_fd)], pass_fds=(write_fd,))
    os.close(write_fd)
    try:
        assert os.read(read_fd, 100) == b"ready\n"
        assert proc.wait(timeout=30) == 0
    finally:
        os.close(read_fd)
        box.kill(proc)


def _spawn_daemon_code(marker: str) -> str:
    """Python code that double-forks a ``setsid`` grandchild running ``sleep <marker>``."""
    return textwrap.dedent(f"""
        import os, subprocess, sys
        if os.fork() == 0:
            os.setsid()
            subprocess.Popen(["sleep", "{marker}"], start_new_session=True)
            os._exit(0)
        os.wait()
    """)


def test_killing_the_worker_kills_its_double_forked_grandchildren():
    marker = f"{1000 + uuid.uuid4().int % 10**6}.5"
    box = Sandbox(limits=SMALL)
    code = _spawn_daemon_code(marker) + "print('ready', flush=True)\nimport time\ntime.sleep(1000)\n"
    proc = box.popen([sys.executable, "-c", code])
    try:
        assert proc.stdout.readline() == b"ready\n"
        wait_started(marker)
    finally:
        box.kill(proc)
    assert wait_gone(marker) == []


def test_nothing_survives_a_worker_that_exits():
    marker = f"{1000 + uuid.uuid4().int % 10**6}.25"
    done = run_py(_spawn_daemon_code(marker))
    assert done.returncode == 0
    assert wait_gone(marker) == []


def test_sandbox_dies_with_the_grader():
    """When the grader that started a running sandbox is SIGKILLed, the sandbox goes too.

    Not tested: a grader killed during bwrap's first milliseconds (bubblewrap issue #633, see the module doc).
    """
    marker = f"{1000 + uuid.uuid4().int % 10**6}.75"
    grader = textwrap.dedent(f"""
        import importlib.util, sys, time
        spec = importlib.util.spec_from_file_location("sandbox_under_test", {sandbox_module.__file__!r})
        module = sys.modules[spec.name] = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.Sandbox().popen(["sleep", "{marker}"], stdin=None, stdout=None)
        print("started", flush=True)
        time.sleep(1000)
    """)
    parent = subprocess.Popen([sys.executable, "-c", grader], stdout=subprocess.PIPE)
    try:
        assert parent.stdout.readline() == b"started\n"
        wait_started(marker)
    finally:
        parent.kill()
        parent.wait()
        parent.stdout.close()
    left = wait_gone(marker)
    for pid in left:  # never leave a stray sandbox on the test machine
        os.kill(pid, signal.SIGKILL)
    assert left == []


# -- processes --------------------------------------------------------------------------------------------------


def test_cannot_see_parent_pid_or_environ_nor_other_processes():
    code = """
        import json, os, sys
        parent = int(sys.argv[1])
        pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
        try:
            open(f"/proc/{parent}/environ").read()
            environ = "readable"
        except OSError as e:
            environ = type(e).__name__
        print(json.dumps({"pids": pids, "me": os.getpid(), "ppid": os.getppid(), "environ": environ}))
    """
    facts = result(run_py(code, str(os.getpid())))
    assert facts["ppid"] == 1 and set(facts["pids"]) <= {1, facts["me"]}
    assert os.getpid() not in facts["pids"]
    assert facts["environ"] == "FileNotFoundError"


def test_cannot_signal_the_parent():
    code = """
        import json, os, signal, sys
        try:
            os.kill(int(sys.argv[1]), signal.SIGTERM)
            outcome = "sent"
        except OSError as e:
            outcome = type(e).__name__
        print(json.dumps(outcome))
    """
    received = []
    previous = signal.signal(signal.SIGTERM, lambda *_: received.append(1))
    try:
        assert result(run_py(code, str(os.getpid()))) == "ProcessLookupError"
    finally:
        signal.signal(signal.SIGTERM, previous)
    assert received == []


@pytest.mark.skipif(os.geteuid() != 0, reason="the uid switch happens only when the grader runs as root")
def test_runs_unprivileged_without_capabilities():
    code = """
        import json, os
        caps = {l.split(":")[0]: int(l.split(":")[1], 16) for l in open("/proc/self/status") if l.startswith("Cap")}
        nnp = [l.split()[1] for l in open("/proc/self/status") if l.startswith("NoNewPrivs")][0]
        print(json.dumps({"uid": os.getuid(), "euid": os.geteuid(), "caps": caps, "nnp": nnp}))
    """
    facts = result(run_py(code))
    assert facts["uid"] == facts["euid"] == 65534
    assert not any(facts["caps"].values()) and facts["nnp"] == "1"


# -- network ----------------------------------------------------------------------------------------------------


def test_no_network_not_even_the_graders_loopback():
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    code = """
        import json, socket, sys
        s = socket.socket(); s.settimeout(3)
        try:
            s.connect(("127.0.0.1", int(sys.argv[1]))); outcome = "connected"
        except OSError as e:
            outcome = type(e).__name__
        print(json.dumps({"connect": outcome, "interfaces": [n for _, n in socket.if_nameindex()]}))
    """
    try:
        facts = result(run_py(code, str(listener.getsockname()[1])))
    finally:
        listener.close()
    assert facts == {"connect": "ConnectionRefusedError", "interfaces": ["lo"]}


# -- files ------------------------------------------------------------------------------------------------------

READ = """
    import json, sys
    out = {}
    for path in sys.argv[1:]:
        try:
            out[path] = open(path).read()
        except OSError as e:
            out[path] = type(e).__name__
    print(json.dumps(out))
"""


def test_cannot_read_files_outside_the_binds(tmp_path):
    classmate = tmp_path / "submissions" / "classmate.ipynb"
    classmate.parent.mkdir()
    classmate.write_text("{}")
    os.chmod(tmp_path, 0o755)
    os.chmod(classmate.parent, 0o755)
    classmate.chmod(0o644)  # readable by anyone: only the mount namespace hides it
    secret = Path.home() / f".nst-lab-sandbox-test-{uuid.uuid4().hex}"
    secret.write_text("instructor's")
    try:
        paths = [str(classmate), str(secret), str(Path.home()), "/etc/shadow", "/work"]
        facts = result(run_py(READ, *paths))
    finally:
        secret.unlink()
    assert facts[str(classmate)] == facts[str(secret)] == "FileNotFoundError"
    assert facts["/etc/shadow"] == "FileNotFoundError"
    assert facts[str(Path.home())] in ("FileNotFoundError", "IsADirectoryError")  # a bare mount point at most


def test_extra_read_only_binds_are_readable_but_not_writable(tmp_path):
    folder = tmp_path / "job"
    folder.mkdir(mode=0o755)
    (folder / "request.json").write_text('{"ok": 1}')
    (folder / "request.json").chmod(0o644)
    single = tmp_path / "single.txt"
    single.write_text("one file")
    single.chmod(0o644)
    sibling = tmp_path / "sibling.txt"
    sibling.write_text("not bound")
    sibling.chmod(0o644)
    box = Sandbox(ro_binds=(str(folder), str(single)), limits=SMALL)
    code = textwrap.dedent(READ) + textwrap.dedent("""
        try:
            open(sys.argv[1] + "/new.txt", "w"); out["write"] = "written"
        except OSError as e:
            out["write"] = type(e).__name__
        print(json.dumps(out))
    """)
    facts = result(run_py(code, str(folder), str(folder / "request.json"), str(single), str(sibling), sandbox=box))
    assert facts[str(folder / "request.json")] == '{"ok": 1}'
    assert facts[str(single)] == "one file"
    assert facts[str(sibling)] == "FileNotFoundError"
    assert facts["write"] in ("OSError", "PermissionError")  # EROFS (or EACCES for nobody)
    assert not (folder / "new.txt").exists()


def test_cannot_write_to_site_packages_or_the_prefix():
    site = sysconfig.get_paths()["purelib"]
    targets = [f"{site}/evil.pth", f"{site}/sitecustomize.py", f"{sys.prefix}/evil.pth", f"{sys.base_prefix}/x.pth"]
    code = """
        import json, sys
        out = {}
        for path in sys.argv[1:]:
            try:
                open(path, "w").write("import os")
                out[path] = "written"
            except OSError as e:
                out[path] = e.strerror
        print(json.dumps(out))
    """
    facts = result(run_py(code, *targets))
    assert set(facts.values()) <= {"Read-only file system", "Permission denied"}, facts
    assert not any(os.path.exists(t) for t in targets if t != f"{site}/sitecustomize.py")


def test_home_is_a_throwaway_tmpfs():
    name = f".keras-{uuid.uuid4().hex}"
    code = f"""
        import json, os
        home = os.path.expanduser("~")
        os.makedirs(os.path.join(home, "{name}"))
        open(os.path.join(home, "{name}", "keras.json"), "w").write("{{}}")
        fs = [l.split()[l.split().index("-") + 1] for l in open("/proc/self/mountinfo") if l.split()[4] == home]
        print(json.dumps({{"home": home, "cwd": os.getcwd(), "fs": fs[-1]}}))
    """
    assert result(run_py(code)) == {"home": SANDBOX_HOME, "cwd": SANDBOX_HOME, "fs": "tmpfs"}
    assert not (Path(SANDBOX_HOME) / name).exists() and not (Path.home() / name).exists()
    again = result(run_py(f"import json, os; print(json.dumps(os.path.exists('/tmp/{name}')))"))
    assert again is False  # each sandbox gets a fresh one


# -- environment ------------------------------------------------------------------------------------------------


def test_environment_is_explicit_and_has_no_secret(monkeypatch):
    monkeypatch.setenv("NST_LAB_GRADER_SECRET", "s3cr3t-value")
    box = Sandbox(env=worker_env(threads=2), limits=SMALL)
    assert not any("s3cr3t" in arg for arg in box.argv(["true"]))
    env = result(run_py("import json, os; print(json.dumps(dict(os.environ)))", sandbox=box))
    env.pop("PWD", None)
    assert env == worker_env(threads=2)
    assert env["HOME"] == "/tmp" and env["OMP_NUM_THREADS"] == "2"


# -- limits -----------------------------------------------------------------------------------------------------


def test_rlimits_are_in_force_inside():
    code = """
        import json, resource as r
        names = ["RLIMIT_AS", "RLIMIT_CPU", "RLIMIT_NPROC", "RLIMIT_NOFILE", "RLIMIT_FSIZE"]
        print(json.dumps({n: list(r.getrlimit(getattr(r, n))) for n in names}))
    """
    facts = result(run_py(code))
    values = [SMALL.memory_bytes, SMALL.cpu_seconds, SMALL.processes, SMALL.open_files, SMALL.file_bytes]
    assert list(facts.values()) == [[v, v] for v in values]


def test_memory_limit_makes_a_huge_allocation_fail():
    code = """
        import json
        try:
            block = bytearray(2 << 30); outcome = "allocated"
        except MemoryError:
            outcome = "MemoryError"
        print(json.dumps(outcome))
    """
    assert result(run_py(code)) == "MemoryError"


def test_file_size_limit_makes_a_big_write_fail():
    code = """
        import json
        try:
            with open("/tmp/big", "wb") as f:
                f.write(b"x" * (2 << 20)); f.flush()
            outcome = "written"
        except OSError as e:
            outcome = e.strerror
        print(json.dumps(outcome))
    """
    assert result(run_py(code)) == "File too large"


def test_open_files_limit_is_in_force():
    code = """
        import json
        files = []
        try:
            while len(files) < 1000:
                files.append(open("/dev/null"))
        except OSError as e:
            print(json.dumps([len(files), e.strerror]))
    """
    opened, why = result(run_py(code))
    assert opened < SMALL.open_files and why == "Too many open files"


def test_cpu_limit_kills_a_busy_loop():
    """No wall-clock assertion: on a busy machine 1 CPU second can take long, but the loop never finishes."""
    box = Sandbox(limits=Limits(cpu_seconds=1, memory_bytes=1 << 30))
    done = run_py("import time\nt = time.time()\nwhile time.time() - t < 30: pass\nprint('finished')\n", sandbox=box)
    assert done.returncode != 0 and b"finished" not in done.stdout  # killed by its CPU limit, not by a clock


def test_fork_bomb_is_contained():
    """At most 200 forks (bounded), each child sleeps; fork must fail before the 64-process limit."""
    code = """
        import json, os, time
        forked, error = 0, None
        for _ in range(200):
            try:
                pid = os.fork()
            except OSError as e:
                error = type(e).__name__
                break
            if pid == 0:
                time.sleep(20)
                os._exit(0)
            forked += 1
        print(json.dumps([forked, error]), flush=True)
    """
    box = Sandbox(limits=Limits(processes=64, memory_bytes=1 << 30))
    forked, error = result(run_py(code, sandbox=box))  # the namespace and its sleepers die when the program exits
    assert error == "BlockingIOError" and forked < 64


# -- the opt-out ------------------------------------------------------------------------------------------------


def test_opt_out_still_limits_cleans_env_and_uses_a_scratch_folder(monkeypatch):
    monkeypatch.setenv("NST_LAB_GRADER_SECRET", "s3cr3t-value")
    box = Sandbox(enabled=False, limits=SMALL)
    code = """
        import json, os, resource as r
        print(json.dumps({"env": dict(os.environ), "cwd": os.getcwd(), "as": r.getrlimit(r.RLIMIT_AS)[0],
                          "nofile": r.getrlimit(r.RLIMIT_NOFILE)[0]}))
    """
    proc = box.popen([sys.executable, "-c", textwrap.dedent(code)])
    out, _ = proc.communicate(timeout=60)
    facts = json.loads(out)
    assert "NST_LAB_GRADER_SECRET" not in facts["env"]
    assert facts["env"]["HOME"] == facts["cwd"] != os.getcwd() and "nst-lab-unsandboxed-" in facts["cwd"]
    assert facts["as"] == SMALL.memory_bytes and facts["nofile"] == SMALL.open_files
    del proc
    import gc

    gc.collect()
    assert not os.path.exists(facts["cwd"])  # the scratch folder goes with the process object


# -- TensorFlow -------------------------------------------------------------------------------------------------


@pytest.mark.slow
def test_tensorflow_imports_and_runs_under_the_default_limits():
    code = """
        import json, tensorflow as tf
        x = tf.reduce_sum(tf.ones((64, 64)) @ tf.ones((64, 64)))
        print(json.dumps(float(x)))
    """
    box = Sandbox(env=worker_env(threads=1))
    done = box.run([sys.executable, "-c", textwrap.dedent(code)], timeout=300)
    assert result(done) == 64.0 * 64 * 64


def test_the_audit_reports_files_and_keys_left(tmp_path, monkeypatch):
    """The fork server's audit after each notebook (``sweep.audit``) names what is left: files, keys."""
    import ctypes
    import platform

    from nst_lab.grading import sweep

    monkeypatch.setenv("TMPDIR", str(tmp_path))
    baseline = sweep.keys()
    if not os.listdir("/dev/shm"):  # the host's /dev/shm is also looked at
        assert "files in" not in " ".join(sweep.audit(baseline, sandboxed=True, settle=0))
    (tmp_path / "left-behind").write_bytes(b"x")
    assert any(item.startswith("files in") for item in sweep.audit(baseline, sandboxed=True, settle=0))
    if platform.machine() == "x86_64" and Path("/proc/keys").exists():
        libc = ctypes.CDLL(None, use_errno=True)
        libc.syscall(250, 1, None)  # a new session keyring of this test's own, then a key in it
        key = libc.syscall(248, b"user", b"nst-audit-test", b"x", 1, -3)
        if key > 0:
            assert any("key" in item for item in sweep.audit(baseline, sandboxed=True, settle=0))
