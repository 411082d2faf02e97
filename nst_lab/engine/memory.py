"""Memory of one step, estimated from VGG19's activation sizes, checked before any work.

A step keeps every VGG19 activation up to the content layer for the backward pass, plus
their gradients and TensorFlow's scratch space. ``step_bytes`` counts the activations and
multiplies by a factor measured with ``peak_rss_bytes`` (README, section "Speed").

Lesson: README.md, section "Speed".
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

from nst_lab.config import VGG19_BLOCKS
from nst_lab.errors import MemoryEstimateError

# (convs, channels) of VGG19's blocks; each block after the first halves H and W first.
# Peak RSS grows by ~2.5 bytes per float32 activation byte (measured: 0.94 GiB at 256 px,
# 3.9 GiB at 1024 px, float32; bfloat16 3.1 GiB); 3.0 leaves ~20% headroom.
ACTIVATION_FACTOR = {"float32": 3.0, "bfloat16": 3.0, "float16": 3.0}
BASE_BYTES = 1.0e9  # TensorFlow, Python, the VGG19 weights (80 MB; twice under a mixed policy)




def activation_elements(height: int, width: int) -> int:
    """Number of values in VGG19's conv and pool outputs up to block5_conv4 for one image."""
    total, h, w = 0, height, width
    for block, (convs, channels) in enumerate(VGG19_BLOCKS):
        if block:
            h, w = h // 2, w // 2
            total += h * w * VGG19_BLOCKS[block - 1][1]  # the pool output
        total += convs * h * w * channels
    return total


def step_bytes(height: int, width: int, precision: str = "float32") -> int:
    """Estimated peak bytes of a run at (height, width) px: targets, forward and backward."""
    return int(BASE_BYTES + ACTIVATION_FACTOR[precision] * 4 * activation_elements(height, width))


def _proc_kib(path: str | Path, key: str) -> int | None:
    """Bytes of a ``Key:  N kB`` line of a /proc file, or None where it cannot be read."""
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(f"{key}:"):
                return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return None


def total_memory_bytes(meminfo: str | Path = "/proc/meminfo") -> int | None:
    """Physical memory of this machine (MemTotal), or None where it cannot be read."""
    return _proc_kib(meminfo, "MemTotal")


def check_fits(height: int, width: int, precision: str = "float32", available: int | None = None) -> int:
    """Raise MemoryEstimateError when a step at (height, width) cannot fit in memory.

    Args:
        height, width: image size in px.
        precision: the resolved precision name.
        available: bytes to compare with (default: this machine's MemTotal; unknown = pass).

    Returns:
        The estimate in bytes.
    """
    need = step_bytes(height, width, precision)
    have = total_memory_bytes() if available is None else available
    if have is not None and need > have:
        side = largest_square(have, precision)
        raise MemoryEstimateError(
            f"a {height}x{width} image needs about {need / 2**30:.0f} GiB for one step "
            f"(VGG19 activations and their gradients), but this machine has "
            f"{have / 2**30:.0f} GiB: set size to {side} or smaller", ["size"]
        )
    return need


def largest_square(available: int, precision: str = "float32") -> int:
    """The largest square side (multiple of 32 px) whose estimate fits in ``available`` bytes."""
    side = 32
    while step_bytes(side + 32, side + 32, precision) <= available:
        side += 32
    return side


def peak_rss_bytes(status: str | Path = "/proc/self/status") -> int:
    """Peak resident memory of this process so far, in bytes.

    Linux: VmHWM, the high-water mark of this process's own memory. ru_maxrss is the
    fallback elsewhere; on Linux it also counts the parent's memory at fork, so a child of
    a big process would report the parent's size.
    """
    high_water = _proc_kib(status, "VmHWM")
    if high_water is not None:
        return high_water
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux, bytes on macOS
    return int(peak if sys.platform == "darwin" else peak * 1024)
