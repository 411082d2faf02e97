"""Run a command as an unprivileged user who can read this session's Python, without changing the host.

CI runs as root, and the interpreter may live where only root may go (pyenv under ``/root``, mode 0700).
:func:`prefix` returns a command prefix that enters a private mount namespace (util-linux ``unshare``, as root),
then, for every folder on the way to the needed paths that others may not enter, mounts a fresh 0755 tmpfs over
it holding only the way on (the real entries bound back, recursively, with their own modes and flags), drops
to :data:`UID` with no groups and no capabilities, and runs the command. Nothing on the host changes: no
chmod, no user account, no copy; the namespace and its mounts end with the command. Its cost is a few mounts.

Run as a script (by the prefix): ``python -I unprivileged.py UID PATHS_JSON -- COMMAND...``.
"""

from __future__ import annotations

import ctypes
import json
import os
import shutil
import stat
import sys
from collections.abc import Sequence

UID = 60999  # outside the grader's own sandbox uids (61000-64999) and every account
MS_BIND, MS_REC = 0x1000, 0x4000


def prefix(paths: Sequence[str]) -> list[str] | None:
    """The prefix running a command as :data:`UID` with ``paths`` readable, or None when not root / no unshare."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        return None
    wanted = sorted({os.path.realpath(p) for p in paths} | {os.path.abspath(p) for p in paths})
    return [unshare, "--mount", "--propagation", "private", "--", sys.executable, "-I", os.path.abspath(__file__),
            str(UID), json.dumps(wanted), "--"]


def _closed(folder: str) -> bool:
    """Whether others may not enter ``folder``."""
    return not os.stat(folder).st_mode & stat.S_IXOTH


def _first_closed(paths: Sequence[str]) -> str | None:
    """The shallowest folder on the way to one of ``paths`` (itself included) that others may not enter."""
    for path in paths:
        parts = path.strip("/").split("/")
        for depth in range(1, len(parts) + 1):
            folder = "/" + "/".join(parts[:depth])
            if os.path.isdir(folder) and _closed(folder):
                return folder
    return None


def _open_up(folder: str, paths: Sequence[str]) -> None:
    """Mount a 0755 tmpfs over ``folder`` that shows only its entries on the way to ``paths``, bound back."""
    libc = ctypes.CDLL(None, use_errno=True)
    names = sorted({p[len(folder) + 1:].split("/")[0] for p in paths if p.startswith(folder + "/")})
    kept = [(name, os.open(os.path.join(folder, name), os.O_PATH | os.O_CLOEXEC)) for name in names]
    if libc.mount(b"tmpfs", folder.encode(), b"tmpfs", 0, b"mode=0755") != 0:
        raise OSError(ctypes.get_errno(), f"mount tmpfs on {folder}")
    for name, fd in kept:
        source, target = f"/proc/self/fd/{fd}", os.path.join(folder, name)
        if os.path.isdir(source):
            os.mkdir(target)
        else:
            os.close(os.open(target, os.O_CREAT | os.O_WRONLY, 0o644))
        if libc.mount(source.encode(), target.encode(), None, MS_BIND | MS_REC, None) != 0:
            raise OSError(ctypes.get_errno(), f"bind {target}")
        os.close(fd)


def main(argv: list[str]) -> None:
    """In the new mount namespace, as root: open the way to the paths, drop to the uid, exec the command."""
    uid, paths, command = int(argv[1]), json.loads(argv[2]), argv[4:]
    while (folder := _first_closed(paths)) is not None:
        _open_up(folder, paths)
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)  # from root to another uid: every capability set is emptied
    os.execvp(command[0], command)


if __name__ == "__main__":
    main(sys.argv)
