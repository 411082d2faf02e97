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
import os
import stat
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nst_lab.errors import GradeUsageError
from nst_lab.files import load_json_bounded
from nst_lab.grading.questions import QUESTION_POINTS, QUESTIONS, grade_answer, graded_question
from nst_lab.grading.release import graded_name
from nst_lab.grading.runner import KitServer, Settings, produce_all

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
NOTEBOOK_TIMEOUT = 600.0  # seconds for all exercises of one notebook


def hidden_seed(secret: str) -> int:
    """A seed derived from a secret, never the notebooks' public seed."""
    from nst_lab.grading.judging import PUBLIC_SEED

    seed = int(hashlib.sha256(secret.encode()).hexdigest(), 16) % 4_000_000 + 2
    return seed + 1 if seed == PUBLIC_SEED else seed


def safe_text(text: str, limit: int = 500) -> str:
    """Text that any report can hold: lone surrogates (undecodable file names) replaced, trimmed."""
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace")[:limit]


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


def read_submission(path: Path, name: str, graded: Sequence[str] = tuple(POINTS)) -> Submission:
    """Find the graded cells of a notebook; a broken, foreign or hostile file gets ``error`` set."""
    sub = Submission(safe_text(name), path, identity=path.stem)
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


def collect(paths: Sequence[str]) -> list[tuple[Path, str]]:
    """(path, report name) of every submission: files as given, folders searched without following links.

    A notebook found in folder ``alice`` is named ``alice/<path inside it>``. Links, FIFOs and
    other non-regular ``.ipynb`` entries are kept (they get 0 with a note), never followed.
    """
    found: list[tuple[Path, str]] = []
    for text in paths:
        path = Path(text)
        if path.is_dir() and not path.is_symlink():
            found += [(nb, f"{path.resolve().name}/{nb.relative_to(path).as_posix()}") for nb in _walk(path)]
        elif path.exists() or path.is_symlink():
            found.append((path, path.name))
        else:
            raise GradeUsageError(f"{safe_text(text)} does not exist")
    if not found:
        raise GradeUsageError(f"no .ipynb notebooks found in {safe_text(', '.join(paths))}")
    names: dict[str, int] = {}
    for _, name in found:
        names[name] = names.get(name, 0) + 1
    return [(p, n if names[n] == 1 else safe_text(str(p))) for p, n in found]


def _walk(folder: Path) -> list[Path]:
    out: list[Path] = []
    stack = [folder]
    while stack:
        here = stack.pop()
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != ".ipynb_checkpoints":
                    stack.append(Path(entry.path))
            elif entry.name.endswith(".ipynb"):
                out.append(Path(entry.path))
    return sorted(out)


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
    from nst_lab.grading.specs import SPECS

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
    from nst_lab.grading.references import prelude
    from nst_lab.grading.specs import SPECS

    spec = SPECS[name]
    return {"name": name, "cell": source, "prelude": prelude((*spec.depends, *spec.prelude, "clip_0_1"), exclude=name),
            "plan": spec.plan(seed), "budget": budget}


