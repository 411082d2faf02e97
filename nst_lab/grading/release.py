"""Turn solution notebooks into student notebooks: ``nst-lab release SRC -o OUT``.

In every code cell, the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` (markers
included) become ``# YOUR CODE HERE`` and a ``raise NotImplementedError(...)`` at the same
indentation, so the check right after says "it raised NotImplementedError: ...: replace this
line with your code" instead of a confusing NameError. An answer cell (``# GRADED QUESTION:
name``) names its variable above the region (``answer_name = None  # your answer: ...``, put there
by ``name_answer_variable``, which also makes the cell work under nbgrader's own release); the
region is dropped, or becomes ``answer_name = None`` in a cell without that line. Outputs and execution counts are
cleared; cell metadata (nbgrader ids, points, tags) and check cells are kept.

The output is a pure function of the input: the same solution notebook gives byte-identical
student notebooks, so CI can compare them with the committed copies. Every notebook is
validated before any file is written, and each file is written to a temporary name and then
renamed, so a bad marker leaves nothing half-written.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import copy
import json
import os
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from nst_lab.errors import ReleaseError
from nst_lab.exercises.markers import graded_name, graded_question
from nst_lab.files import atomic_write_text

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
YOUR_CODE = "# YOUR CODE HERE"
YOUR_ANSWER = "YOUR ANSWER HERE"
MANIFEST = "release.json"  # written beside the student notebooks: notebook -> its exercises
_NAME = re.compile(r"[A-Za-z_]\w{0,63}")
_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(")
_EXAM_CHECK = re.compile(r"\bcheck_question\b")  # in an exam, every question's check checks the form only


def _solution_id(cell: Any) -> str | None:
    """The nbgrader ``grade_id`` of a solution cell (how the grader also finds graded cells), or None."""
    metadata = cell.get("metadata")
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) and nbgrader.get("solution") else None
    return grade_id if isinstance(grade_id, str) and _NAME.fullmatch(grade_id) else None


def _where(label: str, index: int, cell: Any) -> str:
    metadata = cell.get("metadata")
    nbgrader = metadata.get("nbgrader") if isinstance(metadata, dict) else None
    grade_id = nbgrader.get("grade_id") if isinstance(nbgrader, dict) else None
    return f"{label}, cell {index}" + (f" (grade_id {grade_id!r})" if grade_id else "")


def _function_name(lines: Sequence[str], upto: int, source: str) -> str:
    """The function a solution region belongs to: the nearest ``def`` above it, else the cell's marker."""
    for line in reversed(lines[:upto]):
        match = _DEF.match(line)
        if match:
            return match.group(1)
    return graded_name(source) or "this cell"


def strip_solutions(source: str, where: str, markdown: bool = False, answer: str | None = None) -> str:
    """Replace each solution region of one cell's source; raise ReleaseError on bad markers.

    In an answer cell (``answer`` names its variable) the region becomes ``answer_x = None``.
    """
    lines = source.split("\n")
    out: list[str] = []
    begin_at: int | None = None
    named = bool(answer) and _assigns_outside(lines, str(answer))  # the cell already names the variable
    for number, line in enumerate(lines, start=1):
        marker = line.strip()
        if marker.startswith(BEGIN):
            if begin_at is not None:
                raise ReleaseError(
                    f"{where}: line {number} opens {BEGIN!r} inside the region opened at "
                    f"line {begin_at}; close it with {END!r} first (regions cannot nest)"
                )
            begin_at = number
            indent = line[: len(line) - len(line.lstrip())]
            if markdown:
                out.append(indent + YOUR_ANSWER)
            elif answer:
                if not named:
                    out.append(f"{indent}{answer} = None  # {YOUR_ANSWER}")
            else:
                name = _function_name(lines, number - 1, source)
                out.append(indent + YOUR_CODE)
                out.append(f'{indent}raise NotImplementedError("{name}: replace this line with your code")')
        elif marker.startswith(END):
            if begin_at is None:
                raise ReleaseError(f"{where}: line {number} has {END!r} without a {BEGIN!r} before it")
            begin_at = None
        elif begin_at is None:
            out.append(line)
    if begin_at is not None:
        raise ReleaseError(f"{where}: the {BEGIN!r} at line {begin_at} is never closed by {END!r}")
    return "\n".join(out)


