"""An operating-system sandbox for grading workers, built on bubblewrap (``bwrap``).

Every worker the grader starts runs as ``bwrap [namespaces, mounts] -- [setpriv] -- prlimit [limits] -- COMMAND``.
:class:`Sandbox` builds that command line (:meth:`Sandbox.argv`), starts it with pipes (:meth:`Sandbox.popen`),
kills it with everything it started (:meth:`Sandbox.kill`) and checks at start-up that the sandbox really holds
on this machine (``nst_lab.grading.probe.probe``, which raises :class:`SandboxUnavailable` with a one-line message).
``Sandbox(enabled=False)`` is the instructor's explicit opt-out (``--no-sandbox``): same API, only rlimits, a clean
environment and a scratch working folder.

What the sandbox promises (each promise has a test in ``tests/grading/test_sandbox.py``):

- **Processes**: a new PID namespace under bwrap's init; the command sees only its own processes, so it
  cannot see, read the environ of, signal or ptrace the grader. ``--die-with-parent``: killing bwrap
  (:meth:`Sandbox.kill`) kills everything inside, ``setsid`` grandchildren included. ``--new-session``:
  no ``TIOCSTI`` keystroke injection.
- **Network, IPC, UTS**: new namespaces; only ``lo``.
- **Files**: a fresh root with, read-only, ``/usr``, the ``/bin /sbin /lib*`` links, the dynamic-linker
  files of ``/etc``, the Python environment (``sys.prefix`` and ``sys.base_prefix`` exactly) and the
  caller's ``ro_binds``; ``hide`` shows folders inside them empty. Writable: only a private, size-capped
  tmpfs on ``/tmp``, which is also ``HOME`` and the working folder.
- **Identity**: as root, bwrap sets up, then ``setpriv`` switches to ``sandbox_uid`` (65534) with every
  capability set empty and ``no_new_privs``; a non-root grader runs bwrap in a new user namespace.
- **Limits** (``prlimit`` just before the command, soft = hard): address space, CPU seconds, processes,
  open files, size of a written file; plus the size of ``/tmp``.
- **Environment**: ``--clearenv``; exactly ``env`` (:func:`worker_env`), never the grader's variables.

What it does **not** promise: no seccomp filter (a kernel bug is an escape: container grade, not a VM);
``RLIMIT_CPU`` is CPU time, not wall time (the caller keeps a deadline); ``RLIMIT_AS`` bounds address
space, not resident memory, and there is no cgroup; ``RLIMIT_NPROC`` counts every task of the uid on the
host (as root, concurrent workers share uid 65534's count); ``/dev`` is bwrap's minimal one, there is no
``/sys`` or ``/etc/passwd``; bound paths must be readable by uid 65534; ``--die-with-parent`` follows
the *thread* that started bwrap; the opt-out runs student code with the instructor's rights.
"""

from __future__ import annotations

import ctypes
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import weakref
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

__all__ = ["Limits", "Sandbox", "SandboxUnavailable", "SANDBOX_HOME", "worker_env"]

