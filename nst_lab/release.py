"""Turn solution notebooks into student notebooks: ``nst-lab release SRC -o OUT``.

In every code cell, the lines from ``### BEGIN SOLUTION`` to ``### END SOLUTION`` (markers
included) become ``# YOUR CODE HERE`` and a ``raise NotImplementedError(...)`` at the same
indentation, so the check right after says "it raised NotImplementedError: ...: replace this
line with your code" instead of a confusing NameError. Outputs and execution counts are
cleared; cell metadata (nbgrader ids, points, tags) and check cells are kept.

The output is a pure function of the input: the same solution notebook gives byte-identical
student notebooks, so CI can compare them with the committed copies. Every notebook is
validated before any file is written, and each file is written to a temporary name and then
renamed, so a bad marker leaves nothing half-written.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import copy
import os
import re
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
YOUR_CODE = "# YOUR CODE HERE"
YOUR_ANSWER = "YOUR ANSWER HERE"
_GRADED = re.compile(r"^\s*#\s*GRADED FUNCTION:\s*(\w+)", re.MULTILINE)
_DEF = re.compile(r"^\s*def\s+(\w+)\s*\(")


class ReleaseError(ValueError):
    """A solution notebook cannot be released; the message names the notebook and the cell."""


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
    marker = _GRADED.search(source)
    return marker.group(1) if marker else "this cell"


def strip_solutions(source: str, where: str, markdown: bool = False) -> str:
    """Replace each solution region of one cell's source; raise ReleaseError on bad markers."""
    lines = source.split("\n")
    out: list[str] = []
    begin_at: int | None = None
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


def release_notebook(nb: Any, label: str = "notebook") -> Any:
    """The student version of a solution notebook (a new object; ``nb`` is not modified).

    Args:
        nb: an ``nbformat`` v4 notebook.
        label: how error messages name the notebook (usually its path).

    Returns:
        The notebook with solution regions replaced, outputs and execution counts cleared.

    Raises:
        ReleaseError: a BEGIN/END SOLUTION marker is unbalanced or nested.
    """
    student = copy.deepcopy(nb)
    for index, cell in enumerate(student.cells, start=1):
        where = _where(label, index, cell)
        if cell.cell_type in ("code", "markdown"):
            cell.source = strip_solutions(cell.source, where, markdown=cell.cell_type == "markdown")
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    return student


def release_text(text: str, label: str) -> str:
    """Release one notebook given as JSON text; returns the student notebook's text."""
    import nbformat  # imported here so that `nst-lab --help` stays instant

    try:
        nb = nbformat.reads(text, as_version=4)
    except Exception as exc:  # nbformat raises several kinds for broken JSON
        raise ReleaseError(f"{label}: not a readable notebook ({type(exc).__name__}: {exc})") from None
    return nbformat.writes(release_notebook(nb, label))


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


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
            handle.write(text)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600; a notebook is shared like any file
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def release_paths(src: str | Path, out: str | Path) -> list[Path]:
    """Release a notebook or a folder of notebooks into ``out``; returns the written paths.

    Every notebook is released in memory first; nothing is written unless all succeed.
    """
    pairs = _plan(Path(src), Path(out))
    texts = [(target, release_text(source.read_text(encoding="utf-8"), str(source))) for source, target in pairs]
    for target, text in texts:
        _write_atomic(target, text)
    return [target for target, _ in texts]


def add_release(sub: Any) -> None:
    """Register ``nst-lab release`` on the CLI's subparsers."""
    p = sub.add_parser(
        "release",
        help="make student notebooks from solution notebooks",
        description="Strip ### BEGIN/END SOLUTION regions, clear outputs, keep checks and metadata.",
    )
    p.add_argument("src", metavar="SRC", help="a solution notebook or a folder of them")
    p.add_argument("-o", "--out", required=True, metavar="OUT", help="output folder (or file, for one notebook)")
    p.set_defaults(run=run_release)


def run_release(args: Any) -> int:
    written = release_paths(args.src, args.out)
    for path in written:
        print(f"wrote {path}")
    return 0
