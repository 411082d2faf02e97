"""`nst-lab grade`: scores follow behaviour, cheating gains nothing, the batch always finishes."""

from __future__ import annotations

import csv
import json
import time
from pathlib import Path

import pytest

from nst_lab.cli import main
from nst_lab.cli.grading import parse_points
from nst_lab.errors import GradeUsageError
from nst_lab.grading import grade as grading
from nst_lab.grading.release import release_notebook
from tests.grading import fixtures as fx

REPO = Path(__file__).resolve().parents[2]
SEED = 4242  # a hidden seed for the tests; the notebooks' checks use nst_lab.checks.PUBLIC_SEED


# ----------------------------------------------------------------- fast: reading and options
def test_points_table_matches_the_notebooks_and_parses_overrides(tmp_path: Path) -> None:
    """Every graded function has points, the course totals 100, and the nbgrader points in
    the solution notebooks' check cells agree with the table the grader uses."""
    import nbformat

    from nst_lab.grading.specs import SPECS

    assert set(grading.POINTS) == set(SPECS) and sum(grading.POINTS.values()) == 100
    in_notebooks = {}
    for path in sorted((REPO / "notebooks" / "solutions").glob("*.ipynb")):
        for cell in nbformat.read(path, as_version=4).cells:
            meta = cell.get("metadata", {}).get("nbgrader", {})
            if meta.get("grade") and str(meta.get("grade_id", "")).startswith("check_"):
                in_notebooks[meta["grade_id"][len("check_"):]] = meta["points"]
    assert in_notebooks == grading.POINTS
    points = parse_points("gram_matrix=20, total_cost=0")
    assert points["gram_matrix"] == 20 and points["total_cost"] == 0 and points["train_step"] == 20
    (tmp_path / "p.json").write_text('{"adam_update": 7.5}')
    assert parse_points(str(tmp_path / "p.json"))["adam_update"] == 7.5


@pytest.mark.parametrize(
    "text, message",
    [
        ("gram=3", "'gram' is not one of get_layer_outputs"),
        ("gram_matrix=lots", "'lots' for gram_matrix is not a number"),
        ("gram_matrix=-1", "gram_matrix=-1 must be a number >= 0"),
        ("missing.json", "cannot read a JSON object"),
    ],
)
def test_bad_points_are_refused(text: str, message: str) -> None:
    with pytest.raises(GradeUsageError, match=message):
        parse_points(text)


def test_hidden_seed_is_deterministic_secret_dependent_and_not_public() -> None:
    from nst_lab.checks import PUBLIC_SEED

    seeds = {grading.hidden_seed(f"secret {i}") for i in range(200)}
    assert grading.hidden_seed("a") == grading.hidden_seed("a")
    assert len(seeds) > 190 and PUBLIC_SEED not in seeds


@pytest.mark.parametrize("flavour", ["jupyterlab", "colab", "nbgrader"])
def test_graded_cells_are_found_by_marker_or_grade_id(tmp_path: Path, flavour: str) -> None:
    path = fx.write(tmp_path / "nb.ipynb", fx.build(fx.SOLUTIONS, flavour), flavour)
    sub = grading.read_submission(path, "nb.ipynb", grading.POINTS)
    assert sub.error == "" and set(sub.sources) == set(fx.SOLUTIONS) and sub.checked == set(fx.SOLUTIONS)
    assert "tf.linalg.matmul(A, tf.transpose(A))" in sub.sources["gram_matrix"]


@pytest.mark.parametrize(
    "content, message",
    [
        ('{"cells": [', "not a readable notebook (JSONDecodeError"),
        ('{"title": "my essay"}', "not a notebook: the file has no list of cells"),
        ("\udcff", "not a readable notebook"),
    ],
)
def test_broken_files_are_reported_not_raised(tmp_path: Path, content: str, message: str) -> None:
    path = tmp_path / "x.ipynb"
    path.write_bytes(content.encode("utf-8", "surrogateescape"))
    assert message in grading.read_submission(path, "x.ipynb", grading.POINTS).error


