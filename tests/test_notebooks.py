"""Structure of the solution notebooks: markers, nbgrader metadata, check cells, outputs, size.

These tests read the .ipynb files only (no kernel); nbval runs them (scripts/test.sh). The
last test executes each graded cell's solution against its check, and a blanked-out copy to
prove the check cell can fail.
"""

from __future__ import annotations

import re
from pathlib import Path

import nbformat
import pytest

from nst_lab import REPOSITORY_URL
from nst_lab.notebook import CHECK_TAG, pinned_requirement, strip_outputs

ROOT = Path(__file__).resolve().parent.parent
SOLUTIONS = ROOT / "notebooks" / "solutions"
# Graded functions of each course notebook, in the order they appear (issue 3).
GRADED = {
    "01_vgg19": ["get_layer_outputs", "preprocess_for_vgg19"],
    "02_content_cost": ["compute_content_cost"],
    "03_style_cost": ["gram_matrix", "compute_layer_style_cost", "compute_style_cost"],
    "04_adam": ["adam_update"],
    "05_style_transfer": ["total_cost", "train_step", "run_style_transfer"],
    "07_beyond": ["compute_total_variation_cost"],
    "08_trained_network": [],  # an ungraded "Try it" exercise with its own NumPy self-check
}
POINTS = {"get_layer_outputs": 10, "compute_content_cost": 10, "gram_matrix": 10,
          "compute_layer_style_cost": 15, "compute_style_cost": 15, "total_cost": 5,
          "adam_update": 15, "train_step": 20, "preprocess_for_vgg19": 10, "run_style_transfer": 10,
          "compute_total_variation_cost": 10}
MARKERS = ["### START CODE HERE ###", "### BEGIN SOLUTION", "### END SOLUTION", "### END CODE HERE ###"]
MAX_BYTES = 200 * 1024
MAX_LINES = 15  # ordinary code cells; graded cells carry a docstring and may be longer
MAX_GRADED_LINES = 30
# the repository URL is written once, in pyproject.toml; nst_lab.REPOSITORY_URL reads it back
BADGE = REPOSITORY_URL.replace("https://github.com/", "https://colab.research.google.com/github/", 1)
BADGE += "/blob/main/notebooks/{stem}.ipynb"


def read(stem: str) -> nbformat.NotebookNode:
    return nbformat.read(SOLUTIONS / f"{stem}.ipynb", as_version=4)


def graded_name(cell: nbformat.NotebookNode) -> str | None:
    match = re.match(r"# GRADED FUNCTION: (\w+)", cell.source) if cell.cell_type == "code" else None
    return match.group(1) if match else None


def headings(nb: nbformat.NotebookNode, level: int) -> list[str]:
    """Markdown headings of one level, ignoring lines inside fenced code blocks."""
    found = []
    for cell in nb.cells:
        if cell.cell_type != "markdown":
            continue
        text = re.sub(r"```.*?```", "", cell.source, flags=re.S)
        found += [line for line in text.splitlines() if line.startswith("#" * level + " ")]
    return found


stems = pytest.mark.parametrize("stem", sorted(GRADED))


def test_the_course_notebooks_exist():
    missing = set(GRADED) - {p.stem for p in SOLUTIONS.glob("*.ipynb")}  # other issues add 06+
    assert not missing, f"missing solution notebooks: {sorted(missing)}"


@stems
def test_valid_and_small(stem):
    path = SOLUTIONS / f"{stem}.ipynb"
    nbformat.validate(read(stem))
    assert path.stat().st_size < MAX_BYTES, f"{path.name} is {path.stat().st_size} bytes"


@stems
def test_opening_has_h1_badge_objectives(stem):
    nb = read(stem)
    first = nb.cells[0]
    assert first.cell_type == "markdown" and first.source.startswith("# ")
    assert len(headings(nb, 1)) == 1, "exactly one H1 per notebook"
    assert BADGE.format(stem=stem) in first.source
    assert "colab-badge.svg" in first.source
    assert "Learning objectives" in first.source


@stems
def test_first_code_cell_is_the_colab_setup(stem):
    setup = next(c for c in read(stem).cells if c.cell_type == "code")
    assert '"google.colab" in sys.modules' in setup.source
    assert "pip" in setup.source and pinned_requirement() in setup.source  # the whole cell: test_setup_cells.py
    assert "drive.mount" in setup.source and "USE_DRIVE = False" in setup.source


@stems
def test_prints_profile_and_ends_with_summary(stem):
    nb = read(stem)
    assert any("profile()" in c.source for c in nb.cells if c.cell_type == "code")
    last_md = [c for c in nb.cells if c.cell_type == "markdown"][-1]
    assert last_md.source.startswith("## Summary")


@stems
def test_weights_notice_follows_every_vgg_load(stem):
    for cell in read(stem).cells:
        if cell.cell_type == "code" and "load_vgg19(" in cell.source:
            assert "weights_notice(" in cell.source, "random weights must be announced where VGG19 loads"


