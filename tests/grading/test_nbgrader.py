"""nbgrader as the client, with its default configuration: release, validate and autograde notebook 03.

A temporary course folder holds ``source/ps1/03_style_cost.ipynb`` (the solution notebook as
committed). ``nbgrader generate_assignment`` releases it; ``nbgrader validate`` on the release must
say what to fill in (the answer variables by name, no NameError); ``nbgrader autograde`` scores
three submissions in one run: everything right, a transposed ``gram_matrix``, and one question
left unanswered. One slip must cost only its own points. The notebooks run with
``NST_LAB_QUICK=1``; the module took 103 s on this project's shared 2-core machine (marked slow)
and is skipped when nbgrader is not installed (it is in the ``dev`` extra).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("nbgrader")
import nbformat  # noqa: E402

from nst_lab.grading.release import BEGIN, END  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
NOTEBOOK = "03_style_cost"
ASSIGNMENT = "ps1"
TRANSPOSED = "GA = tf.matmul(tf.transpose(A), A)"  # A^T A: (n_H*n_W, n_H*n_W) instead of (n_C, n_C)
UNANSWERED = "seed_slice_drops"

pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


BIN = str(Path(sys.executable).parent)  # nbgrader runs `alembic` from PATH, as in an activated venv


def _nbgrader(course: Path, *args: str) -> str:
    env = {**os.environ, "NST_LAB_QUICK": "1", "MPLBACKEND": "Agg", "TF_CPP_MIN_LOG_LEVEL": "3",
           "PATH": BIN + os.pathsep + os.environ.get("PATH", "")}
    done = subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True, timeout=800)
    assert done.returncode == 0, f"nbgrader {' '.join(args)} failed:\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done.stdout + done.stderr


def _grade_id(cell: Any) -> str | None:
    nbgrader = cell.metadata.get("nbgrader", {})
    return nbgrader.get("grade_id") if nbgrader.get("solution") else None


def _solved(source: str) -> str:
    """What a student types: the solution's lines without the markers (and without the None line)."""
    lines = [line for line in source.split("\n") if not line.strip().startswith((BEGIN, END))]
    return "\n".join(line for line in lines if "= None  # your answer:" not in line)


def _submission(released: Any, solution: Any, gram: str = "", skip: str = "") -> Any:
    """The released notebook with its solution cells filled in from ``solution``, with one slip if asked."""
    answers = {_grade_id(c): c.source for c in solution.cells if _grade_id(c)}
    nb = nbformat.from_dict(released)
    for cell in nb.cells:
        name = _grade_id(cell)
        if not name or name == skip:
            continue
        cell.source = _solved(answers[name])
        if name == "gram_matrix" and gram:
            cell.source = "\n".join(gram if line.strip().startswith("GA =") else line
                                    for line in cell.source.split("\n"))
    return nb


@pytest.fixture(scope="module")
def course(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """One course folder: the release, its validation and the autograde of three submissions."""
    root = tmp_path_factory.mktemp("course")
    (root / "source" / ASSIGNMENT).mkdir(parents=True)
    shutil.copy(REPO / "notebooks" / "solutions" / f"{NOTEBOOK}.ipynb", root / "source" / ASSIGNMENT)
    _nbgrader(root, "generate_assignment", ASSIGNMENT, "--force")
    released_path = root / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb"
    validated = _nbgrader(root, "validate", str(released_path))
    released = nbformat.read(released_path, as_version=4)
    solution = nbformat.read(root / "source" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    submissions = {"right": _submission(released, solution), "transposed": _submission(released, solution, TRANSPOSED),
                   "unanswered": _submission(released, solution, skip=UNANSWERED)}
    for student, nb in submissions.items():
        folder = root / "submitted" / student / ASSIGNMENT
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{NOTEBOOK}.ipynb")
    _nbgrader(root, "autograde", ASSIGNMENT, "--force")
    from nbgrader.api import Gradebook

    scores: dict[str, dict[str, float]] = {}
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("PATH", BIN + os.pathsep + os.environ.get("PATH", ""))
        gradebook = Gradebook(f"sqlite:///{root / 'gradebook.db'}")
    with gradebook:
        for student in submissions:
            graded = gradebook.find_submission_notebook(NOTEBOOK, ASSIGNMENT, student)
            scores[student] = {g.name: float(g.score) for g in graded.grades}
            scores[student]["total"] = float(graded.score)
            scores[student]["max"] = float(graded.max_score)
    return {"released": released, "validated": validated, "scores": scores}


def test_the_release_keeps_each_answer_variable_outside_the_stub(course: dict[str, Any]) -> None:
    cells = [c.source for c in course["released"].cells if c.source.startswith("# GRADED QUESTION:")]
    assert len(cells) == 2
    for source in cells:
        name = source.split("\n")[0].split(":")[1].strip()
        assert f"answer_{name} = None  # your answer: " in source
        assert "raise NotImplementedError()" in source  # nbgrader's own stub, after the named line


def test_validate_names_what_to_fill_in(course: dict[str, Any]) -> None:
    out = course["validated"]
    assert "NameError" not in out
    assert "VALIDATION FAILED ON 5 CELL(S)" in out  # three functions and two questions, nothing else
    for name in ("gram_shape_block2_conv1", "seed_slice_drops"):
        assert f"not answered yet: set answer_{name}\n" in out
    assert "gram_matrix of shape (3, 7): it raised NotImplementedError" in out


def test_a_correct_submission_gets_full_marks(course: dict[str, Any]) -> None:
    right = course["scores"]["right"]
    assert right["total"] == right["max"] > 0


def test_a_transposed_gram_matrix_costs_only_its_own_points(course: dict[str, Any]) -> None:
    right, wrong = course["scores"]["right"], course["scores"]["transposed"]
    assert wrong["check_gram_matrix"] == 0 < right["check_gram_matrix"]
    lost = {name for name in right if name not in ("total", "max") and wrong[name] != right[name]}
    assert lost == {"check_gram_matrix"}
    assert wrong["total"] == right["max"] - right["check_gram_matrix"]


def test_an_unanswered_question_costs_only_its_own_points(course: dict[str, Any]) -> None:
    right, blank = course["scores"]["right"], course["scores"]["unanswered"]
    lost = {name for name in right if name not in ("total", "max") and blank[name] != right[name]}
    assert lost == {f"check_{UNANSWERED}"}
    assert blank["total"] == right["max"] - right[f"check_{UNANSWERED}"]
