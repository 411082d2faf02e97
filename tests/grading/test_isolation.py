"""Grader v3: no student can touch a classmate's grade, time or memory, as root and as an unprivileged user.

One batch per mode (a module fixture) holds hostile students and an honest classmate graded after them by
the same fork server (one worker, students in name order). Each attack class of the issue has a student:
sabotage of the fork server (signals, ``prlimit``, ``ptrace``, ``pidfd``, ``F_SETOWN``/``F_SETSIG`` on
every descriptor), stashes in keyrings, files and ``/dev/shm``, endless loops across two notebooks, a paste
of nst_lab's own functions, extra copies of one notebook, and a classmate's code reformatted. Nothing here
times anything, and nothing scans the host's processes: the sandbox's own audit says what it still holds.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from nst_lab.grading.grade import POINTS, Submission
from nst_lab.grading.release import read_manifest
from nst_lab.grading.schedule import INCOMPLETE_EXIT, round_robin
from tests.grading import fixtures as fx
from tests.grading import unprivileged

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")]

REPO = Path(__file__).resolve().parents[2]
SECRET = "only-the-instructor-knows"
COURSE = {stem: [n for n in names if n in POINTS]
          for stem, names in read_manifest(REPO / "notebooks" / "release.json").items()}
HONEST_MAX = sum(POINTS[name] for names in COURSE.values() for name in names)

SABOTAGE = """def gram_matrix(A):
    import ctypes, fcntl, os, resource, signal
    libc = ctypes.CDLL(None, use_errno=True)
    me = os.getpid()
    for pid in range(1, 4096):
        if pid == me:
            continue
        for attempt in (lambda: resource.prlimit(pid, resource.RLIMIT_AS, (1 << 20, 1 << 20)),
                        lambda: resource.prlimit(pid, resource.RLIMIT_NOFILE, (3, 3)),
                        lambda: os.kill(pid, signal.SIGSTOP), lambda: libc.ptrace(16, pid, 0, 0)):
            try:
                attempt()
            except (OSError, ValueError):
                pass
    for entry in os.listdir('/proc'):
        if entry.isdigit() and int(entry) != me:
            try:
                fd = os.open('/proc/' + entry, os.O_RDONLY | os.O_DIRECTORY)
                libc.syscall(424, fd, int(signal.SIGSTOP), None, 0)  # pidfd_send_signal
                os.close(fd)
            except OSError:
                pass
    for fd in range(256):
        try:
            fcntl.fcntl(fd, fcntl.F_SETOWN, me)
            fcntl.fcntl(fd, fcntl.F_SETFL, fcntl.fcntl(fd, fcntl.F_GETFL) | os.O_ASYNC | os.O_NONBLOCK)
            fcntl.fcntl(fd, 10, int(signal.SIGSTOP))  # F_SETSIG
        except OSError:
            pass
    return tf.matmul(A, tf.transpose(A))
"""

# compute_style_cost receives the reference compute_layer_style_cost: it tries to leave it for a classmate in
# every keyring, in /, /etc, /tmp and /dev/shm, and fills /tmp so that the next student has no room.
STASH = """def compute_style_cost(style_image_output, generated_image_output, STYLE_LAYERS=STYLE_LAYERS):
    import ctypes, marshal, os
    libc = ctypes.CDLL(None, use_errno=True)
    blob = marshal.dumps(compute_layer_style_cost.__code__)
    for ring in (-4, -3, -5):  # the user, session and user-session keyrings
        libc.syscall(248, b'user', b'nst-stash', blob, len(blob), ring)
    for folder in ('/', '/etc', '/tmp', '/dev/shm', '/dev'):
        try:
            with open(os.path.join(folder, 'nst-stash'), 'wb') as handle:
                handle.write(blob)
        except OSError:
            pass
    try:
        with open('/tmp/filler', 'wb') as handle:
            for _ in range(200):
                handle.write(b'x' * (1 << 20))
    except OSError:
        pass
    J = 0
    for (a_S, a_G), (_, w) in zip(zip(style_image_output[:-1], generated_image_output[:-1]), STYLE_LAYERS):
        J += w * compute_layer_style_cost(a_S, a_G)
    return J
