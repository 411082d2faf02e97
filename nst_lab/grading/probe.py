"""The sandbox's start-up check: a tiny program run inside reports facts, and each promise is judged.

Checked: it runs; in a fresh PID namespace under PID 1 and seeing no other process; a read-only root;
user namespaces of its own possible for each exercise; only ``lo``, and
a loopback listener of this process unreachable; HOME a writable tmpfs; the Python environment
read-only; no capabilities and not root; the environment exactly ``env``; every rlimit in force.
Opted out (``enabled=False``), only the environment, the working folder and the rlimits are checked.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
from typing import Any

from nst_lab.grading.sandbox import OPT_OUT, SANDBOX_HOME, Sandbox, SandboxUnavailable


def probe(sandbox: Sandbox, timeout: float = 60.0) -> None:
    """Run a tiny Python program inside and check every promise holds; SandboxUnavailable (one line) if not.

    Checked: it runs; in a fresh PID namespace under PID 1 and seeing no other process; a read-only root;
    user namespaces of its own possible for each exercise; only ``lo``, and a
    loopback listener of this process unreachable; HOME a writable tmpfs; the Python environment read-only;
    no capabilities and not root; the environment exactly ``env``; every rlimit in force. Opted out, only
    the environment, the working folder and the rlimits are checked.
    """
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        listener.bind(("127.0.0.1", 0))
        listener.listen(1)
        port = listener.getsockname()[1]
        try:
            done = sandbox.run([sys.executable, "-I", "-c", _PROBE, str(os.getpid()), str(port),
                                ("sandboxed" if sandbox.enabled else "opted-out")], timeout=timeout)
        except subprocess.TimeoutExpired:
            raise SandboxUnavailable(f"the sandbox check did not finish in {timeout:g} s, {OPT_OUT}") from None
    finally:
        listener.close()
    if done.returncode != 0:
        lines = [ln for ln in done.stderr.decode(errors="replace").splitlines() if ln.strip()]
        why = lines[-1] if lines else f"exit code {done.returncode}"
        hint = ""
        if sandbox.enabled and ("namespace" in why or "Operation not permitted" in why):
            hint = (
                " (user namespaces unavailable? sysctl kernel.unprivileged_userns_clone=1, or in a container"
                " allow bwrap's namespaces)"
            )
        raise SandboxUnavailable(f"the sandbox could not start: {why}{hint}; {OPT_OUT}")
    try:
        facts = json.loads(done.stdout.decode().strip().splitlines()[-1])
    except (ValueError, IndexError):
        raise SandboxUnavailable(f"the sandbox check printed no result; {OPT_OUT}") from None
    problems = _judge(sandbox, facts)
    if problems:
        raise SandboxUnavailable(f"the sandbox does not hold here: {'; '.join(problems)}; {OPT_OUT}")

def _judge(sandbox: Sandbox, facts: dict[str, Any]) -> list[str]:
    """What is wrong in the facts the probe program reported (empty when all promises hold)."""
    problems: list[str] = []
    expected_env = dict(sandbox.env)
    if not sandbox.enabled:
        expected_env = {k: (facts["cwd"] if v == SANDBOX_HOME else v) for k, v in expected_env.items()}
    if facts["env"].get("PWD") == facts["cwd"]:
        expected_env.setdefault("PWD", facts["cwd"])  # bwrap's --chdir sets it
    if facts["env"] != expected_env:
        problems.append(f"environment differs: {sorted(set(facts['env']) ^ set(expected_env))}")
    limits = {str(k): v for k, v in sandbox.limits.rlimits().items()}
    for which, value in limits.items():
        if facts["rlimits"].get(which) != [value, value]:
            problems.append(f"rlimit {which} is {facts['rlimits'].get(which)}, not {value}")
    if not facts["home_writable"]:
        problems.append("HOME is not writable")
    if not sandbox.enabled:
        return problems
    if facts["ppid"] != 1 or facts["other_pids"]:
        problems.append(f"not alone in a fresh PID namespace (ppid {facts['ppid']}, sees {facts['other_pids']})")
    if facts["sees_parent"]:
        problems.append("the grader's process is visible")
    if facts["interfaces"] != ["lo"]:
        problems.append(f"network interfaces {facts['interfaces']}")
    if facts["connected"]:
        problems.append("a loopback listener of the grader is reachable")
    if facts["home_fs"] != "tmpfs" or facts["cwd"] != SANDBOX_HOME:
        problems.append(f"HOME is on {facts['home_fs']} and cwd {facts['cwd']}, not a private tmpfs")
    if facts["writable"]:
        problems.append(f"the Python environment is writable ({facts['writable']})")
    if any(facts["caps"].values()) or facts["uid"] == 0:
        problems.append(f"uid {facts['uid']} with capabilities {facts['caps']}")
    if facts["root_writable"]:
        problems.append("the root folder is writable")
    if not facts["nested"]:
        problems.append("an exercise cannot have user namespaces of its own (kernel.unprivileged_userns_clone=1?)")
    return problems


# The probe program (run with ``python -I -c``; argv: grader pid, loopback port). Prints one JSON line of facts.
_PROBE = r"""
import json, os, resource, socket, sys, sysconfig
parent, port = int(sys.argv[1]), int(sys.argv[2])
me = os.getpid()
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
try:
    with open("/proc/%d/cmdline" % parent, "rb") as f:
        sees_parent = str(parent) in f.read().decode(errors="replace")