def _assigns_outside(lines: Sequence[str], variable: str) -> bool:
    """Whether a line outside every solution region assigns ``variable``."""
    assign = re.compile(rf"\s*{re.escape(variable)}\s*=[^=]")
    inside = False
    for line in lines:
        marker = line.strip()
        if marker.startswith(BEGIN) or marker.startswith(END):
            inside = marker.startswith(BEGIN)
        elif not inside and assign.match(line):
            return True
    return False


def name_answer_variable(source: str, name: str) -> str:
    """An answer cell with ``answer_<name> = None  # your answer: <form>`` just above its solution region.

    nbgrader's release replaces the region with ``raise NotImplementedError()``; this line, outside
    it, survives, so the student sees which variable to set and the check says "not answered yet"
    instead of a NameError. Idempotent: a stub line whose form is out of date (the question gained an
    option) is rewritten; a cell that otherwise assigns the variable outside its region (or has no
    region) comes back unchanged.
    """
    from nst_lab.exercises.questions import QUESTIONS

    lines = source.split("\n")
    variable = f"answer_{name}"
    if name not in QUESTIONS:
        return source
    stub = f"{variable} = None  # your answer: "
    hint = stub + QUESTIONS[name].expects()
    for index, line in enumerate(lines):  # a stub written for other options is brought up to date
        if line.strip().startswith(stub):
            indent = line[: len(line) - len(line.lstrip())]
            return "\n".join([*lines[:index], indent + hint, *lines[index + 1:]])
    if _assigns_outside(lines, variable):
        return source
    for index, line in enumerate(lines):
        if line.strip().startswith(BEGIN):
            indent = line[: len(line) - len(line.lstrip())]
            return "\n".join([*lines[:index], indent + hint, *lines[index:]])
    return source


def answer_key(nb: Any, label: str = "notebook") -> dict[str, Any]:
    """Question name -> the answer in a solution notebook's answer cells (an exam's key); ReleaseError if unreadable."""
    from nst_lab.exercises.questions import read_answer

    key: dict[str, Any] = {}
    for index, cell in enumerate(nb.cells, start=1):
        name = graded_question(cell.source) if cell.cell_type == "code" else None
        if name:
            value, note = read_answer(name, cell.source)
            if note or value is None:
                why = note or "it is None"
                raise ReleaseError(f"{_where(label, index, cell)}: no answer to put in the exam's key ({why})")
            key[name] = value
    return key


def release_notebook(nb: Any, label: str = "notebook", exam: bool = False) -> Any:
    """The student version of a solution notebook (a new object; ``nb`` is not modified).

    Args:
        nb: an ``nbformat`` v4 notebook.
        label: how error messages name the notebook (usually its path).
        exam: the questions' checks only check the form of an answer (``check_answer_form``), never it.

    Returns:
        The notebook with solution regions replaced, outputs and execution counts cleared.

    Raises:
        ReleaseError: a BEGIN/END SOLUTION marker is unbalanced or nested.
    """
    student = copy.deepcopy(nb)
    exercises = []
    for index, cell in enumerate(student.cells, start=1):
        where = _where(label, index, cell)
        question = graded_question(cell.source) if cell.cell_type == "code" else None
        if cell.cell_type in ("code", "markdown"):
            cell.source = strip_solutions(cell.source, where, markdown=cell.cell_type == "markdown",
                                          answer=f"answer_{question}" if question else None)
        if cell.cell_type == "code" and exam:
            cell.source = _EXAM_CHECK.sub("check_answer_form", cell.source)
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
            name = question or graded_name(cell.source) or _solution_id(cell)
            if name and name not in exercises:
                exercises.append(name)
        cell.metadata.pop("execution", None)  # Jupyter's run times say nothing to a student
    student.metadata["nst_lab"] = {"notebook": Path(label).stem, "exercises": exercises}
    if exam:
        student.metadata["nst_lab"]["exam"] = True
    return student


