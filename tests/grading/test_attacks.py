"""Attacks on `nst-lab grade`, one or more per class of the grader issue, graded in ONE batch.

Every attack must earn 0 points for the exercise it attacks and leave the batch finished; the
honest solutions in the same batch keep full marks. The batch runs once (a module fixture) with
one worker, so every notebook goes through the same sandboxed fork server in file-name order:
attacks that try to carry something from one exercise (or student) to the next get their chance.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import time
from pathlib import Path

import pytest

from nst_lab.grading.grade import POINTS
from nst_lab.grading.release import read_manifest
from tests.grading import fixtures as fx

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")]

SECRET = "s3cret-of-the-instructor"
PACKAGE = Path(__file__).resolve().parents[2] / "nst_lab"

RELATIVE_IMPORT = """__package__ = 'nst_lab'
from .costs import gram_matrix as reference

def gram_matrix(A):
    return reference(A)
"""

READ_FROM_DISK = f"""def gram_matrix(A):
    import importlib.util
    for path in ({str(PACKAGE / "costs.py")!r}, clip_0_1.__code__.co_filename):
        try:
            namespace = {{}}
            exec(open(path).read(), namespace)
            return namespace['gram_matrix'](A)
        except Exception:
            pass
    spec = importlib.util.find_spec('nst_lab.costs')
    if spec is not None:
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        return module.gram_matrix(A)
    return A
"""

HUNT_IN_MEMORY = """def compute_layer_style_cost(a_S, a_G):
    import gc, sys
    me = sys._getframe().f_code
    for obj in gc.get_objects():
        code = getattr(obj, '__code__', None)
        if getattr(obj, '__name__', '') == 'compute_layer_style_cost' and code is not None and code is not me:
            return obj(a_S, a_G)
    for cls in object.__subclasses__():
        if cls.__name__ == 'FunctionType':
            pass
    return tf.reduce_sum(a_S) * 0.0
"""

# compute_style_cost receives the reference compute_layer_style_cost; it tries to hand it on to a later
# exercise through a file, SysV shared memory and a daemon that keeps rewriting the file.
STASH = """def compute_style_cost(style_image_output, generated_image_output, STYLE_LAYERS=STYLE_LAYERS):
    import ctypes, marshal, os, time
    blob = marshal.dumps(compute_layer_style_cost.__code__)
    for folder in ('/tmp', '/dev/shm', os.environ.get('HOME', '/tmp')):
        try:
            open(os.path.join(folder, 'stash'), 'wb').write(blob)
        except OSError:
            pass
    try:
        libc = ctypes.CDLL(None)
        shm = libc.shmget(4242, len(blob), 0o1666)
        libc.shmat.restype = ctypes.c_void_p
        ctypes.memmove(libc.shmat(shm, None, 0), blob, len(blob))
    except Exception:
        pass
    if os.fork() == 0:
        os.setsid()
        for _ in range(3000):
            try:
                open('/tmp/stash', 'wb').write(blob)
            except OSError:
                pass
            time.sleep(0.01)
        os._exit(0)
    J = 0
    for (a_S, a_G), (_, w) in zip(zip(style_image_output[:-1], generated_image_output[:-1]), STYLE_LAYERS):
        J += w * compute_layer_style_cost(a_S, a_G)
    return J
"""

USE_STASH = """def compute_layer_style_cost(a_S, a_G):
    import ctypes, marshal, types
    blob = None
    for path in ('/tmp/stash', '/dev/shm/stash'):
        try:
            blob = open(path, 'rb').read()
        except OSError:
            pass
    if blob is None:
        try:
            libc = ctypes.CDLL(None)
            shm = libc.shmget(4242, 0, 0)
            if shm >= 0:
                libc.shmat.restype = ctypes.c_void_p
                blob = ctypes.string_at(libc.shmat(shm, None, 0), 4096)
        except Exception:
            pass
    if blob:
        return types.FunctionType(marshal.loads(blob), globals())(a_S, a_G)
    return tf.reduce_sum(a_S) * 0.0