def test_submission_names_start_with_the_folder_given(tmp_path: Path) -> None:
    for who in ("alice", "bob"):
        fx.write(tmp_path / "class" / who / "02.ipynb", fx.build({"total_cost": fx.SOLUTIONS["total_cost"]}))
    (tmp_path / "class" / "alice" / ".ipynb_checkpoints").mkdir()
    (tmp_path / "class" / "alice" / ".ipynb_checkpoints" / "02-checkpoint.ipynb").write_text("{}")
    (tmp_path / "x.ipynb").write_text("{}")
    paths = [tmp_path / "class" / "alice", tmp_path / "class", tmp_path / "x.ipynb"]
    names = [name for _, name in grading.collect([str(p) for p in paths])]
    assert names == ["alice/02.ipynb", "class/alice/02.ipynb", "class/bob/02.ipynb", "x.ipynb"]


def test_expected_exercises_keep_deleted_cells_in_the_maximum(tmp_path: Path) -> None:
    full = fx.build({"gram_matrix": fx.SOLUTIONS["gram_matrix"], "total_cost": fx.SOLUTIONS["total_cost"]})
    deleted = fx.build({"total_cost": fx.SOLUTIONS["total_cost"]})
    subs = [
        grading.read_submission(fx.write(tmp_path / who / "02.ipynb", nb), f"{who}/02.ipynb", grading.POINTS)
        for who, nb in (("alice", full), ("bob", deleted))
    ]
    broken = tmp_path / "carol" / "02.ipynb"
    broken.parent.mkdir()
    broken.write_text("{")
    subs.append(grading.read_submission(broken, "carol/02.ipynb", grading.POINTS))
    expected = grading.expected_exercises(subs, None)
    assert expected == {n: ["gram_matrix", "total_cost"] for n in ("alice/02.ipynb", "bob/02.ipynb", "carol/02.ipynb")}
    assert grading.expected_exercises(subs[:1], ["adam_update"]) == {"alice/02.ipynb": ["adam_update"]}


def test_judging_survives_forged_or_failed_worker_results() -> None:
    forged = grading.judge_one("gram_matrix", {"status": "ok", "produced": {"case0": "All tests passed"}}, SEED, 10)
    assert forged["points"] == 0 and "malformed" in forged["note"]
    failed = grading.judge_one("total_cost", {"status": "error", "note": "it ran out of time"}, SEED, 5)
    assert failed["points"] == 0 and failed["note"] == "it ran out of time"


