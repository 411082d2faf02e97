"""The grader's side of the sandbox: start the fork server (``zygote.py``) in bubblewrap, send it one
exercise at a time, read what comes back with size, depth and time limits, restart it when needed.

Each notebook is served by a fresh fork of the warm fork server, and each exercise by a fresh child
of that one in namespaces of its own, so it shares nothing
with the others: the job it receives holds only its cell, its plan's concrete inputs and the sources
of its dependencies (``nst_lab.exercises.references``). The sandbox holds no copy of nst_lab: the
``SANDBOX_FILES`` are copied alone into a folder of their own, and the package folder is hidden even
when it lies inside the Python environment that the sandbox shows. After each notebook, ``audit``
asks the server what is left; a sandbox that holds anything is replaced.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import json
import os
import select
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from nst_lab.files import load_json_bounded

DEFAULT_TIMEOUT = 60.0  # seconds of wall time per exercise
STARTUP_TIMEOUT = 180.0  # the fork server loads TensorFlow once
MAX_RESULT_BYTES = 32 * 1024 * 1024  # far more than any plan's numbers
MAX_RESULT_DEPTH = 24
SERVER_GRACE = 150.0  # seconds the server may take beyond a budget (to kill a fork loop and see it gone)
CHILD_MEMORY = 6 << 30  # address space of one exercise (TensorFlow alone maps about 2 GiB)
CHILD_CPU_SECONDS = 120
PACKAGE_DIR = Path(__file__).resolve().parent.parent  # nst_lab/, hidden from the sandbox
SANDBOX_FILES = ("kit.py", "zygote.py", "nest.py", "sweep.py")  # standard library, NumPy and TF only
EXERCISE_TMP_BYTES = 256 << 20  # the private /tmp of one exercise
SANDBOX_UIDS = range(61000, 65000)  # unprivileged ids no account uses; one per grading worker (see _sandbox)


@dataclass(frozen=True)
class Settings:
    """What every worker needs to know; the seed stays with the judge."""

    seed: int
    timeout: float = DEFAULT_TIMEOUT
    points: tuple[tuple[str, float], ...] = ()
    single_thread: bool = False
    sandbox: bool = True  # False: the instructor's --no-sandbox, student code with their rights
    answers: tuple[tuple[str, str], ...] = ()  # an exam's key: question -> its answer as JSON (course file)


class ServerDied(Exception):
    """The fork server stopped answering; a fresh one is started for the next exercise."""


class KitServer:
    """One sandboxed fork server; ``run(job)`` grades one exercise in a fresh child."""

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.proc: subprocess.Popen[bytes] | None = None
        self.folder = tempfile.mkdtemp(prefix="nst-lab-kit-")
        os.chmod(self.folder, 0o755)  # the sandbox runs as nobody
        for name in SANDBOX_FILES:  # alone: no other part of nst_lab enters the sandbox
            shutil.copy(_sandbox_file(name), Path(self.folder) / name)
            os.chmod(Path(self.folder) / name, 0o644)
        self.status_fd = -1
        self.child_cpu = 0.0  # CPU seconds of every exercise's child so far (as the fork server measured them)

    def _sandbox(self) -> Any:
        from nst_lab.grading.sandbox import Limits, Sandbox, worker_env

        hide = (str(PACKAGE_DIR),) if str(PACKAGE_DIR).startswith(tuple(_prefixes())) else ()
        limits = Limits(memory_bytes=CHILD_MEMORY + (2 << 30), cpu_seconds=24 * 3600, processes=256)
        # Each worker's sandbox runs as a uid of its own: RLIMIT_NPROC counts per uid on the host, so one
        # student's fork loop cannot use up the process budget of a classmate graded at the same time.
        uid = SANDBOX_UIDS.start + os.getpid() % len(SANDBOX_UIDS)
        return Sandbox(ro_binds=(self.folder,), hide=hide, limits=limits, env=worker_env(threads=1),
                       enabled=self.settings.sandbox, sandbox_uid=uid, sandbox_gid=uid)

    def start(self) -> None:
        """Start the fork server and wait until TensorFlow is loaded."""
        read_fd, write_fd = os.pipe()
        limits = {"RLIMIT_AS": CHILD_MEMORY, "RLIMIT_CPU": CHILD_CPU_SECONDS, "RLIMIT_NOFILE": 256,
                  "RLIMIT_FSIZE": 64 << 20, "RLIMIT_MSGQUEUE": 0, "RLIMIT_CORE": 0}
        settings = {"limits": limits, "threads": 1, "tmp_bytes": EXERCISE_TMP_BYTES, "sandboxed": self.settings.sandbox}
        command = [sys.executable, "-I", str(Path(self.folder) / "zygote.py"), str(write_fd), json.dumps(settings)]
        self.proc = self._sandbox().popen(command, stderr=subprocess.DEVNULL, pass_fds=(write_fd,))
        os.close(write_fd)
        self.status_fd = read_fd
        line = self._status(time.monotonic() + STARTUP_TIMEOUT)
        if line != "ready":
            self.stop()
            raise ServerDied(f"the grading sandbox did not start ({line or 'no answer'})")

    def _status(self, deadline: float, limit: int = 64) -> str:
        """One status line of the server ('' when it does not come before ``deadline``)."""
        data = b""
        while not data.endswith(b"\n"):
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.status_fd], [], [], left)[0]:
                return ""
            chunk = os.read(self.status_fd, 1)  # byte by byte: a result may follow on the other pipe
            if not chunk or len(data) >= limit:
                return ""
            data += chunk
        return data.decode("ascii", "replace").strip()

    def ensure_started(self) -> None:
        """Start the fork server unless it runs (ServerDied when it cannot)."""
        if self.proc is None or self.proc.poll() is not None:
            self.start()

    def run(self, job: dict[str, Any]) -> dict[str, Any]:
        """Grade one exercise: the child's validated result, or an error note (ServerDied if none can start)."""
        self.ensure_started()
        assert self.proc is not None and self.proc.stdin is not None and self.proc.stdout is not None
        data = json.dumps(job).encode()
        wall = float(job.get("budget", self.settings.timeout))
        try:
            self.proc.stdin.write(b"%d %.3f\n" % (len(data), wall) + data)
            self.proc.stdin.flush()
        except OSError:
            self.stop()
            return {"status": "error", "note": "the grading sandbox stopped before this exercise"}
        deadline = time.monotonic() + wall + SERVER_GRACE
        output, status, cpu = self._collect(deadline)
        if status is None:
            self.stop()
            return {"status": "error", "note": f"it ran out of time ({wall:g} s) or broke the grading sandbox"}
        self.child_cpu += cpu
        return {**_parse_result(output, status, wall), "cpu_s": round(cpu, 3)}

    def _collect(self, deadline: float) -> tuple[bytes | None, int | None, float]:
        """The server's ``exit CODE CPU NBYTES`` line, then NBYTES of result: (bytes or None if too large,
        exit code or None if the server broke, CPU seconds)."""
        assert self.proc is not None and self.proc.stdout is not None
        fields = self._status(deadline).split()
        try:
            code, cpu, size = int(fields[1]), float(fields[2]), int(fields[3])
        except (IndexError, ValueError):
            return None, None, 0.0
        if fields[0] != "exit" or size > MAX_RESULT_BYTES:
            return None, None, cpu
        if size < 0:
            return None, code, cpu
        out_fd, output = self.proc.stdout.fileno(), bytearray()
        while len(output) < size:
            left = deadline + SERVER_GRACE - time.monotonic()
            if left <= 0 or not select.select([out_fd], [], [], left)[0]:
                return None, None, cpu
            chunk = os.read(out_fd, min(1 << 20, size - len(output)))
            if not chunk:
                return None, None, cpu
            output += chunk
        return bytes(output), code, cpu

    def audit(self) -> list[str]:
        """What the sandbox still holds after a student (processes, IPC, keys, files); [] when clean.

        A sandbox that holds anything, or does not answer, is stopped: the next exercise starts a fresh one.
        """
        if self.proc is None or self.proc.poll() is not None or self.proc.stdin is None:
            return []
        try:
            self.proc.stdin.write(b"audit\n")
            self.proc.stdin.flush()
        except OSError:
            self.stop()
            return ["the sandbox stopped"]
        line = self._status(time.monotonic() + 30, limit=4096)
        try:
            left = json.loads(line.partition(" ")[2]) if line.startswith("audit ") else ["no answer"]
        except ValueError:
            left = ["a garbled answer"]
        left = [str(item)[:100] for item in left] if isinstance(left, list) else ["a garbled answer"]
        if left:
            self.stop()
        return left

    def stop(self) -> None:
        """Kill the sandbox and everything in it."""
        from nst_lab.grading.sandbox import Sandbox

        if self.proc is not None:
            Sandbox.kill(self.proc)
            self.proc = None
        if self.status_fd >= 0:
            os.close(self.status_fd)
            self.status_fd = -1

    def close(self) -> None:
        """Let the server exit (end of its input), kill it if it does not, and remove its folder."""
        if self.proc is not None and self.proc.stdin is not None:
            try:
                self.proc.stdin.close()
                self.proc.wait(timeout=10)
            except (OSError, subprocess.TimeoutExpired):
                pass
        self.stop()
        shutil.rmtree(self.folder, ignore_errors=True)


