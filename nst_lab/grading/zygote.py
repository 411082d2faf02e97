"""The grader's fork server, run inside the sandbox as ``python -I zygote.py STATUS_FD SETTINGS``.

It loads TensorFlow once, then forks a fresh *notebook server* per notebook (it never runs a keeper
itself, so what a notebook did to its server ends with that notebook), which grades each exercise in a
fresh forked *keeper*: the keeper reads the job from fd 0 (no server reads a job), gives back every
descriptor it shares with this process, enters namespaces of its own (``nest.py``) and forks the
exercise as PID 1 there; the exercise runs the job with ``kit.py`` under lowered rlimits and a
wall-clock limit and writes ``result N`` and its JSON into a pipe made for it alone, which this
server relays to the grader after the keeper has ended. Then the server kills whatever is left
and waits until it is gone (``sweep.py``). It makes itself non-dumpable, so children cannot read
its memory or its file descriptors; they cannot name it either (it is outside their PID namespace).

Like ``kit.py``, this file imports no part of nst_lab; it, ``kit.py``, ``nest.py`` and ``sweep.py`` are
copied alone into the sandbox.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import json
import os
import resource
import signal
import sys
from typing import Any

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))  # kit.py, nest.py, sweep.py, beside it

import kit  # noqa: E402
import nest  # noqa: E402
import sweep  # noqa: E402

MAX_RESULT_BYTES = 32 * 1024 * 1024  # far more than any plan's numbers (the grader's cap too)
AUDIT = 3  # a notebook server's exit code when the grader asked what is left (its notebook is done)


def _read_exact(fd: int, count: int) -> bytes:
    chunks, left = [], count
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            break
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def _read_line(fd: int, limit: int = 200) -> bytes:
    """One command line, byte by byte: nothing after the newline is consumed (the child reads it)."""
    line = b""
    while not line.endswith(b"\n") and len(line) < limit:
        byte = os.read(fd, 1)
        if not byte:
            return b""
        line += byte
    return line


def _time_is_up(signum: int, frame: object) -> None:
    raise kit.Timeout()


def _detach(keep: int) -> None:
    """Hold nothing the fork server holds: fds 0 and 1 become /dev/null, every other pipe or socket is closed.

    The job arrived on fd 0 and the server reports on fd 1 and its status fd: a student holding any of
    them could change how the server reads or writes (O_ASYNC, F_SETOWN, F_SETSIG, writing commands).
    """
    import stat

    devnull = os.open(os.devnull, os.O_RDWR)
    os.dup2(devnull, 0)
    os.dup2(devnull, 1)
    os.close(devnull)
    for name in os.listdir("/proc/self/fd"):
        fd = int(name)
        if fd > 2 and fd != keep:
            try:
                if stat.S_ISFIFO(os.fstat(fd).st_mode) or stat.S_ISSOCK(os.fstat(fd).st_mode):
                    os.close(fd)
            except OSError:
                pass


def _keeper(settings: dict[str, Any], status_fd: int, size: int, result_fd: int) -> None:
    """In the forked keeper: read the job, leave the server's world, fork the exercise and wait; never returns.

    Sandboxed, the exercise process is PID 1 of namespaces of its own (``nest.py``): when it ends, the
    kernel ends everything it started, and nothing it does can reach the server. The keeper's exit code
    is the exercise's (128 + N when signal N killed it).
    """
    os.close(status_fd)  # the fork server's status channel is not the student's
    os.setsid()  # a process group of its own, so the server can end all of it (--no-sandbox)
    job = _read_exact(0, size)  # the server never reads a job, so it never holds one
    _detach(result_fd)
    nested = bool(settings.get("nested"))
    try:
        if nested:
            nest.enter()
    except OSError as exc:
        _send(result_fd, {"status": "error", "note": f"the exercise's sandbox could not start ({exc})"})
        os._exit(1)
    pid = os.fork()
    if pid == 0:
        _exercise(settings, job, result_fd, nested)
    os.close(result_fd)
    status = os.waitpid(pid, 0)[1]
    code = os.waitstatus_to_exitcode(status)
    os._exit(code if code >= 0 else 128 - code)


def _send(fd: int, result: dict[str, Any]) -> None:
    """``result N`` and the JSON of ``result`` on ``fd``, whatever its size."""
    data = json.dumps(result, allow_nan=True).encode()
    view = memoryview(b"result %d\n" % len(data) + data)
    while view:
        view = view[os.write(fd, view):]


def _exercise(settings: dict[str, Any], job_bytes: bytes, result_fd: int, nested: bool) -> None:
    """In the exercise process: seal it, set its limits, run the job, send the result; never returns."""
    code = 0
    try:
        if nested:
            nest.seal(int(settings.get("tmp_bytes", 64 << 20)), os.environ.get("TMPDIR", "/tmp"))
        for name, value in settings.get("limits", {}).items():
            number = getattr(resource, name)
            hard = resource.getrlimit(number)[1]
            value = value if hard == resource.RLIM_INFINITY else min(value, hard)
            resource.setrlimit(number, (value, value))
        job = json.loads(job_bytes)
        del job_bytes
        signal.signal(signal.SIGALRM, _time_is_up)
        signal.setitimer(signal.ITIMER_REAL, float(job.get("budget", 30)))
        try:
            result = kit.exercise(job)
        except kit.Timeout:
            result = {"status": "error", "note": "it ran out of time (an endless loop?)"}
        except MemoryError:
            result = {"status": "error", "note": "it ran out of memory"}
        except BaseException as exc:
            result = {"status": "error", "note": f"it raised {kit.first_line(exc)}"}
        signal.setitimer(signal.ITIMER_REAL, 0)
        json.dumps(result, allow_nan=True)  # results that are not plain data fail here, not half-sent
    except BaseException as exc:  # a broken job, a sandbox that would not seal, results that are not data
        result = {"status": "error", "note": f"its results could not be sent ({kit.first_line(exc)})"}
        code = 1
    try:
        _send(result_fd, result)
    finally:
        os._exit(code)


def in_own_sandbox() -> bool:
    """True inside bubblewrap's PID namespace, where this server is PID 2 under bwrap's init: only there
    may it kill "every other process" (outside, ``kill(-1)`` would reach the instructor's)."""
    return os.getpid() == 2 and os.getppid() == 1


def _wait(pid: int, read_fd: int, wall: float) -> tuple[bytes | None, int, float]:
    """Read the exercise's result pipe until its keeper ends (killed after ``wall`` s): (bytes, code, CPU s).

    The bytes are None when the exercise sent more than MAX_RESULT_BYTES.
    """
    import select
    import time

    deadline, chunks, size = time.monotonic() + wall, [], 0
    status: int | None = None
    while status is None:
        if select.select([read_fd], [], [], 0.005)[0]:
            chunk = os.read(read_fd, 1 << 20)
            size += len(chunk)
            if chunk and size <= MAX_RESULT_BYTES:
                chunks.append(chunk)
        done, code, usage = os.wait4(pid, os.WNOHANG)
        if done:
            status = os.waitstatus_to_exitcode(code)
        elif time.monotonic() > deadline:
            os.kill(pid, signal.SIGKILL)  # the exercise (its PID 1) dies with its keeper, and its namespace too
            _, _, usage = os.wait4(pid, 0)
            status = -9
    while select.select([read_fd], [], [], 0)[0]:  # what the exercise wrote before it ended
        chunk = os.read(read_fd, 1 << 20)
        if not chunk:
            break
        size += len(chunk)
        if size <= MAX_RESULT_BYTES:
            chunks.append(chunk)
    return (b"".join(chunks) if size <= MAX_RESULT_BYTES else None), status, usage.ru_utime + usage.ru_stime


def _command(line: bytes) -> tuple[int, float] | None:
    """An exercise command ``SIZE WALL`` as numbers; None at the end of input or for anything else."""
    try:
        return int(line.split()[0]), float(line.split()[1])
    except (IndexError, ValueError):
        return None


def _grade_one(settings: dict[str, Any], status_fd: int, sandboxed: bool, keep: list[str],
               command: tuple[int, float]) -> None:
    """One exercise in a fresh keeper; the sandbox cleaned (but the server above); its status and result sent."""
    size, wall = command
    read_fd, write_fd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(read_fd)
        _keeper({**settings, "nested": sandboxed}, status_fd, size, write_fd)
    os.close(write_fd)
    output, status, cpu = _wait(pid, read_fd, wall)
    os.close(read_fd)
    if sandboxed:
        sweep.clean_namespace(keep, spare=(os.getppid(),))
    else:  # --no-sandbox: only the child's own process group, and its scratch folder
        try:
            os.killpg(pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        sweep.empty(os.environ.get("TMPDIR", "/nonexistent-scratch"))
    os.write(status_fd, b"exit %d %.3f %d\n" % (status, cpu, -1 if output is None else len(output)))
    view = memoryview(output or b"")
    while view:
        view = view[os.write(1, view):]


def _notebook_server(settings: dict[str, Any], status_fd: int, sandboxed: bool, keep: list[str],
                     command: tuple[int, float]) -> None:
    """In a fresh fork of the warm server, for one notebook: its exercises, one keeper each; never returns.

    It exits with AUDIT when the grader asks what is left (the notebook is done), 0 at the end of input.
    """
    while True:
        _grade_one(settings, status_fd, sandboxed, keep, command)
        line = _read_line(0)
        if line.strip() == b"audit":
            os._exit(AUDIT)
        next_command = _command(line)
        if next_command is None:
            os._exit(0)
        command = next_command


def serve(settings: dict[str, Any], status_fd: int, sandboxed: bool) -> None:
    """The fork server: load TensorFlow once, then a fresh fork of itself per notebook, one keeper per exercise.

    A command is ``SIZE WALL``: the keeper reads the SIZE-byte job that follows from fd 0 (no server
    ever reads a job, so none holds one); the exercise writes ``result N`` and its JSON into a pipe made
    for it alone. When the keeper has ended (killed after WALL seconds) and the sandbox has been cleaned,
    the server writes ``exit CODE CPU NBYTES`` to ``status_fd`` and then the NBYTES of the result to fd 1
    (NBYTES -1: too large, nothing follows). The command ``audit`` ends the notebook: its server exits, this
    one cleans the sandbox and answers ``audit JSON``, what is left there (see ``sweep.audit``).

    This process never runs a keeper: the first exercise of each notebook forks a *notebook server* that
    serves it and the next ones, so whatever a notebook's processes did to their server (nothing reaches
    it, it is outside their namespaces) ends with the notebook, and the next starts from this clean copy.
    """
    import ctypes

    import keras  # noqa: F401  (loaded once, here, so children start warm)
    import numpy  # noqa: F401

    kit.tensorflow()
    ctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE 0: children cannot read this process
    if sandboxed:
        nest.fresh_session_keyring()  # not the grader's: a key added by an exercise never reaches it
    baseline = sweep.keys()
    # the sandbox's read-only binds inside its scratch folders (a checkout or venv under /tmp, this folder)
    keep = [*nest.mounts_below(os.environ.get("TMPDIR", "/tmp")), *nest.mounts_below("/dev/shm")] if sandboxed else []
    os.write(status_fd, b"ready\n")
    while True:
        line = _read_line(0)
        if line.strip() == b"audit":
            os.write(status_fd, b"audit %s\n" % json.dumps(sweep.audit(baseline, sandboxed, keep)).encode())
            continue
        command = _command(line)
        if command is None:
            os._exit(0)  # end of input, or not a command
        pid = os.fork()
        if pid == 0:
            _notebook_server(settings, status_fd, sandboxed, keep, command)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        if sandboxed:
            sweep.clean_namespace(keep)
        if code != AUDIT:
            os._exit(0 if code == 0 else 1)  # end of input; or the notebook's server died: the grader starts anew
        os.write(status_fd, b"audit %s\n" % json.dumps(sweep.audit(baseline, sandboxed, keep)).encode())


def main(argv: list[str]) -> None:
    """``python -I zygote.py STATUS_FD SETTINGS_JSON``: run the fork server (inside the grader's sandbox).

    SETTINGS: ``limits`` (``RLIMIT_*`` of each exercise), ``threads``, ``tmp_bytes`` (its scratch tmpfs)
    and ``sandboxed``.
    """
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    status_fd = int(argv[1])
    settings = json.loads(argv[2]) if len(argv) > 2 else {}
    threads = int(settings.get("threads", 1))
    os.environ["OMP_NUM_THREADS"] = str(threads)
    tf = kit.tensorflow()
    tf.config.threading.set_intra_op_parallelism_threads(threads)
    tf.config.threading.set_inter_op_parallelism_threads(threads)
    serve(settings, status_fd, bool(settings.get("sandboxed")) and in_own_sandbox())


if __name__ == "__main__":
    main(sys.argv)
