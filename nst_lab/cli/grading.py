"""``nst-lab release`` and ``nst-lab grade``: the instructors' commands (their work is in ``nst_lab.grading``)."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from pathlib import Path
from typing import Any

from nst_lab import load_tensorflow
from nst_lab.errors import GradeUsageError


def add_release(sub: Any) -> None:
    """Register ``nst-lab release`` on the CLI's subparsers."""
    p = sub.add_parser(
        "release",
        help="make student notebooks from solution notebooks",
        description="Strip ### BEGIN/END SOLUTION regions, clear outputs, keep checks and metadata.",
    )
    p.add_argument("src", metavar="SRC", help="a solution notebook or a folder of them")
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="output folder (or file, for one notebook)")
    p.add_argument("--exam", action="store_true",
                   help="questions' checks only check the form of an answer; the answers go into release.json "
                        "(keep it: it is the answer key)")
    p.set_defaults(run=run_release)


def run_release(args: Any) -> int:
    """Release every solution notebook, or none."""
    from nst_lab.grading.release import release_paths

    written = release_paths(args.src, args.out, exam=args.exam)
    for path in written:
        print(f"wrote {path}")
    if args.exam:
        print("note: release.json holds the exam's answers: keep it for `nst-lab grade --course`, hand out only "
              "the notebooks", file=sys.stderr)
    return 0