"""

USE_STASH = """def compute_layer_style_cost(a_S, a_G):
    import ctypes, marshal, os, types
    libc = ctypes.CDLL(None, use_errno=True)
    blob = None
    for ring in (-4, -3, -5):
        key = libc.syscall(250, 10, ring, b'user', b'nst-stash', 0)  # KEYCTL_SEARCH
        if key > 0:
            buffer = ctypes.create_string_buffer(1 << 16)
            size = libc.syscall(250, 11, key, buffer, 1 << 16)  # KEYCTL_READ
            blob = buffer.raw[:size] if size > 0 else blob
    for folder in ('/', '/etc', '/tmp', '/dev/shm', '/dev'):
        try:
            blob = open(os.path.join(folder, 'nst-stash'), 'rb').read()
        except OSError:
            pass
    if blob:
        return types.FunctionType(marshal.loads(blob), globals())(a_S, a_G)
    return tf.reduce_sum(a_S) * 0.0
"""

LOOP = ("def {name}(*args, **kwargs):\n    while True:\n        try:\n            pass\n"
        "        except BaseException:\n            pass\n")


def _paste(name: str) -> str:
    """What a student pastes from ``inspect.getsource``: nst_lab's function and the package helpers it calls."""
    from nst_lab import costs, optim, train, vgg

    helpers = {"compute_layer_style_cost": [costs.unroll], "compute_style_cost": [costs.unroll],
               "preprocess_for_vgg19": []}
    home = next(m for m in (costs, vgg, optim, train) if hasattr(m, name))
    sources = [inspect.getsource(h) for h in helpers.get(name, [])] + [inspect.getsource(getattr(home, name))]
    prefix = "IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)\n" if name == "preprocess_for_vgg19" else ""
    return prefix + "\n".join(sources)


def _nb(path: Path, functions: dict[str, str], stamp: str | None = None) -> Path:
    nb = fx.build(functions)
    if stamp:
        nb.metadata["nst_lab"] = {"notebook": stamp, "exercises": list(functions)}
    return fx.write(path, nb)


def _make_class(root: Path) -> None:
    layer = fx.SOLUTIONS["compute_layer_style_cost"]
    reformatted = "# my own\n" + layer.replace("a_S", "style").replace("a_G", "generated").replace(" = ", "  =  ")
    _nb(root / "a_sabotage" / "03.ipynb", {"gram_matrix": SABOTAGE})
    _nb(root / "b_stash" / "03.ipynb", {"compute_style_cost": STASH})
    _nb(root / "c_loops" / "02_content_cost.ipynb", {"compute_content_cost": LOOP.format(name="compute_content_cost")})
    _nb(root / "c_loops" / "03_style_cost.ipynb", {n: LOOP.format(name=n) for n in COURSE["03_style_cost"]})
    _nb(root / "d_paste" / "all.ipynb", {n: _paste(n) for n in fx.SOLUTIONS})
    for copy in ("03_style_cost.ipynb", "Copy of 03_style_cost.ipynb"):
        _nb(root / "e_copies" / copy, {"gram_matrix": fx.SOLUTIONS["gram_matrix"]}, stamp="03_style_cost")
    _nb(root / "f_copier" / "03.ipynb", {"compute_layer_style_cost": reformatted})
    _nb(root / "g_use_stash" / "03.ipynb", {"compute_layer_style_cost": USE_STASH})
    _nb(root / "z_honest" / "all.ipynb", fx.SOLUTIONS, stamp="all")


def _unprivileged_runner(folder: Path) -> tuple[list[str] | None, str]:
    """The command prefix that runs the grader as an unprivileged user (None when it cannot run here), and why not.

    As root, ``unprivileged.prefix`` makes this session's Python readable to that user in a private mount
    namespace (CI's interpreter may live under /root, mode 0700) without changing the host.
    """
    prefix = unprivileged.prefix([sys.prefix, sys.base_prefix, sys.executable, str(REPO), str(folder)])
    if prefix is None:
        return None, "only root can switch to an unprivileged user (and util-linux's unshare is needed)"
    check = "from nst_lab.grading.probe import probe; from nst_lab.grading.sandbox import Sandbox; probe(Sandbox())"
    done = subprocess.run([*prefix, sys.executable, "-c", check], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO)}, cwd=folder, check=False)
    return (prefix, "") if done.returncode == 0 else (None, (done.stderr.strip().splitlines() or ["?"])[-1])


