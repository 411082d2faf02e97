"""The grader works wherever its Python environment, the course file, the submissions and the output live,
``/tmp`` included: each exercise's fresh ``/tmp`` must not hide what the sandbox bound there, and the audit after
each student must not count those read-only binds as files left behind.

The environment is shown under ``/tmp`` through a link to this session's venv (no 3 GB copy): Python takes a
venv's prefix from the path it was started by, so the sandbox binds the venv at that path, inside its ``/tmp``.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from nst_lab.grading.grade import POINTS
from nst_lab.grading.release import read_manifest
from tests.grading import fixtures as fx
from tests.grading import unprivileged

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")]

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "03_style_cost"
EXERCISES = [n for n in read_manifest(REPO / "notebooks" / "release.json")[NOTEBOOK] if n in POINTS]


@pytest.fixture
def under_tmp() -> Path:
    folder = Path(tempfile.mkdtemp(prefix="nst-lab-under-tmp-", dir="/tmp"))
    os.chmod(folder, 0o755)
    try:
        yield folder
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _python_under(folder: Path) -> Path:
    """This interpreter, started through a link below ``folder``; skips when its prefix would not move there."""
    if sys.prefix == sys.base_prefix:
        pytest.skip("the tests do not run in a venv: a link cannot move the interpreter's prefix")
    (folder / "venv").symlink_to(sys.prefix, target_is_directory=True)
    python = folder / "venv" / "bin" / Path(sys.executable).name
    prefix = subprocess.run([python, "-c", "import sys; print(sys.prefix)"], capture_output=True, text=True,
                            check=True).stdout.strip()
    if not prefix.startswith(str(folder)):
        pytest.skip(f"this Python resolves its venv's link ({prefix})")
    return python


# A correct gram_matrix that also writes into every folder on the way to the code and the venv it sees under /tmp.
WRITER = """def gram_matrix(A):
    import os, sys
    for folder in {sys.prefix, os.path.dirname(sys.prefix), os.path.dirname(os.__file__), '/tmp', '/dev/shm'}:
        try:
            with open(os.path.join(folder, 'left-behind'), 'w') as handle:
                handle.write('x')
        except OSError:
            pass
    return tf.matmul(A, tf.transpose(A))
"""


@pytest.mark.parametrize("mode", ["as-is", "unprivileged"])
def test_a_venv_course_submissions_and_output_under_tmp_grade_fully_and_leave_nothing(under_tmp: Path,
                                                                                     mode: str) -> None:
    python = _python_under(under_tmp)
    runner: list[str] = []
    if mode == "unprivileged":
        if os.geteuid() != 0:
            pytest.skip("the tests already run as an unprivileged user: the 'as-is' run is that mode")
        runner = unprivileged.prefix([sys.prefix, sys.base_prefix, sys.executable, str(REPO), str(under_tmp)]) or []
        if not runner:
            pytest.skip("util-linux's unshare is needed to run as an unprivileged user")
    solutions = {name: fx.SOLUTIONS[name] for name in EXERCISES}
    for who in ("alice", "bob", "carol"):
        nb = fx.build({**solutions, "gram_matrix": WRITER} if who == "carol" else solutions)
        nb.metadata["nst_lab"] = {"notebook": NOTEBOOK, "exercises": EXERCISES}
        fx.write(under_tmp / "class" / who / f"{NOTEBOOK}.ipynb", nb)
    (under_tmp / "release.json").write_text(json.dumps({"notebooks": {NOTEBOOK: EXERCISES}}))
    out = under_tmp / "out"
    out.mkdir(mode=0o777)
    os.chmod(out, 0o777)  # the unprivileged instructor writes the reports there
    command = [*runner, str(python), "-m", "nst_lab", "grade", str(under_tmp / "class"), "-o", str(out),
               "--workers", "1", "--quiet", "--seed", "5", "--course", str(under_tmp / "release.json"),
               "--timeout", "120"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=under_tmp, check=False,
                          env={**os.environ, "PYTHONPATH": str(REPO)})
    assert (out / "grades.json").is_file(), done.stderr[-2000:]
    rows = json.loads((out / "grades.json").read_text())["submissions"]
    maximum = sum(POINTS[name] for name in EXERCISES)
    assert len(rows) == 3
    for row in rows:
        notes = [n for n in row["notes"] if not n.endswith("(a copy?)")]  # alice and bob hand in the same code
        assert (row["total"], row["max"], notes) == (maximum, maximum, []), row
    assert done.returncode == 0, done.stderr[-2000:]
    assert not list(under_tmp.glob("**/left-behind"))