def parse_points(text: str) -> dict[str, float]:
    """``name=N,name=N`` or a JSON file {name: N}, merged over the points of functions and questions."""
    from nst_lab.grading.grade import ALL_POINTS as POINTS

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
    from nst_lab.grading.grade import SECRET_ENV
    from nst_lab.grading.runner import DEFAULT_TIMEOUT
    from nst_lab.grading.schedule import INCOMPLETE_EXIT, NOTEBOOK_TIMEOUT, STUDENT_TIMEOUT

    p = sub.add_parser("grade", help="grade submitted notebooks on hidden inputs, in a sandbox",
                       description="Run each graded function in a sandboxed process that holds no reference "
                                   "solution, on hidden inputs; judge the values here; write grades.csv, "
                                   "grades.json and feedback/*.md.")
    p.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="notebooks or folders of notebooks")
    p.add_argument("-o", "--out", required=True, metavar="OUTDIR", help="folder for the reports")
    p.add_argument("--course", metavar="RELEASE_JSON",
                   help="the release's manifest (notebook -> exercises) that sets each notebook's maximum "
                        "(default: notebooks/release.json of this repository)")
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                   help="notebooks graded at once (default: CPU count)")
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT,
                   help=f"seconds per exercise (default {DEFAULT_TIMEOUT:g})")
    p.add_argument("--notebook-timeout", type=float, default=NOTEBOOK_TIMEOUT, metavar="SECONDS",
                   help=f"seconds for all exercises of one notebook (default {NOTEBOOK_TIMEOUT:g})")
    p.add_argument("--student-timeout", type=float, default=STUDENT_TIMEOUT, metavar="SECONDS",
                   help=f"seconds for all notebooks of one student (default {STUDENT_TIMEOUT:g})")
    p.add_argument("--batch-timeout", type=float, metavar="SECONDS",
                   help="end the batch after this long: what it did not reach is reported 'not graded (batch "
                        f"time)' with its maximum, and the exit code is {INCOMPLETE_EXIT} (default: no end)")
    p.add_argument("--seed", type=int, help=f"hidden input seed (default: derived from ${SECRET_ENV}, "
                                            "else random and recorded in grades.json)")
    p.add_argument("--points", help="override points: name=N,name=N or a JSON file")
    p.add_argument("--exercises", help="grade every notebook on these functions (comma-separated)")
    p.add_argument("--no-sandbox", action="store_true",
                   help="DANGER: run student code with your own rights (only where bubblewrap cannot run)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(run=run_grade)


def _check_grade_options(args: Any) -> None:
    out = Path(args.out)
    if out.exists() and not out.is_dir():
        raise GradeUsageError(f"-o {out} is a file, not a folder")
    if args.workers < 1:
        raise GradeUsageError(f"--workers {args.workers} must be at least 1")
    if not (args.timeout > 0 and math.isfinite(args.timeout)):
        raise GradeUsageError(f"--timeout {args.timeout:g} must be a positive number of seconds")
    for flag in ("batch_timeout", "notebook_timeout", "student_timeout"):
        value = getattr(args, flag)
        if value is not None and not (value > 0 and math.isfinite(value)):
            raise GradeUsageError(f"--{flag.replace('_', '-')} {value:g} must be a positive number of seconds")
    if args.seed is not None and not 2 <= args.seed < 4_000_000:
        raise GradeUsageError(f"--seed {args.seed} must be in [2, 4000000) (1 is the notebooks' public seed)")


def _seed(args: Any) -> tuple[int, str]:
    """The hidden seed and where it came from: --seed, the shared secret, or a fresh random one."""
    import secrets

    from nst_lab.grading.grade import SECRET_ENV, hidden_seed

    if args.seed is not None:
        return args.seed, "--seed"
    if os.environ.get(SECRET_ENV):
        return hidden_seed(os.environ[SECRET_ENV]), f"${SECRET_ENV}"
    print(f"note: ${SECRET_ENV} is not set: the inputs follow a fresh random seed, recorded in grades.json "
          "(pass it as --seed to regrade on the same inputs)", file=sys.stderr)
    return 2 + secrets.randbelow(4_000_000 - 2), "random"


def _manifest(args: Any) -> tuple[dict[str, list[str]], dict[str, Any]]:
    """The course's notebooks and their exercises, and an exam's answer key (empty without an exam)."""
    from nst_lab.files import DATA_DIR
    from nst_lab.grading.release import MANIFEST, read_answer_key, read_manifest

    path = Path(args.course) if args.course else DATA_DIR.parent / "notebooks" / MANIFEST
    manifest = read_manifest(path)
    if args.course and not manifest:
        raise GradeUsageError(f"--course {args.course}: not a release manifest (nst-lab release writes {MANIFEST})")
    return manifest, read_answer_key(path)


def _probe_sandbox(no_sandbox: bool) -> None:
    from nst_lab.grading.probe import probe
    from nst_lab.grading.sandbox import Sandbox, SandboxUnavailable

    if no_sandbox:
        print("warning: --no-sandbox: student code runs with your rights; it can read your files and the network",
              file=sys.stderr)
        return
    try:
        probe(Sandbox())
    except SandboxUnavailable as exc:
        raise GradeUsageError(str(exc)) from None


def run_grade(args: Any) -> int:
    """Check the options, grade every submission, write the reports, print one summary line."""
    from nst_lab.grading.grade import ALL_POINTS as POINTS
    from nst_lab.grading.grade import read_submission
    from nst_lab.grading.report import write_reports
    from nst_lab.grading.runner import Settings
    from nst_lab.grading.schedule import INCOMPLETE_EXIT, grade_all
    from nst_lab.grading.submissions import assign_exercises, collect_students

    _check_grade_options(args)
    points = parse_points(args.points) if args.points else dict(POINTS)
    only = [n.strip() for n in args.exercises.split(",") if n.strip()] if args.exercises else None
    for name in only or []:
        if name not in POINTS:
            raise GradeUsageError(f"--exercises: {name!r} is not one of {', '.join(POINTS)}")
    files, (manifest, answers) = collect_students(args.submissions), _manifest(args)
    _probe_sandbox(args.no_sandbox)
    out = Path(args.out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise GradeUsageError(f"-o {out}: cannot create the folder ({exc.strerror})") from None
    seed, source = _seed(args)
    load_tensorflow()  # quietly, before the judges import it
    settings = Settings(seed, args.timeout, tuple(points.items()), sandbox=not args.no_sandbox,
                        answers=tuple(sorted((k, json.dumps(v)) for k, v in answers.items())))
    subs = [read_submission(path, name, student=who) for path, name, who in files]
    started = time.monotonic()
    rows = grade_all(subs, assign_exercises(subs, manifest, only), settings, args.workers,
                     progress=not args.quiet, batch_timeout=args.batch_timeout,
                     notebook_timeout=args.notebook_timeout, student_timeout=args.student_timeout)
    write_reports(rows, out, settings, seed_source=source)
    mean = sum(r["total"] for r in rows) / len(rows)
    incomplete = sum(1 for r in rows if r.get("incomplete"))
    print(f"graded {len(rows)} notebook(s) in {time.monotonic() - started:.1f} s; mean score {mean:.1f}; "
          f"wrote {out / 'grades.csv'}, grades.json and feedback/")
    if incomplete:
        print(f"incomplete: the batch time ran out before {incomplete} notebook(s) were fully graded (see "
              f"'not graded (batch time)' in the notes); exit code {INCOMPLETE_EXIT}", file=sys.stderr)
        return INCOMPLETE_EXIT
    return 0
