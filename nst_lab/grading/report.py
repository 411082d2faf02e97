"""The grader's reports: grades.csv, grades.json and one markdown feedback file per notebook.

Everything a student could influence (file names, exception messages) is treated as data: CSV
cells cannot start a formula, feedback text is escaped (markdown, HTML, control characters) and
length-bounded, and each feedback file name is unique. The parent writes every report atomically,
after every worker has ended.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import re
import unicodedata
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nst_lab.files import atomic_write_text
from nst_lab.grading.runner import Settings

MAX_MESSAGE = 600  # characters of one case's message in the feedback
_MARKDOWN = re.compile(r"([\\`*_{}\[\]()#+\-.!|>~])")


def visible(text: str) -> str:
    """``text`` with every character that shows nothing or reorders what follows written as ``\\uXXXX``:
    format characters (bidi controls and isolates, zero-width spaces and joiners, the BOM, the soft
    hyphen), control characters, line and paragraph separators, private-use and unassigned code points."""
    if text.isascii() and text.isprintable():
        return text
    return "".join(f"\\u{ord(c):04x}" if unicodedata.category(c)[0] == "C" or unicodedata.category(c) in ("Zl", "Zp")
                   else c for c in text)


def plain(text: Any, limit: int = MAX_MESSAGE) -> str:
    """One line of inert text: newlines and tabs become spaces, other invisible characters ``\\uXXXX``."""
    line = re.sub(r"[\t\n\r\x0b\x0c]", " ", str(text))
    line = visible(line.encode("utf-8", "surrogatepass").decode("utf-8", "replace"))
    return line if len(line) <= limit else line[: limit - 3] + "..."


def md(text: Any, limit: int = MAX_MESSAGE) -> str:
    """Text safe inside a markdown list item: one line, HTML and markdown syntax escaped."""
    line = plain(text, limit).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return _MARKDOWN.sub(r"\\\1", line)


def csv_cell(value: Any) -> str:
    """A CSV cell that no spreadsheet runs as a formula (a leading = + - @ tab or CR is quoted off)."""
    text = plain(value, 2000)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


def feedback_markdown(row: dict[str, Any]) -> str:
    """The student's feedback: score, then each exercise's passing and failing tests."""
    lines = [
        f"# Feedback on {md(row['submission'], 200)}",
        "",
        f"**Score: {row['total']:g} / {row['max']:g}**",
        "",
        "Your functions were run on new inputs (not the notebook's) and compared with the "
        "reference; what the notebook printed does not count.",
        "",
    ]
    for name, ex in row["exercises"].items():
        lines += [f"## {md(name, 80)}: {ex['points']:g} / {ex['max']:g}", ""]
        if ex["note"]:
            lines += [f"- Not graded: {md(ex['note'])}", ""]
            continue
        if ex["cases"] and all("NotImplementedError" in c["message"] for c in ex["cases"]):
            lines += ["- Not attempted yet: it still raises NotImplementedError.", ""]
            continue
        for case in ex["cases"]:
            text = case["case"] if case["passed"] else case["message"] or case["case"]
            lines.append(f"- {'PASS' if case['passed'] else 'FAIL'} {md(text)}")
        lines.append("")
    if not row["exercises"]:
        lines += ["No graded exercises were found.", ""]
    for note in row["notes"] if not row["exercises"] else []:
        lines.append(f"- {md(note)}")
    return "\n".join(lines).rstrip() + "\n"


def feedback_name(submission: str) -> str:
    """A file name for a submission's feedback: readable, and unique (a hash of the exact name)."""
    readable = re.sub(r"[^A-Za-z0-9._-]+", "_", plain(submission, 200).replace("/", "__")).removesuffix(".ipynb")
    digest = hashlib.sha256(submission.encode("utf-8", "surrogatepass")).hexdigest()[:10]
    return f"{readable[:80]}-{digest}.md"


def write_reports(rows: Sequence[dict[str, Any]], out: Path, settings: Settings, seed_source: str = "") -> None:
    """grades.csv, grades.json and feedback/*.md in ``out``."""
    (out / "feedback").mkdir(parents=True, exist_ok=True)
    columns = [n for n, _ in settings.points]  # all, so that CSVs of separate runs line up
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["submission", *columns, "total", "max", "notes"])
    for r in rows:
        cells = [f"{r['exercises'][n]['points']:g}" if n in r["exercises"] else "" for n in columns]
        writer.writerow([csv_cell(r["submission"]), *cells, f"{r['total']:g}", f"{r['max']:g}",
                         csv_cell("; ".join(r["notes"]))])
    for r in rows:
        r["feedback"] = f"feedback/{feedback_name(r['submission'])}"
    summary = {"points": dict(settings.points), "timeout_s": settings.timeout, "seed": settings.seed,
               "seed_source": seed_source, "sandbox": settings.sandbox, "exam": bool(settings.answers),
               "submissions": list(rows)}
    text = json.dumps(summary, indent=1, ensure_ascii=True) + "\n"
    atomic_write_text(out / "grades.csv", buffer.getvalue())
    atomic_write_text(out / "grades.json", text)
    for r in rows:
        atomic_write_text(out / r["feedback"], feedback_markdown(r))
