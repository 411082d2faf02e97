"""Auto-checked questions: right answers pass, wrong ones fail with a hint, hostile cells score 0 unrun."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from nst_lab.checks import CheckFailed, check_question
from nst_lab.exercises.questions import QUESTIONS, digest, grade_answer, read_answer

ROOT = Path(__file__).resolve().parent.parent
RIGHT = {"block1_conv1_parameters": 1792, "preprocess_zero_input": (0.485, 0.458, 0.408),
         "receptive_field_block3_conv1": 24, "most_detail_layer": "a", "gram_shape_block2_conv1": (128, 128),
         "seed_slice_drops": "a", "adam_first_move": 0.1, "adam_double_weights": "c", "seed_snapshot_count": 5}
WRONG = [("block1_conv1_parameters", 1728, "the 64 biases are missing"),
         ("preprocess_zero_input", (0.408, 0.458, 0.485), "B, G, R order"),
         ("receptive_field_block3_conv1", 22, "the pooling after block2_conv2"),
         ("most_detail_layer", "c", "keeps the layout"),
         ("gram_shape_block2_conv1", (40000, 40000), "A^T A"),
         ("seed_slice_drops", "c", "drops the first one"),
         ("adam_first_move", 0.2, "plain gradient descent"),
         ("adam_double_weights", "a", "same step"),
         ("adam_double_weights", "d", "near eps_hat_1"),
         ("seed_snapshot_count", 4, "step 0 counts too")]


def test_every_question_has_a_right_answer_here():
    assert set(RIGHT) == set(QUESTIONS)


@pytest.mark.parametrize("name", sorted(RIGHT))
def test_the_right_answer_passes(name, capsys):
    check_question(name, RIGHT[name])
    assert capsys.readouterr().out.splitlines()[0] == "All tests passed"


@pytest.mark.parametrize("answer", [[128, 128], (128.0, 128.0)])
def test_a_shape_may_be_a_list_or_whole_floats(answer):
    assert QUESTIONS["gram_shape_block2_conv1"].judge(answer).passed


@pytest.mark.parametrize("answer", [" A ", "a"])
def test_options_ignore_case_and_spaces(answer):
    assert QUESTIONS["seed_slice_drops"].judge(answer).passed


@pytest.mark.parametrize("name,answer,hint", WRONG)
def test_a_typical_wrong_answer_fails_with_its_hint(name, answer, hint):
    with pytest.raises(CheckFailed, match="is not right") as info:
        check_question(name, answer)
    assert hint in str(info.value)


@pytest.mark.parametrize("name,answer,says", [
    ("seed_slice_drops", "d", "answer with one of the letters 'a', 'b', 'c'"),
    ("adam_first_move", "0.1", "expected a number"),
    ("preprocess_zero_input", 0.485, "expected a tuple of 3 numbers"),
    ("block1_conv1_parameters", None, "not answered yet: set answer_block1_conv1_parameters"),
    ("block1_conv1_parameters", 1792.5, "is not right"),
])
def test_answers_of_the_wrong_kind_say_what_was_expected(name, answer, says):
    verdict = QUESTIONS[name].judge(answer)
    assert not verdict.passed and says in verdict.message


CAFFE_MEAN_RGB = (123.68, 116.779, 103.939)  # Keras' caffe mode (Simonyan & Zisserman), 0-255 scale
TORCH_MEAN_RGB = (0.485, 0.456, 0.406)  # torchvision's ImageNet mean, [0, 1] scale


@pytest.mark.parametrize("answer", [tuple(round(m / 255, 3) for m in CAFFE_MEAN_RGB),
                                    tuple(round(m / 255, 4) for m in CAFFE_MEAN_RGB),
                                    tuple(m / 255 for m in CAFFE_MEAN_RGB)])
def test_the_imagenet_mean_question_takes_the_caffe_mean_to_three_decimals(answer):
    assert QUESTIONS["preprocess_zero_input"].judge(answer).passed, answer


@pytest.mark.parametrize("answer", [TORCH_MEAN_RGB, tuple(round(m, 2) for m in TORCH_MEAN_RGB)])
def test_the_imagenet_mean_question_refuses_torchs_mean(answer):
    verdict = QUESTIONS["preprocess_zero_input"].judge(answer)
    assert not verdict.passed
    if answer == TORCH_MEAN_RGB:
        assert "torch's ImageNet mean" in verdict.message


def test_an_unanswered_question_names_its_variable_briefly():
    """nbgrader's validate cuts lines at 90 columns: "    " + "  - " + the message must fit in 87."""
    for name, q in QUESTIONS.items():
        message = q.judge(None).message
        assert message.endswith(f"set answer_{name}") and len(message) <= 87 - 8, message


