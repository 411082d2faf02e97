"""The grader's fork server, run inside the sandbox as ``python -I zygote.py STATUS_FD LIMITS``.

It loads TensorFlow once, then grades each exercise in a fresh forked child: the child reads its
job from fd 0 (this process never reads a job, so it never holds one), runs it with ``kit.py``
under lowered rlimits and a wall-clock limit, and writes ``result N`` and its JSON to fd 1. After
each child this process kills every other process of the sandbox, removes System V IPC objects
and empties the scratch folder, so nothing an exercise leaves reaches the next one. It makes
itself non-dumpable, so children cannot read its memory or its file descriptors.

Like ``kit.py``, this file imports no part of nst_lab; the two are copied alone into the sandbox.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # kit.py, beside this file

import kit  # noqa: E402


def _read_exact(fd: int, count: int) -> bytes:
    chunks, left = [], count
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_line(fd: int, limit: int = 200) -> bytes:
    """One command line, byte by byte: nothing after the newline is consumed (the child reads it)."""
    line = b""
    while not line.endswith(b"\n") and len(line) < limit:
        byte = os.read(fd, 1)
        if not byte:
            return b""
        line += byte
    return line


def _time_is_up(signum: int, frame: object) -> None:
    raise kit.Timeout()


def _child(limits: dict[str, int], status_fd: int, size: int) -> None:
    """In the forked child: limits, then one job from fd 0, its result to fd 1; never returns."""
    os.close(status_fd)  # the fork server's status channel is not the student's
    os.setsid()  # a process group of its own, so the server can end all of it
    for name, value in limits.items():
        number = getattr(resource, name)
        soft, hard = resource.getrlimit(number)
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(number, (value, value))
    code = 0
    out = os.dup(1)  # the result's channel; fd 1 itself goes to /dev/null, so a print() in a cell is harmless
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 1)
    os.close(devnull)
    try:
        job = json.loads(_read_exact(0, size))
        empty = os.open(os.devnull, os.O_RDONLY)  # student code must not hold the server's command pipe:
        os.dup2(empty, 0)  # through /proc/self/fd/0 it could write commands (jobs) of its own
        os.close(empty)
        signal.signal(signal.SIGALRM, _time_is_up)
        signal.setitimer(signal.ITIMER_REAL, float(job.get("budget", 30)))
        try:
            result = kit.exercise(job)
        except kit.Timeout:
            result = {"status": "error", "note": "it ran out of time (an endless loop?)"}
        except MemoryError:
            result = {"status": "error", "note": "it ran out of memory"}
        except BaseException as exc:
            result = {"status": "error", "note": f"it raised {kit.first_line(exc)}"}
        signal.setitimer(signal.ITIMER_REAL, 0)
        data = json.dumps(result, allow_nan=True).encode()
    except BaseException as exc:  # results that are not plain data, or a broken job
        note = f"its results could not be sent ({kit.first_line(exc)})"
        data = json.dumps({"status": "error", "note": note}).encode()
        code = 1
    try:
        os.write(out, b"result %d\n" % len(data))
        view = memoryview(data)
        while view:
            view = view[os.write(out, view):]
    finally:
        os._exit(code)


def _clean_namespace() -> None:
    """Kill every process of the sandbox but this one, remove SysV IPC objects, empty the scratch folder.

    Orphans belong to the sandbox's init (PID 1), not to this process, so this kills until /proc shows
    nothing else alive: a fork loop cannot outrun it (its process limit caps how many there are).
    """
    import time

    deadline = time.monotonic() + 5
    while _others_alive() and time.monotonic() < deadline:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        _reap()
        time.sleep(0.001)
    _reap()
    _remove_sysv_ipc()
    _empty(os.environ.get("TMPDIR", "/tmp"))


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _others_alive() -> bool:
    """Whether any process but PID 1 and this one is alive (zombies waiting for their reaper are not)."""
    me = os.getpid()
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in (1, me):
            try:
                with open(f"/proc/{name}/stat") as stat:
                    state = stat.read().rpartition(")")[2].split()[0]
            except (OSError, IndexError):
                continue
            if state not in ("Z", "X"):
                return True
    return False


def _empty(folder: str) -> None:
    """Remove everything inside ``folder`` (a child may leave files, or folders it made unwritable)."""
    for root, dirs, files in os.walk(folder, topdown=False):
        for name in files:
            try:
                os.unlink(os.path.join(root, name))
            except OSError:
                pass
        for name in dirs:
            path = os.path.join(root, name)
            try:
                if os.path.islink(path):
                    os.unlink(path)
                else:
                    os.chmod(path, 0o700)
                    os.rmdir(path)
            except OSError:
                pass


def _remove_sysv_ipc() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    ipc_rmid = 0
    for kind, remove in (("shm", libc.shmctl), ("msg", libc.msgctl), ("sem", libc.semctl)):
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                rows = table.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 1:
                if kind == "sem":
                    remove(int(fields[1]), 0, ipc_rmid)
                else:
                    remove(int(fields[1]), ipc_rmid, None)


def in_own_sandbox() -> bool:
    """True inside bubblewrap's PID namespace, where this server is PID 2 under bwrap's init: only there
    may it kill "every other process" (outside, ``kill(-1)`` would reach the instructor's)."""
    return os.getpid() == 2 and os.getppid() == 1


def serve(limits: dict[str, int], status_fd: int, sandboxed: bool) -> None:
    """The fork server: load TensorFlow once, then one fresh child per command line on fd 0.

    A command is ``SIZE WALL``: the child reads the SIZE-byte job that follows from fd 0 (this
    process never reads a job, so it never holds one) and writes ``result N`` and its JSON to fd 1.
    Status lines go to ``status_fd``, which children do not hold: ``ready``, then ``exit CODE``
    after each child has ended (killed after WALL seconds) and the sandbox has been cleaned.
    """
    import ctypes
    import time

    import keras  # noqa: F401  (loaded once, here, so children start warm)
    import numpy  # noqa: F401

    kit.tensorflow()
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: children cannot read this process
    os.write(status_fd, b"ready\n")
    while True:
        line = _read_line(0)
        try:
            size, wall = int(line.split()[0]), float(line.split()[1])
        except (IndexError, ValueError):
            os._exit(0)  # end of input, or not a command
        pid = os.fork()
        if pid == 0:
            _child(limits, status_fd, size)
        deadline, status, cpu = time.monotonic() + wall, None, 0.0
        while status is None:
            done, code, usage = os.wait4(pid, os.WNOHANG)
            if done:
                status, cpu = os.waitstatus_to_exitcode(code), usage.ru_utime + usage.ru_stime
            elif time.monotonic() > deadline:
                os.kill(pid, signal.SIGKILL)
                _, _, usage = os.wait4(pid, 0)
                status, cpu = -9, usage.ru_utime + usage.ru_stime
            else:
                time.sleep(0.002)
        if sandboxed:
            _clean_namespace()
        else:  # --no-sandbox: only the child's own process group, and its scratch folder
            try:
                os.killpg(pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            _empty(os.environ.get("TMPDIR", "/nonexistent-scratch"))
        os.write(status_fd, b"exit %d %.3f\n" % (status, cpu))


def main(argv: list[str]) -> None:
    """``python -I zygote.py STATUS_FD LIMITS_JSON``: run the fork server (inside the grader's sandbox)."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    status_fd = int(argv[1])
    limits = json.loads(argv[2]) if len(argv) > 2 else {}
    threads = int(limits.pop("threads", 1))
    serve_limits = {k: int(v) for k, v in limits.items() if k.startswith("RLIMIT_")}
    os.environ["OMP_NUM_THREADS"] = str(threads)
    tf = kit.tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    serve(serve_limits, status_fd, bool(limits.get("sandboxed")) and in_own_sandbox())


if __name__ == "__main__":
    main(sys.argv)