@pytest.fixture(scope="module", params=["as-is", "unprivileged"])
def graded(request: pytest.FixtureRequest) -> dict:
    folder = Path(tempfile.mkdtemp(prefix="nst-lab-isolation-"))
    os.chmod(folder, 0o755)
    try:
        yield _grade(folder, request.param)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _grade(folder: Path, mode: str) -> dict:
    prefix: list[str] = []
    if mode == "unprivileged":
        if os.geteuid() != 0:
            pytest.skip("the tests already run as an unprivileged user: the 'as-is' batch is that mode")
        runner, why = _unprivileged_runner(folder)
        if runner is None:
            pytest.skip(f"uid {unprivileged.UID} cannot run the sandbox here: {why}")
        prefix = runner
    _make_class(folder / "class")
    (folder / "release.json").write_text(json.dumps({"notebooks": COURSE}))
    out = folder / "out"
    out.mkdir()
    os.chmod(out, 0o777)
    command = [*prefix, sys.executable, "-m", "nst_lab", "grade", str(folder / "class"), "-o", str(out),
               "--workers", "1", "--quiet", "--course", str(folder / "release.json"), "--timeout", "30",
               "--student-timeout", "75"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=folder, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO), "NST_LAB_GRADER_SECRET": SECRET})
    assert (out / "grades.json").is_file(), done.stderr[-2000:]
    data = json.loads((out / "grades.json").read_text())
    rows = {"/".join(Path(r["path"]).parts[-2:]): r for r in data["submissions"]}
    return {"code": done.returncode, "rows": rows, "err": done.stderr, "mode": mode}


def _points(graded: dict, key: str, exercise: str) -> float:
    return graded["rows"][key]["exercises"][exercise]["points"]


def test_the_honest_classmate_keeps_full_marks_and_a_clean_sandbox(graded):
    honest = graded["rows"]["z_honest/all.ipynb"]
    assert honest["total"] == honest["max"] == HONEST_MAX, honest["notes"]
    assert not [n for n in honest["notes"] if "sandbox still held" in n], honest["notes"]
    assert graded["code"] == 0, graded["err"][-2000:]


def test_sabotaging_the_fork_server_reaches_nobody(graded):
    # every later exercise ran in a working sandbox: nobody's note blames it, and the next student scores
    others = [n for key, r in graded["rows"].items() if key != "a_sabotage/03.ipynb" for n in r["notes"]]
    assert not [n for n in others if "sandbox" in n or "crashed" in n], others
    assert _points(graded, "b_stash/03.ipynb", "compute_style_cost") == 15


def test_nothing_stashed_in_keyrings_files_or_shm_reaches_a_classmate(graded):
    assert _points(graded, "g_use_stash/03.ipynb", "compute_layer_style_cost") == 0
    assert _points(graded, "b_stash/03.ipynb", "compute_style_cost") == 15  # it may use what it was given
    notes = [n for r in graded["rows"].values() for n in r["notes"] if "sandbox still held" in n]
    assert not notes  # the audit after each notebook found no process, IPC object, key or file left


def test_endless_loops_cost_only_their_students_time_and_nothing_is_a_silent_zero(graded):
    rows = [graded["rows"]["c_loops/02_content_cost.ipynb"], graded["rows"]["c_loops/03_style_cost.ipynb"]]
    notes = [ex["note"] for row in rows for ex in row["exercises"].values()]
    assert all(row["total"] == 0 and row["max"] > 0 for row in rows)
    assert all("ran out of time" in note or note == "not graded (student time)" for note in notes), notes
    assert "not graded (student time)" in notes  # its student's 75 s were spent before its last exercises


def test_a_paste_of_nst_labs_own_code_scores_nothing_and_says_so(graded):
    row = graded["rows"]["d_paste/all.ipynb"]
    assert row["total"] == 0, row["notes"]
    said = [n for n in row["notes"] if "nst_lab's own reference code" in n]
    for name in ("gram_matrix", "compute_content_cost", "compute_layer_style_cost", "compute_style_cost",
                 "total_cost", "compute_total_variation_cost", "adam_update"):
        assert any(n.startswith(f"{name}:") for n in said), (name, row["notes"])


