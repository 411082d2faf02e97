"""`nst-lab release`: solutions stripped, outputs cleared, stamped, a release.json written beside the student
notebooks, deterministic, bad markers refused (and then nothing is written)."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from nst_lab.cli import main
from nst_lab.grading.release import BEGIN, END, ReleaseError, read_manifest, release_notebook, release_paths
from tests.grading import fixtures as fx

REPO = Path(__file__).resolve().parents[2]


def _graded_cell(nb: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    return next(c for c in nb.cells if c.source.startswith(f"# GRADED FUNCTION: {name}"))


def test_release_strips_each_solution_and_keeps_the_banners() -> None:
    solution = fx.build(fx.SOLUTIONS)
    student = release_notebook(solution)
    for name, source in fx.SOLUTIONS.items():
        text = _graded_cell(student, name).source
        assert BEGIN not in text and END not in text
        solution_lines = source.split("### BEGIN SOLUTION\n")[1].split("    ### END SOLUTION")[0]
        for line in solution_lines.strip("\n").split("\n"):
            assert line not in text.split("\n"), f"{name}: solution line {line!r} survived"
        assert "    ### START CODE HERE ###\n    # YOUR CODE HERE\n" in text
        assert f'    raise NotImplementedError("{name}: replace this line with your code")\n' in text
        assert "### END CODE HERE ###" in text
        assert text.startswith(f"# GRADED FUNCTION: {name}\ndef {name}(")
    # the original is untouched
    assert BEGIN in _graded_cell(solution, "gram_matrix").source


def test_release_clears_outputs_and_run_times_and_keeps_checks_and_metadata() -> None:
    solution = fx.build(fx.SOLUTIONS)
    run_times = {"iopub.execute_input": "2024-05-01T10:00:00.000Z", "shell.execute_reply": "2024-05-01T10:00:01.000Z"}
    for cell in solution.cells:
        cell.metadata["execution"] = dict(run_times)  # what JupyterLab records when a cell runs
    student = release_notebook(solution)
    assert len(student.cells) == len(solution.cells)
    for before, after in zip(solution.cells, student.cells, strict=True):
        assert "execution" not in after.metadata
        assert after.metadata == {k: v for k, v in before.metadata.items() if k != "execution"}
        if after.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None
        if before.source.startswith("check_"):
            assert after.source == before.source
    check = next(c for c in student.cells if c.source == "check_gram_matrix(gram_matrix)")
    assert check.metadata["tags"] == ["nbval-check-output"]
    assert check.metadata["nbgrader"]["points"] == 10
    assert solution.cells[3].metadata["execution"] == run_times  # the solution is not modified
    assert student.metadata["kernelspec"] == solution.metadata["kernelspec"]


@pytest.mark.parametrize("flavour", ["jupyterlab", "colab", "nbgrader"])
def test_release_stamps_the_notebook_and_its_exercises(flavour: str) -> None:
    """The stamp tells the grader which course notebook a submission is, whatever it is renamed to."""
    functions = {"gram_matrix": fx.SOLUTIONS["gram_matrix"], "compute_style_cost": fx.SOLUTIONS["compute_style_cost"],
                 "total_cost": fx.SOLUTIONS["total_cost"]}
    solution = fx.build(functions, flavour)
    student = release_notebook(solution, "course/solutions/03_style_cost.ipynb")
    assert student.metadata["nst_lab"] == {"notebook": "03_style_cost",
                                           "exercises": ["gram_matrix", "compute_style_cost", "total_cost"]}
    assert "nst_lab" not in solution.metadata
    assert release_notebook(fx.build({}, flavour), "x/06_studio.ipynb").metadata["nst_lab"] == \
        {"notebook": "06_studio", "exercises": []}


def test_a_function_graded_twice_is_listed_once() -> None:
    nb = fx.build({"gram_matrix": fx.SOLUTIONS["gram_matrix"]})
    nb.cells.append(nbformat.v4.new_code_cell("# GRADED FUNCTION: gram_matrix\ndef gram_matrix(A):\n    return A"))
    assert release_notebook(nb, "03.ipynb").metadata["nst_lab"]["exercises"] == ["gram_matrix"]


def test_placeholder_makes_the_check_fail_readably() -> None:
    from nst_lab.checks import CheckFailed, check_gram_matrix

    cell = _graded_cell(release_notebook(fx.build({"gram_matrix": fx.SOLUTIONS["gram_matrix"]})), "gram_matrix")
    namespace: dict = {}
    exec(cell.source, namespace)
    with pytest.raises(
        CheckFailed, match=r"it raised NotImplementedError: gram_matrix: replace this line with your code"
    ):
        check_gram_matrix(namespace["gram_matrix"])


def test_nested_indentation_is_kept() -> None:
    source = "\n".join(
        [
            "def f(x):",
            "    if x:",
            "        ### BEGIN SOLUTION",
            "        y = 1",
            "        ### END SOLUTION",
            "    return y",
        ]
    )
    out = release_notebook(fx.build({"f": source})).cells[3].source
    placeholder = '        raise NotImplementedError("f: replace this line with your code")'
    assert "\n    if x:\n        # YOUR CODE HERE\n" + placeholder + "\n    return y" in out


def _two_solutions(folder: Path) -> None:
    fx.write(folder / "01_a.ipynb", fx.build(fx.SOLUTIONS))
    fx.write(folder / "02_b.ipynb", fx.build({"gram_matrix": fx.SOLUTIONS["gram_matrix"]}, "colab"), "colab")


def test_release_is_byte_identical_across_runs(tmp_path: Path) -> None:
    _two_solutions(tmp_path / "sol")
    release_paths(tmp_path / "sol", tmp_path / "one")
    release_paths(tmp_path / "sol", tmp_path / "two")
    for name in ("01_a.ipynb", "02_b.ipynb", "release.json"):
        first = (tmp_path / "one" / name).read_bytes()
        assert first == (tmp_path / "two" / name).read_bytes(), name
        assert b"BEGIN SOLUTION" not in first and b"All tests passed" not in first
    for name in ("01_a.ipynb", "02_b.ipynb"):
        # releasing a student notebook again changes nothing, its stamp included
        first = (tmp_path / "one" / name).read_bytes()
        release_paths(tmp_path / "one" / name, tmp_path / "three" / name)
        assert (tmp_path / "three" / name).read_bytes() == first
        assert json.loads(first)["metadata"]["nst_lab"]["notebook"] == name.removesuffix(".ipynb")
    # a second release into the same folder rewrites the same bytes
    release_paths(tmp_path / "sol", tmp_path / "one")
    for name in ("01_a.ipynb", "02_b.ipynb", "release.json"):
        assert (tmp_path / "one" / name).read_bytes() == (tmp_path / "two" / name).read_bytes(), name


def test_release_writes_the_course_manifest_beside_the_notebooks(tmp_path: Path) -> None:
    _two_solutions(tmp_path / "sol")
    written = release_paths(tmp_path / "sol", tmp_path / "nb")
    manifest = tmp_path / "nb" / "release.json"
    assert sorted(written) == sorted([tmp_path / "nb" / "01_a.ipynb", tmp_path / "nb" / "02_b.ipynb", manifest])
    assert json.loads(manifest.read_text(encoding="utf-8")) == {"notebooks": {
        "01_a": ["get_layer_outputs", "compute_content_cost", "gram_matrix", "compute_layer_style_cost",
                 "compute_style_cost", "total_cost", "adam_update", "train_step", "preprocess_for_vgg19",
                 "run_style_transfer", "compute_total_variation_cost"],  # the notebook's order: fx.SOLUTIONS'
        "02_b": ["gram_matrix"],
    }}
    assert read_manifest(manifest) == json.loads(manifest.read_text(encoding="utf-8"))["notebooks"]
    assert not (tmp_path / "sol" / "release.json").exists()  # nothing is written beside the solutions


def test_release_merges_with_an_existing_manifest(tmp_path: Path) -> None:
    """Releasing one notebook keeps the other notebooks' entries and replaces its own."""
    fx.write(tmp_path / "sol" / "02_b.ipynb", fx.build({"total_cost": fx.SOLUTIONS["total_cost"]}))
    out = tmp_path / "nb"
    out.mkdir()
    (out / "release.json").write_text(json.dumps({"notebooks": {"09_later": ["adam_update"], "02_b": ["stale"],
                                                                "00_first": []}}), encoding="utf-8")
    written = release_paths(tmp_path / "sol" / "02_b.ipynb", out / "02_b.ipynb")
    assert out / "release.json" in written
    text = (out / "release.json").read_text(encoding="utf-8")
    assert json.loads(text) == {"notebooks": {"00_first": [], "02_b": ["total_cost"], "09_later": ["adam_update"]}}
    assert list(json.loads(text)["notebooks"]) == ["00_first", "02_b", "09_later"]  # sorted: stable diffs


