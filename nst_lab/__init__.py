"""nst-lab: Neural Style Transfer (Gatys et al. 2015) as a TensorFlow course package.

The graded functions keep the seed report's names, so notebooks read like the report.
Names are re-exported lazily: ``import nst_lab`` is instant, and TensorFlow loads on the
first use of something that needs it (so ``nst-lab --help`` and bad options answer fast).
"""

from __future__ import annotations

import importlib
import os
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide TensorFlow's C++ start-up chatter

__version__ = "0.1.0"

_EXPORTS = {
    "nst_lab.config": ["CONTENT_LAYER", "PRESETS", "QUICK", "SEED", "STYLE_LAYERS", "StyleConfig"],
    "nst_lab.costs": ["clip_0_1", "compute_content_cost", "compute_layer_style_cost",
                      "compute_style_cost", "gram_matrix", "total_cost"],
    "nst_lab.errors": ["ImageLoadError", "NonFiniteLossError", "NstLabError", "WeightsError"],
    "nst_lab.images": ["load_image", "save_image", "tensor_to_image"],
    "nst_lab.optim": ["adam_update"],
    "nst_lab.runs": ["RunResult", "stylize"],
    "nst_lab.train": ["StyleTransfer", "train_step"],
    "nst_lab.vgg": ["FeatureExtractor", "get_layer_outputs", "load_vgg19"],
}
_WHERE = {name: module for module, names in _EXPORTS.items() for name in names}
__all__ = sorted(_WHERE)


def __getattr__(name: str) -> Any:
    if name in _WHERE:
        value = getattr(importlib.import_module(_WHERE[name]), name)
        globals()[name] = value
        return value
    raise AttributeError(f"module 'nst_lab' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(list(globals()) + __all__)