def _sandbox_file(name: str) -> Path:
    """Where a file of the sandbox lives: kit.py with the exercises, the others beside this module."""
    return PACKAGE_DIR / "exercises" / name if name == "kit.py" else Path(__file__).with_name(name)


def _prefixes() -> list[str]:
    paths = {sys.prefix, sys.base_prefix, sys.exec_prefix, sys.base_exec_prefix}
    return [os.path.realpath(p) for p in paths] + list(paths)


def _parse_result(output: bytes | None, status: int, wall: float) -> dict[str, Any]:
    """The child's ``result N`` frame as a validated dict, or the note that explains why not."""
    if status == -9:
        return {"status": "error", "note": f"it ran out of time ({wall:g} s; an endless loop?)"}
    if output is None:
        return {"status": "error", "note": "it sent back more data than any test produces"}
    header, _, body = output.partition(b"\n")
    parts = header.split()
    if len(parts) != 2 or parts[0] != b"result" or not parts[1].isdigit() or int(parts[1]) != len(body):
        killed = f" (exit code {status})" if status else ""
        return {"status": "error", "note": f"it crashed the Python process or garbled its results{killed}"}
    try:
        result = load_json_bounded(body, MAX_RESULT_BYTES, MAX_RESULT_DEPTH)
    except ValueError as exc:
        return {"status": "error", "note": f"its results could not be read ({exc})"}
    problem = _invalid(result)
    if problem or not isinstance(result, dict):
        return {"status": "error", "note": f"its results are malformed ({problem})"}
    return result


def _invalid(result: Any) -> str:
    """Empty when ``result`` has the shape kit sends, else what is wrong."""
    if not isinstance(result, dict) or result.get("status") not in ("ok", "error"):
        return "not a result object"
    if result["status"] == "error":
        return "" if isinstance(result.get("note"), str) else "an error without a note"
    calls = result.get("results")
    if not isinstance(calls, dict) or not all(isinstance(k, str) and isinstance(v, dict) for k, v in calls.items()):
        return "no results by call"
    return ""


def produce_all(jobs: dict[str, dict[str, Any]], settings: Settings, server: KitServer | None = None
                ) -> dict[str, dict[str, Any]]:
    """Run each exercise's job in a fresh child of one fork server; name -> result (never raises)."""
    own = server is None
    server = server or KitServer(settings)
    results: dict[str, dict[str, Any]] = {}
    try:
        for name, job in jobs.items():
            try:
                results[name] = server.run(job)
            except ServerDied as exc:
                results[name] = {"status": "error", "note": str(exc)}
    finally:
        if own:
            server.close()
    return results