def release_text(text: str, label: str, exam: bool = False, key: dict[str, Any] | None = None) -> str:
    """Release one notebook given as JSON text; returns the student notebook's text.

    With ``exam``, the answers of its questions are added to ``key`` (for the instructor's course file).
    """
    import nbformat  # imported here so that `nst-lab --help` stays instant

    try:
        nb = nbformat.reads(text, as_version=4)  # type: ignore[no-untyped-call]
    except Exception as exc:  # nbformat raises several kinds for broken JSON
        raise ReleaseError(f"{label}: not a readable notebook ({type(exc).__name__}: {exc})") from None
    if exam and key is not None:
        key.update(answer_key(nb, label))
    return str(nbformat.writes(release_notebook(nb, label, exam)))  # type: ignore[no-untyped-call]


def _plan(src: Path, out: Path) -> list[tuple[Path, Path]]:
    """(solution, student) path pairs; raises ReleaseError for unusable paths."""
    if src.is_dir():
        sources = sorted(src.glob("*.ipynb"))
        if not sources:
            raise ReleaseError(f"{src} contains no .ipynb notebooks")
        if out.exists() and not out.is_dir():
            raise ReleaseError(f"-o {out} is a file; releasing a folder needs an output folder")
        pairs = [(s, out / s.name) for s in sources]
    elif src.is_file():
        target = out / src.name if out.is_dir() or str(out).endswith(os.sep) else out
        pairs = [(src, target)]
    else:
        raise ReleaseError(f"{src} does not exist")
    for source, target in pairs:
        if target.exists() and target.resolve() == source.resolve():
            raise ReleaseError(f"-o would overwrite the solution notebook {source} itself; choose another folder")
    return pairs


def release_paths(src: str | Path, out: str | Path, exam: bool = False) -> list[Path]:
    """Release a notebook or a folder of notebooks into ``out``; returns the written paths.

    Every notebook is released in memory first; nothing is written unless all succeed. With ``exam``,
    the answers of the questions go into ``release.json`` (``exam.answers``): the instructor's course
    file, the only place the grader reads them from; the student notebooks check only their form.
    """
    pairs = _plan(Path(src), Path(out))
    key: dict[str, Any] = {}
    texts = [(target, release_text(source.read_text(encoding="utf-8"), str(source), exam, key))
             for source, target in pairs]
    manifests: dict[Path, dict[str, list[str]]] = {}
    for target, text in texts:
        stamp = json.loads(text)["metadata"]["nst_lab"]
        manifests.setdefault(target.parent, read_manifest(target.parent / MANIFEST))[stamp["notebook"]] = \
            stamp["exercises"]
    for target, text in texts:
        atomic_write_text(target, text)
    for folder, notebooks in manifests.items():
        data: dict[str, Any] = {"notebooks": dict(sorted(notebooks.items()))}
        if exam:
            data["exam"] = {"answers": {**read_answer_key(folder / MANIFEST), **key}}
        atomic_write_text(folder / MANIFEST, json.dumps(data, indent=1) + "\n")
    return [target for target, _ in texts] + [folder / MANIFEST for folder in manifests]


def read_answer_key(path: Path) -> dict[str, Any]:
    """question name -> its answer, from an exam's release.json (empty for a course without an exam)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    exam = data.get("exam") if isinstance(data, dict) else None
    answers = exam.get("answers") if isinstance(exam, dict) else None
    return {str(k): v for k, v in answers.items()} if isinstance(answers, dict) else {}


def read_manifest(path: Path) -> dict[str, list[str]]:
    """notebook name -> its graded exercises, from a release.json (empty when there is none)."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    notebooks = data.get("notebooks") if isinstance(data, dict) else None
    if not isinstance(notebooks, dict):
        return {}
    return {str(k): [str(n) for n in v if isinstance(n, str)] for k, v in notebooks.items() if isinstance(v, list)}
