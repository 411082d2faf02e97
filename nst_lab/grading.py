"""Grade students' notebooks on behaviour, not on printed text: ``nst-lab grade``.

For each submission (a notebook file), the grader finds each graded function's cell (marked
``# GRADED FUNCTION: name`` or with nbgrader ``grade_id`` ``name``), runs the functions in a
separate process (``nst_lab.grade_worker``) on inputs drawn from a hidden seed, and judges
the returned values *here*, with the specs of ``nst_lab.specs``. Student code never runs in
this process, and what the worker sends back is parsed as JSON only: printing "All tests
passed" or patching the checks changes nothing.

Outputs in OUTDIR: ``grades.csv``, ``grades.json`` and ``feedback/<submission>.md``.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import re
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nst_lab.grade_report import write_reports
from nst_lab.grade_runner import DEFAULT_TIMEOUT, Settings, produce_all

# Points of each graded function; `nst-lab grade --points name=N,...` overrides them.
POINTS: dict[str, float] = {
    "get_layer_outputs": 10,
    "compute_content_cost": 10,
    "gram_matrix": 10,
    "compute_layer_style_cost": 15,
    "compute_style_cost": 15,
    "total_cost": 5,
    "adam_update": 15,
    "train_step": 20,
}
SECRET_ENV = "NST_LAB_GRADER_SECRET"  # set it (or pass --seed) so students cannot know the inputs
_GRADED = re.compile(r"^\s*#\s*GRADED FUNCTION:\s*(\w+)", re.MULTILINE)
_CHECK_CALL = re.compile(r"\bcheck_(\w+)\s*\(")


class GradeUsageError(ValueError):
    """Bad grader input (paths, options): the CLI prints it on one line and exits 2."""


def hidden_seed(secret: str) -> int:
    """A seed derived from a secret, never the notebooks' public seed."""
    from nst_lab.checks import PUBLIC_SEED

    seed = int(hashlib.sha256(secret.encode()).hexdigest(), 16) % 4_000_000 + 2
    return seed + 1 if seed == PUBLIC_SEED else seed


# ----------------------------------------------------------------- reading notebooks
@dataclass
class Submission:
    """One notebook handed in: where it is, its graded cells, or why it cannot be read."""

    name: str  # how reports call it, e.g. "alice/02_content_cost.ipynb"
    path: Path
    sources: dict[str, str] = field(default_factory=dict)  # graded name -> cell source
    checked: set[str] = field(default_factory=set)  # names whose check cell is present
    error: str = ""


def _cell_source(cell: Any) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def read_submission(path: Path, name: str, graded: Iterable[str]) -> Submission:
    """Find the graded cells of a notebook; a broken or foreign file gets ``error`` set."""
    graded = set(graded)
    sub = Submission(name, path)
    try:
        data = json.loads(path.read_bytes().decode("utf-8"))
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        sub.error = f"not a readable notebook ({type(exc).__name__}: {str(exc)[:120]})"
        return sub
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        sub.error = "not a notebook: the file has no list of cells"
        return sub
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = _cell_source(cell)
        meta = cell.get("metadata")
        nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
        grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
        marker = _GRADED.search(source)
        name_here = marker.group(1) if marker else grade_id
        if name_here in graded:
            sub.sources[name_here] = source  # the last marked cell wins, as when running the notebook
        if isinstance(grade_id, str) and grade_id.startswith("check_") and grade_id[6:] in graded:
            sub.checked.add(grade_id[6:])
        sub.checked.update(n for n in _CHECK_CALL.findall(source) if n in graded)
    return sub


def collect(paths: Sequence[str]) -> list[tuple[Path, str]]:
    """(path, report name) of every submission: files as given, folders searched recursively.

    A notebook found in folder ``alice`` is named ``alice/<path inside it>``, so reports of
    separate runs (one per student) can be concatenated; a clash falls back to the full path.
    """
    found: list[tuple[Path, list[str]]] = []  # path, candidate names from short to long
    for text in paths:
        path = Path(text)
        if path.is_dir():
            for nb in sorted(path.rglob("*.ipynb")):
                if ".ipynb_checkpoints" not in nb.parts:
                    rel = nb.relative_to(path).as_posix()
                    found.append((nb, [f"{path.resolve().name}/{rel}", nb.as_posix()]))
        elif path.is_file():
            found.append((path, [path.name, path.as_posix()]))
        else:
            raise GradeUsageError(f"{text} does not exist")
    if not found:
        raise GradeUsageError(f"no .ipynb notebooks found in {', '.join(paths)}")
    result = []
    for path, names in found:
        unique = [n for level, n in enumerate(names) if sum(o[level] == n for _, o in found) == 1]  # noqa: B023
        result.append((path, unique[0] if unique else str(path.resolve())))
    return result


