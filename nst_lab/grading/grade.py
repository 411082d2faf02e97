"""Grade students' notebooks on behaviour, not on printed text: ``nst-lab grade``.

Each graded cell (``# GRADED FUNCTION: name`` or nbgrader ``grade_id``) goes with concrete inputs to a
fresh child of a sandboxed fork server that holds no reference (``runner``, ``zygote.py``, ``kit.py``);
the values that come back (bounded JSON, shape-checked) are judged *here* with ``specs``. Answer
cells of questions are never run (``questions`` reads their literal). Files are not trusted: only
regular files, size- and depth-capped, metadata type-checked, cells scanned in linear time. The
maximum comes from the course's ``release.json``, never from classmates; a bad notebook gets 0 with
a note and the batch goes on. Outputs: ``grades.csv``, ``grades.json``, ``feedback/*.md``.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import hashlib
import json
import os
import stat
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nst_lab.exercises.markers import graded_name, graded_question
from nst_lab.exercises.questions import NO_KEY, QUESTION_POINTS, QUESTIONS, grade_answer
from nst_lab.files import load_json_bounded
from nst_lab.grading.runner import KitServer, ServerDied, Settings

# Points of each graded function (questions: QUESTION_POINTS); `nst-lab grade --points name=N` overrides.
POINTS: dict[str, float] = {
    "get_layer_outputs": 10,
    "compute_content_cost": 10,
    "gram_matrix": 10,
    "compute_layer_style_cost": 15,
    "compute_style_cost": 15,
    "total_cost": 5,
    "adam_update": 15,
    "train_step": 20,
    "preprocess_for_vgg19": 10, "run_style_transfer": 10, "compute_total_variation_cost": 10,
}
ALL_POINTS: dict[str, float] = {**POINTS, **QUESTION_POINTS}  # functions, then questions: the report order
SECRET_ENV = "NST_LAB_GRADER_SECRET"  # set it (or pass --seed) so a regrade repeats the same inputs
MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024
MAX_JSON_DEPTH = 64
MAX_CELL_CHARS = 1_000_000  # a graded cell longer than this is not run


def hidden_seed(secret: str) -> int:
    """A seed derived from a secret, never the notebooks' public seed."""
    from nst_lab.exercises.judging import PUBLIC_SEED

    seed = int(hashlib.sha256(secret.encode()).hexdigest(), 16) % 4_000_000 + 2
    return seed + 1 if seed == PUBLIC_SEED else seed


def safe_text(text: str, limit: int = 500) -> str:
    """Text that any report can hold: lone surrogates (undecodable file names) replaced, invisible and
    bidi characters written as ``\\uXXXX`` (``report.visible``), trimmed."""
    from nst_lab.grading.report import visible

    return visible(text.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))[:limit]


@dataclass
class Submission:
    """One notebook handed in: where it is, its graded cells, or why it cannot be graded."""

    name: str  # how reports call it, e.g. "alice/02_content_cost.ipynb"
    path: Path
    identity: str = ""  # the course notebook it claims to be (release stamp, else the file name)
    sources: dict[str, str] = field(default_factory=dict)  # graded name -> cell source
    answers: dict[str, str] = field(default_factory=dict)  # question name -> answer cell source (never run)
    error: str = ""
    flags: list[str] = field(default_factory=list)  # notes for the instructor (links, copies)
    student: str = ""  # who handed it in: the first folder below the one passed (``collect_students``)


def _read_capped(path: Path) -> bytes:
    """The file's bytes, refusing links, FIFOs, devices and files over the size cap."""
    flags = os.O_RDONLY | os.O_NONBLOCK | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    fd = os.open(path, flags)
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            raise ValueError("not a regular file")
        if info.st_size > MAX_NOTEBOOK_BYTES:
            raise ValueError(f"larger than {MAX_NOTEBOOK_BYTES // (1024 * 1024)} MiB")
        data = os.read(fd, MAX_NOTEBOOK_BYTES + 1)
        chunks = [data]
        while data and sum(map(len, chunks)) <= MAX_NOTEBOOK_BYTES:
            data = os.read(fd, 1 << 20)
            chunks.append(data)
        whole = b"".join(chunks)
        if len(whole) > MAX_NOTEBOOK_BYTES:
            raise ValueError(f"larger than {MAX_NOTEBOOK_BYTES // (1024 * 1024)} MiB")
        return whole
    finally:
        os.close(fd)


def _cell_source(cell: dict[str, Any]) -> str:
    source = cell.get("source", "")
    if isinstance(source, list):
        return "".join(s for s in source if isinstance(s, str))
    return source if isinstance(source, str) else ""


def _grade_id(cell: dict[str, Any]) -> str | None:
    meta = cell.get("metadata")
    nbgrader = meta.get("nbgrader") if isinstance(meta, dict) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return grade_id if isinstance(grade_id, str) else None


