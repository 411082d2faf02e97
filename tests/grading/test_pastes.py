"""nst_lab's own code pasted into a graded cell, with its helpers inlined, renamed or reordered and without its
docstring, scores 0; the honest answers (the course's own solutions, with or without their docstrings and with
other names, the fixtures' independent solutions, short canonical answers) keep their points.

The pastes are made from ``inspect.getsource`` of the installed package, as a student would make them.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from nst_lab import costs, train
from nst_lab.grading.copies import REFERENCE_HOMES, is_reference, zero_references
from nst_lab.grading.grade import Submission
from nst_lab.grading.pastes import is_pasted, measure
from tests.grading import fixtures as fx

REPO = Path(__file__).resolve().parents[2]


def _no_docstrings(source: str) -> str:
    return re.sub(r'\n\s*"""[\s\S]*?"""', "", source)


def _renamed(source: str, names: dict[str, str]) -> str:
    for old, new in names.items():
        source = re.sub(rf"\b{old}\b", new, source)
    return source


def _solutions() -> list[tuple[str, str]]:
    """(name, cell) of every graded function in the course's solution notebooks."""
    found = []
    for path in sorted((REPO / "notebooks" / "solutions").glob("0*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            source = "".join(cell["source"]) if isinstance(cell["source"], list) else cell["source"]
            if cell["cell_type"] == "code" and "# GRADED FUNCTION:" in source:
                name = source.split("# GRADED FUNCTION:")[1].split()[0]
                if name in REFERENCE_HOMES:
                    found.append((name, source))
    return found


HONEST_NAMES = {"a_S": "style", "a_G": "gen", "J_style": "total", "theta": "params", "image": "img", "GS": "g1",
                "GG": "g2", "weight": "coefficient", "grad": "gradient", "J": "cost"}


@pytest.mark.parametrize(("name", "cell"), _solutions(), ids=[n for n, _ in _solutions()])
@pytest.mark.parametrize("variant", ["as-is", "no docstring", "renamed"])
def test_the_courses_own_solutions_are_never_the_package(name: str, cell: str, variant: str) -> None:
    cell = cell if variant == "as-is" else _no_docstrings(cell)
    cell = _renamed(cell, HONEST_NAMES) if variant == "renamed" else cell
    assert not is_pasted(cell, REFERENCE_HOMES[name], name), measure(cell, REFERENCE_HOMES[name], name)
    if variant != "as-is":
        assert not is_reference(cell, name)


@pytest.mark.parametrize("name", [n for n in fx.SOLUTIONS if n in REFERENCE_HOMES])
def test_independent_honest_solutions_are_never_the_package(name: str) -> None:
    assert not is_reference(fx.SOLUTIONS[name], name)


# An honest layer style cost that happens to use the package's idioms (transpose_b, the last shape entry).
IDIOMS = """def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.get_shape().as_list()
    n_C = a_S.get_shape().as_list()[-1]
    S = tf.transpose(tf.reshape(a_S, [-1, n_C]))
    G = tf.transpose(tf.reshape(a_G, [-1, n_C]))
    GS = tf.matmul(S, S, transpose_b=True)
    GG = tf.matmul(G, G, transpose_b=True)
    return tf.reduce_sum(tf.square(GS - GG)) / (4.0 * float(n_H * n_W * n_C) ** 2)
"""


def test_an_honest_answer_with_the_packages_idioms_is_not_the_package() -> None:
    assert not is_reference(IDIOMS, "compute_layer_style_cost")


def _source(function: object) -> str:
    return inspect.getsource(function)  # type: ignore[arg-type]


def _inlined_layer_cost() -> str:
    """compute_layer_style_cost with unroll's and gram_matrix's bodies (and comments) inlined, renamed,
    reordered, without docstrings."""
    unroll_lines = [ln.strip() for ln in _no_docstrings(_source(costs.unroll)).splitlines()[1:]]
    gram_line = _no_docstrings(_source(costs.gram_matrix)).splitlines()[-1].strip()
    body = [f"    {unroll_lines[0].replace('a', 'x_s', 1).replace('a.', 'x_s.')}"]
    for who, what in (("gen", "x_g"), ("sty", "x_s")):
        flat = unroll_lines[1].replace("return ", f"{who} = ").replace("(a,", f"({what},")
        body.append(f"    {flat}")
        body.append("    " + gram_line.replace("return ", f"{who} = ").replace("A", who))
    body.append("    _, h, w, c = x_g.get_shape().as_list()")
    body.append("    return tf.reduce_sum(tf.square(sty - gen)) / (4.0 * float(h * w * c) ** 2)")
    return "def compute_layer_style_cost(x_s, x_g):\n" + "\n".join(body) + "\n"


def _helpers_renamed(name: str, helpers: list[object], renames: dict[str, str]) -> str:
    """The package's function and its helpers pasted as one cell, renamed, without docstrings."""
    function = getattr(costs, name, None) or getattr(train, name)
    cell = "\n\n".join(_no_docstrings(_source(h)) for h in [*helpers, function])
    return _renamed(cell, renames)


PASTES = {
    "compute_layer_style_cost, helpers inlined": ("compute_layer_style_cost", _inlined_layer_cost),
    "compute_layer_style_cost, helper renamed": ("compute_layer_style_cost", lambda: _helpers_renamed(
        "compute_layer_style_cost", [costs.unroll], {"unroll": "flatten", "a_S": "s", "a_G": "g", "GS": "A"})),
    "compute_style_cost, no docstring, renamed": ("compute_style_cost", lambda: _helpers_renamed(
        "compute_style_cost", [], {"a_S": "styles", "a_G": "gens", "J_style": "cost", "weight": "w"})),
    "train_step, cost_parts inlined as a renamed helper": ("train_step", lambda: _helpers_renamed(
        "train_step", [train.cost_parts, costs.clip_0_1], {"cost_parts": "forward", "clip_0_1": "clip",
                                                            "grad": "g", "tape": "t"})),
    "compute_total_variation_cost, no docstring, renamed": ("compute_total_variation_cost", lambda: _helpers_renamed(
        "compute_total_variation_cost", [], {"down": "dy", "right": "dx", "image": "x"})),
}


@pytest.mark.parametrize("case", list(PASTES))
def test_a_paste_of_the_package_with_helpers_inlined_or_renamed_is_the_package(case: str) -> None:
    name, make = PASTES[case]
    cell = make()
    compile(cell, "<cell>", "exec")  # a cell a student could hand in
    assert '"""' not in cell and is_reference(cell, name), (cell, measure(cell, REFERENCE_HOMES[name], name))


def test_a_pasted_function_scores_zero_with_a_note_and_an_honest_one_keeps_its_points(tmp_path: Path) -> None:
    pasted = _inlined_layer_cost()
    subs = [Submission("p/03.ipynb", tmp_path / "p.ipynb", sources={"compute_layer_style_cost": pasted}),
            Submission("h/03.ipynb", tmp_path / "h.ipynb", sources={"compute_layer_style_cost": IDIOMS})]
    rows = [{"exercises": {"compute_layer_style_cost": {"points": 15.0, "max": 15}}, "notes": [], "total": 15.0}
            for _ in subs]
    zero_references(subs, rows)
    assert rows[0]["total"] == 0 and "nst_lab's own reference code" in rows[0]["notes"][0]
    assert rows[1]["total"] == 15.0 and rows[1]["notes"] == []


def test_without_the_course_notebooks_no_paste_is_claimed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An installed wheel has no notebooks beside the package: the template's docstrings, which every honest
    answer holds, cannot be told from the package's text, so the paste rule stays silent instead of guessing."""
    from nst_lab.grading import pastes

    name, make = PASTES["compute_layer_style_cost, helpers inlined"]
    assert is_pasted(make(), REFERENCE_HOMES[name], name)  # with the course: found
    monkeypatch.setattr(pastes, "COURSE", tmp_path)  # an empty folder, as in a wheel
    pastes.course.cache_clear()
    try:
        assert not is_pasted(make(), REFERENCE_HOMES[name], name)
        for solution_name, cell in _solutions():
            assert not is_pasted(cell, REFERENCE_HOMES[solution_name], solution_name)
    finally:
        pastes.course.cache_clear()
