"""The grader's side of the sandbox: start ``nst_lab.grade_worker``, feed it, read it, kill it.

The worker's results come through a pipe of its own as JSON lines, checked against the
protocol; its stdout and stderr (where student code prints) are discarded. Each exercise has
a deadline; a worker that overruns, crashes or garbles its channel is killed with its whole
process group, and a fresh worker continues with the remaining exercises.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 60.0  # seconds per exercise: defining the function and running its tests
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)  # so the worker imports this nst_lab
STARTUP_TIMEOUT = 180.0  # seconds for the worker to import TensorFlow on a busy machine


@dataclass(frozen=True)
class Settings:
    seed: int
    timeout: float = DEFAULT_TIMEOUT
    points: tuple[tuple[str, float], ...] = ()  # (name, points) of every graded function
    single_thread: bool = False


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the worker and anything the student's code started
    except (ProcessLookupError, PermissionError):
        pass
    proc.wait()


class _Channel:
    """Reads JSON lines from the worker's pipe with deadlines."""

    MAX_LINE = 50_000_000

    def __init__(self, fd: int) -> None:
        self.fd, self.buffer = fd, b""

    def next_event(self, deadline: float) -> dict[str, Any] | str:
        """The next event, or "timeout", "eof" or "garbled: ..."."""
        while b"\n" not in self.buffer:
            left = deadline - time.monotonic()
            if left <= 0:
                return "timeout"
            ready, _, _ = select.select([self.fd], [], [], left)
            if not ready:
                return "timeout"
            chunk = os.read(self.fd, 1 << 16)
            if not chunk:
                return "eof"
            self.buffer += chunk
            if len(self.buffer) > self.MAX_LINE:
                return "garbled: more output than any test produces"
        line, self.buffer = self.buffer.split(b"\n", 1)
        try:
            event = json.loads(line)
        except ValueError:
            return "garbled: not JSON"
        return event if isinstance(event, dict) else "garbled: not a JSON object"


def _valid_done(event: dict[str, Any], name: str) -> str:
    """Empty when ``event`` is a well-formed result of ``name``, else what is wrong."""
    if event.get("event") != "done" or event.get("name") != name:
        return f"expected the result of {name}, got {str(event)[:80]}"
    if event.get("status") == "ok" and isinstance(event.get("produced"), dict):
        return ""
    if event.get("status") == "error" and isinstance(event.get("note"), str):
        return ""
    return "malformed result"


def produce_all(sources: dict[str, str], settings: Settings) -> dict[str, dict[str, Any]]:
    """Run each graded function in worker processes; name -> worker result (never raises).

    One worker runs the exercises in order. When one overruns (killed), crashes the process
    or patches a library, it gets its note and a fresh worker continues with the rest.
    """
    results: dict[str, dict[str, Any]] = {}
    remaining = list(sources)
    while remaining:
        before = len(remaining)
        job = {
            "seed": settings.seed,
            "budget": settings.timeout,
            "single_thread": settings.single_thread,
            "exercises": [[n, sources[n]] for n in remaining],
        }
        read_fd, write_fd = os.pipe()
        scratch = tempfile.mkdtemp(prefix="nst-lab-worker-")  # its working folder, not the class's
        with tempfile.TemporaryFile() as job_file:
            job_file.write(json.dumps(job).encode())
            job_file.seek(0)
            env = {k: v for k, v in os.environ.items() if k != "NST_LAB_GRADER_SECRET"}
            env["TF_CPP_MIN_LOG_LEVEL"] = "3"
            env["PYTHONPATH"] = os.pathsep.join(p for p in (_PACKAGE_ROOT, env.get("PYTHONPATH")) if p)
            proc = subprocess.Popen(
                [sys.executable, "-m", "nst_lab.grade_worker", "--fd", str(write_fd)],
                stdin=job_file,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                pass_fds=(write_fd,),
                start_new_session=True,
                env=env,
                cwd=scratch,
            )
        os.close(write_fd)
        channel = _Channel(read_fd)
        try:
            event = channel.next_event(time.monotonic() + STARTUP_TIMEOUT)
            if not isinstance(event, dict) or event.get("event") != "ready":
                for name in remaining:
                    results[name] = {
                        "status": "error",
                        "note": f"the grading process did not start ({event})",
                    }
                return results
            while remaining:
                name = remaining[0]
                event = channel.next_event(time.monotonic() + 30)
                if event != {"event": "start", "name": name}:
                    break  # the worker exited after a patch, or its channel was garbled
                remaining.pop(0)
                event = channel.next_event(time.monotonic() + settings.timeout + 5)
                if isinstance(event, dict) and not _valid_done(event, name):
                    results[name] = event
                    continue
                if event == "timeout":
                    note = f"it ran out of time ({settings.timeout:g} s; an endless loop?)"
                elif event == "eof":
                    try:
                        code: int | None = proc.wait(timeout=5)
                    except subprocess.TimeoutExpired:
                        code = None
                    note = f"it crashed the Python process (exit code {code})"
                else:
                    why = event if isinstance(event, str) else _valid_done(event, name)
                    note = f"its results could not be read ({why})"
                results[name] = {"status": "error", "note": note}
                break
        finally:
            os.close(read_fd)
            _kill(proc)
            shutil.rmtree(scratch, ignore_errors=True)
        if len(remaining) == before:  # the worker never started the next exercise: skip it
            name = remaining.pop(0)
            results[name] = {"status": "error", "note": "the grading process stopped before running it"}
    return results