def read_submission(path: Path, name: str, graded: Sequence[str] = tuple(POINTS), student: str = "") -> Submission:
    """Find the graded cells of a notebook; a broken, foreign or hostile file gets ``error`` set.

    ``student`` tells who handed it in (default: the first folder of ``name``).
    """
    sub = Submission(safe_text(name), path, identity=path.stem, student=student or name.split("/")[0])
    if path.is_symlink():
        sub.error = "it is a link to another file, not a notebook handed in: not graded"
        return sub
    try:
        data = load_json_bounded(_read_capped(path), MAX_NOTEBOOK_BYTES, MAX_JSON_DEPTH)
    except (OSError, ValueError) as exc:
        why = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        sub.error = f"not a readable notebook ({safe_text(why, 120)})"
        return sub
    cells = data.get("cells") if isinstance(data, dict) else None
    if not isinstance(cells, list):
        sub.error = "not a notebook: the file has no list of cells"
        return sub
    meta = data.get("metadata") if isinstance(data, dict) else None
    stamp = meta.get("nst_lab") if isinstance(meta, dict) else None
    if isinstance(stamp, dict) and isinstance(stamp.get("notebook"), str):
        sub.identity = safe_text(stamp["notebook"], 100)
    for cell in cells:
        if not isinstance(cell, dict) or cell.get("cell_type") != "code":
            continue
        source = _cell_source(cell)
        question = graded_question(source) or _grade_id(cell)
        if question in QUESTIONS:
            sub.answers[question] = source  # the last marked cell wins; read_answer bounds its size
            continue
        name_here = graded_name(source) or _grade_id(cell)
        if name_here is not None and name_here in graded:
            if len(source) > MAX_CELL_CHARS:
                sub.flags.append(f"{name_here}: the cell has over {MAX_CELL_CHARS} characters and was not run")
                source = ""
            sub.sources[name_here] = source  # the last marked cell wins, as when running the notebook
    return sub


def expected_exercises(sub: Submission, manifest: dict[str, list[str]], only: Sequence[str] | None) -> list[str]:
    """The exercises ``sub`` is graded on: the course's list for the notebook it claims to be and for
    its file name, and for every course notebook that owns a graded cell it holds; every exercise when
    it matches no course notebook.

    Deleting, renaming, restamping or adding cells never lowers the maximum (a cell of 03 brings all
    of 03's exercises); classmates never change it.
    """
    if only:
        return list(only)
    names = set(sub.sources) | set(sub.answers)
    owners = {key for key, exercises in manifest.items() if names & set(exercises)}
    known = [manifest[key] for key in {sub.identity, sub.path.stem} | owners if key in manifest]
    for exercises in known:
        names.update(exercises)
    if not known:
        names.update(ALL_POINTS)
    return [n for n in ALL_POINTS if n in names]


def judge_one(name: str, worker: dict[str, Any], seed: int, points: float) -> dict[str, Any]:
    """Judge one worker result with the spec, in this process; returns the exercise's report."""
    from nst_lab.exercises.specs import SPECS

    report: dict[str, Any] = {"points": 0.0, "max": points, "passed": 0, "cases": [], "note": "",
                              "cpu_s": worker.get("cpu_s", 0.0) if isinstance(worker.get("cpu_s"), float) else 0.0}
    if worker.get("status") != "ok":
        report["note"] = safe_text(str(worker.get("note", "not run")))
        return report
    try:
        results = SPECS[name].judge(worker["results"], seed)
        cases = [{"case": str(r.case), "passed": bool(r.passed), "message": safe_text(str(r.message), 2000)}
                 for r in results]
    except Exception as exc:  # results of an unexpected structure
        report["note"] = f"its results are malformed ({type(exc).__name__})"
        return report
    passed = sum(1 for c in cases if c["passed"])
    report.update(cases=cases, passed=passed, points=round(points * passed / len(cases), 2) if cases else 0.0)
    return report


def job_for(name: str, source: str, seed: int, budget: float) -> dict[str, Any]:
    """What the sandbox receives for one exercise: no seed, no secret, no reference of ``name``."""
    from nst_lab.exercises.references import prelude
    from nst_lab.exercises.specs import SPECS

    spec = SPECS[name]
    return {"name": name, "cell": source, "prelude": prelude(spec.provided, exclude=name),
            "plan": spec.plan(seed), "budget": budget}


MIN_EXERCISE_SECONDS = 1.0  # an exercise is not started with less time than this left


