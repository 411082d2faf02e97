"""`nst-lab grade` (grader v2): reading submissions, choosing exercises, jobs, judging, reports, the CLI.

The fast tests call the pieces directly. One slow batch (a module fixture) runs a few notebooks
through ``nst-lab grade`` with the sandbox; a second, tiny run grades a lone non-notebook. The
grader's defences against cheating are in test_attacks.py, the sandbox's in test_sandbox.py.
"""

from __future__ import annotations

import csv
import json
import os
import shutil
from pathlib import Path

import pytest
from nbformat.v4 import new_code_cell

from nst_lab.cli import main
from nst_lab.cli.grading import parse_points
from nst_lab.errors import GradeUsageError
from nst_lab.exercises.questions import QUESTION_POINTS
from nst_lab.grading import grade as grading
from nst_lab.grading import report, submissions
from nst_lab.grading.copies import flag_copies
from nst_lab.grading.release import release_notebook
from tests.grading import fixtures as fx

REPO = Path(__file__).resolve().parents[2]
SEED = 4242  # a hidden seed for the fast tests; the notebooks' checks use nst_lab.checks.PUBLIC_SEED
COURSE = {"02_content_cost": ["compute_content_cost"],
          "03_style_cost": ["gram_matrix", "compute_layer_style_cost", "compute_style_cost"]}
FLAVOURS = ("jupyterlab", "colab", "nbgrader")
WRONG_GRAM = "def gram_matrix(A):\n    return tf.matmul(A, A, transpose_a=True)  # A^T A\n"
WRONG_LAYER = fx.SOLUTIONS["compute_layer_style_cost"].replace("(4.0 *", "(2.0 *")  # a slip, long enough to copy


def _sub(tmp_path: Path, name: str, functions: dict[str, str], flavour: str = "jupyterlab",
         stamp: str | None = None) -> grading.Submission:
    nb = fx.build(functions, flavour)
    if stamp is not None:
        nb.metadata["nst_lab"] = {"notebook": stamp, "exercises": list(functions)}
    path = fx.write(tmp_path / name, nb, flavour)
    return grading.read_submission(path, name)