@pytest.mark.parametrize("junk", ["not json", "[1, 2]", '{"notebooks": [1]}', '{"notebooks": {"a": "b"}}'])
def test_an_unreadable_manifest_is_replaced_not_trusted(tmp_path: Path, junk: str) -> None:
    fx.write(tmp_path / "sol" / "02_b.ipynb", fx.build({"total_cost": fx.SOLUTIONS["total_cost"]}))
    (tmp_path / "nb").mkdir()
    (tmp_path / "nb" / "release.json").write_text(junk, encoding="utf-8")
    release_paths(tmp_path / "sol", tmp_path / "nb")
    assert read_manifest(tmp_path / "nb" / "release.json") == {"02_b": ["total_cost"]}


def test_read_manifest_keeps_only_lists_of_names(tmp_path: Path) -> None:
    path = tmp_path / "release.json"
    assert read_manifest(path) == {}  # none yet
    path.write_text(json.dumps({"notebooks": {"01": ["gram_matrix", 3, None], "02": "gram_matrix", "03": []}}))
    assert read_manifest(path) == {"01": ["gram_matrix"], "03": []}


BAD_MARKERS = {  # line numbers count the "# GRADED FUNCTION: f" line the fixture puts first
    "unclosed": ("def f():\n    ### BEGIN SOLUTION\n    x = 1\n    return x", "line 3 is never closed"),
    "stray end": (
        "def f():\n    x = 1\n    ### END SOLUTION\n    return x",
        "line 4 has '### END SOLUTION' without",
    ),
    "nested": (
        "def f():\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    x = 1\n    ### END SOLUTION\n",
        "line 4 opens '### BEGIN SOLUTION' inside the region opened at line 3",
    ),
}


