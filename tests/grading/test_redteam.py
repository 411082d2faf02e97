"""Red-team round on grader v3 (issue 19): attacks a cheating student tried that the other grading tests do not
cover, kept as tests. A paste of nst_lab's own code (from ``inspect.getsource``, as a student makes it) that
rewrites its numbers (``4.0`` as ``4``) is still the package's code, and a classmate's code so rewritten is still
a copy; one that wraps every arithmetic expression
in a no-op (``(x,)[0]``) is not caught yet (strict xfail: it must start failing once detection covers it).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path
from typing import Any

import pytest

from nst_lab.grading.copies import REFERENCE_HOMES, flag_copies, is_reference
from nst_lab.grading.grade import Submission
from nst_lab.grading.pastes import measure
from tests.grading import fixtures as fx
from tests.grading.test_isolation import _paste

# the graded functions whose package source holds a whole-number float (``4.0``, ``2.0``, ``255.0``, ...)
WITH_FLOATS = [name for name in REFERENCE_HOMES if re.search(r"\b\d+\.0\b", _paste(name))]


def test_some_pastes_hold_whole_number_floats() -> None:
    assert len(WITH_FLOATS) >= 2, WITH_FLOATS  # otherwise the next test proves nothing


@pytest.mark.parametrize("name", WITH_FLOATS)
def test_a_paste_with_its_floats_written_as_ints_is_still_the_package(name: str) -> None:
    source = re.sub(r"\b(\d+)\.0\b", r"\1", _paste(name))
    assert source != _paste(name)
    assert is_reference(source, name), measure(source, REFERENCE_HOMES[name], name)


class _Wrapped(ast.NodeTransformer):
    """Every arithmetic expression ``e`` as ``(e,)[0]``: the same value, other statements."""

    def visit_BinOp(self, node: ast.BinOp) -> ast.AST:
        self.generic_visit(node)
        return ast.Subscript(ast.Tuple([node], ast.Load()), ast.Constant(0), ast.Load())


@pytest.mark.xfail(strict=True, reason="pastes.py compares exact statements: a no-op wrapper around each "
                   "expression drops the cell's share of package units below COVER although its docstrings stay")
def test_a_paste_with_each_expression_wrapped_in_a_no_op_is_still_the_package() -> None:
    name = "compute_content_cost"
    source = ast.unparse(_Wrapped().visit(ast.parse(_paste(name))))  # keeps the package's docstrings
    assert is_reference(source, name), measure(source, REFERENCE_HOMES[name], name)


def test_a_classmates_code_with_its_floats_written_as_ints_is_flagged_as_a_copy() -> None:
    honest = fx.SOLUTIONS["compute_layer_style_cost"]
    copied = honest.replace("4.0", "4").replace("a_S", "style").replace("a_G", "generated")
    assert copied != honest and "4.0" in honest
    subs = [Submission(f"class/{who}/03.ipynb", Path(f"{who}.ipynb"), sources={"compute_layer_style_cost": cell},
                       student=who) for who, cell in (("alice", honest), ("bob", copied))]
    rows: list[dict[str, Any]] = [{"notes": []} for _ in subs]
    flag_copies(subs, rows)
    assert any("the same code" in n and "class/alice/03.ipynb" in n for n in rows[1]["notes"]), rows