SANDBOX_HOME = "/tmp"  # HOME, TMPDIR and working folder inside the sandbox (a private tmpfs)
OPT_OUT = "or pass --no-sandbox to run student code with the instructor's rights"
_PR_SET_PDEATHSIG = 1  # <linux/prctl.h>
_GiB = 1 << 30
_MiB = 1 << 20


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start or does not hold on this machine; the message is one line saying how to fix it."""

    def __init__(self, message: str) -> None:
        super().__init__(" ".join(message.split()))  # always one line, however the cause was worded


@dataclass(frozen=True)
class Limits:
    """Resource limits applied to the sandboxed command (soft = hard).

    ``memory_bytes`` is address space (RLIMIT_AS): importing TensorFlow 2.x and running a small graph needs
    under 1.5 GiB of it on the reference machine, VGG19 work more, and each thread adds its stack reservation,
    hence a default of 8 GiB. ``processes`` counts threads too (TensorFlow starts one per core and more).
    ``tmp_bytes`` caps the ``/tmp`` tmpfs (memory that RLIMIT_AS does not see).
    """

    memory_bytes: int = 8 * _GiB
    cpu_seconds: int = 1800
    processes: int = 512
    open_files: int = 1024
    file_bytes: int = 256 * _MiB
    tmp_bytes: int = 512 * _MiB

    def __post_init__(self) -> None:
        """Reject limits that are not positive integers (a zero would make every worker fail obscurely)."""
        for name in ("memory_bytes", "cpu_seconds", "processes", "open_files", "file_bytes", "tmp_bytes"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value <= 0:
                raise ValueError(f"Limits.{name} must be a positive integer, not {value!r}")

    def rlimits(self) -> dict[int, int]:
        """The ``resource.RLIMIT_*`` constants mapped to their values."""
        return {
            resource.RLIMIT_AS: self.memory_bytes,
            resource.RLIMIT_CPU: self.cpu_seconds,
            resource.RLIMIT_NPROC: self.processes,
            resource.RLIMIT_NOFILE: self.open_files,
            resource.RLIMIT_FSIZE: self.file_bytes,
        }

    def prlimit_options(self) -> list[str]:
        """The same limits as ``prlimit`` options (one value: soft and hard)."""
        return [
            f"--as={self.memory_bytes}",
            f"--cpu={self.cpu_seconds}",
            f"--nproc={self.processes}",
            f"--nofile={self.open_files}",
            f"--fsize={self.file_bytes}",
        ]


def worker_env(threads: int | None = None, extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """The minimal, explicit environment of a worker.

    ``threads`` sets OpenMP's and TensorFlow's thread counts; ``extra`` adds variables (e.g. ``PYTHONPATH``).
    Nothing is copied from the grader's own environment.
    """
    env = {
        "PATH": os.pathsep.join([os.path.join(sys.prefix, "bin"), "/usr/local/bin", "/usr/bin", "/bin"]),
        "HOME": SANDBOX_HOME,
        "TMPDIR": SANDBOX_HOME,
        "PYTHONNOUSERSITE": "1",
        "PYTHONDONTWRITEBYTECODE": "1",
        "TF_CPP_MIN_LOG_LEVEL": "3",
        "LC_ALL": "C.UTF-8",
    }
    if threads is not None:
        if threads <= 0:
            raise ValueError(f"threads must be positive, not {threads}")
        for name in ("OMP_NUM_THREADS", "TF_NUM_INTRAOP_THREADS", "TF_NUM_INTEROP_THREADS"):
            env[name] = str(threads)
    env.update(extra or {})
    return env


def _python_paths() -> list[str]:
    """The interpreter's folders, exactly (the venv and its base), with their real paths, without duplicates."""
    paths: list[str] = []
    for prefix in (sys.prefix, sys.exec_prefix, sys.base_prefix, sys.base_exec_prefix):
        for path in (os.path.abspath(prefix), os.path.realpath(prefix)):
            if path not in paths and os.path.isdir(path):
                paths.append(path)
    executable = os.path.realpath(sys.executable)  # a venv's python may link outside both prefixes
    if not any(executable.startswith(p + os.sep) for p in paths):
        paths.append(executable)
    return paths


# Host paths every worker needs besides the Python environment (bound read-only when they exist).
_SYSTEM_DIRS = ("/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32")
_ETC_FILES = (
    "/etc/ld.so.cache",
    "/etc/ld.so.conf",
    "/etc/ld.so.conf.d",
    "/etc/alternatives",
    "/etc/localtime",
    "/etc/fonts",
)


def _tool(name: str) -> str:
    """The absolute path of a helper the sandbox runs inside itself (from ``/usr``), or SandboxUnavailable."""
    for folder in ("/usr/bin", "/usr/sbin", "/bin", "/sbin"):
        path = os.path.join(folder, name)
        if os.access(path, os.X_OK):
            return path
    raise SandboxUnavailable(f"{name} (util-linux) was not found in /usr/bin: apt-get install util-linux, {OPT_OUT}")


