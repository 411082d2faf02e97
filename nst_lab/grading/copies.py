"""Copies and references: each graded function compared in a normalised form, between students and with
``nst_lab``'s own code.

A function's *fingerprint* is the digest of its AST with the docstring, annotations, decorators and
comments gone, and every local name (arguments, assigned names, loop and ``with`` targets) renamed
in order of appearance: whitespace, comments and renaming do not change it. Functions shorter than
``MIN_NODES`` AST nodes are the course's canonical one-liners: two students who both wrote
``tf.matmul(A, A, transpose_b=True)`` are not called copies.

- **Between students**: the same fingerprint in the graded cells of two different students is noted
  on each (naming at most ``MAX_NAMED`` classmates, so notes grow linearly with the class).
- **The package's reference**: a graded function whose fingerprint is that of ``nst_lab``'s own function
  of the same name (``inspect.getsource``; its helpers are the package's too) scores 0 for it, with a
  note. It counts as the reference only with the reference's docstring too: the same structure alone is
  what an honest student who writes the canonical solution produces (notebook 04's own solution of
  ``adam_update`` is one), while a paste of ``inspect.getsource`` brings the docstring along. A paste with
  its helpers inlined, renamed or reordered is found by ``pastes.py`` (what of the package's code and text
  no course notebook holds).

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import ast
import hashlib
import importlib
import inspect
from collections import defaultdict
from collections.abc import Sequence
from functools import cache
from typing import Any

from nst_lab.grading.pastes import is_pasted, one_number

MIN_NODES = 50  # AST nodes: below this a function is a short canonical answer, never called a copy
MAX_NAMED = 5  # classmates named in one copy note
REFERENCE_HOMES = {  # where nst_lab implements each graded function
    "get_layer_outputs": "nst_lab.vgg", "preprocess_for_vgg19": "nst_lab.vgg",
    "compute_content_cost": "nst_lab.costs", "gram_matrix": "nst_lab.costs",
    "compute_layer_style_cost": "nst_lab.costs", "compute_style_cost": "nst_lab.costs",
    "total_cost": "nst_lab.costs", "compute_total_variation_cost": "nst_lab.costs",
    "adam_update": "nst_lab.optim", "train_step": "nst_lab.train", "run_style_transfer": "nst_lab.train",
}


def _local_names(node: ast.FunctionDef | ast.AsyncFunctionDef) -> list[str]:
    """The names bound inside the function (its arguments first), in order of appearance."""
    args = node.args
    found = [a.arg for a in [*args.posonlyargs, *args.args, *args.kwonlyargs, args.vararg, args.kwarg] if a]
    for child in ast.walk(node):
        if isinstance(child, ast.Name) and isinstance(child.ctx, (ast.Store, ast.Del)):
            found.append(child.id)
        elif isinstance(child, ast.ExceptHandler) and child.name:
            found.append(child.name)
        elif isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)) and child is not node:
            inner = child.args
            found += [a.arg for a in [*inner.posonlyargs, *inner.args, *inner.kwonlyargs, inner.vararg,
                                      inner.kwarg] if a]
    return list(dict.fromkeys(found))


def _strip(node: ast.AST) -> None:
    """Remove docstrings, bare constant statements, annotations and decorators, in place."""
    for child in ast.walk(node):
        if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
            child.returns, child.decorator_list = None, []
        if isinstance(child, ast.arg):
            child.annotation = None
        for field in ("body", "orelse", "finalbody"):
            body = getattr(child, field, None)
            if isinstance(body, list) and body and all(isinstance(s, ast.stmt) for s in body):
                kept = [s for s in body if not (isinstance(s, ast.Expr) and isinstance(s.value, ast.Constant))]
                setattr(child, field, kept or [ast.Pass()])


def normalised(function: ast.FunctionDef | ast.AsyncFunctionDef) -> tuple[str, int]:
    """(fingerprint, AST size) of one function definition (the node is changed)."""
    names = {name: f"v{i}" for i, name in enumerate(_local_names(function))}
    _strip(function)
    function.name = "f"
    for child in ast.walk(function):
        if isinstance(child, ast.Name) and child.id in names:
            child.id = names[child.id]
        elif isinstance(child, ast.arg) and child.arg in names:
            child.arg = names[child.arg]
        elif isinstance(child, ast.ExceptHandler) and child.name in names:
            child.name = names[child.name]
        elif isinstance(child, ast.AnnAssign):
            child.annotation = ast.Constant(None)
        elif isinstance(child, ast.Constant) and isinstance(child.value, (int, float)):
            child.value = one_number(child.value)
    text = ast.dump(function, annotate_fields=False, include_attributes=False)
    return hashlib.sha256(text.encode()).hexdigest(), sum(1 for _ in ast.walk(function))


def _definition(source: str, name: str) -> tuple[ast.FunctionDef | ast.AsyncFunctionDef, str] | None:
    """The last top-level ``def name`` of a cell, with its docstring; None if there is none or it does not parse."""
    lines = ["# " + ln if ln.lstrip().startswith(("%", "!")) else ln for ln in source.split("\n")]
    try:
        tree = ast.parse("\n".join(lines))
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None
    found = [n for n in tree.body if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]
    return (found[-1], ast.get_docstring(found[-1]) or "") if found else None


def fingerprint(source: str, name: str) -> tuple[str, int, str] | None:
    """(fingerprint, size, docstring) of the function ``name`` defined in a cell, or None."""
    found = _definition(source, name)
    if found is None:
        return None
    function, doc = found
    try:
        digest, size = normalised(function)
    except RecursionError:
        return None
    return digest, size, doc


@cache
def reference(name: str) -> tuple[str, int, str] | None:
    """The fingerprint of nst_lab's own ``name`` (None if the package has no such function)."""
    home = REFERENCE_HOMES.get(name)
    if home is None:
        return None
    try:
        source = inspect.getsource(getattr(importlib.import_module(home), name))
    except (AttributeError, OSError, TypeError):
        return None
    return fingerprint(inspect.cleandoc(source) if source.startswith((" ", "\t")) else source, name)


