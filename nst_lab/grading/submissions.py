"""What the class handed in: every notebook under the folders passed, who handed it in, and which
course notebook each counts as (one per course notebook per student).

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path

from nst_lab.errors import GradeUsageError
from nst_lab.grading.grade import Submission, expected_exercises, safe_text


def collect(paths: Sequence[str]) -> list[tuple[Path, str]]:
    """(path, report name) of every submission: files as given, folders searched without following links.

    A notebook found in folder ``alice`` is named ``alice/<path inside it>``. Links, FIFOs and
    other non-regular ``.ipynb`` entries are kept (they get 0 with a note), never followed.
    """
    return [(path, name) for path, name, _ in collect_students(paths)]


def collect_students(paths: Sequence[str]) -> list[tuple[Path, str, str]]:
    """(path, report name, student) of every submission, as :func:`collect`.

    The student is the first path component below a folder passed (``class/alice/ps1/02.ipynb``: ``alice``;
    a notebook directly in the folder passed is a student of its own), or the file itself when a file is
    passed; told apart by real path, so two students of the same name in two folders stay two students.
    """
    found: list[tuple[Path, str, str]] = []
    for text in paths:
        path = Path(text)
        if path.is_dir() and not path.is_symlink():
            for nb in _walk(path):
                inside = nb.relative_to(path)
                who = str((path / inside.parts[0]).resolve())
                found.append((nb, f"{path.resolve().name}/{inside.as_posix()}", who))
        elif path.exists() or path.is_symlink():
            found.append((path, path.name, str(path.absolute())))
        else:
            raise GradeUsageError(f"{safe_text(text)} does not exist")
    if not found:
        raise GradeUsageError(f"no .ipynb notebooks found in {safe_text(', '.join(paths))}")
    names: dict[str, int] = {}
    for _, name, _ in found:
        names[name] = names.get(name, 0) + 1
    return [(p, n if names[n] == 1 else safe_text(str(p)), who) for p, n, who in found]


def course_notebooks(sub: Submission, manifest: dict[str, list[str]]) -> list[str]:
    """The course notebooks ``sub`` is graded as: the one it claims to be (stamp), its file name's, and
    every one that owns a graded cell it holds; all of them ("*" without a course) when none matches."""
    names = set(sub.sources) | set(sub.answers)
    owners = {key for key, exercises in manifest.items() if names & set(exercises)}
    known = sorted(key for key in {sub.identity, sub.path.stem} | owners if key in manifest)
    return known or sorted(manifest) or ["*"]


def _walk(folder: Path) -> list[Path]:
    out: list[Path] = []
    stack = [folder]
    while stack:
        here = stack.pop()
        try:
            entries = sorted(os.scandir(here), key=lambda e: e.name)
        except OSError:
            continue
        for entry in entries:
            if entry.is_dir(follow_symlinks=False):
                if entry.name != ".ipynb_checkpoints":
                    stack.append(Path(entry.path))
            elif entry.name.endswith(".ipynb"):
                out.append(Path(entry.path))
    return sorted(out)


def assign_exercises(subs: Sequence[Submission], manifest: dict[str, list[str]], only: Sequence[str] | None
                     ) -> dict[str, list[str]]:
    """Submission name -> its exercises, with one graded notebook per course notebook per student.

    A student's notebooks are taken readable ones first, then those holding graded cells, then a file
    named as the notebook it claims to be, then by name; a notebook whose course notebooks are all taken
    already is an extra copy: noted, graded on nothing, and so never added to the student's points or
    maximum.
    """
    expected: dict[str, list[str]] = {}
    counted: dict[tuple[str, str], str] = {}  # (student, course notebook) -> the submission that counts
    for sub in sorted(subs, key=lambda s: (bool(s.error), not (s.sources or s.answers), s.identity != s.path.stem,
                                           s.name)):
        names = expected_exercises(sub, manifest, only)
        keys = ["*"] if only else course_notebooks(sub, manifest)
        taken = [key for key in keys if (sub.student, key) in counted]
        if taken:
            kept = {n for key in keys if key not in taken for n in manifest.get(key, ())}
            names = [n for n in names if n in kept] if len(taken) < len(keys) else []
            where = sorted({counted[(sub.student, key)] for key in taken})
            sub.flags.append(f"an extra copy of {', '.join(taken)}: not added (graded in {', '.join(where)})")
        for key in keys:
            counted.setdefault((sub.student, key), sub.name)
        expected[sub.name] = names
    return expected