@dataclass(frozen=True)
class Sandbox:
    """How to run one grading worker: bubblewrap namespaces, read-only binds, rlimits and a clean environment.

    ``ro_binds`` are extra host paths (folders or files) bound read-only at the same path inside. ``env`` is the
    whole environment of the command. ``enabled=False`` is the explicit opt-out (rlimits, clean env and a scratch
    working folder only). ``bwrap`` is the bubblewrap binary (a name looked up on PATH, or a path).
    ``sandbox_uid`` / ``sandbox_gid`` are the identity the command runs under when the grader is root.
    """

    ro_binds: tuple[str, ...] = ()
    hide: tuple[str, ...] = ()  # folders inside the binds shown empty (the grader hides the nst_lab package)
    limits: Limits = field(default_factory=Limits)
    env: Mapping[str, str] = field(default_factory=worker_env, hash=False)
    enabled: bool = True
    bwrap: str = "bwrap"
    sandbox_uid: int = 65534
    sandbox_gid: int = 65534

    def __post_init__(self) -> None:
        """Check the binds are absolute paths (bwrap would otherwise resolve them against its cwd)."""
        for path in self.ro_binds:
            if not os.path.isabs(path):
                raise ValueError(f"ro_binds must be absolute paths, not {path!r}")

    # -- the command line -------------------------------------------------------------------------------------

    def bwrap_path(self) -> str:
        """The bubblewrap executable, or SandboxUnavailable saying how to install it."""
        found = shutil.which(self.bwrap)
        if found is None:
            raise SandboxUnavailable(
                f"bubblewrap ({self.bwrap}) was not found: apt-get install bubblewrap (Debian/Ubuntu), {OPT_OUT}"
            )
        return found

    def _mount_options(self) -> list[str]:
        """bwrap's filesystem options: system folders, the Python environment, the caller's binds, tmpfs."""
        options: list[str] = []
        for path in _SYSTEM_DIRS:
            if os.path.islink(path):
                options += ["--symlink", os.readlink(path), path]
            elif os.path.isdir(path):
                options += ["--ro-bind", path, path]
        options += ["--proc", "/proc", "--dev", "/dev"]  # then the tmpfs, before the binds that may lie in /tmp
        options += ["--perms", "1777", "--size", str(self.limits.tmp_bytes), "--tmpfs", SANDBOX_HOME]
        etc = [path for path in _ETC_FILES if os.path.exists(path)]
        wanted = {os.path.normpath(p) for p in [*etc, *_python_paths(), *self.ro_binds]}
        binds = sorted(wanted, key=lambda p: p.count("/"))
        parents = sorted({str(a) for p in binds for a in Path(p).parents if str(a) != "/"}, key=lambda p: p.count("/"))
        for parent in parents:  # bwrap would copy the host's modes (/root is 0700): make them traversable
            options += ["--perms", "0755", "--dir", parent]
        for path in binds:
            if not os.path.exists(path):
                raise FileNotFoundError(f"cannot bind {path} into the sandbox: it does not exist")
            options += ["--ro-bind", path, path]
        for path in self.hide:  # an empty read-only folder over what must not be seen (e.g. nst_lab itself)
            options += ["--perms", "0555", "--tmpfs", path, "--remount-ro", path]
        return [*options, "--remount-ro", "/dev", "--remount-ro", "/"]  # only /tmp stays writable

    def argv(self, command: Sequence[str]) -> list[str]:
        """The full command line running ``command`` in the sandbox (or, opted out, under ``prlimit`` only)."""
        if not command:
            raise ValueError("the sandboxed command is empty")
        limited = [_tool("prlimit"), *self.limits.prlimit_options(), "--", *command]
        if not self.enabled:
            return limited
        argv = [self.bwrap_path()]
        if os.geteuid() == 0:
            # Set up as root, then setpriv drops to an unprivileged uid: RLIMIT_NPROC is never enforced for uid 0.
            argv += ["--cap-drop", "ALL", "--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID",
                     "--cap-add", "CAP_SETPCAP"]  # fmt: skip
            inner = [_tool("setpriv"), f"--reuid={self.sandbox_uid}", f"--regid={self.sandbox_gid}",
                     "--clear-groups", "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]  # fmt: skip
        else:
            argv += ["--unshare-user", "--cap-drop", "ALL"]
            inner = []
        argv += ["--unshare-pid", "--unshare-ipc", "--unshare-uts", "--unshare-net", "--unshare-cgroup-try",
                 "--hostname", "sandbox", "--die-with-parent", "--new-session", "--clearenv"]  # fmt: skip
        argv += self._mount_options()
        for name, value in self.env.items():
            argv += ["--setenv", name, value]
        argv += ["--chdir", SANDBOX_HOME, "--", *inner, *limited]
        return argv

    # -- running ----------------------------------------------------------------------------------------------

    def _preexec(self, grader: int) -> Callable[[], None]:
        """What the child runs before exec: die with the grader (and, opted out, set the rlimits).

        bwrap's ``--die-with-parent`` arms ``PR_SET_PDEATHSIG`` only once bwrap runs, so a grader killed in the
        first milliseconds would leave a sandbox behind; arming it here, and checking the parent is still the
        grader afterwards, closes that window. The signal survives exec of bwrap and prlimit (not set-uid).
        """
        prctl = cast(Callable[..., int], ctypes.CDLL(None, use_errno=True).prctl)
        limits = {} if self.enabled else self.limits.rlimits()

        def preexec() -> None:
            prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
            if os.getppid() != grader:
                os._exit(137)  # the grader is already gone
            for which, value in limits.items():
                resource.setrlimit(which, (value, value))

        return preexec

    def popen(self, command: Sequence[str], **kwargs: Any) -> subprocess.Popen[bytes]:
        """Start ``command`` in the sandbox with stdin and stdout pipes (overridable through ``kwargs``).

        The process leads a new session (so :meth:`kill` reaches its group). Opted out, it runs in a fresh scratch
        folder that is removed when the Popen object is collected, with HOME and TMPDIR pointing there.
        """
        kwargs.setdefault("stdin", subprocess.PIPE)
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("start_new_session", True)
        if self.enabled:
            kwargs.setdefault("cwd", "/")
            return subprocess.Popen(self.argv(command), env={}, preexec_fn=self._preexec(os.getpid()), **kwargs)
        scratch = tempfile.mkdtemp(prefix="nst-lab-unsandboxed-")
        env = {k: (scratch if v == SANDBOX_HOME else v) for k, v in self.env.items()}
        kwargs.setdefault("cwd", scratch)
        try:
            proc = subprocess.Popen(self.argv(command), env=env, preexec_fn=self._preexec(os.getpid()), **kwargs)
        except BaseException:
            shutil.rmtree(scratch, ignore_errors=True)
            raise
        weakref.finalize(proc, shutil.rmtree, scratch, True)
        return proc

    @staticmethod
    def kill(proc: subprocess.Popen[Any]) -> None:
        """Kill the sandbox and everything inside it, then reap it (safe to call twice).

        Sandboxed, killing bwrap kills its PID 1, and with it the whole PID namespace. The process group is
        killed as well, which is all the opt-out mode can do.
        """
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        proc.kill()  # a no-op once the process was reaped
        proc.wait()
        for stream in (proc.stdin, proc.stdout, proc.stderr):
            if stream is not None:
                stream.close()

    def run(
        self, command: Sequence[str], input: bytes = b"", timeout: float = 60.0
    ) -> subprocess.CompletedProcess[bytes]:
        """Run ``command`` to completion with ``input`` on stdin; stdout and stderr captured; killed on timeout."""
        proc = self.popen(command, stderr=subprocess.PIPE)
        try:
            out, err = proc.communicate(input, timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill(proc)
            raise
        return subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