def test_an_extra_copy_of_a_notebook_is_noted_not_added(graded):
    first, extra = (graded["rows"][f"e_copies/{n}"] for n in ("03_style_cost.ipynb", "Copy of 03_style_cost.ipynb"))
    assert first["max"] == sum(POINTS[n] for n in COURSE["03_style_cost"]) and first["total"] == 10
    assert (extra["total"], extra["max"], extra["exercises"]) == (0, 0, {})
    assert any("an extra copy of 03_style_cost" in n and "e_copies/03_style_cost.ipynb" in n for n in extra["notes"])


def test_a_reformatted_copy_of_a_classmate_is_flagged(graded):
    notes = graded["rows"]["f_copier/03.ipynb"]["notes"]
    assert any("compute_layer_style_cost: the same code" in n and "z_honest/all.ipynb" in n for n in notes), notes


def test_students_are_taken_round_robin():
    subs = [Submission(f"{who}/{i}.ipynb", Path(f"{who}/{i}.ipynb"), student=who)
            for who, count in (("a", 3), ("b", 1), ("c", 2)) for i in range(count)]
    assert [subs[i].name for i in round_robin(subs)] == ["a/0.ipynb", "b/0.ipynb", "c/0.ipynb", "a/1.ipynb",
                                                         "c/1.ipynb", "a/2.ipynb"]


def test_a_batch_that_runs_out_of_time_says_what_it_did_not_grade(tmp_path):
    """--batch-timeout shorter than the sandbox's start: nothing is graded, everything says so, exit code 3."""
    from nst_lab.cli import main

    for who in ("alice", "bob", "carol"):
        _nb(tmp_path / "class" / who / "03_style_cost.ipynb", {"gram_matrix": fx.SOLUTIONS["gram_matrix"]})
    manifest = tmp_path / "release.json"
    # only the exercise the notebooks hold: a missing cell is a 0 that needs no time ("no cell marked"), and
    # whether the scheduler or the notebook's clock finds the batch over first is a race on a busy machine
    manifest.write_text(json.dumps({"notebooks": {"03_style_cost": ["gram_matrix"]}}))
    code = main(["grade", str(tmp_path / "class"), "-o", str(tmp_path / "out"), "--quiet", "--seed", "77",
                 "--workers", "1", "--batch-timeout", "0.001", "--course", str(manifest)])
    assert code == INCOMPLETE_EXIT
    rows = json.loads((tmp_path / "out" / "grades.json").read_text())["submissions"]
    maximum = POINTS["gram_matrix"]
    assert [(r["total"], r["max"], r["incomplete"]) for r in rows] == [(0, maximum, True)] * 3
    notes = [ex["note"] for r in rows for ex in r["exercises"].values()]
    assert all(n == "not graded (batch time)" for n in notes), notes
    csv_text = (tmp_path / "out" / "grades.csv").read_text()
    assert csv_text.count("not graded (batch time)") >= 3


def test_each_notebook_gets_a_fresh_fork_of_the_server():
    """Every notebook's keepers come from a fork of the warm server made for that notebook alone (so nothing a
    student's processes did to their server outlives the notebook); the warm server itself forks no keeper.
    Opted out of the sandbox, the exercise sees the real process ids: its keeper's parent is that server."""
    from nst_lab.grading.grade import job_for
    from nst_lab.grading.runner import KitServer, Settings

    cell = ("def gram_matrix(A):\n    import os\n    keeper = os.getppid()\n"
            "    server = int(open(f'/proc/{keeper}/stat').read().rpartition(')')[2].split()[1])\n"
            "    above = int(open(f'/proc/{server}/stat').read().rpartition(')')[2].split()[1])\n"
            "    return tf.constant([[float(server), float(above)]])\n")
    server = KitServer(Settings(seed=5, timeout=60, sandbox=False))
    seen = []
    try:
        for _notebook in range(2):
            for _exercise in range(2):
                result = server.run(job_for("gram_matrix", cell, 5, 60))
                seen.append(tuple(int(x) for x in result["results"]["case0"]["value"]["value"][0]))
            assert server.audit() == []
    finally:
        server.close()
    (first, top), (again, top2), (second, top3), (_, top4) = seen
    assert first == again and second != first  # one server per notebook, a new one for the next
    assert top == top2 == top3 == top4 and top not in (first, second)  # all forked by the same warm server