def expected_exercises(subs: Sequence[Submission], only: Sequence[str] | None) -> dict[str, list[str]]:
    """Which exercises each submission is graded on.

    With ``only``, those. Otherwise the graded and checked cells it has, plus those that
    notebooks of the same file name have in this batch (so deleting a cell does not lower the
    maximum); an unreadable notebook with no such sibling is graded on every exercise.
    """
    order = list(POINTS)
    if only:
        return {s.name: list(only) for s in subs}
    by_file: dict[str, set[str]] = {}
    for s in subs:
        by_file.setdefault(s.path.name, set()).update(set(s.sources) | s.checked)
    result = {}
    for s in subs:
        names = set(s.sources) | s.checked | by_file.get(s.path.name, set())
        if not names and s.error:
            names = set(order)
        result[s.name] = [n for n in order if n in names]
    return result


# ----------------------------------------------------------------- running the worker
# ----------------------------------------------------------------- judging
def judge_one(name: str, worker: dict[str, Any], seed: int, points: float) -> dict[str, Any]:
    """Judge one worker result with the spec, in this process; returns the exercise's report."""
    from nst_lab.specs import SPECS

    report: dict[str, Any] = {"points": 0.0, "max": points, "passed": 0, "cases": [], "note": ""}
    if worker.get("status") != "ok":
        report["note"] = worker.get("note", "not run")
        return report
    try:
        results = SPECS[name].judge(worker["produced"], seed)
        cases = [{"case": str(r.case), "passed": bool(r.passed), "message": str(r.message)} for r in results]
    except Exception as exc:  # produced data of the wrong structure
        report["note"] = f"its results are malformed ({type(exc).__name__}: {str(exc)[:100]})"
        return report
    passed = sum(1 for c in cases if c["passed"])
    report.update(cases=cases, passed=passed, points=round(points * passed / len(cases), 2) if cases else 0.0)
    return report


def grade_submission(sub: Submission, expected: Sequence[str], settings: Settings) -> dict[str, Any]:
    """Grade one notebook: run its functions in workers, judge them here, add up the points."""
    points = dict(settings.points)
    row: dict[str, Any] = {"submission": sub.name, "path": str(sub.path), "exercises": {}, "notes": []}
    if sub.error:
        row["notes"].append(sub.error)
        worker_results: dict[str, dict[str, Any]] = {}
    else:
        worker_results = produce_all({n: sub.sources[n] for n in expected if n in sub.sources}, settings)
    for name in expected:
        if sub.error:
            result = {"status": "error", "note": "not graded: the file is not a notebook"}
        elif name not in sub.sources:
            result = {
                "status": "error",
                "note": f"no cell marked `# GRADED FUNCTION: {name}` "
                f"(or with nbgrader grade_id {name!r}): was it deleted or renamed?",
            }
        else:
            result = worker_results.get(name, {"status": "error", "note": "not run"})
        report = judge_one(name, result, settings.seed, points[name])
        row["exercises"][name] = report
        if report["note"]:
            row["notes"].append(f"{name}: {report['note']}")
    row["total"] = round(sum(r["points"] for r in row["exercises"].values()), 2)
    row["max"] = round(sum(r["max"] for r in row["exercises"].values()), 2)
    return row


def _pool_init() -> None:
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # TensorFlow's native logs would tear the progress bar; results go by pipe
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import nst_lab.specs  # noqa: F401  (the judges load before this process meets student code)


def _grade_task(args: tuple[Submission, list[str], Settings]) -> dict[str, Any]:
    return grade_submission(*args)


def grade_all(
    subs: Sequence[Submission],
    expected: dict[str, list[str]],
    settings: Settings,
    workers: int,
    progress: bool = True,
) -> list[dict[str, Any]]:
    """Grade every submission, ``workers`` at a time, with a progress bar; in input order."""
    from tqdm import tqdm

    import nst_lab.specs  # noqa: F401  (the judges load before any student code runs)

    tasks = [(s, expected[s.name], settings) for s in subs]
    bar = tqdm(total=len(tasks), desc="grading", unit="notebook", disable=not progress, file=sys.stderr)
    rows: list[dict[str, Any]] = []
    if workers <= 1 or len(tasks) == 1:
        for task in tasks:
            rows.append(_grade_task(task))
            bar.update()
    else:
        import multiprocessing
        from concurrent.futures import ProcessPoolExecutor

        single = Settings(settings.seed, settings.timeout, settings.points, single_thread=True)
        tasks = [(s, e, single) for s, e, _ in tasks]
        with ProcessPoolExecutor(
            max_workers=min(workers, len(tasks)),
            initializer=_pool_init,
            mp_context=multiprocessing.get_context("spawn"),
        ) as pool:
            for row in pool.map(_grade_task, tasks):
                rows.append(row)
                bar.update()
    bar.close()
    return rows