def grade_submission(sub: Submission, expected: Sequence[str], settings: Settings,
                     server: KitServer | None = None, deadline: float | None = None) -> dict[str, Any]:
    """Grade one notebook: run its functions in the sandbox, judge them here, add up the points."""
    points = {**ALL_POINTS, **dict(settings.points)}
    row: dict[str, Any] = {"submission": sub.name, "path": safe_text(str(sub.path)), "exercises": {},
                           "notes": list(sub.flags)}
    if sub.error:
        row["notes"].append(sub.error)
    late = deadline is not None and time.monotonic() > deadline
    jobs = {} if sub.error or late else {n: job_for(n, sub.sources[n], settings.seed, settings.timeout)
                                         for n in expected if n in POINTS and n in sub.sources and sub.sources[n]}
    results = produce_all(jobs, settings, server)
    for name in expected:
        result: dict[str, Any]
        if sub.error:
            result = {"status": "error", "note": "not graded: the file is not a readable notebook"}
        elif late:
            result = {"status": "error", "note": "not graded: the batch's time limit ran out"}
        elif name in QUESTIONS:  # read here, never run
            result = {"status": "question", "source": sub.answers.get(name)}
        elif name not in sub.sources:
            result = {"status": "error", "note": f"no cell marked `# GRADED FUNCTION: {name}` "
                                                 f"(or with nbgrader grade_id {name!r}): was it deleted or renamed?"}
        else:
            result = results.get(name, {"status": "error", "note": "not run"})
        report = (grade_answer(name, result["source"], points[name]) if result.get("status") == "question"
                  else judge_one(name, result, settings.seed, points[name]))
        row["exercises"][name] = report
        if report["note"]:
            row["notes"].append(f"{name}: {report['note']}")
    row["total"] = round(sum(r["points"] for r in row["exercises"].values()), 2)
    row["max"] = round(sum(r["max"] for r in row["exercises"].values()), 2)
    return row


_SERVER: KitServer | None = None


def _pool_init(settings: Settings) -> None:
    global _SERVER
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # TensorFlow's native logs would tear the progress bar
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import nst_lab.grading.specs  # noqa: F401  (the judges load before any student code runs)

    _SERVER = KitServer(settings)
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _SERVER.close, exitpriority=10)  # the sandbox ends with this process


def _grade_task(args: tuple[Submission, list[str], Settings, float | None]) -> dict[str, Any]:
    sub, expected, settings, deadline = args
    try:
        return grade_submission(sub, expected, settings, _SERVER, deadline)
    except Exception as exc:  # never lose the batch to one notebook, nor let it shrink its maximum
        note = f"not graded: the grader failed on it ({type(exc).__name__})"
        points = {**ALL_POINTS, **dict(settings.points)}
        exercises: dict[str, dict[str, Any]] = {
            n: {"points": 0.0, "max": points[n], "passed": 0, "cases": [], "note": note, "cpu_s": 0.0}
            for n in expected}
        return {"submission": sub.name, "path": safe_text(str(sub.path)), "exercises": exercises, "total": 0.0,
                "max": round(sum(points[n] for n in expected), 2), "notes": [note]}


def grade_all(subs: Sequence[Submission], expected: dict[str, list[str]], settings: Settings, workers: int,
              progress: bool = True, batch_timeout: float | None = None) -> list[dict[str, Any]]:
    """Grade every submission, ``workers`` at a time, with a progress bar; rows in input order."""
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    from tqdm import tqdm

    deadline = None if batch_timeout is None else time.monotonic() + batch_timeout
    single = Settings(settings.seed, settings.timeout, settings.points, True, settings.sandbox)
    tasks = [(s, expected[s.name], single, deadline) for s in subs]
    bar = tqdm(total=len(tasks), desc="grading", unit="notebook", disable=not progress, file=sys.stderr)
    rows: list[dict[str, Any]] = []
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(tasks))), initializer=_pool_init,
                             initargs=(single,), mp_context=context) as pool:
        for row in pool.map(_grade_task, tasks):
            rows.append(row)
            bar.update()
    bar.close()
    flag_copies(subs, rows)
    return rows


def flag_copies(subs: Sequence[Submission], rows: list[dict[str, Any]]) -> None:
    """Note on every row whose graded code is identical to that of a submission from another folder."""
    groups: dict[str, list[int]] = {}
    for index, sub in enumerate(subs):
        code = "\n".join(f"{k}\n{v}" for k, v in sorted(sub.sources.items()) if v.strip())
        if code and "NotImplementedError" not in code:
            groups.setdefault(hashlib.sha256(code.encode("utf-8", "surrogatepass")).hexdigest(), []).append(index)
    for members in groups.values():
        folders = {subs[i].name.split("/")[0] for i in members}
        if len(folders) > 1:
            for i in members:
                others = ", ".join(subs[j].name for j in members if j != i)
                rows[i]["notes"].append(f"its graded code is identical to {others}'s (a copy?)")
