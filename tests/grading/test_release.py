"""`nst-lab release`: solutions stripped, outputs cleared, deterministic, bad markers refused."""

from __future__ import annotations

import json
from pathlib import Path

import nbformat
import pytest

from nst_lab.cli import main
from nst_lab.grading.release import BEGIN, END, ReleaseError, release_notebook, release_paths
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


def test_release_clears_outputs_and_keeps_checks_and_metadata() -> None:
    solution = fx.build(fx.SOLUTIONS)
    student = release_notebook(solution)
    assert len(student.cells) == len(solution.cells)
    for before, after in zip(solution.cells, student.cells, strict=True):
        assert after.metadata == before.metadata
        if after.cell_type == "code":
            assert after.outputs == [] and after.execution_count is None
        if before.source.startswith("check_"):
            assert after.source == before.source
    check = next(c for c in student.cells if c.source == "check_gram_matrix(gram_matrix)")
    assert check.metadata["tags"] == ["nbval-check-output"]
    assert check.metadata["nbgrader"]["points"] == 10


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


def test_release_is_byte_identical_across_runs(tmp_path: Path) -> None:
    fx.write(tmp_path / "sol" / "01_a.ipynb", fx.build(fx.SOLUTIONS))
    fx.write(
        tmp_path / "sol" / "02_b.ipynb",
        fx.build({"gram_matrix": fx.SOLUTIONS["gram_matrix"]}, "colab"),
        "colab",
    )
    release_paths(tmp_path / "sol", tmp_path / "one")
    release_paths(tmp_path / "sol", tmp_path / "two")
    for name in ("01_a.ipynb", "02_b.ipynb"):
        first = (tmp_path / "one" / name).read_bytes()
        assert first == (tmp_path / "two" / name).read_bytes()
        assert b"BEGIN SOLUTION" not in first and b"All tests passed" not in first
        # releasing a student notebook again changes nothing
        release_paths(tmp_path / "one" / name, tmp_path / "three" / name)
        assert (tmp_path / "three" / name).read_bytes() == first


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

    with pytest.raises(ReleaseError) as info:
        release_paths(tmp_path / "sol", out)
    message = str(info.value)
    assert "02_bad.ipynb, cell 4 (grade_id 'f')" in message and expected in message.replace('"', "'")

    code = main(["release", str(tmp_path / "sol"), "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 2 and err.startswith("error: ") and err.count("\n") == 1
    assert sorted(p.name for p in out.iterdir()) == ["01_good.ipynb"]  # no temp files either
    assert (out / "01_good.ipynb").read_text(encoding="utf-8") == "an older release"


def test_cli_writes_a_folder_and_refuses_to_overwrite_solutions(tmp_path: Path, capsys) -> None:
    sol = fx.write(tmp_path / "sol" / "01_a.ipynb", fx.build(fx.SOLUTIONS))
    before = sol.read_bytes()
    assert main(["release", str(tmp_path / "sol"), "-o", str(tmp_path / "nb")]) == 0
    assert "wrote" in capsys.readouterr().out
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


def _course_pairs() -> list[tuple[Path, Path]]:
    return [(s, REPO / "notebooks" / s.name) for s in sorted((REPO / "notebooks" / "solutions").glob("*.ipynb"))]


@pytest.mark.skipif(not _course_pairs(), reason="no notebooks/solutions/*.ipynb yet")
@pytest.mark.parametrize("solution, student", _course_pairs(), ids=lambda p: p.name)
def test_committed_student_notebooks_match_a_fresh_release(solution: Path, student: Path, tmp_path: Path) -> None:
    assert student.exists(), f"{student} is missing: run `nst-lab release notebooks/solutions -o notebooks`"
    release_paths(solution, tmp_path / solution.name)
    assert (tmp_path / solution.name).read_bytes() == student.read_bytes(), (
        f"{student} drifted from its solution: run `nst-lab release notebooks/solutions -o notebooks`"
    )
