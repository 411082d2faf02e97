"""The grader's reports: grades.csv, grades.json and one markdown feedback file per notebook.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nst_lab.grade_runner import Settings


def feedback_markdown(row: dict[str, Any]) -> str:
    """The student's feedback: score, then each exercise's passing and failing tests."""
    lines = [
        f"# Feedback on {row['submission']}",
        "",
        f"**Score: {row['total']:g} / {row['max']:g}**",
        "",
        "Your functions were run on new inputs (not the notebook's) and compared with the "
        "reference; what the notebook printed does not count.",
        "",
    ]
    for name, ex in row["exercises"].items():
        lines += [f"## {name}: {ex['points']:g} / {ex['max']:g}", ""]
        if ex["note"]:
            lines += [f"- Not graded: {ex['note']}", ""]
            continue
        if ex["cases"] and all("NotImplementedError" in c["message"] for c in ex["cases"]):
            lines += ["- Not attempted yet: it still raises NotImplementedError.", ""]
            continue
        for case in ex["cases"]:
            lines.append(f"- PASS {case['case']}" if case["passed"] else f"- FAIL {case['message'] or case['case']}")
        lines.append("")
    if not row["exercises"]:
        lines += ["No graded exercises were found.", ""]
    for note in row["notes"] if not row["exercises"] else []:
        lines.append(f"- {note}")
    return "\n".join(lines).rstrip() + "\n"


def _safe_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", name.replace("/", "__")).removesuffix(".ipynb") + ".md"


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_reports(rows: Sequence[dict[str, Any]], out: Path, settings: Settings) -> None:
    """grades.csv, grades.json and feedback/*.md in ``out``."""
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    columns = [n for n, _ in settings.points]  # all, so that CSVs of separate runs line up
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", *columns, "total", "max", "notes"])
    for r in rows:
        cells = [f"{r['exercises'][n]['points']:g}" if n in r["exercises"] else "" for n in columns]
        writer.writerow([r["submission"], *cells, f"{r['total']:g}", f"{r['max']:g}", "; ".join(r["notes"])])
    _write(out / "grades.csv", buffer.getvalue())
    summary = {"points": dict(settings.points), "timeout_s": settings.timeout, "submissions": list(rows)}
    _write(out / "grades.json", json.dumps(summary, indent=1) + "\n")
    for r in rows:
        r["feedback"] = f"feedback/{_safe_name(r['submission'])}"
        _write(out / r["feedback"], feedback_markdown(r))