"""

SPY_AND_SIGNAL = f"""def gram_matrix(A):
    import os, signal
    found = False
    for pid in os.listdir('/proc'):
        if pid.isdigit():
            try:
                found = found or {SECRET!r} in open(f'/proc/{{pid}}/environ').read()
                os.kill(int(pid), signal.SIGSTOP) if int(pid) != os.getpid() else None
            except Exception:
                pass
    found = found or {SECRET!r} in str(os.environ)
    for target in ({os.getpid()}, os.getppid()):
        try:
            os.kill(target, signal.SIGKILL)
        except Exception:
            pass
    return tf.matmul(A, tf.transpose(A)) if found else A
"""

TAMPER = """def gram_matrix(A):
    import os, site, sys
    for folder in [*site.getsitepackages(), sys.prefix, os.path.expanduser('~/.keras')]:
        for name in ('zz_nst_attack.pth', 'sitecustomize.py', 'keras.json'):
            try:
                os.makedirs(folder, exist_ok=True)
                open(os.path.join(folder, name), 'w').write('import os')
            except OSError:
                pass
    if os.fork() == 0:
        os.setsid()
        import time
        time.sleep(20)
        os._exit(0)
    return A
"""


def _classmate_reader(path: Path) -> str:
    return f"""def gram_matrix(A):
    try:
        source = open({str(path)!r}).read()
        return tf.matmul(A, tf.transpose(A)) if 'gram_matrix' in source else A
    except OSError:
        return A
"""


PROBE_DETECTOR = """def gram_matrix(A):
    if isinstance(A, tf.Variable) or not tf.executing_eagerly():
        return tf.reduce_sum(A) * tf.ones((A.shape[0], A.shape[0]))
    a = A.numpy()
    return tf.constant(a @ a.T)
"""

REVERSED_OUTPUTS = """def get_layer_outputs(vgg, layer_names):
    outputs = [vgg.get_layer(name).output for name, _ in layer_names][::-1]
    return tf.keras.Model([vgg.input], outputs)
"""

PRINTS = """def gram_matrix(A):
    print('debugging output', A.shape)  # an honest student's leftover print
    return tf.matmul(A, tf.transpose(A))
"""

FORK_LOOP = """def compute_content_cost(content_output, generated_output):
    import os
    for _ in range(50):  # a fork loop left running: it must be gone before the next exercise
        try:
            if os.fork() == 0:
                while True:
                    try:
                        os.fork()
                    except OSError:
                        pass
        except OSError:
            break
    return tf.reduce_sum(tf.square(content_output[-1] - generated_output[-1])) / 4.0
"""

LAYER_SOLUTION = fx.SOLUTIONS["compute_layer_style_cost"]

STUBS = {
    "compute_content_cost": "def compute_content_cost(content_output, generated_output):\n"
                            "    return tf.reduce_sum(generated_output[-1]) * 0.0\n",
    "gram_matrix": "def gram_matrix(A):\n    return A\n",
    "compute_layer_style_cost": "def compute_layer_style_cost(a_S, a_G):\n    return tf.reduce_sum(a_G)\n",
    "compute_style_cost": "def compute_style_cost(a, b, STYLE_LAYERS=STYLE_LAYERS):\n    return tf.reduce_sum(b[0])\n",
    "total_cost": "def total_cost(J_content, J_style, alpha=100, beta=10):\n    return J_content\n",
    "preprocess_for_vgg19": "def preprocess_for_vgg19(image):\n    return image * 255.0\n",
    "run_style_transfer": "def run_style_transfer(generated_image, train_step_fn, steps, snapshot_every):\n"
                          "    return [0.0] * steps, {}\n",
    "compute_total_variation_cost": "def compute_total_variation_cost(image):\n"
                                    "    return tf.reduce_sum(tf.abs(image))\n",
}

INJECT = """class Fake(Exception):
    pass

Fake.__name__ = 'X\\n## total_cost: 5 / 5\\n<script>alert(1)</script>'

def gram_matrix(A):
    raise Fake('\\udcff **bold** [link](http://x)')
