"""Each exercise's own sandbox inside the grader's: namespaces of its own, made by the fork server's child.

The fork server (``zygote.py``) forks a *keeper* per exercise. The keeper (single-threaded after the fork)
calls :func:`enter`: new user, PID, mount, IPC and UTS namespaces, with the keeper's uid mapped to
``INNER_ID``. It then forks the exercise process, which is PID 1 of the new PID namespace and calls
:func:`seal`: a private ``/tmp`` and ``/dev/shm`` (fresh tmpfs, size-capped), a new anonymous session
keyring, no capabilities and ``no_new_privs``. So student code

- cannot name the fork server, the keeper or any earlier exercise's process (they are outside its PID
  namespace): no signal, ``ptrace``, ``prlimit``, ``pidfd`` or ``F_SETOWN`` can reach them;
- holds no descriptor shared with the server (the keeper closes them; the result goes into a pipe made
  for this exercise alone);
- writes only to files, System V IPC objects and keys that vanish with its namespaces: when PID 1 ends,
  the kernel kills everything else in its PID namespace.

Like ``kit.py`` and ``zygote.py`` this file imports only the standard library: it is copied alone into
the sandbox.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import ctypes
import os
import platform
import re
import struct

CLONE_NEWNS, CLONE_NEWUTS, CLONE_NEWIPC = 0x00020000, 0x04000000, 0x08000000
CLONE_NEWUSER, CLONE_NEWPID = 0x10000000, 0x20000000
MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_BIND, MS_REC, MS_PRIVATE = 0x2, 0x4, 0x8, 0x1000, 0x4000, 0x40000
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 1, 4, 24, 38, 47
PR_CAP_AMBIENT_CLEAR_ALL = 4
KEYCTL_JOIN_SESSION_KEYRING = 1
SYS_KEYCTL = {"x86_64": 250, "aarch64": 219}  # <asm/unistd.h>
CAPABILITY_VERSION_3 = 0x20080522
INNER_ID = 1000  # uid and gid of student code inside its own user namespace
SHM_BYTES = 16 << 20  # /dev/shm of one exercise

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"{what}: {os.strerror(errno)}")


def enter() -> None:
    """In the keeper (one thread): new user, PID, mount, IPC and UTS namespaces; its ids mapped to INNER_ID.

    Only the keeper's next child lives in the new PID namespace (as its PID 1).
    """
    uid, gid = os.getuid(), os.getgid()
    flags = CLONE_NEWUSER | CLONE_NEWPID | CLONE_NEWNS | CLONE_NEWIPC | CLONE_NEWUTS
    _check(_libc.unshare(flags), "unshare")
    _check(_libc.prctl(PR_SET_DUMPABLE, 1, 0, 0, 0), "dumpable")  # a non-dumpable process's maps are root's
    try:
        for name, text in (("setgroups", "deny"), ("uid_map", f"{INNER_ID} {uid} 1\n"),
                           ("gid_map", f"{INNER_ID} {gid} 1\n")):
            with open(f"/proc/self/{name}", "w") as handle:
                handle.write(text)
    finally:
        _libc.prctl(PR_SET_DUMPABLE, 0, 0, 0, 0)  # as the fork server: nothing may read this process


def fresh_session_keyring() -> None:
    """Join a new anonymous session keyring: keys added later are seen by this process's children only."""
    number = SYS_KEYCTL.get(platform.machine())
    if number is None:
        return
    if _libc.syscall(number, KEYCTL_JOIN_SESSION_KEYRING, None, 0, 0, 0) < 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"keyctl: {os.strerror(errno)}")


def _mount_tmpfs(target: str, size: int, flags: int) -> None:
    options = f"size={size},mode=1777,uid={INNER_ID},gid={INNER_ID}".encode()
    _check(_libc.mount(b"tmpfs", target.encode(), b"tmpfs", flags, options), f"mount {target}")


def drop_capabilities() -> None:
    """Empty every capability set (bounding, ambient, effective, permitted, inheritable); set no_new_privs."""
    for cap in range(64):
        if _libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            break  # past the last capability this kernel knows
    _libc.prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)
    header = ctypes.create_string_buffer(struct.pack("Ii", CAPABILITY_VERSION_3, 0))
    data = ctypes.create_string_buffer(bytes(24))  # two {effective, permitted, inheritable} u32 triples, all 0
    _check(_libc.capset(header, data), "capset")
    _check(_libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), "no_new_privs")


def mounts_below(folder: str) -> list[str]:
    """The outermost mount points strictly below ``folder`` (``/proc/self/mountinfo``), e.g. a checkout, its venv or
    the grader's own files bound read-only inside a ``/tmp`` tmpfs; sorted, outer before inner."""
    top = os.path.realpath(folder).rstrip("/") + "/"
    try:
        with open("/proc/self/mountinfo") as table:
            points = {_unescape(line.split()[4]) for line in table if len(line.split()) > 4}
    except OSError:
        return []
    below = [p for p in points if p.startswith(top)]
    return sorted(p for p in below if not any(p.startswith(q + "/") for q in below))


def _unescape(field: str) -> str:
    """mountinfo writes space, tab, newline and backslash as octal escapes (``\\040``)."""
    return re.sub(r"\\([0-7]{3})", lambda match: chr(int(match.group(1), 8)), field)


def fresh_tmpfs(target: str, size: int, flags: int) -> None:
    """A fresh tmpfs over ``target`` that still shows what was mounted below it (read-only binds of the code).

    Each mount below is opened first (``O_PATH``), then bound again, recursively and with its own flags (read-only
    stays read-only), at the same path inside the new tmpfs. Only what the sandbox bound there comes back.
    """
    kept = [(point, os.open(point, os.O_PATH | os.O_CLOEXEC)) for point in mounts_below(target)]
    _mount_tmpfs(target, size, flags)
    for point, fd in kept:
        source = f"/proc/self/fd/{fd}"
        if os.path.isdir(source):
            os.makedirs(point, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(point), exist_ok=True)
            os.close(os.open(point, os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o444))
        _check(_libc.mount(source.encode(), point.encode(), None, MS_BIND | MS_REC, None), f"bind {point}")
        os.close(fd)


def seal(tmp_bytes: int, scratch: str = "/tmp") -> None:
    """In the exercise process (PID 1 of its namespace): private scratch and /dev/shm, new keyring, no caps.

    Mount changes stay in this mount namespace; the tmpfs is freed when its last process ends. What the sandbox
    bound inside scratch or /dev/shm (a checkout or venv under /tmp, the grader's files) stays visible, read-only.
    """
    _check(_libc.prctl(PR_SET_PDEATHSIG, 9, 0, 0, 0), "pdeathsig")  # the keeper's end is this one's
    _check(_libc.mount(None, b"/", None, MS_REC | MS_PRIVATE, None), "make / private")
    fresh_tmpfs(scratch, tmp_bytes, MS_NOSUID | MS_NODEV)
    if os.path.isdir("/dev/shm"):
        fresh_tmpfs("/dev/shm", SHM_BYTES, MS_NOSUID | MS_NODEV | MS_NOEXEC)
    for table in ("/proc/keys", "/proc/key-users"):  # no serial numbers of the keys its uid owns outside
        if os.path.exists(table):
            _libc.mount(b"/dev/null", table.encode(), None, MS_BIND, None)
    os.chdir(scratch)
    fresh_session_keyring()
    drop_capabilities()