# ----------------------------------------------------------------- points and seeds
def test_points_table_matches_the_notebooks_and_parses_overrides(tmp_path: Path) -> None:
    """Every graded function and question has points, and the nbgrader points in the solution
    notebooks' check cells (a function's check cell calls ``check_<name>(<name>)``, a question's
    ``check_question(...)``) agree with the tables the grader uses; the course totals what the
    notebooks say."""
    import nbformat

    from nst_lab.exercises.questions import QUESTION_POINTS, QUESTIONS
    from nst_lab.exercises.specs import SPECS

    functions, questions = {}, {}
    for path in sorted((REPO / "notebooks" / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and str(meta.get("grade_id", "")).startswith("check_"):
                name = meta["grade_id"][len("check_"):]
                source = cell["source"].strip()
                if source.startswith("check_question("):
                    assert source.startswith(f'check_question("{name}", answer_{name})'), source
                    questions[name] = meta["points"]
                else:
                    assert source == f"check_{name}({name})", source
                    functions[name] = meta["points"]
    assert functions and questions and not set(functions) & set(questions)
    assert set(grading.POINTS) == set(SPECS) and functions == grading.POINTS
    assert set(QUESTIONS) == set(questions) and questions == QUESTION_POINTS
    assert grading.ALL_POINTS == {**functions, **questions}
    assert list(grading.ALL_POINTS) == [*grading.POINTS, *QUESTION_POINTS]  # functions, then questions
    course_total = sum(functions.values()) + sum(questions.values())  # from the notebooks' metadata
    assert sum(grading.POINTS.values()) == sum(functions.values())
    assert sum(grading.ALL_POINTS.values()) == course_total
    points = parse_points("gram_matrix=20, total_cost=0")
    assert points["gram_matrix"] == 20 and points["total_cost"] == 0 and points["train_step"] == 20
    assert sum(points.values()) == course_total + 10 - 5
    (tmp_path / "p.json").write_text('{"adam_update": 7.5}')
    assert parse_points(str(tmp_path / "p.json"))["adam_update"] == 7.5


@pytest.mark.parametrize(
    "text, message",
    [
        ("gram=3", "'gram' is not one of get_layer_outputs"),
        ("gram_matrix=lots", "'lots' for gram_matrix is not a number"),
        ("gram_matrix=-1", "gram_matrix=-1 must be a number >= 0"),
        ("gram_matrix=inf", "gram_matrix=inf must be a number >= 0"),
        ("gram_matrix=nan", "gram_matrix=nan must be a number >= 0"),
        ("missing.json", "cannot read a JSON object"),
    ],
)
def test_bad_points_are_refused(text: str, message: str) -> None:
    with pytest.raises(GradeUsageError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_points(text)


def test_points_file_must_hold_an_object(tmp_path: Path) -> None:
    (tmp_path / "p.json").write_text("[1, 2]")
    with pytest.raises(GradeUsageError, match="expected a JSON object"):
        parse_points(str(tmp_path / "p.json"))


def test_hidden_seed_is_deterministic_secret_dependent_in_range_and_not_public() -> None:
    from nst_lab.checks import PUBLIC_SEED

    seeds = [grading.hidden_seed(f"secret {i}") for i in range(500)]
    assert grading.hidden_seed("a") == grading.hidden_seed("a") != grading.hidden_seed("b")
    assert len(set(seeds)) > 490 and PUBLIC_SEED not in seeds
    assert all(2 <= s < 4_000_000 + 2 for s in seeds)


# ----------------------------------------------------------------- read_submission
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_graded_cells_are_found_by_marker_or_grade_id(tmp_path: Path, flavour: str) -> None:
    sub = _sub(tmp_path, "nb.ipynb", fx.SOLUTIONS, flavour)
    assert sub.error == "" and sub.flags == [] and set(sub.sources) == set(fx.SOLUTIONS)
    assert "tf.linalg.matmul(A, tf.transpose(A))" in sub.sources["gram_matrix"]
    assert sub.identity == "nb" and not hasattr(sub, "checked")


def test_identity_comes_from_the_release_stamp_else_the_file_name(tmp_path: Path) -> None:
    assert _sub(tmp_path, "renamed.ipynb", {}, stamp="03_style_cost").identity == "03_style_cost"
    assert _sub(tmp_path, "02_content_cost.ipynb", {}).identity == "02_content_cost"
    nb = fx.build({})
    nb.metadata["nst_lab"] = {"notebook": ["03_style_cost"]}  # not a string: ignored
    assert grading.read_submission(fx.write(tmp_path / "x.ipynb", nb), "x.ipynb").identity == "x"


def test_the_last_marked_cell_wins_and_unknown_names_are_ignored(tmp_path: Path) -> None:
    nb = fx.build({"gram_matrix": WRONG_GRAM})
    nb.cells.append(new_code_cell("# GRADED FUNCTION: gram_matrix\n" + fx.SOLUTIONS["gram_matrix"]))
    nb.cells.append(new_code_cell("# GRADED FUNCTION: my_helper\ndef my_helper():\n    pass"))
    nb.cells.append(new_code_cell("def f():\n    pass", metadata={"nbgrader": {"grade_id": "check_gram_matrix"}}))
    sub = grading.read_submission(fx.write(tmp_path / "x.ipynb", nb), "x.ipynb")
    assert list(sub.sources) == ["gram_matrix"] and "transpose_a" not in sub.sources["gram_matrix"]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"cells": [', "not a readable notebook (not JSON (JSONDecodeError))"),
        ('{"title": "my essay"}', "not a notebook: the file has no list of cells"),
        ('{"cells": {"0": "x"}}', "not a notebook: the file has no list of cells"),
        ("[" * 65 + "]" * 65, "not a readable notebook (nested more than 64 levels deep)"),
        ("[" * 64 + "]" * 64, "not a notebook: the file has no list of cells"),  # 64 deep is still read
        ("\udcff", "not a readable notebook (not JSON (UnicodeDecodeError))"),
        ("", "not a readable notebook"),
    ],
)
def test_broken_files_are_reported_not_raised(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.ipynb"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    sub = grading.read_submission(path, "x.ipynb")
    assert message in sub.error and sub.sources == {}


def test_metadata_of_the_wrong_type_is_skipped_not_trusted(tmp_path: Path) -> None:
    cells = [
        "not a cell",
        {"cell_type": "code", "source": ["# GRADED FUNCTION: ", "total_cost\n", 3, fx.SOLUTIONS["total_cost"]]},
        {"cell_type": "code", "source": 42, "metadata": {"nbgrader": {"grade_id": "gram_matrix"}}},
        {"cell_type": "code", "source": "def compute_content_cost(c, g):\n    pass", "metadata": []},
        {"cell_type": "code", "source": "x = 1", "metadata": {"nbgrader": {"grade_id": ["adam_update"]}}},
        {"cell_type": "code", "source": "x = 1", "metadata": {"nbgrader": "adam_update"}},
        {"cell_type": "markdown", "source": "# GRADED FUNCTION: train_step"},
    ]
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps({"cells": cells, "metadata": {"nst_lab": "03_style_cost"}}))
    sub = grading.read_submission(path, "x.ipynb")
    assert sub.error == "" and sub.identity == "x"
    assert sub.sources == {"total_cost": "# GRADED FUNCTION: total_cost\n" + fx.SOLUTIONS["total_cost"],
                           "gram_matrix": ""}


def test_a_cell_over_the_size_cap_is_flagged_not_run(tmp_path: Path) -> None:
    long = "# GRADED FUNCTION: gram_matrix\n" + "#\n" * (grading.MAX_CELL_CHARS // 2) + fx.SOLUTIONS["gram_matrix"]
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps({"cells": [{"cell_type": "code", "source": long, "metadata": {}}]}))
    sub = grading.read_submission(path, "x.ipynb")
    assert sub.sources == {"gram_matrix": ""} and "gram_matrix: the cell has over" in sub.flags[0]


def test_files_over_the_size_cap_are_refused(tmp_path: Path, monkeypatch) -> None:
    path = fx.write(tmp_path / "x.ipynb", fx.build(fx.SOLUTIONS))
    monkeypatch.setattr(grading, "MAX_NOTEBOOK_BYTES", path.stat().st_size - 1)
    assert "larger than" in grading.read_submission(path, "x.ipynb").error
    monkeypatch.setattr(grading, "MAX_NOTEBOOK_BYTES", path.stat().st_size)
    assert grading.read_submission(path, "x.ipynb").error == ""


@pytest.mark.timeout(20)
def test_links_fifos_and_devices_are_not_read(tmp_path: Path) -> None:
    good = fx.write(tmp_path / "good.ipynb", fx.build(fx.SOLUTIONS))
    os.symlink(good, tmp_path / "link.ipynb")
    os.symlink("/dev/zero", tmp_path / "zero.ipynb")
    os.mkfifo(tmp_path / "fifo.ipynb")  # opening it to read would block without O_NONBLOCK
    for name in ("link.ipynb", "zero.ipynb"):
        sub = grading.read_submission(tmp_path / name, name)
        assert "link" in sub.error and sub.sources == {}, sub.error
    fifo = grading.read_submission(tmp_path / "fifo.ipynb", "fifo.ipynb")
    assert "not a regular file" in fifo.error and fifo.sources == {}
    assert "not a regular file" in grading.read_submission(Path("/dev/null"), "null").error


@pytest.mark.timeout(20)
def test_graded_name_is_linear_on_hostile_cells() -> None:
    from nst_lab.grading.release import graded_name

    hostile = ("# GRADED FUNCTION:" * 50_000 + "\n") * 20 + "#" + " " * 1_000_000 + "GRADED FUNCTION:\n"
    assert graded_name(hostile) is None
    assert graded_name(hostile + "  #   GRADED FUNCTION:   gram_matrix(A) stuff\n") == "gram_matrix"
    assert graded_name("x = 1  # GRADED FUNCTION: gram_matrix") is None  # the comment must open the line


# ----------------------------------------------------------------- collect
def test_submission_names_start_with_the_folder_given(tmp_path: Path) -> None:
    for who in ("alice", "bob"):
        fx.write(tmp_path / "class" / who / "02.ipynb", fx.build({"total_cost": fx.SOLUTIONS["total_cost"]}))
    (tmp_path / "class" / "alice" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "class" / "alice" / ".ipynb_checkpoints" / "02-checkpoint.ipynb").write_text("{}")
    (tmp_path / "class" / "bob" / "notes.txt").write_text("not a notebook")
    (tmp_path / "x.ipynb").write_text("{}")
    (tmp_path / "essay.txt").write_text("a poem")
    paths = [tmp_path / "class" / "alice", tmp_path / "class", tmp_path / "x.ipynb", tmp_path / "essay.txt"]
    names = [name for _, name in submissions.collect([str(p) for p in paths])]
    assert names == ["alice/02.ipynb", "class/alice/02.ipynb", "class/bob/02.ipynb", "x.ipynb", "essay.txt"]


def test_collect_keeps_links_and_fifos_without_following_them(tmp_path: Path) -> None:
    elsewhere = tmp_path / "elsewhere"
    fx.write(elsewhere / "secret.ipynb", fx.build({}))
    class_ = tmp_path / "class"
    fx.write(class_ / "a.ipynb", fx.build({}))
    os.symlink(elsewhere, class_ / "linked_folder")
    os.symlink(elsewhere / "secret.ipynb", class_ / "link.ipynb")
    os.mkfifo(class_ / "fifo.ipynb")
    found = submissions.collect([str(class_)])
    assert [name for _, name in found] == ["class/a.ipynb", "class/fifo.ipynb", "class/link.ipynb"]
    assert all(elsewhere not in p.parents for p, _ in found)
    (tmp_path / "only_links").mkdir()
    os.symlink(elsewhere, tmp_path / "only_links" / "folder")
    with pytest.raises(GradeUsageError, match="no .ipynb notebooks found"):
        submissions.collect([str(tmp_path / "only_links")])


def test_the_same_name_twice_is_told_apart_by_its_path(tmp_path: Path) -> None:
    for folder in ("one", "two"):
        fx.write(tmp_path / folder / "class" / "a.ipynb", fx.build({}))
    found = submissions.collect([str(tmp_path / "one" / "class"), str(tmp_path / "two" / "class")])
    assert [name for _, name in found] == [str(tmp_path / f / "class" / "a.ipynb") for f in ("one", "two")]


def test_collect_refuses_what_does_not_exist(tmp_path: Path) -> None:
    with pytest.raises(GradeUsageError, match="does not exist"):
        submissions.collect([str(tmp_path / "missing")])


# ----------------------------------------------------------------- expected_exercises
def test_the_maximum_comes_from_the_course_notebook(tmp_path: Path) -> None:
    full = _sub(tmp_path, "a/03_style_cost.ipynb", {n: fx.SOLUTIONS[n] for n in COURSE["03_style_cost"]})
    deleted = _sub(tmp_path, "b/03_style_cost.ipynb", {"gram_matrix": fx.SOLUTIONS["gram_matrix"]})
    renamed = _sub(tmp_path, "c/my_work.ipynb", {}, stamp="03_style_cost")
    for sub in (full, deleted, renamed):
        assert grading.expected_exercises(sub, COURSE, None) == COURSE["03_style_cost"], sub.name


def test_stamp_and_file_name_both_count_and_extra_cells_add_their_exercise(tmp_path: Path) -> None:
    both = _sub(tmp_path, "02_content_cost.ipynb", {}, stamp="03_style_cost")
    assert grading.expected_exercises(both, COURSE, None) == ["compute_content_cost", *COURSE["03_style_cost"]]
    extra = _sub(tmp_path, "x/02_content_cost.ipynb", {"total_cost": fx.SOLUTIONS["total_cost"]})
    assert grading.expected_exercises(extra, COURSE, None) == ["compute_content_cost", "total_cost"]


def test_the_fixture_has_a_solution_for_every_graded_function() -> None:
    assert set(fx.SOLUTIONS) == set(grading.POINTS), "add the new graded function to tests/grading/fixtures.py"


def test_an_unknown_notebook_is_graded_on_every_exercise(tmp_path: Path) -> None:
    unknown = _sub(tmp_path, "essay.ipynb", {"total_cost": fx.SOLUTIONS["total_cost"]})
    from nst_lab.exercises.questions import QUESTIONS
    from nst_lab.exercises.specs import SPECS

    every = list(grading.ALL_POINTS)  # every exercise, in the table's order: functions, then questions
    assert every[:2] == ["get_layer_outputs", "compute_content_cost"]
    assert every[: len(grading.POINTS)] == list(grading.POINTS) and set(every) == set(SPECS) | set(QUESTIONS)
    assert "train_step" in every and every[-1] in QUESTIONS
    assert grading.expected_exercises(unknown, COURSE, None) == every
    assert grading.expected_exercises(unknown, {}, None) == every
    broken = tmp_path / "broken.ipynb"
    broken.write_text("{")
    assert grading.expected_exercises(grading.read_submission(broken, "broken.ipynb"), COURSE, None) == every


def test_only_overrides_the_course_and_classmates_change_nothing(tmp_path: Path) -> None:
    sub = _sub(tmp_path, "a/02_content_cost.ipynb", {"compute_content_cost": fx.SOLUTIONS["compute_content_cost"]})
    assert grading.expected_exercises(sub, COURSE, ["adam_update", "gram_matrix"]) == ["adam_update", "gram_matrix"]
    rich = _sub(tmp_path, "b/02_content_cost.ipynb", fx.SOLUTIONS)
    grading.expected_exercises(rich, COURSE, None)
    assert grading.expected_exercises(sub, COURSE, None) == ["compute_content_cost"]


# ----------------------------------------------------------------- job_for and judge_one
DEPENDS = {"compute_layer_style_cost": {"gram_matrix"},
           "compute_style_cost": {"gram_matrix", "compute_layer_style_cost"},
           "train_step": {"gram_matrix", "compute_layer_style_cost", "compute_style_cost", "compute_content_cost",
                          "total_cost", "make_extractor"}}


@pytest.mark.parametrize("name", list(grading.POINTS))
def test_the_job_holds_concrete_inputs_and_dependencies_never_the_seed_or_its_own_reference(name: str) -> None:
    from nst_lab.exercises.specs import SPECS

    job = grading.job_for(name, fx.SOLUTIONS[name], SEED, 12.5)
    assert set(job) == {"name", "cell", "prelude", "plan", "budget"}
    assert job["name"] == name and job["cell"] == fx.SOLUTIONS[name] and job["budget"] == 12.5
    assert job["plan"] == SPECS[name].plan(SEED) != SPECS[name].plan(SEED + 1)
    assert "seed" not in json.dumps(job["plan"])
    namespace: dict = {}
    exec(compile(job["prelude"], "<provided>", "exec"), namespace)
    graded_here = {n for n in grading.POINTS if callable(namespace.get(n))} | (
        {"make_extractor"} if "make_extractor" in namespace else set())
    assert name not in namespace and f"def {name}(" not in job["prelude"]
    assert graded_here == DEPENDS.get(name, set())
    assert callable(namespace["clip_0_1"]) and namespace["STYLE_LAYERS"][0][0] == "block1_conv1"


def _results(name: str, fn, seed: int = SEED) -> dict:
    """What the sandbox sends back for ``fn``, produced here by kit (the judge never sees fn)."""
    from nst_lab.exercises.kit import run_plan
    from nst_lab.exercises.specs import SPECS

    return {"status": "ok", "results": run_plan(fn, SPECS[name].plan(seed)), "cpu_s": 0.25}


def test_judge_one_gives_points_per_passing_case() -> None:
    import nst_lab

    right = grading.judge_one("total_cost", _results("total_cost", nst_lab.total_cost), SEED, 5)
    assert (right["points"], right["max"], right["passed"], right["note"]) == (5, 5, 3, "")
    assert right["cpu_s"] == 0.25 and [c["passed"] for c in right["cases"]] == [True] * 3

    def bad_defaults(J_content, J_style, alpha=1, beta=1):  # noqa: N803  (right on 2 cases of 3)
        return alpha * J_content + beta * J_style

    partial = grading.judge_one("total_cost", _results("total_cost", bad_defaults), SEED, 6)
    assert (partial["points"], partial["passed"], len(partial["cases"])) == (4, 2, 3)
    assert "defaults" in next(c["message"] for c in partial["cases"] if not c["passed"])


def test_judging_survives_forged_or_failed_worker_results() -> None:
    forged = grading.judge_one("gram_matrix", {"status": "ok", "produced": {"case0": "All tests passed"}}, SEED, 10)
    assert forged["points"] == 0 and "malformed" in forged["note"]
    strings = grading.judge_one("gram_matrix", {"status": "ok", "results": {"case0": "All tests passed",
                                                                          "case1": {"value": "passed"}}}, SEED, 10)
    assert strings["points"] == 0
    empty = grading.judge_one("gram_matrix", {"status": "ok", "results": {}}, SEED, 10)
    assert empty["points"] == 0 and empty["passed"] == 0
    failed = grading.judge_one("total_cost", {"status": "error", "note": "it ran out of time", "cpu_s": "x"}, SEED, 5)
    assert failed["points"] == 0 and failed["note"] == "it ran out of time" and failed["cpu_s"] == 0.0


def test_values_from_another_seed_earn_nothing() -> None:
    """Results computed on the public inputs do not pass the hidden ones."""
    import nst_lab
    from nst_lab.checks import PUBLIC_SEED

    public = _results("gram_matrix", nst_lab.gram_matrix, PUBLIC_SEED)
    assert grading.judge_one("gram_matrix", public, PUBLIC_SEED, 10)["points"] == 10
    assert grading.judge_one("gram_matrix", public, SEED, 10)["points"] == 0


def test_copies_across_students_are_flagged_but_not_within_one_nor_stubs_nor_short_answers(tmp_path: Path) -> None:
    """Students come from the first folder below the one passed; a renamed, reformatted, recommented copy is
    still a copy; a short canonical answer (total_cost) is nobody's copy."""
    layer = fx.SOLUTIONS["compute_layer_style_cost"]
    disguised = ('def compute_layer_style_cost(style, gen):  # mine!\n    """My own work."""\n'
                 + layer.split("\n", 1)[1].replace("a_S", "style").replace("a_G", "gen").replace("diff =", "diff  ="))
    both = {"compute_layer_style_cost": layer, "total_cost": fx.SOLUTIONS["total_cost"]}
    subs = [_sub(tmp_path, "class/alice/03.ipynb", both),
            _sub(tmp_path, "class/bob/03.ipynb", {**both, "compute_layer_style_cost": disguised}),
            _sub(tmp_path, "class/carol/03.ipynb", {"total_cost": fx.SOLUTIONS["total_cost"]}),
            _sub(tmp_path, "class/dan/a.ipynb", {"compute_layer_style_cost": WRONG_LAYER}),
            _sub(tmp_path, "class/dan/b.ipynb", {"compute_layer_style_cost": WRONG_LAYER})]
    for sub in subs:
        sub.student = sub.name.split("/")[1]  # as collect_students says: the folder below "class"
    stub = release_notebook(fx.build({"compute_layer_style_cost": layer}))
    for who in ("erin", "frank"):
        path = fx.write(tmp_path / who / "03.ipynb", stub)
        subs.append(grading.read_submission(path, f"class/{who}/03.ipynb", student=who))
    rows = [{"notes": []} for _ in subs]
    flag_copies(subs, rows)
    assert len(rows[0]["notes"]) == 1 and "as class/bob/03.ipynb's (a copy?)" in rows[0]["notes"][0], rows[0]
    assert len(rows[1]["notes"]) == 1 and "as class/alice/03.ipynb's" in rows[1]["notes"][0], rows[1]
    assert all(r["notes"] == [] for r in rows[2:]), rows[2:]


def test_copy_notes_stay_bounded_in_a_class_of_copies(tmp_path: Path) -> None:
    layer = fx.SOLUTIONS["compute_layer_style_cost"]
    subs = [_sub(tmp_path, f"class/s{i:03d}/03.ipynb", {"compute_layer_style_cost": layer}) for i in range(60)]
    for sub in subs:
        sub.student = sub.name.split("/")[1]
    rows = [{"notes": []} for _ in subs]
    flag_copies(subs, rows)
    assert all(len(r["notes"]) == 1 and r["notes"][0].count("class/s") == 5 and "and 54 more" in r["notes"][0]
               for r in rows)


# ----------------------------------------------------------------- reports
@pytest.mark.parametrize("text, cell", [
    ("=HYPERLINK(1)", "'=HYPERLINK(1)"), ("+1", "'+1"), ("-1", "'-1"), ("@SUM(A1)", "'@SUM(A1)"),
    ("\t=1", " =1"), ("\r=1", " =1"),  # a tab or CR is a space inside a cell
    ("alice/02.ipynb", "alice/02.ipynb"), ("a=b", "a=b"),
])
def test_csv_cells_never_start_a_formula(text: str, cell: str) -> None:
    assert report.csv_cell(text) == cell


@pytest.mark.parametrize("char", ["\u202e", "\u2066", "\u2069", "\u061c", "\u200b", "\u200d", "\u2060", "\ufeff",
                                  "\u00ad", "\x1b", "\x7f", "\x85", "\u2028", "\ue000"])
def test_reports_escape_every_control_bidi_and_zero_width_character(char: str) -> None:
    """A name or an exception text with an invisible or reordering character reaches no report as that character."""
    text = f"alice{char}gpj.ipynb raised Evil{char}Error"
    for out in (report.plain(text), report.md(text), report.csv_cell(text), grading.safe_text(text),
                report.feedback_name(text), report.feedback_markdown({"submission": text, "total": 0, "max": 1,
                                                                     "exercises": {}, "notes": [text]})):
        assert char not in out
    assert f"\\u{ord(char):04x}" in report.plain(text) and "alice" in report.plain(text)


def test_feedback_text_is_escaped_and_names_are_unique() -> None:
    line = report.md("<script>alert(1)</script>\n## total_cost: 5 / 5 **bold** [x](y) `z`")
    assert "<script>" not in line and "\n" not in line and "&lt;script&gt;" in line
    assert "\\*\\*bold\\*\\*" in line and "\\[x\\]\\(y\\)" in line and "\\`z\\`" in line
    a, b = report.feedback_name("team a/02.ipynb"), report.feedback_name("team_a/02.ipynb")
    assert a != b and a.startswith("team_a__02-") and a.endswith(".md") and len(a) == len("team_a__02-") + 13
    assert report.feedback_name("../../etc/passwd").startswith("..__..__etc__passwd-")
    assert "/" not in report.feedback_name("../../etc/passwd") and "\udcff" not in report.feedback_name("x\udcff")


def test_reports_record_seed_source_and_sandbox(tmp_path: Path) -> None:
    from nst_lab.grading.runner import Settings

    settings = Settings(777, 30.0, tuple({**grading.POINTS, "gram_matrix": 20}.items()), sandbox=True)
    case = {"case": "gram_matrix of shape (3, 7)", "passed": False, "message": "you computed A^T A <b>"}
    rows = [{"submission": "=cmd|' /C calc'!A0", "path": "x", "total": 0.0, "max": 20.0, "notes": ["-2+3"],
             "exercises": {"gram_matrix": {"points": 0.0, "max": 20.0, "passed": 0, "cases": [case], "note": ""}}}]
    report.write_reports(rows, tmp_path, settings, seed_source="--seed")
    data = json.loads((tmp_path / "grades.json").read_text())
    assert (data["seed"], data["seed_source"], data["sandbox"], data["timeout_s"]) == (777, "--seed", True, 30.0)
    assert data["points"]["gram_matrix"] == 20
    table = list(csv.reader((tmp_path / "grades.csv").open()))
    assert table[0] == ["submission", *grading.POINTS, "total", "max", "notes"]
    assert table[1][0] == "'=cmd|' /C calc'!A0" and table[1][-1] == "'-2+3" and table[1][3] == "0"
    assert table[1][1] == "" and table[1][-3:-1] == ["0", "20"]  # an exercise not graded: an empty cell
    feedback = (tmp_path / data["submissions"][0]["feedback"]).read_text()
    assert "**Score: 0 / 20**" in feedback and "- FAIL you computed A^T A &lt;b&gt;" in feedback


# ----------------------------------------------------------------- CLI: bad usage
@pytest.mark.parametrize(
    "args, message",
    [
        (["nowhere/", "-o", "out"], "nowhere/ does not exist"),
        (["sub", "-o", "afile"], "-o afile is a file, not a folder"),
        (["sub", "-o", "out", "--points", "gram=1"], "'gram' is not one of"),
        (["sub", "-o", "out", "--workers", "0"], "--workers 0 must be at least 1"),
        (["sub", "-o", "out", "--timeout", "0"], "--timeout 0 must be a positive number"),
        (["sub", "-o", "out", "--timeout", "nan"], "--timeout nan must be a positive number"),
        (["sub", "-o", "out", "--batch-timeout", "-5"], "--batch-timeout -5 must be a positive number"),
        (["sub", "-o", "out", "--exercises", "gram"], "--exercises: 'gram' is not one of"),
        (["sub", "-o", "out", "--seed", "1"], "is the notebooks' public seed"),
        (["sub", "-o", "out", "--seed", "4000000"], "--seed 4000000 must be in [2, 4000000)"),
        (["sub", "-o", "out", "--course", "afile"], "--course afile: not a release manifest"),
        (["sub", "-o", "out", "--course", "missing.json"], "--course missing.json: not a release manifest"),
        (["empty", "-o", "out"], "no .ipynb notebooks found in empty"),
    ],
)
def test_cli_bad_usage_is_one_line_exit_2(tmp_path: Path, monkeypatch, capsys, args, message) -> None:
    monkeypatch.chdir(tmp_path)
    fx.write(tmp_path / "sub" / "a.ipynb", fx.build({"total_cost": fx.SOLUTIONS["total_cost"]}))
    (tmp_path / "afile").write_text("keep me")
    (tmp_path / "empty").mkdir()
    assert main(["grade", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and message in err and err.count("\n") == 1, err
    assert not (tmp_path / "out").exists() and (tmp_path / "afile").read_text() == "keep me"


# ----------------------------------------------------------------- slow: one batch through the sandbox
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")


FULL = sum(grading.POINTS.values()) + 10  # every function, gram_matrix raised from 10 to 20 points
# The fixture notebooks match no course notebook, so they are graded on every exercise, the questions too;
# they hold no answer cells, so each question scores 0 with a note.
QUESTIONS_MAX = sum(QUESTION_POINTS.values())
MAX = FULL + QUESTIONS_MAX
NO_ANSWER = [f"{q}: no cell marked `# GRADED QUESTION: {q}`: was it deleted or renamed?" for q in QUESTION_POINTS]
TIMEOUT = 60  # seconds per exercise in the batch (the slowest honest one needs about 1 s of CPU): room for a busy CI
BROKEN = {  # one broken function per exercise; the notebook's other exercises have no cell (an endless loop
    # is graded on its own below, with a short timeout)
    "total_cost": "def total_cost(J_content, J_style, alpha=100, beta=10):\n    import os\n    os._exit(3)\n",
    "compute_content_cost": "def compute_content_cost(c, g)\n    return tf.reduce_sum(c[-1])\n",
    "adam_update": "def adam_step(theta, grad, m, v, t):\n    return theta, m, v\n",
    "compute_layer_style_cost": "def compute_layer_style_cost(a_S, a_G):\n    return a_S @ B\n",
}


@pytest.fixture(scope="module")
def batch(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Fixture solutions (3 flavours), a released stub, a wrong gram_matrix, broken functions and the course
    notebooks, graded in one run with the course manifest, gram_matrix worth 20, and neither a secret nor a seed."""
    root = tmp_path_factory.mktemp("batch")
    for flavour in FLAVOURS:
        fx.write(root / "class" / f"{flavour}.ipynb", fx.build(fx.SOLUTIONS, flavour), flavour)
    fx.write(root / "class" / "released.ipynb", release_notebook(fx.build(fx.SOLUTIONS, "nbgrader")), "nbgrader")
    wrong = fx.build({"gram_matrix": WRONG_GRAM, "compute_layer_style_cost": fx.SOLUTIONS["compute_layer_style_cost"],
                      "compute_style_cost": fx.SOLUTIONS["compute_style_cost"]})
    wrong.metadata["nst_lab"] = {"notebook": "03_style_cost", "exercises": list(COURSE["03_style_cost"])}
    fx.write(root / "class" / "wrong_gram.ipynb", wrong)
    fx.write(root / "class" / "broken.ipynb", fx.build(BROKEN))
    out = root / "out"
    saved = os.environ.pop(grading.SECRET_ENV, None)
    import contextlib
    import io

    err = io.StringIO()
    try:
        with contextlib.redirect_stderr(err):
            code = main(["grade", str(root / "class"), str(REPO / "notebooks"), "-o", str(out), "--course",
                         str(REPO / "notebooks" / "release.json"), "--points", "gram_matrix=20", "--workers", "2",
                         "--timeout", str(TIMEOUT), "--quiet"])
    finally:
        if saved is not None:
            os.environ[grading.SECRET_ENV] = saved
    data = json.loads((out / "grades.json").read_text())
    return {"code": code, "err": err.getvalue(), "out": out, "data": data,
            "rows": {r["submission"]: r for r in data["submissions"]}}


def _why(row: dict) -> list:
    return [row["notes"]] + [c["message"] for ex in row["exercises"].values() for c in ex["cases"] if not c["passed"]]


@pytest.mark.slow
@needs_bwrap
def test_no_secret_records_a_random_seed_and_says_so(batch) -> None:
    assert batch["code"] == 0
    data = batch["data"]
    assert data["seed_source"] == "random" and 2 <= data["seed"] < 4_000_000 and data["sandbox"] is True
    assert "NST_LAB_GRADER_SECRET is not set" in batch["err"] and str(data["seed"]) in (batch["out"] / "grades.json"
                                                                                          ).read_text()
    assert data["points"]["gram_matrix"] == 20 and data["points"]["total_cost"] == 5


@pytest.mark.slow
@needs_bwrap
@pytest.mark.parametrize("flavour", FLAVOURS)
def test_solutions_get_full_marks_in_every_flavour(batch, flavour: str) -> None:
    row = batch["rows"][f"class/{flavour}.ipynb"]
    copies = [note for note in row["notes"] if note.endswith("(a copy?)")]  # the three flavours hold the same code
    notes = [note for note in row["notes"] if note not in copies]
    assert (row["total"], row["max"], notes) == (FULL, MAX, NO_ANSWER), (batch["data"]["seed"], _why(row))
    others = {f"class/{f}.ipynb" for f in FLAVOURS} - {f"class/{flavour}.ipynb"}
    assert any(all(other in note for other in others) for note in copies), copies
    assert list(row["exercises"]) == [*grading.POINTS, *QUESTION_POINTS] == list(grading.ALL_POINTS)
    functions = {n: ex for n, ex in row["exercises"].items() if n in grading.POINTS}
    assert all(ex["passed"] == len(ex["cases"]) >= 2 and ex["points"] == ex["max"] for ex in functions.values())
    assert sum(ex["points"] for ex in functions.values()) == FULL
    assert all(row["exercises"][q]["points"] == 0 for q in QUESTION_POINTS)
    assert row["exercises"]["gram_matrix"]["points"] == 20  # the --points override


@pytest.mark.slow
@needs_bwrap
def test_released_stubs_get_zero_without_crashing(batch) -> None:
    row = batch["rows"]["class/released.ipynb"]
    assert (row["total"], row["max"]) == (0, MAX) and list(row["exercises"]) == list(grading.ALL_POINTS)
    for name in grading.POINTS:
        ex = row["exercises"][name]
        assert ex["note"] == "" and ex["passed"] == 0 and ex["cases"]
        assert all("NotImplementedError" in c["message"] for c in ex["cases"]), ex
    assert all(row["exercises"][q]["points"] == 0 for q in QUESTION_POINTS)
    feedback = (batch["out"] / row["feedback"]).read_text()
    assert f"Score: 0 / {MAX:g}" in feedback and "Not attempted yet" in feedback


@pytest.mark.slow
@needs_bwrap
def test_a_wrong_function_loses_only_its_own_points(batch) -> None:
    row = batch["rows"]["class/wrong_gram.ipynb"]
    ex = row["exercises"]
    from nst_lab.grading.release import read_manifest

    course = read_manifest(REPO / "notebooks" / "release.json")["03_style_cost"]  # its functions and questions
    assert list(ex) == [n for n in grading.ALL_POINTS if n in course]  # from its stamp and the course
    assert [n for n in ex if n in grading.POINTS] == COURSE["03_style_cost"]
    assert row["max"] == 20 + 15 + 15 + sum(QUESTION_POINTS[n] for n in ex if n in QUESTION_POINTS)
    assert all(ex[n]["points"] == 0 and "no cell marked `# GRADED QUESTION" in ex[n]["note"]
               for n in ex if n in QUESTION_POINTS)  # the notebook holds no answer cells
    assert ex["gram_matrix"]["points"] == 0
    assert all("you computed A^T A" in c["message"] for c in ex["gram_matrix"]["cases"])
    assert ex["compute_layer_style_cost"]["points"] == 15 and ex["compute_style_cost"]["points"] == 15
    assert row["total"] == 30


@pytest.mark.slow
@needs_bwrap
def test_broken_functions_score_zero_with_a_note_and_the_rest_still_grades(batch) -> None:
    from nst_lab.grading.release import read_manifest

    row = batch["rows"]["class/broken.ipynb"]
    ex = row["exercises"]
    # a file name the course does not know, holding cells of 02-05: graded on all of those notebooks' exercises
    course = read_manifest(REPO / "notebooks" / "release.json")
    owners = {stem for stem, names in course.items() if set(names) & set(BROKEN)}
    assert owners == {"02_content_cost", "03_style_cost", "04_adam", "05_style_transfer"}
    expected = [n for n in grading.ALL_POINTS if any(n in course[stem] for stem in owners)]
    points = {**grading.ALL_POINTS, "gram_matrix": 20}
    assert list(ex) == expected and (row["total"], row["max"]) == (0, sum(points[n] for n in expected))
    notes = {
        "gram_matrix": "no cell marked",
        "total_cost": "crashed the Python process",
        "compute_content_cost": "SyntaxError in the cell, line 2",
        "adam_update": "does not define adam_update() (it defines adam_step): was it renamed?",
        "compute_style_cost": "no cell marked `# GRADED FUNCTION: compute_style_cost`",
        "train_step": "no cell marked",
    }
    for name, note in notes.items():
        assert ex[name]["points"] == 0 and note in ex[name]["note"], (name, ex[name])
        assert any(n.startswith(f"{name}: ") and note in n for n in row["notes"]), (name, row["notes"])
    raised = ex["compute_layer_style_cost"]
    assert raised["note"] == "" and raised["passed"] == 0 and raised["cases"]
    assert all("it raised NameError: name 'B' is not defined" in c["message"] for c in raised["cases"])
    feedback = (batch["out"] / row["feedback"]).read_text()
    assert "## gram\\_matrix: 0 / 20" in feedback and "SyntaxError" in feedback


@pytest.mark.slow
@needs_bwrap
def test_an_endless_loop_runs_out_of_time_and_the_next_exercise_still_grades() -> None:
    from nst_lab.grading.runner import Settings, produce_all

    loop = "def gram_matrix(A):\n    while True:\n        try:\n            pass\n        except BaseException:\n" \
           "            pass\n"
    jobs = {"gram_matrix": grading.job_for("gram_matrix", loop, SEED, 3.0),
            "total_cost": grading.job_for("total_cost", fx.SOLUTIONS["total_cost"], SEED, 120.0)}  # a busy machine
    results = produce_all(jobs, Settings(SEED, timeout=3.0))
    assert "ran out of time (3 s" in results["gram_matrix"]["note"], results["gram_matrix"]
    assert grading.judge_one("gram_matrix", results["gram_matrix"], SEED, 10)["points"] == 0
    assert grading.judge_one("total_cost", results["total_cost"], SEED, 5)["points"] == 5, results["total_cost"]


def _course() -> list[str]:
    from nst_lab.grading.release import read_manifest

    return sorted(read_manifest(REPO / "notebooks" / "release.json"))


@pytest.mark.slow
@needs_bwrap
@pytest.mark.skipif(not _course(), reason="no notebooks/release.json yet")
@pytest.mark.parametrize("notebook", _course())
def test_course_solutions_get_full_marks_and_released_copies_zero(batch, notebook: str) -> None:
    from nst_lab.grading.release import read_manifest

    exercises = read_manifest(REPO / "notebooks" / "release.json")[notebook]
    maximum = sum(20 if n == "gram_matrix" else grading.ALL_POINTS[n] for n in exercises)
    full = batch["rows"][f"notebooks/solutions/{notebook}.ipynb"]
    assert list(full["exercises"]) == [n for n in grading.ALL_POINTS if n in exercises]
    # a solution written as nst_lab's own function is that reference (0, said so); one the fixtures share is a copy
    package = {n: ex["max"] for n, ex in full["exercises"].items() if "nst_lab's own reference" in ex["note"]}
    notes = [n for n in full["notes"] if not n.endswith("(a copy?)") and n.split(":")[0] not in package]
    assert (full["total"], full["max"], notes) == (maximum - sum(package.values()), maximum, []), (
        batch["data"]["seed"], _why(full))
    student = batch["rows"][f"notebooks/{notebook}.ipynb"]
    assert (student["total"], student["max"]) == (0, maximum), _why(student)


@pytest.mark.slow
@needs_bwrap
def test_the_csv_lists_every_submission(batch) -> None:
    table = list(csv.DictReader((batch["out"] / "grades.csv").open()))
    assert list(table[0]) == ["submission", *grading.POINTS, *QUESTION_POINTS, "total", "max", "notes"]
    assert sorted(r["submission"] for r in table) == sorted(batch["rows"])
    assert {r["submission"]: r["gram_matrix"] for r in table}["class/colab.ipynb"] == "20"
    assert {r["submission"]: r["total"] for r in table}["class/released.ipynb"] == "0"


@pytest.mark.slow
@needs_bwrap
def test_a_lone_non_notebook_still_grades_on_the_chosen_exercises(tmp_path: Path, monkeypatch, capsys) -> None:
    monkeypatch.setenv(grading.SECRET_ENV, "only the instructor knows")
    (tmp_path / "essay.txt").write_text("no code here")
    assert main(["grade", str(tmp_path / "essay.txt"), "-o", str(tmp_path / "out"), "--quiet",
                 "--exercises", "total_cost,gram_matrix", "--points", "total_cost=7"]) == 0
    assert "is not set" not in capsys.readouterr().err
    row = next(csv.DictReader((tmp_path / "out" / "grades.csv").open()))
    assert (row["submission"], row["total"], row["max"]) == ("essay.txt", "0", "17")
    assert (row["gram_matrix"], row["total_cost"], row["train_step"]) == ("0", "0", "")
    assert row["notes"].startswith("not a readable notebook")
    data = json.loads((tmp_path / "out" / "grades.json").read_text())
    assert data["seed"] == grading.hidden_seed("only the instructor knows")
    assert data["seed_source"] == "$NST_LAB_GRADER_SECRET"
    assert list(data["submissions"][0]["exercises"]) == ["total_cost", "gram_matrix"]


@pytest.mark.slow
@pytest.mark.skipif(os.geteuid() != 0 or shutil.which("bwrap") is None, reason="uids are switched only as root")
def test_a_worker_sandbox_runs_as_an_unprivileged_uid_of_its_own() -> None:
    """RLIMIT_NPROC counts per uid: a uid per worker keeps one student's fork loop from starving another's."""
    from nst_lab.grading.grade import job_for
    from nst_lab.grading.runner import SANDBOX_UIDS, KitServer, Settings

    server = KitServer(Settings(seed=5, timeout=30))
    try:
        cell = ("def gram_matrix(A):\n    import os\n    inner, outer, _ = open('/proc/self/uid_map').read().split()\n"
                "    return tf.constant([[float(os.getuid()), float(inner), float(outer)]])\n")
        result = server.run(job_for("gram_matrix", cell, 5, 30))
    finally:
        server.close()
    uid, inner, outer = (int(x) for x in result["results"]["case0"]["value"]["value"][0])
    assert uid == inner == 1000  # in a user namespace of its own, where only its own uid is mapped
    assert outer in SANDBOX_UIDS and outer not in (0, 65534, os.getuid())


def test_restamping_a_notebook_as_one_without_exercises_does_not_lower_its_maximum(tmp_path: Path) -> None:
    """A cell of 03 brings all of 03's exercises, whatever the stamp and the file name claim."""
    course = {**COURSE, "06_studio": []}
    sub = _sub(tmp_path, "06_studio.ipynb", {"gram_matrix": fx.SOLUTIONS["gram_matrix"]}, stamp="06_studio")
    assert grading.expected_exercises(sub, course, None) == COURSE["03_style_cost"]


def test_a_notebook_the_grader_fails_on_keeps_its_maximum(tmp_path: Path, monkeypatch) -> None:
    from nst_lab.grading import schedule

    def broken(*args, **kwargs):
        raise OverflowError("a judge fell over")

    monkeypatch.setattr(schedule, "grade_submission", broken)
    sub = _sub(tmp_path, "03_style_cost.ipynb", {"gram_matrix": fx.SOLUTIONS["gram_matrix"]})
    expected = COURSE["03_style_cost"]
    row = schedule.grade_task((sub, expected, grading.Settings(seed=SEED), None))
    assert row["total"] == 0 and row["max"] == sum(grading.POINTS[n] for n in expected) == 40
    assert "OverflowError" in row["notes"][0] and set(row["exercises"]) == set(expected)


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")
def test_student_code_does_not_hold_the_fork_servers_command_pipe() -> None:
    """Through /proc/self/fd/0 a cell could write jobs of its own into the server's commands."""
    from nst_lab.grading.grade import job_for
    from nst_lab.grading.runner import KitServer, Settings

    server = KitServer(Settings(seed=5, timeout=30))
    try:
        cell = ("def gram_matrix(A):\n    import os\n"
                "    held = os.readlink('/proc/self/fd/0') != '/dev/null'\n"
                "    return tf.fill((A.shape[0], A.shape[0]), float(held))\n")
        result = server.run(job_for("gram_matrix", cell, 5, 30))
    finally:
        server.close()
    assert result["results"]["case0"]["value"]["value"][0][0] == 0.0  # fd 0 is /dev/null, not the pipe