@pytest.mark.parametrize(
    "args, message",
    [
        (["nowhere/", "-o", "out"], "nowhere/ does not exist"),
        (["sub", "-o", "afile"], "-o afile is a file, not a folder"),
        (["sub", "-o", "out", "--points", "gram=1"], "'gram' is not one of"),
        (["sub", "-o", "out", "--workers", "0"], "--workers 0 must be at least 1"),
        (["sub", "-o", "out", "--exercises", "gram"], "--exercises: 'gram' is not one of"),
        (["sub", "-o", "out", "--seed", "1"], "is the notebooks' public seed"),
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
    assert err.startswith("error: ") and message in err and err.count("\n") == 1
    assert not (tmp_path / "out").exists() and (tmp_path / "afile").read_text() == "keep me"


# ----------------------------------------------------------------- slow: real worker processes
def _grade(paths: list[Path], out: Path, timeout: float, workers: int = 2) -> dict[str, dict]:
    code = main(
        [
            "grade",
            *map(str, paths),
            "-o",
            str(out),
            "--seed",
            str(SEED),
            "--timeout",
            str(timeout),
            "--workers",
            str(workers),
            "--quiet",
        ]
    )
    assert code == 0
    rows = json.loads((out / "grades.json").read_text())["submissions"]
    return {r["submission"]: r for r in rows}


FLAVOURS = ("jupyterlab", "colab", "nbgrader")


@pytest.fixture(scope="module")
def class_of_30(tmp_path_factory) -> tuple[float, dict[str, dict]]:
    """30 solution notebooks, ten from each origin, graded on 2 workers: (seconds, rows)."""
    root = tmp_path_factory.mktemp("class")
    for i in range(30):
        flavour = FLAVOURS[i % 3]
        fx.write(root / "class" / f"student{i:02d}_{flavour}.ipynb", fx.build(fx.SOLUTIONS, flavour), flavour)
    started = time.monotonic()
    rows = _grade([root / "class"], root / "out", timeout=120)
    return time.monotonic() - started, rows


@pytest.mark.slow
def test_solution_notebooks_get_full_marks(class_of_30) -> None:
    _, rows = class_of_30
    assert len(rows) == 30
    for row in rows.values():
        assert (row["total"], row["max"], row["notes"]) == (100, 100, []), row["notes"]
        assert all(ex["passed"] == len(ex["cases"]) > 0 for ex in row["exercises"].values())


@pytest.mark.slow
def test_throughput_30_submissions(class_of_30) -> None:
    """Measured on the shared 2-core machine: see the README; this bound only catches regressions."""
    seconds, _ = class_of_30
    print(f"graded 30 submissions in {seconds:.1f} s")
    assert seconds < 600


@pytest.mark.slow
def test_released_notebooks_get_zero_without_crashing(adversarial) -> None:
    root, rows = adversarial
    for flavour in FLAVOURS:
        row = rows[f"released/{flavour}.ipynb"]
        assert (row["total"], row["max"]) == (0, 100)
        for ex in row["exercises"].values():
            assert ex["note"] == "" and ex["passed"] == 0
            assert all("NotImplementedError" in c["message"] for c in ex["cases"])
    table = list(csv.DictReader((root / "out" / "grades.csv").open()))
    assert list(table[0]) == ["submission", *grading.POINTS, "total", "max", "notes"]
    assert {r["submission"]: r["total"] for r in table}["released/colab.ipynb"] == "0"
    feedback = (root / "out" / "feedback" / "released__colab.md").read_text()
    assert "Score: 0 / 100" in feedback and "Not attempted yet" in feedback


GOOD_TOTAL = fx.SOLUTIONS["total_cost"]
GOOD_GRAM = fx.SOLUTIONS["gram_matrix"]
WRONG_GRAM = "def gram_matrix(A):\n    return tf.matmul(A, A, transpose_a=True)  # A^T A\n"
CHEATS = {
    "prints_fake_pass": "print('All tests passed')\n"
    + "def gram_matrix(A):\n    print('All tests passed')\n    return A\n",
    "patches_checks": (
        "def gram_matrix(A):\n    import sys\n    checks = sys.modules['nst_lab.checks']\n"
        "    checks.close = lambda *a, **k: True\n    checks.PASS_MESSAGE = 'x'\n    return A\n"
    ),
    "patches_numpy": "def gram_matrix(A):\n    np.allclose = lambda *a, **k: True\n    return A\n",
    "replaces_checks_module": (  # getattr gets past the source scan; the patch check catches it
        "def gram_matrix(A):\n    import sys, types\n"
        "    modules = getattr(sys, 'mod' + 'ules')\n"
        "    modules['nst_lab.checks'] = types.ModuleType('nst_lab.checks')\n    return A\n"
    ),
    "patches_tensorflow": "def gram_matrix(A):\n    tf.reduce_sum = lambda *a, **k: 0.0\n    return A\n",
    "reaches_the_reference": "def gram_matrix(A):\n    return clip_0_1.__globals__['gram_matrix'](A)\n",
    "imports_checks": (
        "import nst_lab.checks as c\nc.check_gram_matrix = lambda fn: print('All tests passed')\n" + GOOD_GRAM
    ),
    "imports_reference": (
        "from nst_lab.costs import gram_matrix as reference\ndef gram_matrix(A):\n    return reference(A)\n"
    ),
    "imports_reference_module": (  # the module itself, not the function: found by review
        "def gram_matrix(A):\n    from nst_lab import costs\n    return costs.gram_matrix(A)\n"
    ),
    "imports_training_module": "import nst_lab.train as t\ndef gram_matrix(A):\n    return t.gram_matrix(A)\n",
    "writes_files": "def gram_matrix(A):\n    open('left_behind.txt', 'w').write('x')\n    return A\n",
    "forges_results": (
        "def gram_matrix(A):\n    import os, sys\n    fd = int(sys.argv[sys.argv.index('--fd') + 1])\n"
        '    os.write(fd, b\'{"event": "done", "name": "gram_matrix", "status": "ok", '
        '"produced": {"verdict": "All tests passed"}}\\n\')\n    return A\n'
    ),
}
BROKEN = {
    "loops": "def gram_matrix(A):\n    while True:\n        pass\n",
    "loops_stubbornly": (
        "def gram_matrix(A):\n    while True:\n        try:\n            while True:\n"
        "                pass\n        except BaseException:\n            pass\n"
    ),
    "kills_the_process": "def gram_matrix(A):\n    import os\n    os._exit(3)\n",
    "raises": "def gram_matrix(A):\n    return A @ B\n",
    "syntax_error": "def gram_matrix(A)\n    return tf.matmul(A, A, transpose_b=True)\n",
    "renamed": "def gram_matrx(A):\n    return tf.matmul(A, A, transpose_b=True)\n",
}


@pytest.fixture(scope="module")
def adversarial(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    """Notebooks with a bad gram_matrix and a good total_cost, broken files, released notebooks."""
    root = tmp_path_factory.mktemp("adversarial")
    sub = root / "submissions"
    for name, source in {**CHEATS, **BROKEN}.items():
        fx.write(sub / f"{name}.ipynb", fx.build({"gram_matrix": source, "total_cost": GOOD_TOTAL}))
    fx.write(
        sub / "wrong_but_independent.ipynb",
        fx.build(
            {
                "gram_matrix": WRONG_GRAM,
                "compute_layer_style_cost": fx.SOLUTIONS["compute_layer_style_cost"],
                "compute_style_cost": fx.SOLUTIONS["compute_style_cost"],
            }
        ),
    )
    deleted = fx.build({"gram_matrix": GOOD_GRAM, "total_cost": GOOD_TOTAL})
    deleted.cells = [c for c in deleted.cells if not c.source.startswith("# GRADED FUNCTION: gram_matrix")]
    fx.write(sub / "deleted_cell.ipynb", deleted)
    (sub / "broken_json.ipynb").write_text('{"cells": [{"cell_type": "code", "source": "def gram', encoding="utf-8")
    for flavour in FLAVOURS:
        nb = release_notebook(fx.build(fx.SOLUTIONS, flavour))
        fx.write(root / "released" / f"{flavour}.ipynb", nb, flavour)
    (root / "essay.txt").write_text("I did not do the lab, but here is a poem.", encoding="utf-8")
    return root, _grade([sub, root / "released", root / "essay.txt"], root / "out", timeout=8)


@pytest.mark.slow
def test_cheating_gains_nothing(adversarial) -> None:
    _, rows = adversarial
    for name in CHEATS:
        row = rows[f"submissions/{name}.ipynb"]
        gram = row["exercises"]["gram_matrix"]
        value_cases = [c for c in gram["cases"] if c["case"].startswith("gram_matrix of shape")]
        assert all(not c["passed"] for c in value_cases), (name, gram)
        assert gram["points"] < 10, (name, gram)
        assert row["exercises"]["total_cost"]["points"] == 5, (name, row["notes"])  # graded in a clean worker
    notes = {name: rows[f"submissions/{name}.ipynb"]["exercises"]["gram_matrix"]["note"] for name in CHEATS}
    assert "uses 'sys.modules', which graded cells may not use" in notes["patches_checks"]
    assert "uses '__globals__', which graded cells may not use" in notes["reaches_the_reference"]
    assert "changed numpy.allclose" in notes["patches_numpy"]
    assert "changed tensorflow.reduce_sum" in notes["patches_tensorflow"]
    for name in ("patches_numpy", "patches_tensorflow", "replaces_checks_module"):
        assert "must not patch libraries (0 points)" in notes[name] and rows[f"submissions/{name}.ipynb"]["total"] == 5
    assert "nst_lab.checks." in notes["replaces_checks_module"]
    assert "may not import nst_lab.checks" in notes["imports_checks"]
    assert "may not import nst_lab.costs (gram_matrix)" in notes["imports_reference"]
    said = {name: notes[name] + " ".join(c.get("message", "") for c in
                                         rows[f"submissions/{name}.ipynb"]["exercises"]["gram_matrix"]["cases"])
            for name in ("imports_reference_module", "imports_training_module")}
    assert "may not import nst_lab (costs)" in said["imports_reference_module"]  # at call time
    assert "may not import nst_lab.train" in said["imports_training_module"]  # at definition time
    assert "malformed" in notes["forges_results"]
    root = adversarial[0]
    assert not list(root.rglob("left_behind.txt")) and not (Path.cwd() / "left_behind.txt").exists()


@pytest.mark.slow
def test_broken_submissions_score_zero_with_a_note_and_the_batch_finishes(adversarial) -> None:
    root, rows = adversarial
    expected_notes = {
        "loops": "ran out of time",
        "loops_stubbornly": "ran out of time (8 s",
        "kills_the_process": "crashed the Python process (exit code 3)",
        "syntax_error": "SyntaxError in the cell, line 2",
        "renamed": "does not define gram_matrix() (it defines gram_matrx): was it renamed?",
    }
    for name, note in expected_notes.items():
        row = rows[f"submissions/{name}.ipynb"]
        assert row["exercises"]["gram_matrix"]["points"] == 0 and note in row["exercises"]["gram_matrix"]["note"], row
        assert row["exercises"]["total_cost"]["points"] == 5 and row["total"] == 5, (name, row["notes"])
    raises = rows["submissions/raises.ipynb"]["exercises"]["gram_matrix"]
    assert raises["points"] == 0 and "it raised NameError: name 'B' is not defined" in raises["cases"][0]["message"]
    deleted = rows["submissions/deleted_cell.ipynb"]
    assert (deleted["total"], deleted["max"]) == (5, 15) and "no cell marked" in deleted["notes"][0]
    for name in ("submissions/broken_json.ipynb", "essay.txt"):
        assert rows[name]["total"] == 0 and "not a readable notebook" in rows[name]["notes"][0]
    feedback = (root / "out" / "feedback" / "submissions__syntax_error.md").read_text()
    assert "## gram_matrix: 0 / 10" in feedback and "SyntaxError" in feedback and "## total_cost: 5 / 5" in feedback


@pytest.mark.slow
def test_a_wrong_function_loses_only_its_own_points(adversarial) -> None:
    row = adversarial[1]["submissions/wrong_but_independent.ipynb"]
    ex = row["exercises"]
    assert ex["gram_matrix"]["points"] < 10
    assert any("A^T A" in c["message"] for c in ex["gram_matrix"]["cases"])  # the spec names the mistake
    assert ex["compute_layer_style_cost"]["points"] == 15 and ex["compute_style_cost"]["points"] == 15


def _graded_course() -> list[Path]:
    """Solution notebooks of the course that contain graded functions."""
    found = sorted((REPO / "notebooks" / "solutions").glob("*.ipynb"))
    return [p for p in found if grading.read_submission(p, p.name, grading.POINTS).sources]


@pytest.mark.slow
@pytest.mark.skipif(not _graded_course(), reason="no course notebooks with graded functions yet")
def test_course_notebooks_solutions_full_marks_students_zero(tmp_path: Path) -> None:
    solutions = _graded_course()
    rows = _grade([REPO / "notebooks"], tmp_path / "out", timeout=120)
    for solution in solutions:
        full = rows[solution.relative_to(REPO).as_posix()]
        assert full["max"] > 0 and full["total"] == full["max"] and full["notes"] == [], full
        student = rows[f"notebooks/{solution.name}"]
        assert (student["total"], student["max"]) == (0, full["max"]), student


@pytest.mark.parametrize("secret", [None, "only the instructor knows"])
def test_default_seed_is_flagged_and_a_lone_non_notebook_still_grades(tmp_path: Path, monkeypatch, capsys, secret):
    if secret is None:
        monkeypatch.delenv(grading.SECRET_ENV, raising=False)
    else:
        monkeypatch.setenv(grading.SECRET_ENV, secret)
    (tmp_path / "essay.txt").write_text("no code here")
    assert main(["grade", str(tmp_path / "essay.txt"), "-o", str(tmp_path / "out"), "--quiet"]) == 0
    err = capsys.readouterr().err
    assert ("NST_LAB_GRADER_SECRET is not set" in err) == (secret is None)
    row = next(csv.DictReader((tmp_path / "out" / "grades.csv").open()))
    assert (row["submission"], row["total"], row["max"]) == ("essay.txt", "0", "100")
    assert row["notes"].startswith("not a readable notebook")


@pytest.mark.parametrize("name, fromlist, allowed", [
    ("nst_lab", ("costs",), False),
    ("nst_lab", ("specs",), False),
    ("nst_lab", ("STYLE_LAYERS", "clip_0_1"), True),
    ("nst_lab.config", ("STYLE_LAYERS",), True),
    ("nst_lab.costs", ("clip_0_1",), True),
    ("nst_lab.costs", ("clip_0_1", "gram_matrix"), False),
    ("nst_lab.train", ("cost_parts",), False),
    ("nst_lab.vgg", ("FeatureExtractor",), False),
    ("nst_lab.images", ("load_image",), True),
    ("nst_lab", (), False),
])
def test_graded_cells_may_import_only_what_holds_no_reference(name, fromlist, allowed) -> None:
    from nst_lab.grading.worker import _import_allowed

    assert _import_allowed(name, set(fromlist)) is allowed
