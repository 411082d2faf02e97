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
    epochs: int  # steps of the main run
    experiment_epochs: int  # steps of each small experiment (reconstructions, grids)
    save_every: int  # snapshot period of the main run


FULL = Profile("full", size=400, epochs=1001, experiment_epochs=200, save_every=250)
QUICK = Profile("quick", size=64, epochs=12, experiment_epochs=6, save_every=4)


def is_quick() -> bool:
    return os.environ.get("NST_LAB_QUICK", "").strip() not in ("", "0", "false", "False")


def profile(announce: bool = True) -> Profile:
    """The active profile; prints one line saying which, unless ``announce`` is False."""
    active = QUICK if is_quick() else FULL
    if announce:
        why = "NST_LAB_QUICK is set: small images, few steps (for CI)" if active is QUICK else "the real settings"
        print(f"Profile: {active.name} ({why}); image size {active.size} px, main run {active.epochs} steps")
    return active


def in_colab() -> bool:
    return "google.colab" in sys.modules


def weights_notice(info: object) -> str:
    """One line to print after loading VGG19; loud when the weights are random."""
    kind = getattr(info, "kind", "unknown")
    if kind == "random":
        return f"WARNING: {getattr(info, 'note', 'random weights')}. Online (e.g. in Colab) you get ImageNet weights."
    return f"VGG19 weights: {kind} ({getattr(info, 'source', '')})"