@pytest.mark.parametrize("kind", sorted(BAD_MARKERS))
def test_bad_markers_name_the_notebook_and_cell_and_write_nothing(tmp_path: Path, kind: str, capsys) -> None:
    source, expected = BAD_MARKERS[kind]
    fx.write(tmp_path / "sol" / "01_good.ipynb", fx.build({"gram_matrix": fx.SOLUTIONS["gram_matrix"]}))
    bad = fx.build({"f": source})
    fx.write(tmp_path / "sol" / "02_bad.ipynb", bad)
    out = tmp_path / "student"
    out.mkdir()
    (out / "01_good.ipynb").write_text("an older release", encoding="utf-8")
    fresh = tmp_path / "fresh"

    with pytest.raises(ReleaseError) as info:
        release_paths(tmp_path / "sol", out)
    message = str(info.value)
    assert "02_bad.ipynb, cell 4 (grade_id 'f')" in message and expected in message.replace('"', "'")

    code = main(["release", str(tmp_path / "sol"), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == ["01_good.ipynb"]  # no temp files, no release.json
    assert (out / "01_good.ipynb").read_text(encoding="utf-8") == "an older release"

    # an existing manifest is left as it was, and a new output folder stays empty or absent
    (out / "release.json").write_text('{"notebooks": {"01_good": ["older"]}}', encoding="utf-8")
    with pytest.raises(ReleaseError):
        release_paths(tmp_path / "sol", out)
    assert (out / "release.json").read_text(encoding="utf-8") == '{"notebooks": {"01_good": ["older"]}}'
    assert sorted(p.name for p in out.iterdir()) == ["01_good.ipynb", "release.json"]
    with pytest.raises(ReleaseError):
        release_paths(tmp_path / "sol", fresh)
    assert not fresh.exists() or not list(fresh.iterdir())


def test_cli_writes_a_folder_and_refuses_to_overwrite_solutions(tmp_path: Path, capsys) -> None:
    sol = fx.write(tmp_path / "sol" / "01_a.ipynb", fx.build(fx.SOLUTIONS))
    before = sol.read_bytes()
    assert main(["release", str(tmp_path / "sol"), "-o", str(tmp_path / "nb")]) == 0
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"wrote {tmp_path / 'nb' / '01_a.ipynb'}", f"wrote {tmp_path / 'nb' / 'release.json'}"]
    assert json.loads((tmp_path / "nb" / "01_a.ipynb").read_text())["cells"]
    (tmp_path / "plain").write_text("x")
    assert (tmp_path / "nb" / "01_a.ipynb").stat().st_mode == (tmp_path / "plain").stat().st_mode
    assert main(["release", str(tmp_path / "sol"), "-o", str(tmp_path / "sol")]) == 2
    assert "overwrite the solution notebook" in capsys.readouterr().err
    assert sol.read_bytes() == before


@pytest.mark.parametrize(
    "args, message",
    [
        (["missing.ipynb", "-o", "out"], "missing.ipynb does not exist"),
        (["broken.ipynb", "-o", "out"], "not a readable notebook"),
    ],
)
def test_cli_bad_input_is_one_line_exit_2(tmp_path: Path, monkeypatch, capsys, args, message) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "broken.ipynb").write_text('{"cells": [', encoding="utf-8")
    assert main(["release", *args]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists()


SOLUTIONS_DIR = REPO / "notebooks" / "solutions"
COURSE = sorted(p.name for p in SOLUTIONS_DIR.glob("*.ipynb"))


@pytest.fixture(scope="module")
def fresh_release(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("release")
    release_paths(SOLUTIONS_DIR, out)
    return out


@pytest.mark.skipif(not COURSE, reason="no notebooks/solutions/*.ipynb yet")
@pytest.mark.parametrize("name", [*COURSE, "release.json"])
def test_committed_student_notebooks_and_manifest_match_a_fresh_release(name: str, fresh_release: Path) -> None:
    committed = REPO / "notebooks" / name
    assert committed.exists(), f"{committed} is missing: run `nst-lab release notebooks/solutions -o notebooks`"
    assert (fresh_release / name).read_bytes() == committed.read_bytes(), (
        f"{committed} drifted from notebooks/solutions: run `nst-lab release notebooks/solutions -o notebooks`"
    )


@pytest.mark.skipif(not COURSE, reason="no notebooks/solutions/*.ipynb yet")
def test_the_course_manifest_lists_every_course_notebook_and_graded_function(fresh_release: Path) -> None:
    from nst_lab.exercises.questions import QUESTION_POINTS
    from nst_lab.grading.grade import ALL_POINTS, POINTS

    manifest = read_manifest(fresh_release / "release.json")
    assert sorted(manifest) == [n.removesuffix(".ipynb") for n in COURSE]
    listed = [name for exercises in manifest.values() for name in exercises]
    assert sorted(listed) == sorted(ALL_POINTS)  # each graded function and question in exactly one notebook
    functions = [name for name in listed if name in POINTS]
    questions = [name for name in listed if name in QUESTION_POINTS]
    assert sorted(functions) == sorted(POINTS) and sorted(questions) == sorted(QUESTION_POINTS)
    assert len(functions) + len(questions) == len(listed)  # nothing listed that is neither
