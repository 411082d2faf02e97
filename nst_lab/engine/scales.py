"""Coarse-to-fine sizes, and one loop for either optimizer (the levels are built in ``transfer``).

A half-size image costs about a quarter of a full-size step. Optimising it first and
starting the full-size run from its upsampled result moves the large structures cheaply,
so the full-size run starts closer to its goal.

Lesson: README.md, section "Speed"; notebooks/07_beyond.ipynb (the races of L-BFGS and of a schedule against Adam).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import numpy as np
import tensorflow as tf

StepCallback = Callable[[int], None]


def scale_sizes(height: int, width: int, scales: int, minimum: int = 32) -> list[tuple[int, int]]:
    """Sizes of a coarse-to-fine schedule, coarsest first, each level halving the sides.

    Levels that would fall below ``minimum`` px (VGG19's limit) are left out.
    """
    sizes = [(height, width)]
    for _ in range(scales - 1):
        h, w = sizes[0][0] // 2, sizes[0][1] // 2
        if min(h, w) < minimum:
            break
        sizes.insert(0, (h, w))
    return sizes


def resize(image: tf.Tensor | np.ndarray, height: int, width: int) -> np.ndarray:
    """Resize (1, h, w, 3) to (1, height, width, 3) (bilinear, antialiased), clipped to [0, 1]."""
    resized = tf.image.resize(image, (height, width), method="bilinear", antialias=True)
    return np.clip(resized.numpy(), 0.0, 1.0).astype(np.float32)


@contextmanager
def ctrl_c_between_steps(asked: list[bool]) -> Iterator[None]:
    """While a run goes, a first Ctrl-C (SIGINT) only appends to ``asked``, which the loop reads between steps.

    KeyboardInterrupt raised at an arbitrary point could land inside TensorFlow's or scipy's own
    Python code and leave it half-done; the flag ends the run at a step boundary instead. A second
    Ctrl-C interrupts at once. Outside the main thread (no signal handlers there), or where SIGINT is
    ignored or handled from C, nothing changes.
    """
    previous = signal.getsignal(signal.SIGINT) if threading.current_thread() is threading.main_thread() else None
    if previous is None or previous == signal.SIG_IGN:  # not the main thread, a handler set from C, or ignored
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if asked:
            raise KeyboardInterrupt
        asked.append(True)

    signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


def run_steps(transfer: Any, steps: int, on_step: StepCallback | None = None,
              stop_below: float | None = None) -> None:
    """Advance ``transfer`` by ``steps`` Adam steps or L-BFGS iterations (config.optimizer).

    ``on_step(i)`` runs after each; ``stop_below`` ends the run once the loss reaches it.
    """
    if transfer.config.optimizer == "lbfgs":
        from nst_lab.engine.lbfgs import run_lbfgs

        run_lbfgs(transfer, steps, on_step, stop_below=stop_below)
        return
    for i in range(steps):
        total, _, _ = transfer.step()
        if on_step is not None:
            on_step(i)
        if stop_below is not None and total <= stop_below:
            return


def cost_after_updates(transfer: Any, updates: int) -> list[float]:
    """Advance ``transfer`` by ``updates`` and return J after 0, 1, ..., updates of them.

    The two optimizers record different moments: an Adam step records J of the image it starts
    from, an L-BFGS iteration J of the image it ends at. Entry k here is J after k updates for
    both, so two runs from the same start share entry 0 (notebook 07's race). An L-BFGS run that
    stalls returns fewer entries.
    """
    from nst_lab.engine.step import make_value_and_grad

    def cost_now() -> float:
        evaluate = make_value_and_grad(transfer.generated_image, transfer.objective)
        parts, _ = evaluate(*transfer.loss_weights())
        return float(parts[0])

    first = transfer.steps_done
    start = cost_now() if transfer.config.optimizer == "lbfgs" else None
    run_steps(transfer, updates)
    recorded = [float(x) for x in transfer.history["total"][first:]]
    return [start, *recorded] if start is not None else [*recorded, cost_now()]
