"""CPU seconds per notebook of `nst-lab grade` on a class of notebooks that hold every graded function.

    python benchmarks/grade_throughput.py --notebooks 30 --workers 2

Each notebook is made from the graded cells of notebooks/solutions (so every exercise earns full
marks and runs to the end). The grader runs as a subprocess.
The sandboxes' processes are not counted in RUSAGE_CHILDREN (bwrap does not pass them on), so the
table also gives the exercises' CPU as the fork server measured it, the whole machine's CPU time
from /proc/stat (the grader's alone only on an otherwise idle machine) and, where this process may
make a cpuacct cgroup (root, cgroup v1), the CPU of every process the grader started, sandboxes
included and other users' jobs excluded: the number to compare on a shared machine.
Prints one Markdown table. Not a test: absolute times drift on a shared machine.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def class_notebook() -> dict:
    """One notebook holding every graded cell of the solutions (and their checks)."""
    cells = []
    for path in sorted((ROOT / "notebooks" / "solutions").glob("0*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if cell["cell_type"] == "code" and "# GRADED FUNCTION:" in source:
                cells.append({"cell_type": "code", "source": source, "metadata": {}, "outputs": [],
                              "execution_count": None})
    return {"cells": cells, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--command", default=f"{sys.executable} -m nst_lab grade",
                        help="the grader to time (e.g. an older checkout's)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        submissions = Path(folder) / "class"
        notebook = json.dumps(class_notebook())
        for i in range(args.notebooks):
            (submissions / f"student{i:02d}").mkdir(parents=True)
            (submissions / f"student{i:02d}" / "all.ipynb").write_text(notebook)
        out = Path(folder) / "out"
        machine_before = _machine_cpu()
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        group = _cgroup()
        done = subprocess.run([*args.command.split(), str(submissions), "-o", str(out), "--workers",
                               str(args.workers), "--quiet", "--seed", "12345"], capture_output=True, text=True,
                              env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}, check=False,
                              preexec_fn=(lambda: (group / "cgroup.procs").write_text(str(os.getpid()))) if group
                              else None)
        own = _cgroup_seconds(group)
        wall = time.perf_counter() - start
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        machine = _machine_cpu() - machine_before
        tree = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
        rows = json.loads((out / "grades.json").read_text())["submissions"] if done.returncode == 0 else []
        from nst_lab.grading.grade import POINTS  # the graded functions (the notebooks hold no questions)

        full = sum(1 for r in rows if all(e["points"] == e["max"] for n, e in r["exercises"].items() if n in POINTS))
        sandbox = sum(e.get("cpu_s", 0.0) for r in rows for e in r["exercises"].values())
    if done.returncode != 0:
        sys.exit(f"the grader failed: {done.stderr.strip().splitlines()[-1:]}")
    n = args.notebooks
    cgroup = "n/a | n/a" if own is None else f"{own:.1f} | {own / n:.2f}"
    print("| notebooks | workers | wall s | grader CPU s (process tree) | exercises' CPU s (sandbox) "
          "| machine CPU s (/proc/stat) | machine CPU s per notebook | grader's CPU s (cgroup) | per notebook "
          "| every function at full marks |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    print(f"| {n} | {args.workers} | {wall:.1f} | {tree:.1f} | {sandbox:.1f} | {machine:.1f} | {machine / n:.2f} | "
          f"{cgroup} | {full}/{len(rows)} |")


def _cgroup() -> Path | None:
    """A fresh cpuacct cgroup for the grader's processes (None where this process may not make one)."""
    base = Path("/sys/fs/cgroup/cpuacct")
    if not (base / "cgroup.procs").is_file() or not os.access(base, os.W_OK):
        return None
    group = base / f"nst-lab-bench-{os.getpid()}"
    try:
        group.mkdir()
    except OSError:
        return None
    return group


def _cgroup_seconds(group: Path | None) -> float | None:
    """CPU seconds of everything that ran in ``group`` (then removed), or None."""
    if group is None:
        return None
    seconds = int((group / "cpuacct.usage").read_text()) / 1e9
    for _ in range(100):  # the kernel frees a dead sandbox's processes asynchronously
        try:
            group.rmdir()
            break
        except OSError:
            time.sleep(0.1)
    return seconds


def _machine_cpu() -> float:
    """CPU seconds every process on the machine has used (user + nice + system), from /proc/stat."""
    fields = Path("/proc/stat").read_text().splitlines()[0].split()[1:]
    return (int(fields[0]) + int(fields[1]) + int(fields[2])) / os.sysconf("SC_CLK_TCK")


if __name__ == "__main__":
    main()
