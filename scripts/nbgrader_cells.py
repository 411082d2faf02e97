"""Make the solution notebooks' graded cells work under nbgrader's default configuration.

    python scripts/nbgrader_cells.py          # rewrite the cells that need it, then release the student notebooks
    python scripts/nbgrader_cells.py --check  # change nothing; exit 1 naming each notebook that needs it

It touches only answer cells (``# GRADED QUESTION: name``), graded function cells and their check
cells, never markdown, and it is idempotent, so it can be run again after others edit the notebooks:

- an answer cell gets ``answer_<name> = None  # your answer: <form>`` above its solution region
  (``nst_lab.grading.release.name_answer_variable``): nbgrader's ``generate_assignment`` replaces the
  region with ``raise NotImplementedError()``, and without that line ``validate`` would stop at a
  NameError that never names the variable to set;
- a graded cell or check cell without nbgrader metadata gets it (solution cells: ``grade_id`` the
  exercise's name; check cells: ``grade_id`` ``check_<name>``, locked, with the grader's points);
  existing metadata is never changed.

The checks already run each function on the references of the functions it builds on
(``nst_lab.checks.run_check``), so under ``nbgrader autograde`` one slip costs only its own points.
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # this checkout's nst_lab, whatever else is installed

from nst_lab.exercises.markers import graded_name, graded_question  # noqa: E402
from nst_lab.grading.release import name_answer_variable, release_paths  # noqa: E402

SOLUTIONS = ROOT / "notebooks" / "solutions"
STUDENTS = ROOT / "notebooks"
CHECK_CALL = re.compile(r"^\s*check_(?:question\(\s*[\"'](\w+)[\"']|(\w+)\()", re.MULTILINE)


def _points() -> dict[str, float]:
    from nst_lab.grading.grade import ALL_POINTS

    return ALL_POINTS


def _metadata(cell: Any) -> dict[str, Any] | None:
    """The nbgrader metadata a graded, answer or check cell should have (None: not such a cell)."""
    source = cell.source
    name = graded_question(source) or graded_name(source)
    if name:
        return {"grade": False, "grade_id": name, "locked": False, "schema_version": 3, "solution": True}
    match = CHECK_CALL.search(source)
    checked = match and (match.group(1) or match.group(2))
    if checked and checked in _points():
        return {"grade": True, "grade_id": f"check_{checked}", "locked": True, "points": _points()[checked],
                "schema_version": 3, "solution": False}
    return None


def fix_cell(cell: Any) -> bool:
    """Make one code cell nbgrader-ready; True when it changed."""
    if cell.cell_type != "code":
        return False
    changed = False
    question = graded_question(cell.source)
    if question:
        source = name_answer_variable(cell.source, question)
        changed, cell.source = source != cell.source, source
    wanted = _metadata(cell)
    if wanted and "nbgrader" not in cell.metadata:
        cell.metadata["nbgrader"] = wanted
        changed = True
    return changed


def fix_notebook(path: Path, write: bool) -> int:
    """The number of cells of ``path`` that needed a change (written back when ``write``)."""
    import nbformat

    nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    count = sum(fix_cell(cell) for cell in nb.cells)
    if count and write:
        path.write_text(nbformat.writes(nb) + "\n", encoding="utf-8")  # type: ignore[no-untyped-call]
    return count


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="change nothing; exit 1 if a notebook needs a change")
    parser.add_argument("notebooks", nargs="*", type=Path, help="solution notebooks (default: all of them)")
    args = parser.parse_args(argv)
    paths = args.notebooks or sorted(SOLUTIONS.glob("*.ipynb"))
    counts = {path: fix_notebook(path, write=not args.check) for path in paths}
    for path, count in counts.items():
        if count:
            print(f"{path.name}: {count} cell(s) {'need' if args.check else 'made'} nbgrader-ready")
    if args.check:
        return 1 if any(counts.values()) else 0
    if any(counts.values()):
        release_paths(SOLUTIONS, STUDENTS)
        print(f"released {SOLUTIONS} -> {STUDENTS}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
