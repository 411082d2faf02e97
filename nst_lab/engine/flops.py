"""What one style-transfer step costs in floating-point operations: the machine's own limit.

Pure Python (no TensorFlow), so peer benchmarks in other frameworks count the same FLOPs.
One multiply-add counts as 2 FLOPs. A step of the seed's objective is:

- forward: every convolution up to the deepest layer used, 2 * 9 * c_in * c_out * H * W each;
- backward: the input gradient of each of those convolutions, the same count (no filter gradient:
  the weights are frozen);
- Grams: for each style layer, G = F^T F (2 * H * W * c^2) and its gradient 4 F (G - G_S) / norm
  (another 2 * H * W * c^2).

ReLU, pooling, bias and the content cost are left out (well under 1% of the step).
``conv_seconds`` / ``step_flops`` give the limit: a step cannot take less than its FLOPs over
the machine's forward-convolution throughput.

Lesson: README.md, section "Speed".
"""

from __future__ import annotations

from collections.abc import Sequence

from nst_lab.config import VGG16_BLOCKS, VGG19_BLOCKS

BLOCKS = {"vgg16": VGG16_BLOCKS, "vgg19": VGG19_BLOCKS}

ConvShape = tuple[str, int, int, int, int]  # (layer name, H, W, c_in, c_out) of one 3x3 convolution


def conv_shapes(arch: str, height: int, width: int, deepest: str) -> list[ConvShape]:
    """The 3x3 convolutions of VGG ``arch`` run on a height x width image, up to ``deepest`` (a conv name).

    Each block halves H and W (floor, as 2x2 VALID max pooling does) after its convolutions.
    """
    if arch not in BLOCKS:
        raise ValueError(f"network {arch!r} is not one of {', '.join(BLOCKS)}")
    shapes: list[ConvShape] = []
    h, w, c_in = height, width, 3
    for block, (convs, channels) in enumerate(BLOCKS[arch], 1):
        for i in range(1, convs + 1):
            name = f"block{block}_conv{i}"
            shapes.append((name, h, w, c_in, channels))
            c_in = channels
            if name == deepest:
                return shapes
        h, w = h // 2, w // 2
    raise ValueError(f"{deepest!r} is not a convolution of {arch.upper()}")


def conv_flops(shapes: Sequence[ConvShape]) -> int:
    """Forward FLOPs of the convolutions ``shapes`` (stride 1, SAME: one output per input pixel)."""
    return sum(2 * 9 * c_in * c_out * h * w for _, h, w, c_in, c_out in shapes)


def step_flops(arch: str, height: int, width: int, layer_names: Sequence[str]) -> dict[str, int]:
    """FLOPs of one step: {"forward", "backward", "gram", "total"}.

    Args:
        arch: "vgg16" or "vgg19".
        height, width: the image's size in px.
        layer_names: the style layers then the content layer (``StyleConfig.layer_names``); the
            forward runs to the deepest of them.
    """
    order = [s[0] for s in conv_shapes(arch, height, width, f"block5_conv{BLOCKS[arch][-1][0]}")]
    deepest = max(layer_names, key=order.index)
    shapes = conv_shapes(arch, height, width, deepest)
    by_name = {s[0]: s for s in shapes}
    forward = conv_flops(shapes)
    gram = sum(2 * 2 * by_name[name][1] * by_name[name][2] * by_name[name][4] ** 2 for name in layer_names[:-1])
    return {"forward": forward, "backward": forward, "gram": gram, "total": 2 * forward + gram}