# ----------------------------------------------------------------- reports
# ----------------------------------------------------------------- command line
def parse_points(text: str) -> dict[str, float]:
    """``name=N,name=N`` or a JSON file {name: N}, merged over POINTS."""
    if text.endswith(".json") or os.path.isfile(text):
        try:
            given = json.loads(Path(text).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise GradeUsageError(f"--points {text}: cannot read a JSON object ({exc})") from None
        if not isinstance(given, dict):
            raise GradeUsageError(f"--points {text}: expected a JSON object {{name: points}}")
        pairs = list(given.items())
    else:
        pairs = [item.partition("=")[::2] for item in text.split(",") if item.strip()]
    points = dict(POINTS)
    for name, value in pairs:
        name = str(name).strip()
        if name not in POINTS:
            raise GradeUsageError(f"--points: {name!r} is not one of {', '.join(POINTS)}")
        try:
            number = float(value)
        except (TypeError, ValueError):
            raise GradeUsageError(f"--points: {value!r} for {name} is not a number") from None
        if not math.isfinite(number) or number < 0:
            raise GradeUsageError(f"--points: {name}={value} must be a number >= 0")
        points[name] = number
    return points


def add_grade(sub: Any) -> None:
    """Register ``nst-lab grade`` on the CLI's subparsers."""
    p = sub.add_parser(
        "grade",
        help="grade submitted notebooks on hidden inputs",
        description="Run each graded function in a separate process on hidden inputs, "
        "judge the values, and write grades.csv, grades.json and feedback/*.md.",
    )
    p.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="notebooks or folders of notebooks")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="folder for the reports")
    p.add_argument(
        "--workers",
        type=int,
        default=os.cpu_count() or 1,
        help="notebooks graded at once (default: CPU count)",
    )
    p.add_argument(
        "--timeout",
        type=float,
        default=DEFAULT_TIMEOUT,
        help=f"seconds per exercise (default {DEFAULT_TIMEOUT:g})",
    )
    p.add_argument("--seed", type=int, help=f"hidden input seed (default: derived from ${SECRET_ENV})")
    p.add_argument("--points", help="override points: name=N,name=N or a JSON file")
    p.add_argument("--exercises", help="grade every notebook on these functions (comma-separated)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_grade)


def run_grade(args: Any) -> int:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise GradeUsageError(f"-o {out} is a file, not a folder")
    if args.workers < 1:
        raise GradeUsageError(f"--workers {args.workers} must be at least 1")
    if not (args.timeout > 0 and math.isfinite(args.timeout)):
        raise GradeUsageError(f"--timeout {args.timeout:g} must be a positive number of seconds")
    if args.seed is not None and not 0 <= args.seed < 4_000_000:
        raise GradeUsageError(f"--seed {args.seed} must be in [0, 4000000)")
    points = parse_points(args.points) if args.points else dict(POINTS)
    only = [n.strip() for n in args.exercises.split(",") if n.strip()] if args.exercises else None
    for name in only or []:
        if name not in POINTS:
            raise GradeUsageError(f"--exercises: {name!r} is not one of {', '.join(POINTS)}")
    files = collect(args.submissions)
    from nst_lab.cli import load_tensorflow

    load_tensorflow()  # quietly, before the checks import it
    from nst_lab.checks import PUBLIC_SEED

    if args.seed == PUBLIC_SEED:
        raise GradeUsageError(f"--seed {args.seed} is the notebooks' public seed; pick another")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GradeUsageError(f"-o {out}: cannot create the folder ({exc.strerror})") from None
    seed = args.seed if args.seed is not None else hidden_seed(os.environ.get(SECRET_ENV, "nst-lab grader"))
    if args.seed is None and not os.environ.get(SECRET_ENV):
        print(
            f"note: ${SECRET_ENV} is not set, so the test inputs follow a seed anyone with nst_lab can "
            "compute; set it (or pass --seed) to keep them private",
            file=sys.stderr,
        )
    settings = Settings(seed, args.timeout, tuple(points.items()))
    subs = [read_submission(path, name, POINTS) for path, name in files]
    started = time.monotonic()
    rows = grade_all(subs, expected_exercises(subs, only), settings, args.workers, progress=not args.quiet)
    write_reports(rows, out, settings)
    mean = sum(r["total"] for r in rows) / len(rows)
    print(
        f"graded {len(rows)} notebook(s) in {time.monotonic() - started:.1f} s; mean score {mean:.1f}; "
        f"wrote {out / 'grades.csv'}, grades.json and feedback/"
    )
    return 0