except OSError:
    sees_parent = False
s = socket.socket()
s.settimeout(2)
try:
    s.connect(("127.0.0.1", port))
    connected = True
except OSError:
    connected = False
home = os.environ.get("HOME", "")
try:
    with open(os.path.join(home, ".probe"), "w") as f:
        f.write("x")
    home_writable = True
except OSError:
    home_writable = False
home_fs = ""
with open("/proc/self/mountinfo") as f:
    for line in f:
        fields = line.split()
        if fields[4] == home:
            home_fs = fields[fields.index("-") + 1]
writable = []
for folder in {sysconfig.get_paths()["purelib"], sys.prefix, sys.base_prefix}:
    target = os.path.join(folder, "nst_lab_probe.pth")
    try:
        with open(target, "w"):
            pass
        os.unlink(target)
        writable.append(folder)
    except OSError:
        pass
root_writable = False
try:
    if sys.argv[3] == "sandboxed":  # never on the instructor's own root
        open("/nst_lab_probe", "w").close()
        root_writable = True
except OSError:
    pass
child = os.fork()
if child == 0:
    import ctypes
    os._exit(0 if ctypes.CDLL(None).unshare(0x10000000 | 0x20000000 | 0x00020000 | 0x08000000) == 0 else 1)
nested = os.waitstatus_to_exitcode(os.waitpid(child, 0)[1]) == 0
caps = {}
with open("/proc/self/status") as f:
    for line in f:
        if line.startswith("Cap"):
            name, value = line.split(":")
            caps[name] = int(value, 16)
limits = {str(r): list(resource.getrlimit(r)) for r in (resource.RLIMIT_AS, resource.RLIMIT_CPU,
          resource.RLIMIT_NPROC, resource.RLIMIT_NOFILE, resource.RLIMIT_FSIZE)}
print(json.dumps({"ppid": os.getppid(), "other_pids": [p for p in pids if p not in (1, me)],
                  "sees_parent": sees_parent, "interfaces": sorted(n for _, n in socket.if_nameindex()),
                  "connected": connected, "home_writable": home_writable, "home_fs": home_fs, "cwd": os.getcwd(),
                  "writable": writable, "caps": caps, "root_writable": root_writable, "nested": nested,
                  "uid": os.getuid(), "env": dict(os.environ),
                  "rlimits": limits}))
"""
