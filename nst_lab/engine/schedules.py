"""Adam's learning rate over a run: the seed's constant, or a cosine decay.

A constant rate keeps Adam's per-pixel steps the same size to the end, so the image keeps
jittering around the minimum it has found. A cosine decay starts higher (big moves early)
and shrinks the steps smoothly to ``final_learning_rate`` at the last step, so the run
settles. ``nst-lab bench --quality`` measures what that buys.

Lesson: notebooks/07_beyond.ipynb, "A schedule for the learning rate"; README.md, "Speed".
"""

from __future__ import annotations

from typing import Any

import keras


def adam_learning_rate(config: Any) -> float | keras.optimizers.schedules.LearningRateSchedule:
    """What to pass as Adam's ``learning_rate`` for ``config`` (a StyleConfig).

    The schedule reads the optimizer's own step counter inside the compiled step, so it
    neither retraces nor syncs with the host. With two or more steps, step k of N gets
    ``final + (first - final) / 2 * (1 + cos(pi * k / (N - 1)))``; a one-step run uses the
    first rate. Under float16 loss scaling (GPUs), a step skipped because its gradient
    overflowed does not advance the counter, so the schedule then lags by the skipped steps.
    """
    if config.lr_schedule == "constant":
        return float(config.learning_rate)
    return keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=float(config.learning_rate),
        decay_steps=max(config.steps - 1, 1),  # the last step (steps - 1) gets the final rate
        alpha=config.final_learning_rate / config.learning_rate,
    )
