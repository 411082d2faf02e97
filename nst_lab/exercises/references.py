"""What an exercise may build on: the source of its dependencies' references and the provided helpers.

The grader sends an exercise only this text (its *prelude*), never the package: the references of
the graded functions it depends on (so a wrong ``gram_matrix`` costs only its own points), the
helpers the notebook provides (``clip_0_1``, ``unroll``), the layer constants, and, for
``train_step``, ``make_extractor``. The exercise's own reference is never part of it, and no
helper here calls it.

Lesson: the instructors' section of README.md.
"""

from __future__ import annotations

import inspect
from collections.abc import Iterable
from typing import Any

from nst_lab.config import CONTENT_LAYER, STYLE_LAYERS

HEADER = """from __future__ import annotations
from collections.abc import Sequence
import numpy as np
import tensorflow as tf
import keras
"""

MAKE_EXTRACTOR = '''
def make_extractor(vgg, layer_names):
    """image (1, H, W, 3) -> list of the named layers' activations, in order."""
    model = keras.Model([vgg.input], [vgg.get_layer(name).output for name in layer_names])

    def extractor(image):
        return list(model(image))

    return extractor
'''

# helpers each reference needs besides the other references
NEEDS = {"compute_layer_style_cost": ("unroll",), "compute_style_cost": ("unroll",)}
ORDER = ("clip_0_1", "unroll", "gram_matrix", "compute_layer_style_cost", "compute_content_cost",
         "compute_style_cost", "total_cost", "make_extractor")


def _source(name: str) -> str:
    if name == "make_extractor":
        return MAKE_EXTRACTOR
    from nst_lab import costs

    return "\n" + inspect.getsource(getattr(costs, name))


def prelude(names: Iterable[str], exclude: str = "") -> str:
    """Python source defining ``names`` (references and helpers) and the layer constants.

    Args:
        names: dependencies and helpers, e.g. ("gram_matrix", "clip_0_1").
        exclude: the graded function being judged: never included, even if asked for.
    """
    wanted = set(names)
    for name in list(wanted):
        wanted.update(NEEDS.get(name, ()))
    wanted.discard(exclude)
    unknown = wanted - set(ORDER)
    if unknown:
        raise ValueError(f"no provided source for {', '.join(sorted(unknown))}")
    constants = f"STYLE_LAYERS = {list(STYLE_LAYERS)!r}\nCONTENT_LAYER = {list(CONTENT_LAYER)!r}\n"
    return HEADER + constants + "".join(_source(name) for name in ORDER if name in wanted)


def prelude_namespace(names: Iterable[str]) -> dict[str, Any]:
    """The namespace a prelude defines (the judge runs its reference runs with the same helpers)."""
    namespace: dict[str, Any] = {}
    exec(compile(prelude(names), "<provided>", "exec"), namespace)
    return namespace