def test_the_package_stores_no_exact_answer_in_the_clear():
    """Exact answers live as salted digests: the digest of the right answer differs per question."""
    q = QUESTIONS["block1_conv1_parameters"]
    assert q.right == digest(q.name, 1792) != digest("another_question", 1792)
    assert "1792" not in repr(q) and "(128, 128)" not in repr(QUESTIONS["gram_shape_block2_conv1"])


def test_an_unknown_question_is_refused():
    with pytest.raises(CheckFailed, match="is not one of the questions"):
        check_question("nope", 1)


# ----------------------------------------------------------------- reading answer cells, never running them
CELL = "# GRADED QUESTION: block1_conv1_parameters\n### BEGIN SOLUTION\n{}\n### END SOLUTION\n"


def test_a_literal_answer_is_read_and_graded():
    source = CELL.format("answer_block1_conv1_parameters = 1792  # by hand")
    assert read_answer("block1_conv1_parameters", source) == (1792, "")
    assert grade_answer("block1_conv1_parameters", source, 2)["points"] == 2
    wrong = grade_answer("block1_conv1_parameters", CELL.format("answer_block1_conv1_parameters = 1728"), 2)
    assert wrong["points"] == 0 and "biases" in wrong["cases"][0]["message"]


@pytest.mark.parametrize("body,note", [
    ("answer_block1_conv1_parameters = open('/tmp/pwned', 'w').write('x')", "must be a plain value"),
    ("answer_block1_conv1_parameters = __import__('os').system('touch /tmp/pwned')", "must be a plain value"),
    ("import os\nanswer_block1_conv1_parameters = 1792", "found Import, Assign"),
    ("answer_block1_conv1_parameters = 3 * 3 * 3 * 64 + 64", "must be a plain value"),
    ("answer_block1_conv1_parameters = " + "9" * 5000, "over 2000 characters"),
    ("answer_block1_conv1_parameters = " + "(" * 500 + ")" * 500, "not valid Python"),
    ("answer_block1_conv1_parameters = [1] + [2]", "must be a plain value"),
    ("answer = 1792", "must hold only `answer_block1_conv1_parameters = <value>`"),
    ("answer_block1_conv1_parameters = 17 92", "not valid Python"),
    ("", "found nothing"),
])
def test_hostile_or_broken_answer_cells_score_zero_with_a_note_and_never_run(body, note, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    report = grade_answer("block1_conv1_parameters", CELL.format(body), 2)
    assert report["points"] == 0 and note in report["note"], report
    assert not Path("/tmp/pwned").exists() and not list(tmp_path.iterdir())


NBGRADER_CELL = ("# GRADED QUESTION: block1_conv1_parameters\n"
                 "answer_block1_conv1_parameters = None  # your answer: a whole number\n{}")


@pytest.mark.parametrize("body,value,note", [
    ("# YOUR CODE HERE\nraise NotImplementedError()", None, ""),  # unanswered: graded as None
    ("answer_block1_conv1_parameters = 1792", 1792, ""),
    ("answer_block1_conv1_parameters = 1792\n# YOUR CODE HERE\nraise NotImplementedError()", 1792, ""),
    ("raise NotImplementedError\nanswer_block1_conv1_parameters = 1792", None, ""),  # the answer comes too late
    ("raise ValueError()", None, "found Assign, Raise"),
    ("raise NotImplementedError() from None", None, "found Assign, Raise"),
])
def test_a_cell_released_by_nbgrader_is_read_as_it_would_run(body, value, note):
    """The line above the stub names the variable; nbgrader's stub runs after it, so it stops nothing before it."""
    got, why = read_answer("block1_conv1_parameters", NBGRADER_CELL.format(body))
    assert got == value and (note in why if note else why == ""), (got, why)


def test_a_stub_before_any_answer_is_noted():
    source = ("# GRADED QUESTION: block1_conv1_parameters\n"
              "raise NotImplementedError()\nanswer_block1_conv1_parameters = 1")
    assert read_answer("block1_conv1_parameters", source) == (
        None, "the answer cell raises NotImplementedError before it sets answer_block1_conv1_parameters")


@pytest.mark.parametrize("name,answer", [("preprocess_zero_input", f"({'9' * 400}, 0.5, 0.4)"),  # float() overflows
                                         ("preprocess_zero_input", "(1e999, 0.5, 0.4)"),  # inf
                                         ("block1_conv1_parameters", "9" * 400)])
def test_a_number_too_large_for_a_float_scores_zero_without_crashing_the_judge(name, answer):
    cell = f"# GRADED QUESTION: {name}\nanswer_{name} = {answer}\n"
    report = grade_answer(name, cell, 2)
    assert report["points"] == 0 and not report["note"] and not report["cases"][0]["passed"]


# ----------------------------------------------------------------- the notebooks
def _question_cells(stem: str) -> list[tuple[int, str]]:
    from nst_lab.exercises.questions import graded_question

    nb = nbformat.read(ROOT / "notebooks" / "solutions" / f"{stem}.ipynb", as_version=4)
    return [(i, graded_question(c.source)) for i, c in enumerate(nb.cells)
            if c.cell_type == "code" and graded_question(c.source)]


@pytest.mark.parametrize("name", sorted(QUESTIONS))
def test_each_question_is_asked_answered_and_checked_in_its_notebook(name):
    from nst_lab.notebook import CHECK_TAG

    q = QUESTIONS[name]
    nb = nbformat.read(ROOT / "notebooks" / "solutions" / f"{q.notebook}.ipynb", as_version=4)
    [index] = [i for i, found in _question_cells(q.notebook) if found == name]
    asked, answer, check = nb.cells[index - 1], nb.cells[index], nb.cells[index + 1]
    assert asked.cell_type == "markdown" and "Question" in asked.source
    value, note = read_answer(name, answer.source)
    assert note == "" and q.judge(value).passed
    assert answer.metadata["nbgrader"] == {"grade": False, "grade_id": name, "locked": False, "solution": True,
                                           "schema_version": 3}
    assert check.source == f'check_question("{name}", answer_{name})'
    assert check.metadata["nbgrader"]["points"] == q.points and check.metadata["tags"] == [CHECK_TAG]


def test_the_release_records_questions_and_blanks_their_answers():
    from nst_lab.grading.release import read_manifest

    manifest = read_manifest(ROOT / "notebooks" / "release.json")
    for name, q in QUESTIONS.items():
        assert name in manifest[q.notebook]
        student = nbformat.read(ROOT / "notebooks" / f"{q.notebook}.ipynb", as_version=4)
        [cell] = [c for c in student.cells if c.source.startswith(f"# GRADED QUESTION: {name}")]
        assert read_answer(name, cell.source) == (None, "") and "BEGIN SOLUTION" not in cell.source


# ----------------------------------------------------------------- answer cells that survive nbgrader's release
OLD_FORM = "# GRADED QUESTION: seed_slice_drops\n### BEGIN SOLUTION\nanswer_seed_slice_drops = \"a\"\n### END SOLUTION"


def test_the_answer_line_goes_above_the_region_once():
    from nst_lab.grading.release import name_answer_variable

    once = name_answer_variable(OLD_FORM, "seed_slice_drops")
    assert once.split("\n")[1] == 'answer_seed_slice_drops = None  # your answer: one of "a", "b", "c"'
    assert name_answer_variable(once, "seed_slice_drops") == once
    assert read_answer("seed_slice_drops", once) == ("a", "")  # the exam's key: the solution's value


def test_a_stub_written_for_fewer_options_is_brought_up_to_date():
    """A question that gains an option (04's adam_double_weights got (d)) must not keep telling students a, b, c."""
    from nst_lab.grading.release import name_answer_variable

    stale = OLD_FORM.replace("### BEGIN", 'answer_seed_slice_drops = None  # your answer: one of "a", "b"\n### BEGIN')
    fixed = name_answer_variable(stale, "seed_slice_drops")
    assert fixed.split("\n")[1] == 'answer_seed_slice_drops = None  # your answer: one of "a", "b", "c"'
    assert fixed.count("answer_seed_slice_drops = None") == 1
    assert name_answer_variable(fixed, "seed_slice_drops") == fixed


def test_our_release_keeps_only_the_named_line_and_the_old_form_still_works():
    from nst_lab.grading.release import name_answer_variable, strip_solutions

    source = name_answer_variable(OLD_FORM, "seed_slice_drops")
    named = strip_solutions(source, "cell", answer="answer_seed_slice_drops")
    assert named == source.split("\n### BEGIN")[0]  # the marker line and the named line, nothing of the region
    old = strip_solutions(OLD_FORM, "cell", answer="answer_seed_slice_drops")
    assert old == "# GRADED QUESTION: seed_slice_drops\nanswer_seed_slice_drops = None  # YOUR ANSWER HERE"


def test_the_solution_notebooks_are_nbgrader_ready():
    """scripts/nbgrader_cells.py has been applied: running it again would change nothing."""
    import importlib.util

    spec = importlib.util.spec_from_file_location("nbgrader_cells", ROOT / "scripts" / "nbgrader_cells.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    for path in sorted((ROOT / "notebooks" / "solutions").glob("*.ipynb")):
        assert module.fix_notebook(path, write=False) == 0, path.name
