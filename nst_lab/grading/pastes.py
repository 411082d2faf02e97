"""A graded cell made of nst_lab's own code: the package's function and the helpers it calls, pasted whole or
inlined, renamed, reordered, without docstrings.

The package side is the function's *bundle*: the source of nst_lab's function and of every nst_lab function it
calls, transitively (``inspect.getsource``). The course side is every code cell of the course's notebooks
(solutions and student copies, ``notebooks/`` beside the package): what honest students are shown or are
expected to write, so never evidence. Both, and the cell, are cut into

- *units*: every statement at any depth (a compound one without its body) and every call of at least
  ``MIN_CALL_NODES`` AST nodes, with docstrings and annotations gone and every plain name the same
  placeholder (so renaming, reordering and inlining a helper's body leave most units as they were);
- *text*: the lines of comments, docstrings and strings, lowercased, spaces collapsed, ``MIN_TEXT`` characters
  or more.

A cell is the package's when most of its code is the bundle's (``COVER`` of its units' nodes) and it holds
enough of the bundle that no course notebook holds: the characters of its text (comments, docstrings and
messages of the package) plus the nodes of its units that the function's own body does not hold either (that
body is a canonical answer an honest student may write) reach ``MIN_EVIDENCE``. An honest answer, even the
notebook's own solution with or without its docstring and with other names, holds neither (0 on the course's
solutions); a short canonical answer pasted without its docstring and comments cannot be told from one, and
is not flagged.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import ast
import copy
import importlib
import inspect
import io
import json
import tokenize
from collections.abc import Iterator
from functools import cache
from pathlib import Path
from typing import Any

COVER = 0.6  # share of a cell's unit nodes that must be the bundle's
MIN_EVIDENCE = 48  # characters of package text plus nodes of package helpers' units that the course lacks
MIN_CALL_NODES = 6  # a call this large is a unit of its own (an inlined helper's expression)
MIN_TEXT = 12  # characters of a text line that counts
COURSE = Path(__file__).resolve().parents[2] / "notebooks"  # the course's notebooks, beside the package
_BODIES = ("body", "orelse", "finalbody", "handlers")
Units = dict[str, int]  # ast.dump of a unit -> its nodes


def _size(node: ast.AST) -> int:
    return sum(1 for _ in ast.walk(node))


def _anonymous(node: ast.AST) -> ast.AST:
    """A copy of ``node`` without docstrings, annotations or decorators, every plain name ``_``, every number a
    float."""
    node = copy.deepcopy(node)
    for child in ast.walk(node):
        if isinstance(child, ast.Name):
            child.id = "_"
        elif isinstance(child, ast.arg):
            child.arg, child.annotation = "_", None
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            child.name, child.decorator_list = "_", []
            if not isinstance(child, ast.ClassDef):
                child.returns = None
        elif isinstance(child, ast.AnnAssign):
            child.annotation = ast.Constant(None)
        elif isinstance(child, ast.ExceptHandler) and child.name:
            child.name = "_"
        elif isinstance(child, ast.Constant) and isinstance(child.value, (int, float)):
            child.value = one_number(child.value)
    return node


def one_number(value: float) -> float:
    """One form of a number, so ``4.0`` and ``4`` are the same unit (``True``, and an int too large for a float,
    stay as they are)."""
    if isinstance(value, bool):
        return value
    try:
        return float(value)
    except OverflowError:
        return value


def _is_text(statement: ast.stmt) -> bool:
    return isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)


def units(tree: ast.AST) -> Units:
    """The units of a parsed cell or source: statements without their bodies, and large calls."""
    found: Units = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.stmt) and not _is_text(node):
            head = _anonymous(node)
            for field in _BODIES:
                if isinstance(getattr(head, field, None), list):
                    setattr(head, field, [])
            found[ast.dump(head, annotate_fields=False)] = _size(head)
        elif isinstance(node, ast.Call) and _size(node) >= MIN_CALL_NODES:
            found[ast.dump(_anonymous(node), annotate_fields=False)] = _size(node)
    return found


def _lines(text: str) -> Iterator[str]:
    for line in text.splitlines():
        line = " ".join(line.lower().strip(" \t#\"'").split())
        if len(line) >= MIN_TEXT:
            yield line


def text(source: str, tree: ast.AST) -> set[str]:
    """The text lines of a source: its comments, docstrings and strings, normalised."""
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            found.update(_lines(node.value))
    try:
        for token in tokenize.generate_tokens(io.StringIO(source).readline):
            if token.type == tokenize.COMMENT:
                found.update(_lines(token.string))
    except (tokenize.TokenError, SyntaxError):
        pass
    return found


def _parse(source: str) -> ast.AST | None:
    lines = ["# " + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in source.split("\n")]
    try:
        return ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None


def _called(function: Any) -> Iterator[Any]:
    """The nst_lab functions that ``function`` calls by a global name or a module attribute."""
    tree = ast.parse(inspect.cleandoc("\n" + inspect.getsource(function)))
    scope = getattr(function, "__globals__", {})
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            target = node.func
            if isinstance(target, ast.Name):
                found = scope.get(target.id)
            elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                found = getattr(scope.get(target.value.id), target.attr, None)
            else:
                continue
            if inspect.isfunction(found) and found.__module__.startswith("nst_lab"):
                yield found


@cache
def bundle(home: str, name: str) -> tuple[Units, frozenset[str], frozenset[str]]:
    """The units and text of nst_lab's ``home.name`` and of every nst_lab function it calls, transitively, and
    the units of that function alone (a canonical solution of the exercise, so no evidence)."""
    try:
        todo = [getattr(importlib.import_module(home), name)]
    except (ImportError, AttributeError):
        return {}, frozenset(), frozenset()
    seen: list[Any] = []
    while todo:
        function = todo.pop()
        if function in seen or len(seen) > 40:
            continue
        seen.append(function)
        try:
            todo += list(_called(function))
        except (OSError, TypeError, SyntaxError):
            continue
    found: Units = {}
    lines: set[str] = set()
    own: set[str] = set()
    for function in seen:
        try:
            source = inspect.cleandoc("\n" + inspect.getsource(function))
        except (OSError, TypeError):
            continue
        tree = ast.parse(source)
        found.update(units(tree))
        own |= set(units(tree)) if function is seen[0] else set()
        lines |= text(source, tree)
    return found, frozenset(lines), frozenset(own)


@cache
def course() -> tuple[frozenset[str], frozenset[str]]:
    """The units and text of every code cell of the course's notebooks (nothing when they are not there)."""
    found: set[str] = set()
    lines: set[str] = set()
    for path in sorted([*COURSE.glob("*.ipynb"), *COURSE.glob("solutions/*.ipynb")]):
        try:
            cells = json.loads(path.read_text())["cells"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        for cell in cells:
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            tree = _parse(source) if cell.get("cell_type") == "code" else None
            if tree is not None:
                found.update(units(tree))
                lines |= text(source, tree)
    return frozenset(found), frozenset(lines)


def measure(source: str, home: str, name: str) -> dict[str, float]:
    """How much of ``source`` is the bundle's (``cover``), and what of the bundle no course cell holds
    (``nodes``, ``chars``)."""
    tree = _parse(source)
    package, package_text, own = bundle(home, name)
    if tree is None or not package:
        return {"cover": 0.0, "nodes": 0, "chars": 0}
    mine = units(tree)
    taught, taught_text = course()
    total = sum(mine.values()) or 1
    shared = {unit: size for unit, size in mine.items() if unit in package}
    own_text = (text(source, tree) & package_text) - taught_text
    return {"cover": sum(shared.values()) / total,
            "nodes": sum(size for unit, size in shared.items() if unit not in taught and unit not in own),
            "chars": sum(len(line) for line in own_text)}


def is_pasted(source: str, home: str, name: str) -> bool:
    """Whether a graded cell is nst_lab's ``home.name`` with its helpers, however inlined, renamed or reordered.

    Never, when the course's notebooks are not beside the package (an installed wheel): without them the
    template's own docstrings and comments, which every honest answer holds, would count as the package's.
    """
    if not any(course()):
        return False
    found = measure(source, home, name)
    return found["cover"] >= COVER and found["nodes"] + found["chars"] >= MIN_EVIDENCE