@dataclass(frozen=True)
class Clock:
    """The time one notebook may use: the batch's end (a ``time.monotonic()`` instant, None: no end) and
    its own budget in seconds (its notebook budget, or what its student has left, ``why`` says which)."""

    batch_end: float | None = None
    seconds: float | None = None
    why: str = "notebook time"

    def start(self) -> Clock:
        """The same clock with the notebook's budget turned into an end instant (call when it starts)."""
        end = None if self.seconds is None else time.monotonic() + self.seconds
        return Clock(self.batch_end, end, self.why)

    def budget(self, timeout: float) -> tuple[float, str]:
        """(seconds the next exercise may take, "") or (0, why it must not start) on a started clock."""
        now = time.monotonic()
        if self.batch_end is not None and self.batch_end - now < MIN_EXERCISE_SECONDS:
            return 0.0, "batch time"
        if self.seconds is not None and self.seconds - now < MIN_EXERCISE_SECONDS:
            return 0.0, self.why
        ends = [end - now for end in (self.batch_end, self.seconds) if end is not None]
        return min([timeout, *ends]), ""


def unfinished(points: float, why: str) -> dict[str, Any]:
    """The report on an exercise not graded for lack of time: 0 of its maximum, and why."""
    return {"points": 0.0, "max": points, "passed": 0, "cases": [], "note": f"not graded ({why})", "cpu_s": 0.0,
            "unfinished": why}


def _exercise(sub: Submission, name: str, settings: Settings, server: KitServer, clock: Clock,
              points: float) -> dict[str, Any]:
    """The report on one exercise of ``sub``: read (a question) or run in the sandbox and judged here."""
    if sub.error:
        return judge_one(name, {"status": "error", "note": "not graded: the file is not a readable notebook"},
                         settings.seed, points)
    if name in QUESTIONS:  # read here, never run; an exam's against its key, from the course file
        key = dict(settings.answers)
        return grade_answer(name, sub.answers.get(name), points, json.loads(key[name]) if name in key else NO_KEY)
    if name not in sub.sources:
        note = (f"no cell marked `# GRADED FUNCTION: {name}` (or with nbgrader grade_id {name!r}): "
                "was it deleted or renamed?")
        return judge_one(name, {"status": "error", "note": note}, settings.seed, points)
    if not sub.sources[name]:
        return judge_one(name, {"status": "error", "note": "not run"}, settings.seed, points)
    budget, why = clock.budget(settings.timeout)
    if why:
        return unfinished(points, why)
    try:
        result = server.run(job_for(name, sub.sources[name], settings.seed, budget))
    except ServerDied as exc:
        result = {"status": "error", "note": str(exc)}
    return judge_one(name, result, settings.seed, points)


def grade_submission(sub: Submission, expected: Sequence[str], settings: Settings,
                     server: KitServer | None = None, clock: Clock | None = None) -> dict[str, Any]:
    """Grade one notebook: run its functions in the sandbox, judge them here, add up the points.

    Exercises that the clock leaves no time for are reported "not graded (batch time)" (or notebook or
    student time) with their maximum, and the row is marked ``incomplete`` when the batch time ran out.
    """
    points = {**ALL_POINTS, **dict(settings.points)}
    row: dict[str, Any] = {"submission": sub.name, "path": safe_text(str(sub.path)), "exercises": {},
                           "notes": list(sub.flags)}
    if sub.error:
        row["notes"].append(sub.error)
    own = server is None
    server = server or KitServer(settings)
    started = time.monotonic()
    try:
        if any(n in POINTS and sub.sources.get(n) for n in expected) and not sub.error:
            server.ensure_started()  # TensorFlow's start-up is not the notebook's time
        running = (clock or Clock()).start()
        for name in expected:
            report = _exercise(sub, name, settings, server, running, points[name])
            row["exercises"][name] = report
            if report["note"]:
                row["notes"].append(f"{name}: {report['note']}")
    finally:
        if own:
            server.close()
    row["total"] = round(sum(r["points"] for r in row["exercises"].values()), 2)
    row["max"] = round(sum(r["max"] for r in row["exercises"].values()), 2)
    row["incomplete"] = any(r.get("unfinished") == "batch time" for r in row["exercises"].values())
    row["seconds"] = round(time.monotonic() - started, 3)
    return row


def failed_row(sub: Submission, expected: Sequence[str], settings: Settings, note: str,
               why: str = "") -> dict[str, Any]:
    """The row of a notebook that was not graded (the grader failed on it, or no time was left): 0 of
    its whole maximum, with a note."""
    points = {**ALL_POINTS, **dict(settings.points)}
    exercises = {n: (unfinished(points[n], why) if why else
                     {"points": 0.0, "max": points[n], "passed": 0, "cases": [], "note": note, "cpu_s": 0.0})
                 for n in expected}
    return {"submission": sub.name, "path": safe_text(str(sub.path)), "exercises": exercises, "total": 0.0,
            "max": round(sum(points[n] for n in expected), 2), "notes": [*sub.flags, note],
            "incomplete": why == "batch time", "seconds": 0.0}