def is_reference(source: str, name: str) -> bool:
    """Whether the graded function in ``source`` is the package's own: its structure and its docstring, or
    the package's function and helpers however inlined, renamed or reordered (``pastes.is_pasted``)."""
    mine, theirs = fingerprint(source, name), reference(name)
    if mine is not None and theirs is not None and mine[0] == theirs[0] and theirs[2]:
        if " ".join(mine[2].split()) == " ".join(theirs[2].split()):
            return True
    return name in REFERENCE_HOMES and is_pasted(source, REFERENCE_HOMES[name], name)


def zero_references(subs: Sequence[Any], rows: list[dict[str, Any]]) -> None:
    """Score 0, with a note, every graded function that is nst_lab's own reference."""
    for sub, row in zip(subs, rows):
        for name, report in row.get("exercises", {}).items():
            source = sub.sources.get(name)
            if source and report.get("points", 0) > 0 and is_reference(source, name):
                report["points"], report["note"] = 0.0, "it is nst_lab's own reference code, not your work: 0 points"
                row["notes"].append(f"{name}: {report['note']}")
        if row.get("exercises"):
            row["total"] = round(sum(r["points"] for r in row["exercises"].values()), 2)


def flag_copies(subs: Sequence[Any], rows: list[dict[str, Any]]) -> None:
    """Note on each row every graded function whose normalised code a classmate (another student) also has."""
    groups: dict[tuple[str, str], list[int]] = defaultdict(list)
    for index, sub in enumerate(subs):
        for name, source in sorted(sub.sources.items()):
            print_ = fingerprint(source, name) if source.strip() and "NotImplementedError" not in source else None
            if print_ is not None and print_[1] >= MIN_NODES:
                groups[(name, print_[0])].append(index)
    for (name, _), members in sorted(groups.items()):
        students = {subs[i].student or subs[i].name for i in members}
        if len(students) < 2:
            continue
        for i in members:
            others = [subs[j].name for j in members if (subs[j].student or subs[j].name) != (subs[i].student or
                                                                                               subs[i].name)]
            named = ", ".join(others[:MAX_NAMED]) + (f" and {len(others) - MAX_NAMED} more" if len(others) > MAX_NAMED
                                                      else "")
            rows[i]["notes"].append(f"{name}: the same code (up to names and layout) as {named}'s (a copy?)")
