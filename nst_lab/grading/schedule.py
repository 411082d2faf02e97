"""The batch: which notebook is graded when, by which worker, with how much time: ``grade_all``.

Time is shared fairly. Each exercise has its budget (``--timeout``), each notebook one for all its
exercises (``--notebook-timeout``), each student one for all their notebooks (``--student-timeout``),
and the batch may have an end (``--batch-timeout``). Notebooks are taken round-robin across students
(every student's first notebook, then every second one, ...), never two of one student at a time, so
one student's endless loops cost only that student's time. An exercise that finds no time left is
reported "not graded (batch time)" (or notebook or student time) with its maximum, never as a silent
0; a notebook the batch never reached likewise; and the CLI then exits with ``INCOMPLETE_EXIT``.

Each worker keeps one sandboxed fork server (``runner.KitServer``), which serves each notebook from a
fresh fork of itself; after every notebook it asks the sandbox what is left (processes, IPC objects,
keys, files) and starts a fresh one if anything is.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import os
import sys
import time
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from nst_lab.grading.copies import flag_copies, zero_references
from nst_lab.grading.grade import Clock, Submission, failed_row, grade_submission
from nst_lab.grading.runner import KitServer, Settings

NOTEBOOK_TIMEOUT = 600.0  # seconds for all exercises of one notebook
STUDENT_TIMEOUT = 1800.0  # seconds for all notebooks of one student
INCOMPLETE_EXIT = 3  # `nst-lab grade`'s exit code when the batch time left notebooks or exercises ungraded

_SERVER: KitServer | None = None


def _pool_init(settings: Settings) -> None:
    global _SERVER
    os.environ["TF_CPP_MIN_LOG_LEVEL"] = "3"
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)  # TensorFlow's native logs would tear the progress bar
    import tensorflow as tf

    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    import nst_lab.exercises.specs  # noqa: F401  (the judges load before any student code runs)

    _SERVER = KitServer(settings)
    import multiprocessing.util

    multiprocessing.util.Finalize(None, _SERVER.close, exitpriority=10)  # the sandbox ends with this process


def grade_task(args: tuple[Submission, list[str], Settings, Clock | None]) -> dict[str, Any]:
    """Grade one notebook in a worker (never raises), then check its sandbox is left empty."""
    sub, expected, settings, clock = args
    try:
        row = grade_submission(sub, expected, settings, _SERVER, clock)
    except Exception as exc:  # never lose the batch to one notebook, nor let it shrink its maximum
        return failed_row(sub, expected, settings, f"not graded: the grader failed on it ({type(exc).__name__})")
    left = _SERVER.audit() if _SERVER is not None else []
    if left:
        row["notes"].append(f"after this notebook the sandbox still held {', '.join(left)}: a fresh one was started")
    return row


def round_robin(subs: Sequence[Submission]) -> list[int]:
    """Indices of ``subs``: every student's first notebook (students in order of appearance), then every
    student's second one, and so on."""
    by_student: dict[str, list[int]] = defaultdict(list)
    for index, sub in enumerate(subs):
        by_student[sub.student or sub.name].append(index)
    rounds = max(len(v) for v in by_student.values()) if by_student else 0
    return [v[r] for r in range(rounds) for v in by_student.values() if r < len(v)]


def grade_all(subs: Sequence[Submission], expected: dict[str, list[str]], settings: Settings, workers: int,
              progress: bool = True, batch_timeout: float | None = None,
              notebook_timeout: float = NOTEBOOK_TIMEOUT, student_timeout: float = STUDENT_TIMEOUT
              ) -> list[dict[str, Any]]:
    """Grade every submission, ``workers`` at a time, round-robin across students; rows in input order."""
    import multiprocessing
    from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait

    from tqdm import tqdm

    batch_end = None if batch_timeout is None else time.monotonic() + batch_timeout
    single = Settings(settings.seed, settings.timeout, settings.points, True, settings.sandbox, settings.answers)
    pending, rows = round_robin(subs), [{} for _ in subs]  # type: list[int], list[dict[str, Any]]
    used: dict[str, float] = defaultdict(float)  # student -> seconds their notebooks took
    busy: set[str] = set()
    running: dict[Future[dict[str, Any]], int] = {}
    bar = tqdm(total=len(subs), desc="grading", unit="notebook", disable=not progress, file=sys.stderr)
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(max_workers=max(1, min(workers, len(subs))), initializer=_pool_init,
                             initargs=(single,), mp_context=context) as pool:
        while pending or running:
            for index in [i for i in pending if (subs[i].student or subs[i].name) not in busy]:
                if len(running) >= workers:
                    break
                sub, who = subs[index], subs[index].student or subs[index].name
                pending.remove(index)
                left = student_timeout - used[who]
                why = "batch time" if batch_end is not None and time.monotonic() >= batch_end else (
                    "student time" if left <= 0 else "")
                if why:
                    rows[index] = failed_row(sub, expected[sub.name], single, f"not graded ({why})", why)
                    bar.update()
                    continue
                clock = Clock(batch_end, min(notebook_timeout, left),
                              "student time" if left < notebook_timeout else "notebook time")
                running[pool.submit(grade_task, (sub, expected[sub.name], single, clock))] = index
                busy.add(who)
            if running:
                for future in wait(running, return_when=FIRST_COMPLETED)[0]:
                    index = running.pop(future)
                    rows[index] = future.result()
                    who = subs[index].student or subs[index].name
                    used[who] += float(rows[index].get("seconds", 0.0))
                    busy.discard(who)
                    bar.update()
    bar.close()
    zero_references(subs, rows)
    flag_copies(subs, rows)
    return rows