@stems
def test_code_cells_are_short(stem):
    cells = [c for c in read(stem).cells if c.cell_type == "code"]
    for cell in cells[1:]:  # the setup cell is allowed its 14 lines and more
        limit = MAX_GRADED_LINES if graded_name(cell) else MAX_LINES
        assert len(cell.source.splitlines()) <= limit, cell.source[:80]


@stems
def test_graded_cells_have_markers_metadata_and_a_check_cell(stem):
    nb = read(stem)
    found = []
    for i, cell in enumerate(nb.cells):
        name = graded_name(cell)
        if name is None:
            continue
        found.append(name)
        positions = [cell.source.find(m) for m in MARKERS]
        assert -1 not in positions and positions == sorted(positions), f"{name}: markers missing/out of order"
        assert f"def {name}(" in cell.source[: positions[0]]
        assert cell.metadata["nbgrader"] == {"grade": False, "grade_id": name, "locked": False,
                                             "solution": True, "schema_version": 3}
        check = nb.cells[i + 1]
        assert check.cell_type == "code" and check.source.strip() == f"check_{name}({name})"
        assert check.metadata["nbgrader"] == {"grade": True, "grade_id": f"check_{name}", "locked": True,
                                              "points": POINTS[name], "solution": False,
                                              "schema_version": 3}
        assert check.metadata["tags"] == [CHECK_TAG]
    assert found == GRADED[stem]


@stems
def test_only_check_cells_keep_their_output(stem):
    nb = read(stem)
    assert "widgets" not in nb.metadata
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        if CHECK_TAG in cell.metadata.get("tags", []):
            assert isinstance(cell.execution_count, int), "nbval skips a cell with outputs but no count"
            assert [(o.output_type, o.get("name")) for o in cell.outputs] == [("stream", "stdout")]
            first, *values = cell.outputs[0]["text"].splitlines()
            assert first == "All tests passed"  # then the student's value of every case
            assert values and all(line.startswith("  - ") and ": " in line for line in values), values
        else:
            assert cell.outputs == [] and cell.execution_count is None, f"uncleared: {cell.source[:60]}"


def test_strip_outputs_keeps_only_tagged_cells():
    nb = nbformat.v4.new_notebook()
    kept = nbformat.v4.new_code_cell("check_x(x)", metadata={"tags": [CHECK_TAG]}, execution_count=3)
    kept.outputs = [nbformat.v4.new_output("stream", name="stdout", text="All tests passed\n")]
    dropped = nbformat.v4.new_code_cell("plot()", execution_count=4)
    dropped.outputs = [nbformat.v4.new_output("display_data", data={"text/plain": "fig"})]
    nb.cells = [nbformat.v4.new_markdown_cell("# t"), kept, dropped]
    nb.metadata["widgets"] = {"application/vnd.jupyter.widget-state+json": {"state": {}}}
    assert strip_outputs(nb) == 1
    assert "widgets" not in nb.metadata
    assert kept.outputs[0]["text"] == "All tests passed\n" and kept.execution_count == 1  # nbval needs one
    assert dropped.outputs == [] and dropped.execution_count is None


def _graded_sources() -> list[tuple[str, str, str]]:
    return [(stem, graded_name(c), c.source) for stem in sorted(GRADED) for c in read(stem).cells
            if graded_name(c)]


def _namespace() -> dict:
    """What the notebooks' graded cells read from their imports: TensorFlow and nst_lab's costs."""
    import tensorflow as tf

    from nst_lab import costs
    from nst_lab.config import STYLE_LAYERS

    return {"tf": tf, "STYLE_LAYERS": STYLE_LAYERS, "gram_matrix": costs.gram_matrix,
            "compute_layer_style_cost": costs.compute_layer_style_cost, "clip_0_1": costs.clip_0_1,
            "compute_content_cost": costs.compute_content_cost,
            "compute_style_cost": costs.compute_style_cost, "total_cost": costs.total_cost}


@pytest.mark.parametrize("stem,name,source", _graded_sources(), ids=lambda v: v if "\n" not in str(v) else "")
def test_solution_passes_its_check_and_a_blanked_one_fails(stem, name, source):
    from nst_lab.checks import CheckFailed, run_check

    namespace = _namespace()
    exec(compile(source, f"{stem}:{name}", "exec"), namespace)  # noqa: S102 (our own notebook)
    assert all(r.passed for r in run_check(name, namespace[name])), f"{stem}: solution of {name} fails"
    start, end = source.index(MARKERS[1]), source.index(MARKERS[2]) + len(MARKERS[2])
    blanked = source[:start] + "raise NotImplementedError()" + source[end:]  # what students start from
    exec(compile(blanked, f"{stem}:{name}:blank", "exec"), namespace)  # noqa: S102
    with pytest.raises(CheckFailed):
        from nst_lab.checks import report

        report(name, run_check(name, namespace[name]))


