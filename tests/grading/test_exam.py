"""Exam mode: `nst-lab release --exam` writes notebooks whose question checks check only the form of an
answer; the key goes into the instructor's release.json and the grader judges against it."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from nst_lab.checks import RECORDED_MESSAGE, CheckFailed, check_answer_form
from nst_lab.exercises.questions import QUESTIONS, grade_answer
from nst_lab.grading import grade as grading
from nst_lab.grading.release import read_answer_key, release_paths
from nst_lab.grading.runner import Settings

REPO = Path(__file__).resolve().parents[2]
SOLUTIONS = REPO / "notebooks" / "solutions"
RIGHT = {"block1_conv1_parameters": 1792, "preprocess_zero_input": [0.485, 0.458, 0.408],
         "receptive_field_block3_conv1": 24, "most_detail_layer": "a", "gram_shape_block2_conv1": [128, 128],
         "seed_slice_drops": "a", "adam_first_move": 0.1, "adam_double_weights": "c", "seed_snapshot_count": 5}


@pytest.fixture(scope="module")
def exam(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("exam")
    release_paths(SOLUTIONS, out, exam=True)
    return out


def test_the_key_is_in_the_course_file_and_the_notebooks_check_only_the_form(exam: Path) -> None:
    assert read_answer_key(exam / "release.json") == RIGHT
    for path in sorted(exam.glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code = [c.source for c in nb.cells if c.cell_type == "code"]
        assert not any("check_question" in source for source in code), path.name
        answers = [s for s in code if s.startswith("# GRADED QUESTION:")]
        assert all("= None" in s and "BEGIN SOLUTION" not in s for s in answers), path.name
        checks = [s for s in code if s.startswith("check_answer_form(")]
        assert len(checks) == len(answers) and nb.metadata["nst_lab"].get("exam") is True


def test_a_practice_release_holds_no_key(tmp_path: Path) -> None:
    release_paths(SOLUTIONS / "01_vgg19.ipynb", tmp_path / "01_vgg19.ipynb")
    assert read_answer_key(tmp_path / "release.json") == {}
    assert "exam" not in json.loads((tmp_path / "release.json").read_text())


@pytest.mark.parametrize("name, answer", [("block1_conv1_parameters", 1728), ("gram_shape_block2_conv1", (1, 2)),
                                          ("most_detail_layer", "C"), ("adam_first_move", 0.7)])
def test_the_form_check_accepts_any_answer_of_the_right_form_so_it_is_no_oracle(name, answer, capsys) -> None:
    check_answer_form(name, answer)  # wrong answers, right forms
    assert capsys.readouterr().out.strip() == RECORDED_MESSAGE


@pytest.mark.parametrize("name, answer, says", [
    ("block1_conv1_parameters", "many", "expected a whole number"),
    ("gram_shape_block2_conv1", 128, "expected a tuple of 2 whole numbers"),
    ("most_detail_layer", "d", "one of the letters 'a', 'b', 'c'"),
    ("preprocess_zero_input", 0.5, "expected a tuple of 3 numbers"),
    ("seed_snapshot_count", None, "not answered yet"),
])
def test_the_form_check_says_what_form_is_expected(name, answer, says) -> None:
    with pytest.raises(CheckFailed, match=says):
        check_answer_form(name, answer)


def test_the_grader_judges_against_the_key_not_the_package() -> None:
    # an exam whose question was changed (another layer): only the key's answer earns the points
    assert grade_answer("block1_conv1_parameters", "answer_block1_conv1_parameters = 36928", 2, 36928)["points"] == 2
    assert grade_answer("block1_conv1_parameters", "answer_block1_conv1_parameters = 1792", 2, 36928)["points"] == 0
    for name, right in RIGHT.items():
        value = tuple(right) if isinstance(right, list) else right
        assert grade_answer(name, f"answer_{name} = {value!r}", 3, right)["points"] == 3, name
    wrong = grade_answer("most_detail_layer", "answer_most_detail_layer = 'c'", 2, "a")
    assert wrong["points"] == 0 and "keeps the layout" not in json.dumps(wrong)  # no hint from the package


def test_grading_a_notebook_uses_the_course_files_key(tmp_path: Path, exam: Path) -> None:
    nb = nbformat.read(exam / "04_adam.ipynb", as_version=4)
    for cell in nb.cells:
        if cell.source.startswith("# GRADED QUESTION: adam_first_move"):
            cell.source = "# GRADED QUESTION: adam_first_move\nanswer_adam_first_move = 0.1"
        if cell.source.startswith("# GRADED QUESTION: adam_double_weights"):
            cell.source = "# GRADED QUESTION: adam_double_weights\nanswer_adam_double_weights = 'a'"
    path = tmp_path / "alice" / "04_adam.ipynb"
    path.parent.mkdir()
    nbformat.write(nb, path)
    sub = grading.read_submission(path, "alice/04_adam.ipynb")
    key = read_answer_key(exam / "release.json")
    settings = Settings(seed=5, points=tuple(grading.ALL_POINTS.items()),
                        answers=tuple(sorted((k, json.dumps(v)) for k, v in key.items())))
    row = grading.grade_submission(sub, ["adam_first_move", "adam_double_weights"], settings)
    assert row["exercises"]["adam_first_move"]["points"] == QUESTIONS["adam_first_move"].points
    assert row["exercises"]["adam_double_weights"]["points"] == 0