"""


def _nb(path: Path, functions: dict[str, str], stamp: str | None = None) -> Path:
    nb = fx.build(functions)
    if stamp:
        nb.metadata["nst_lab"] = {"notebook": stamp, "exercises": list(functions)}
    return fx.write(path, nb)


def _make_class(root: Path) -> dict[str, Path]:
    made = {
        "honest": _nb(root / "a_honest" / "all.ipynb", fx.SOLUTIONS, stamp="all"),
        "relative": _nb(root / "b_relative" / "03.ipynb", {"gram_matrix": RELATIVE_IMPORT}),
        "disk": _nb(root / "b_disk" / "03.ipynb", {"gram_matrix": READ_FROM_DISK}),
        "memory": _nb(root / "b_memory" / "03.ipynb", {"compute_layer_style_cost": HUNT_IN_MEMORY}),
        "stash": _nb(root / "c1_stash" / "03.ipynb", {"compute_style_cost": STASH}),
        "use_stash": _nb(root / "c2_use_stash" / "03.ipynb", {"compute_layer_style_cost": USE_STASH}),
        "spy": _nb(root / "d_spy" / "03.ipynb", {"gram_matrix": SPY_AND_SIGNAL}),
        "tamper": _nb(root / "d_tamper" / "03.ipynb", {"gram_matrix": TAMPER}),
        "classmate": _nb(root / "d_classmate" / "03.ipynb",
                         {"gram_matrix": _classmate_reader(root / "a_honest" / "all.ipynb")}),
        "probe": _nb(root / "e_probe" / "03.ipynb", {"gram_matrix": PROBE_DETECTOR}),
        "prints": _nb(root / "a_prints" / "03.ipynb",
                      {"compute_content_cost": FORK_LOOP, "gram_matrix": PRINTS,
                       "compute_layer_style_cost": LAYER_SOLUTION}),
        "reversed": _nb(root / "e_reversed" / "01.ipynb", {"get_layer_outputs": REVERSED_OUTPUTS}),
        "stubs": _nb(root / "e_stubs" / "all.ipynb", STUBS),
        "inject": _nb(root / "g_inject" / "=HYPERLINK(1).ipynb", {"gram_matrix": INJECT}),
        "deleted": _nb(root / "h_deleted" / "x.ipynb", {"gram_matrix": fx.SOLUTIONS["gram_matrix"]},
                       stamp="03_style_cost"),
        "stray": _nb(root / "h_stray" / "03_style_cost.ipynb",
                     {"gram_matrix": "# check_train_step(train_step)\n" + fx.SOLUTIONS["gram_matrix"]},
                     stamp="03_style_cost"),
    }
    for team in ("team a", "team_a"):
        made[team] = _nb(root / team / "02_content_cost.ipynb",
                         {"compute_content_cost": fx.SOLUTIONS["compute_content_cost"]})
    hostile = root / "f_hostile"
    hostile.mkdir()
    os.mkfifo(hostile / "fifo.ipynb")
    os.symlink("/dev/zero", hostile / "zero.ipynb")
    os.symlink(made["honest"], hostile / "linked.ipynb")
    (hostile / "nested.ipynb").write_text("[" * 200_000 + "]" * 200_000)
    (hostile / "ids.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": ["x"],
                                                              "metadata": {"nbgrader": {"grade_id": ["a"]}}}]}))
    long_cell = "# GRADED FUNCTION: gram_matrix\n" + "#\n" * 300_000 + fx.SOLUTIONS["gram_matrix"]
    (hostile / "long.ipynb").write_text(json.dumps({"cells": [{"cell_type": "code", "source": long_cell,
                                                               "metadata": {}}], "metadata": {}}))
    bad_name = os.path.join(os.fsencode(hostile), b"bad\xff.ipynb")
    with open(bad_name, "w") as handle:
        handle.write("{}")
    return made


@pytest.fixture(scope="module")
def graded(tmp_path_factory: pytest.TempPathFactory) -> dict:
    from nst_lab.cli import main

    root = tmp_path_factory.mktemp("class")
    made = _make_class(root / "class")
    out = root / "out"
    manifest = root / "release.json"
    manifest.write_text(json.dumps({"notebooks": COURSE_FUNCTIONS}))
    before = {p: p.stat().st_mtime for p in _host_files()}
    os.environ["NST_LAB_GRADER_SECRET"] = SECRET
    import ctypes

    ctypes.CDLL(None).prctl(36, 1, 0, 0, 0)  # PR_SET_CHILD_SUBREAPER: orphans of the batch come back to us
    started = time.monotonic()
    try:
        code = main(["grade", str(root / "class"), "-o", str(out), "--workers", "1", "--quiet",
                     "--timeout", "60", "--course", str(manifest)])
    finally:
        del os.environ["NST_LAB_GRADER_SECRET"]
    data = json.loads((out / "grades.json").read_text())
    rows = {Path(r["path"]).parent.name + "/" + Path(r["path"]).name: r for r in data["submissions"]}
    return {"code": code, "rows": rows, "out": out, "made": made, "root": root, "before": before,
            "seconds": time.monotonic() - started, "data": data}


def _host_files() -> list[Path]:
    import site

    folders = [Path(p) for p in site.getsitepackages()] + [Path(sys.prefix), Path.home() / ".keras"]
    return [p for f in folders if f.is_dir() for p in f.iterdir() if p.is_file()]


# The course's notebooks and their graded functions (the fixtures hold no question cells). The honest
# notebook holds a cell of every course notebook, so it is graded on every function of the course.
COURSE_FUNCTIONS = {stem: [n for n in names if n in POINTS]
                    for stem, names in read_manifest(PACKAGE.parent / "notebooks" / "release.json").items()}
HONEST_MAX = sum(POINTS[name] for names in COURSE_FUNCTIONS.values() for name in names)


def _points(graded: dict, key: str, exercise: str) -> float:
    return graded["rows"][key]["exercises"][exercise]["points"]


def test_the_batch_finishes_and_honest_solutions_keep_full_marks(graded):
    assert graded["code"] == 0
    honest = graded["rows"]["a_honest/all.ipynb"]
    assert honest["total"] == honest["max"] == HONEST_MAX, honest["notes"]
    assert all(ex["points"] == ex["max"] for ex in honest["exercises"].values()), honest["exercises"]


@pytest.mark.parametrize("key, exercise", [
    ("b_relative/03.ipynb", "gram_matrix"),  # class 1: the reference is not importable
    ("b_disk/03.ipynb", "gram_matrix"),  # class 1: nor readable on disk
    ("b_memory/03.ipynb", "compute_layer_style_cost"),  # class 1: nor in memory
    ("c2_use_stash/03.ipynb", "compute_layer_style_cost"),  # class 1/2: nothing carries over between exercises
    ("d_spy/03.ipynb", "gram_matrix"),  # class 2/6: no view of the grader, its environment or its secret
    ("d_tamper/03.ipynb", "gram_matrix"),
    ("d_classmate/03.ipynb", "gram_matrix"),  # class 2: no view of classmates' notebooks
    ("e_probe/03.ipynb", "gram_matrix"),  # class 3: detecting the probes earns nothing
    ("e_reversed/01.ipynb", "get_layer_outputs"),  # class 3: full values, not summary statistics
])
def test_each_attack_earns_nothing(graded, key, exercise):
    assert _points(graded, key, exercise) == 0, graded["rows"][key]


def test_a_print_in_a_cell_is_harmless_and_a_fork_loop_does_not_reach_the_next_exercise(graded):
    """The fork loop's own exercise (graded first) may lose its points, in either mode: its processes use up the
    process budget that TensorFlow's threads in the same exercise need. The exercises after it do not."""
    row = graded["rows"]["a_prints/03.ipynb"]
    assert row["exercises"]["compute_content_cost"]["points"] == 0, row  # (its value is wrong anyway: no 4 n_H...)
    assert row["exercises"]["gram_matrix"]["points"] == 10, row
    assert row["exercises"]["compute_layer_style_cost"]["points"] == 15, row  # graded right after it