# Key sections of the seed report each notebook must teach, in this order (issue 3).
SECTIONS = {
    "01_vgg19": ["What neural style transfer does", "Transfer learning", "The VGG19 architecture",
                 "Loading a trained VGG without its top", "Exercise 1", "The input convention", "Exercise 2",
                 "A classification check", "Feature maps"],
    "02_content_cost": ["What a layer knows", "The content cost", "Exercise 1", "Experiment"],
    "03_style_cost": ["The Gram matrix", "Exercise 1", "style cost of one layer", "Exercise 2",
                      "Combining several layers", "Exercise 3", "`[1:]` slip", "Gram heatmap",
                      "Texture synthesis"],
    "04_adam": ["The optimisation problem", "momentum and RMSprop", "Adam", "Exercise 1",
                "Rosenbrock", "RMSprop plus momentum"],
    "05_style_transfer": ["The total cost", "Exercise 1", "Putting it together", "Exercise 2",
                          "Exercise 3", "The full run", "Experiment"],
    "07_beyond": ["Keeping the content's colours", "Blending several styles", "Total variation", "Exercise 1",
                  "Style scale", "Spatial control"],
    "08_trained_network": ["Three networks", "Style transfer with each network", "Measuring",
                           "Texture synthesis", "What the Gram matrices respond to", "Try it"],
}


@stems
def test_sections_appear_in_the_seed_order(stem):
    heads = headings(read(stem), 2)
    positions = []
    for section in SECTIONS[stem]:
        hits = [i for i, h in enumerate(heads) if section.lstrip("# ") in h]
        assert hits, f"{stem}: no heading containing {section!r}"
        positions.append(hits[0])
    assert positions == sorted(positions), f"{stem}: sections out of order: {heads}"


def test_full_profile_is_the_seed_run():
    from nst_lab.config import SEED
    from nst_lab.notebook import FULL

    full = (FULL.size, FULL.steps, FULL.save_every)
    assert full == (SEED.size, SEED.steps, SEED.save_every) == (400, 1001, 250)


def test_notebook_05_runs_the_seed_preset_at_the_profile_sizes():
    source = "\n".join(c.source for c in read("05_style_transfer").cells if c.cell_type == "code")
    # the seed's settings at the profile's sizes; precision "auto" (issue 6) is the run helper's default
    assert 'SEED.replace(size=P.size, steps=P.steps, save_every=P.save_every, precision="auto")' in source
    assert "final_figure(result.image, result.history" in source


@pytest.mark.parametrize("stem", ["01_vgg19", "02_content_cost", "03_style_cost", "04_adam", "05_style_transfer",
                                  "07_beyond", "08_trained_network"])
def test_the_course_photo_keeps_its_proportions(stem):
    """The 451x300 cat is loaded as the CLI loads it (notebook.course_images), not squashed to the profile's square."""
    source = "\n".join(c.source for c in read(stem).cells if c.cell_type == "code")
    assert "course_images(" in source
    assert not re.search(r"load_image\([^)]*chelsea\.jpg[^)]*size=(P\.size|SIZE)", source)


@pytest.mark.parametrize("stem", [stem for stem, names in GRADED.items() if names])
def test_each_graded_function_is_specified_not_dictated(stem):
    """Issue 20: the markdown above a graded function states a specification and an example, gives
    no step list to type, and a code cell right after the check computes the example."""
    cells = read(stem).cells
    for name in GRADED[stem]:
        at = next(i for i, c in enumerate(cells) if graded_name(c) == name)
        text = next(c.source for c in reversed(cells[:at]) if c.cell_type == "markdown")
        assert "**Specification.**" in text and "**Example.**" in text, f"{stem} {name}: no specification"
        assert "**Your task.**" not in text, f"{stem} {name}: a step list to type, not a specification"
        check = next(i for i, c in enumerate(cells) if c.cell_type == "code" and c.source.startswith(f"check_{name}("))
        assert cells[check + 1].cell_type == "code", f"{stem} {name}: no worked example after the check"


@pytest.mark.parametrize("stem", ["01_vgg19", "02_content_cost", "03_style_cost", "04_adam", "05_style_transfer"])
def test_every_graded_question_is_asked_as_a_prediction(stem):
    """Issue 20: the markdown before each GRADED QUESTION asks for a prediction, checked afterwards."""
    cells = read(stem).cells
    for at, cell in enumerate(cells):
        if cell.cell_type == "code" and cell.source.startswith("# GRADED QUESTION:"):
            text = next(c.source for c in reversed(cells[:at]) if c.cell_type == "markdown")
            assert "**Question" in text and "predict" in text.lower(), f"{stem}: {cell.source.splitlines()[0]}"
