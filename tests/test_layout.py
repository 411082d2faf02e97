"""The package's shape: no import cycle, a small flat core, short modules and functions, and
subpackages whose ``__all__`` names all resolve. Read from the source with ``ast``: nothing
here imports TensorFlow except the ``__all__`` check, which loads each name as a user would.
"""

from __future__ import annotations

import ast
import importlib
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "nst_lab"
MAX_CORE_MODULES = 15  # .py files directly in nst_lab/ (the flat course core)
MAX_MODULE_LINES = 350
MAX_FUNCTION_LINES = 60
SUBPACKAGES = sorted(p.parent.name for p in PACKAGE.glob("*/__init__.py"))


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    """``if TYPE_CHECKING:`` or ``if typing.TYPE_CHECKING:``."""
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _import_time_statements(body: list[ast.stmt]):
    """The import statements that run when the module is imported: top level, also inside
    top-level ``if`` (not ``if TYPE_CHECKING:``), ``try``, ``with`` and class bodies; never in functions."""
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If):
            if not _is_type_checking(node.test):
                yield from _import_time_statements(node.body)
            yield from _import_time_statements(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *[h.body for h in node.handlers]):
                yield from _import_time_statements(block)
        elif isinstance(node, (ast.With, ast.ClassDef)):
            yield from _import_time_statements(node.body)


def _with_packages(name: str) -> list[str]:
    """``nst_lab.x.y`` -> [nst_lab, nst_lab.x, nst_lab.x.y]: importing a module runs its packages first."""
    parts = name.split(".")
    return [".".join(parts[: i + 1]) for i in range(len(parts))]


def _imports_of(module: str, path: Path) -> set[str]:
    """The nst_lab modules (and their packages) that importing ``module`` imports directly."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    targets: set[str] = set()
    for node in _import_time_statements(ast.parse(path.read_text(), str(path)).body):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        else:
            if node.level:
                base = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                source = ".".join(base + ([node.module] if node.module else []))
            else:
                source = node.module or ""
            names = [source] + [f"{source}.{alias.name}" for alias in node.names]  # from pkg import submodule
        for name in names:
            if name.split(".")[0] == "nst_lab":
                targets.update(n for n in _with_packages(name) if n in MODULES)
    targets.discard(module)
    return targets


def _find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as [a, b, ..., a], or None (iterative DFS with white/grey/black marks)."""
    state = dict.fromkeys(graph, 0)  # 0 unvisited, 1 on the current path, 2 done
    for root in sorted(graph):
        if state[root]:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state[child] == 1:
                return path[path.index(child):] + [child]
            elif state[child] == 0:
                state[child] = 1
                path.append(child)
                stack.append(iter(sorted(graph[child])))
    return None


def test_the_cycle_finder_finds_cycles():
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None
    assert _find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert _find_cycle({"a": {"a"}}) == ["a", "a"]


def test_the_import_graph_sees_relative_and_package_imports():
    graph = {module: _imports_of(module, path) for module, path in MODULES.items()}
    assert "nst_lab.config" in graph["nst_lab.engine.transfer"]
    assert "nst_lab.engine" in graph["nst_lab.engine.transfer"]  # the package of a sibling it imports
    assert "nst_lab" in graph["nst_lab.engine.transfer"]
    assert not any(m.startswith("nst_lab.engine") for m in graph["nst_lab"])  # lazy: TYPE_CHECKING only


def test_no_import_cycle_among_nst_lab_modules():
    graph = {module: _imports_of(module, path) for module, path in MODULES.items()}
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def test_the_flat_core_stays_small():
    core = sorted(path.name for path in PACKAGE.glob("*.py"))
    assert len(core) <= MAX_CORE_MODULES, core


def test_no_module_is_too_long():
    long = {str(path.relative_to(PACKAGE.parent)): n for path in MODULES.values()
            if (n := len(path.read_text().splitlines())) > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_function_is_too_long():
    long = []
    for path in MODULES.values():
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                lines = node.end_lineno - node.lineno + 1
                if lines > MAX_FUNCTION_LINES:
                    long.append(f"{path.relative_to(PACKAGE.parent)}:{node.lineno} {node.name} ({lines} lines)")
    assert not long, f"functions over {MAX_FUNCTION_LINES} lines: {long}"


def test_there_are_subpackages():
    assert {"beyond", "cli", "engine", "grading", "studio"} <= set(SUBPACKAGES)


@pytest.mark.parametrize("name", SUBPACKAGES)
def test_each_subpackage_declares_all_and_every_name_resolves(name):
    source = (PACKAGE / name / "__init__.py").read_text()
    assigned = {target.id for node in ast.parse(source).body if isinstance(node, (ast.Assign, ast.AnnAssign))
                for target in (node.targets if isinstance(node, ast.Assign) else [node.target])
                if isinstance(target, ast.Name)}
    assert "__all__" in assigned, f"nst_lab/{name}/__init__.py defines no __all__"
    package = importlib.import_module(f"nst_lab.{name}")
    assert package.__all__ and len(set(package.__all__)) == len(package.__all__)
    missing = []
    for export in package.__all__:
        try:
            getattr(package, export)
        except AttributeError as exc:
            missing.append(f"{export}: {exc}")
    assert not missing, missing


def _all_imports_of(module: str, path: Path) -> set[str]:
    """Like ``_imports_of``, counting imports inside functions too (they run when the function does)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    hidden = {id(n) for block in ast.walk(tree) if isinstance(block, ast.If) and _is_type_checking(block.test)
              for n in ast.walk(block)}  # type checkers' imports never run
    targets: set[str] = set()
    for node in ast.walk(tree):
        if id(node) in hidden:
            continue
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")[: len(package.split(".")) - (node.level - 1)] if node.level else []
            source = ".".join(base + ([node.module] if node.module else [])) if node.level else node.module or ""
            names = [source] + [f"{source}.{alias.name}" for alias in node.names]
        else:
            continue
        targets.update(n for name in names if name.startswith("nst_lab.") for n in _with_packages(name)
                       if n in MODULES and n != "nst_lab")
    targets.discard(module)
    return targets


def test_the_student_side_never_imports_the_graders_side():
    """checks.py and nst_lab/exercises/ (what a student's notebook runs) import nothing of nst_lab/grading/."""
    student = {m: p for m, p in MODULES.items() if m == "nst_lab.checks" or m.startswith("nst_lab.exercises")}
    reached = {m: sorted(t for t in _all_imports_of(m, p) if t.startswith("nst_lab.grading"))
               for m, p in student.items()}
    assert not {m: t for m, t in reached.items() if t}


def test_no_import_cycle_in_grading_and_exercises_even_inside_functions():
    scope = {m: p for m, p in MODULES.items() if m.startswith(("nst_lab.grading", "nst_lab.exercises"))}
    graph = {m: {t for t in _all_imports_of(m, p) if t in scope} for m, p in scope.items()}
    cycle = _find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])
