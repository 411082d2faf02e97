"""The fork server's housekeeping inside the sandbox: end what an exercise left, and say what is left.

``clean_namespace`` runs after every exercise: it kills every process of the sandbox but the server,
removes System V IPC objects and empties the scratch folder (a safety net: each exercise has
namespaces of its own, see ``nest.py``, so normally nothing is there). ``audit`` runs after each
student: it reports any process, IPC object, key or file that is still there, and the grader then
starts a fresh sandbox.

Like ``kit.py`` this file imports only the standard library: it is copied alone into the sandbox.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Sequence

SETTLE_SECONDS = 120.0  # the longest the server waits for an ended exercise's processes to be gone


def clean_namespace(keep: Sequence[str] = (), spare: Sequence[int] = ()) -> None:
    """Kill every process of the sandbox but this one and ``spare`` (the fork server above a student's), remove
    SysV IPC objects, empty the scratch folder but the mount points ``keep`` (the sandbox's read-only binds there)
    and the folders that lead to them.

    Orphans belong to the sandbox's init (PID 1), not to this process, so this kills until /proc shows
    nothing else alive: a fork loop cannot outrun it (its process limit caps how many there are).
    """
    deadline = time.monotonic() + 5
    while _others(spare=spare) and time.monotonic() < deadline:
        _kill_others(spare)
        _reap()
        time.sleep(0.001)
    # Then wait until they are gone, zombies included: an exercise's dying PID namespace is emptied by the
    # kernel asynchronously, and until then its processes still count against the next exercise's
    # process limit (a fork loop's hundreds would starve its TensorFlow threads).
    deadline = time.monotonic() + SETTLE_SECONDS
    while _others(zombies=True, spare=spare) and time.monotonic() < deadline:
        _reap()
        time.sleep(0.01)
    _reap()
    _remove_sysv_ipc()
    empty(os.environ.get("TMPDIR", "/tmp"), keep)


def _kill_others(spare: Sequence[int]) -> None:
    """SIGKILL every process this one may signal but PID 1, itself and ``spare``."""
    if not spare:
        try:
            os.kill(-1, signal.SIGKILL)
        except ProcessLookupError:
            pass
        return
    for pid in _others(spare=spare):
        try:
            os.kill(pid, signal.SIGKILL)
        except OSError:
            pass


def _reap() -> None:
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


def _others(zombies: bool = False, spare: Sequence[int] = ()) -> list[int]:
    """The processes alive but PID 1, this one and ``spare`` (zombies waiting for their reaper count only with
    ``zombies``)."""
    skip = {1, os.getpid(), *spare}
    found = []
    for name in os.listdir("/proc"):
        if name.isdigit() and int(name) not in skip:
            try:
                with open(f"/proc/{name}/stat") as stat:
                    state = stat.read().rpartition(")")[2].split()[0]
            except (OSError, IndexError):
                continue
            if zombies or state not in ("Z", "X"):
                found.append(int(name))
    return found


def others_alive(zombies: bool = False) -> bool:
    """Whether any process but PID 1 and this one is alive (zombies count only with ``zombies``)."""
    return bool(_others(zombies))


def _kept(path: str, keep: Sequence[str]) -> bool:
    """Whether ``path`` is one of the mount points ``keep`` or a folder on the way to one."""
    return any(point == path or point.startswith(path + os.sep) for point in keep)


def _walk(folder: str, keep: Sequence[str]) -> list[tuple[str, bool]]:
    """(path, is a folder) of everything below ``folder`` that is not kept, deepest first; never enters a mount
    point in ``keep`` (a read-only bind of the code is not scratch)."""
    found: list[tuple[str, bool]] = []
    for root, dirs, files in os.walk(folder, topdown=True):
        dirs[:] = [d for d in dirs if os.path.join(root, d) not in keep]
        found += [(os.path.join(root, name), False) for name in files]
        found += [(os.path.join(root, name), True) for name in dirs]
    found.sort(key=lambda entry: entry[0].count(os.sep), reverse=True)
    return [(path, is_dir) for path, is_dir in found if not _kept(path, keep)]


def empty(folder: str, keep: Sequence[str] = ()) -> None:
    """Remove everything inside ``folder`` but ``keep`` and the folders that lead to it (a child may leave
    files, or folders it made unwritable)."""
    for path, is_dir in _walk(folder, keep):
        try:
            if is_dir and not os.path.islink(path):
                os.chmod(path, 0o700)
                os.rmdir(path)
            else:
                os.unlink(path)
        except OSError:
            pass


def _remove_sysv_ipc() -> None:
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    ipc_rmid = 0
    for kind, remove in (("shm", libc.shmctl), ("msg", libc.msgctl), ("sem", libc.semctl)):
        try:
            with open(f"/proc/sysvipc/{kind}") as table:
                rows = table.read().splitlines()[1:]
        except OSError:
            continue
        for row in rows:
            fields = row.split()
            if len(fields) > 1:
                if kind == "sem":
                    remove(int(fields[1]), 0, ipc_rmid)
                else:
                    remove(int(fields[1]), ipc_rmid, None)


def keys() -> set[str]:
    """The ids of the keys this process can see (``/proc/keys``), but the session and user keyrings that live
    and die with a process or a user namespace (another worker's, running as the same user, show here too)."""
    try:
        with open("/proc/keys") as table:
            rows = [line.split() for line in table if line.strip()]
    except OSError:
        return set()
    transient = ("_ses", "_uid")  # _ses, _uid.N, _uid_ses.N
    return {row[0] for row in rows if len(row) > 8 and not (row[7] == "keyring" and row[8].startswith(transient))}


def audit(baseline: set[str], sandboxed: bool, keep: Sequence[str] = (), settle: float = 2.0) -> list[str]:
    """What is left in the sandbox: processes, System V IPC objects, keys not in ``baseline``, files (but the
    mount points ``keep`` and the folders that lead to them).

    The kernel frees an ended exercise's keys and namespaces asynchronously, so this looks again for up
    to ``settle`` seconds before it reports anything.
    """
    deadline = time.monotonic() + settle
    while True:
        left = []
        if sandboxed and others_alive():
            left.append("processes")
        for kind in ("shm", "msg", "sem"):
            try:
                with open(f"/proc/sysvipc/{kind}") as table:
                    if len(table.read().splitlines()) > 1:
                        left.append(f"System V {kind}")
            except OSError:
                pass
        new_keys = keys() - baseline
        if new_keys:
            left.append(f"{len(new_keys)} key(s)")
        scratch = os.environ.get("TMPDIR", "/tmp")
        if sandboxed and (_walk(scratch, keep) or _walk("/dev/shm", keep)):
            left.append(f"files in {scratch} or /dev/shm")
        if not left or time.monotonic() > deadline:
            return left
        time.sleep(0.05)