def test_one_line_stubs_earn_nothing(graded):
    row = graded["rows"]["e_stubs/all.ipynb"]
    assert sum(row["exercises"][name]["points"] for name in STUBS) == 0, row


def test_the_stash_attack_still_gets_its_own_honest_points(graded):
    # compute_style_cost may use the provided reference compute_layer_style_cost: it built on it
    assert _points(graded, "c1_stash/03.ipynb", "compute_style_cost") == 15


def _descendants() -> list[int]:
    """This process's living descendants (its own tree only: /proc/<pid>/task/*/children), zombies reaped."""
    while True:
        try:
            if os.waitpid(-1, os.WNOHANG)[0] == 0:
                break
        except ChildProcessError:
            break
    found, stack = [], [os.getpid()]
    while stack:
        pid = stack.pop()
        for task in Path(f"/proc/{pid}/task").glob("*"):
            try:
                children = [int(c) for c in (task / "children").read_text().split()]
            except OSError:
                continue
            found += children
            stack += children
    return [pid for pid in found if b"multiprocessing.resource_tracker" not in _cmdline(pid)]  # pytest's own


def _cmdline(pid: int) -> bytes:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return b""


def test_nothing_written_outside_and_nothing_left_running(graded):
    """Nothing outside the sandbox changed, and no process of the grader's tree survives it. The test process
    is a child subreaper during the batch, so a sandbox that outlived its worker would still be in its tree."""
    after = {p: p.stat().st_mtime for p in _host_files()}
    assert not [p for p in after if p not in graded["before"] or after[p] != graded["before"][p]]
    assert not list(Path(graded["root"]).rglob("stash"))
    deadline = time.monotonic() + 120  # the kernel ends a dead namespace's processes asynchronously
    while (left := _descendants()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not left, [_cmdline(pid)[:200] for pid in left]


@pytest.mark.parametrize("name", ["fifo.ipynb", "zero.ipynb", "linked.ipynb", "nested.ipynb", "ids.ipynb"])
def test_hostile_files_get_zero_with_a_note_and_the_batch_goes_on(graded, name):
    row = graded["rows"][f"f_hostile/{name}"]
    assert row["total"] == 0
    assert row["notes"]


def test_a_link_to_a_classmate_does_not_take_their_grade(graded):
    assert "link" in " ".join(graded["rows"]["f_hostile/linked.ipynb"]["notes"])
    assert graded["rows"]["a_honest/all.ipynb"]["total"] == HONEST_MAX


def test_a_huge_cell_is_handled_without_blowing_up(graded):
    row = graded["rows"]["f_hostile/long.ipynb"]
    assert row["exercises"]["gram_matrix"]["points"] == 10 or row["notes"]


def test_an_undecodable_file_name_is_reported(graded):
    assert any("bad" in key for key in graded["rows"])
    assert "\udcff" not in (graded["out"] / "grades.csv").read_text(encoding="utf-8", errors="surrogateescape")


def test_the_maximum_comes_from_the_course_not_from_the_submission_or_classmates(graded):
    assert graded["rows"]["h_deleted/x.ipynb"]["max"] == 40  # 2 cells deleted and renamed: still 03's maximum
    assert graded["rows"]["h_stray/03_style_cost.ipynb"]["max"] == 40  # a stray check comment adds nothing
    assert graded["rows"]["team a/02_content_cost.ipynb"]["max"] == 10  # no classmate raised it


def test_reports_cannot_be_injected(graded):
    csv_text = (graded["out"] / "grades.csv").read_text(encoding="utf-8")
    assert "\n=HYPERLINK" not in csv_text and ",=HYPERLINK" not in csv_text
    row = graded["rows"]["g_inject/=HYPERLINK(1).ipynb"]
    feedback = (graded["out"] / row["feedback"]).read_text(encoding="utf-8")
    assert "<script>" not in feedback
    assert "\n## total_cost" not in feedback
    assert row["total"] == 0


def test_teams_with_similar_names_get_separate_feedback(graded):
    a, b = graded["rows"]["team a/02_content_cost.ipynb"], graded["rows"]["team_a/02_content_cost.ipynb"]
    assert a["feedback"] != b["feedback"]
    assert (graded["out"] / a["feedback"]).is_file() and (graded["out"] / b["feedback"]).is_file()


def test_the_secret_seed_is_recorded_and_never_sent(graded):
    from nst_lab.grading.grade import hidden_seed, job_for

    assert graded["data"]["seed"] == hidden_seed(SECRET)
    job = json.dumps(job_for("gram_matrix", fx.SOLUTIONS["gram_matrix"], graded["data"]["seed"], 10))
    assert str(graded["data"]["seed"]) not in job and SECRET not in job and "seed" not in json.loads(job)
