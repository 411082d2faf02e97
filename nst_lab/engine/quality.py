"""Time to the seed's quality: how long each method takes to reach the loss of the seed's loop.

The reference is the seed's loop on the graded costs; each method stops as soon as its image,
evaluated in float32 with the graded costs, is at or below that loss. ``nst-lab bench --quality``
prints the table (``format_quality``).

Lesson: README.md, section "Speed".
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import keras
import tensorflow as tf

from nst_lab.config import COSINE, FAST, FAST_STEPS, StyleConfig
from nst_lab.engine.transfer import Network, StyleTransfer, load_network, prepare_transfer
from nst_lab.train import cost_parts
from nst_lab.vgg import FeatureExtractor


def bench_images(size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """The bundled content (chelsea) and style (swirls) images at size x size."""
    from nst_lab.images import default_pair, load_image

    content_path, style_path = default_pair()
    return load_image(content_path, size=size), load_image(style_path, size=(size, size))



@dataclass
class QualityRow:
    """How long one method takes to reach the reference loss."""

    method: str
    seconds: float
    steps: int  # Adam steps or L-BFGS iterations at full size
    loss: float  # graded float32 cost of the final image
    reached: bool


def _schedule_of(preset: StyleConfig) -> dict[str, Any]:
    """The optimisation settings of a preset (not its size or weights)."""
    fields = ("optimizer", "scales", "steps", "learning_rate", "lr_schedule", "final_learning_rate", "precision")
    return {name: getattr(preset, name) for name in fields}


# name: (table label, changes to the reference's config). An Adam method runs at most its
# config's steps; L-BFGS at most ``lbfgs_steps`` iterations.
QUALITY_METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "auto-adam": ("auto, Adam at the seed's constant lr", dict(precision="auto")),
    "float32-cosine": ("float32, Adam, cosine lr, 500 steps", {**_schedule_of(COSINE), "precision": "float32"}),
    "cosine": ("auto, Adam, cosine lr, 500 steps", {**_schedule_of(COSINE), "precision": "auto"}),
    "float32-lbfgs": ("float32, L-BFGS", dict(precision="float32", optimizer="lbfgs")),
    # issue 22's measured winner on trained features: L-BFGS coarse to fine (README, "Time to the seed's loss")
    "fast": (f"L-BFGS, {FAST_STEPS} iterations at 1/4 and 1/2 size first (--preset fast)", _schedule_of(FAST)),
}


def _adam_until(transfer: StyleTransfer, target: float, evaluate: Callable[[tf.Variable], float],
                margin: float, check_every: int) -> None:
    """Step until G's float32 loss is at most ``target``, or for ``config.steps`` steps.

    A step's own loss (reduced precision reads slightly off) only decides when to pay for a
    float32 evaluation: once it is within ``margin`` of the target, every ``check_every`` steps.
    """
    for i in range(transfer.config.steps):
        total = transfer.step()[0]
        near = total <= target * (1 + margin)
        if near and (i % check_every == 0 or total <= target) and evaluate(transfer.generated_image) <= target:
            return


def time_to_quality(size: int = 128, reference_steps: int = 1001, weights: str = "auto",
                    methods: Sequence[str] = tuple(QUALITY_METHODS), lbfgs_steps: int = 300,
                    margin: float = 0.01, check_every: int = 5,
                    log: Callable[[str], None] | None = None) -> tuple[float, float, list[QualityRow]]:
    """Wall time of each method to reach the loss the seed's loop reaches in ``reference_steps``.

    The reference is the seed's loop (1001 Adam steps at lr 0.03 from the content image,
    float32, reading J every step) on the graded ``train_step``, i.e. the seed's step with its
    style slice corrected, so every method minimises the same cost. A method stops as soon as
    its image, evaluated in float32 with the graded costs, is at or below the target; those
    evaluations count in its time, and so does tracing.

    Args:
        size: square image side in px.
        reference_steps: steps of the seed loop that set the target.
        weights: "auto" (the chain of ``load_network``: ImageNet VGG19, else VGG16, else multi-scale) or VGG19's.
        methods: names from ``QUALITY_METHODS``, run in this order after the reference.
        lbfgs_steps: most L-BFGS iterations.
        margin, check_every: when to evaluate an Adam run's image (see ``_adam_until``).

    Returns:
        (reference seconds, reference loss, one row per method).
    """
    from nst_lab.engine.lbfgs import run_lbfgs

    unknown = [m for m in methods if m not in QUALITY_METHODS]
    if unknown:
        raise ValueError(f"unknown quality method(s) {', '.join(unknown)}: choose from {', '.join(QUALITY_METHODS)}")
    say = log or (lambda _: None)
    content, style = bench_images(size)
    network = load_network(StyleConfig(size=size, weights=weights))
    config = network.config_for(StyleConfig(size=size, weights=weights, steps=reference_steps))
    say(f"network: {network.info.summary()}")
    reference_seconds, evaluate, target = _reference(content, style, config, network)
    say(f"reference: {reference_steps} seed-loop steps in {reference_seconds:.1f} s, loss {target:.5g}")
    rows = []
    for name in methods:
        label, changes = QUALITY_METHODS[name]
        cfg = config.replace(**changes)
        start = time.perf_counter()
        transfer = prepare_transfer(content, style, cfg, network=network)
        if cfg.optimizer == "lbfgs":
            run_lbfgs(transfer, lbfgs_steps, stop_below=target)
        else:
            _adam_until(transfer, target, evaluate, margin, check_every)
        seconds = time.perf_counter() - start
        loss = evaluate(transfer.generated_image)
        rows.append(QualityRow(label, seconds, transfer.steps_done, loss, loss <= target))
        say(f"{label}: {transfer.steps_done} steps in {seconds:.1f} s, loss {loss:.5g}")
    return reference_seconds, target, rows


def _reference(content: tf.Tensor, style: tf.Tensor, config: StyleConfig, network: Network
               ) -> tuple[float, Callable[[tf.Variable], float], float]:
    """The seed's loop on the graded costs, float32: (seconds, float32 evaluator of J, its final J)."""
    from nst_lab.train import train_step

    evaluator = FeatureExtractor(network.model, config.layer_names)
    a_C, a_S = evaluator(content), evaluator(style)

    def evaluate(image: tf.Variable) -> float:
        return float(cost_parts(image, evaluator, a_C, a_S, config.alpha, config.beta, config.style_layers)[0])

    image = tf.Variable(content)
    optimizer = keras.optimizers.Adam(config.learning_rate)
    step = tf.function(lambda: train_step(image, evaluator, a_C, a_S, optimizer, alpha=config.alpha,
                                          beta=config.beta, STYLE_LAYERS=config.style_layers))
    start = time.perf_counter()
    for _ in range(config.steps):
        step().numpy()  # the seed's loop reads J every step
    return time.perf_counter() - start, evaluate, evaluate(image)


def format_quality(reference_seconds: float, target: float, rows: list[QualityRow], size: int,
                   reference_steps: int) -> str:
    """Time-to-quality as one Markdown table."""
    lines = [f"| method ({size}x{size}) | steps | wall s | vs seed loop | loss (float32 eval) |",
             "| --- | --- | --- | --- | --- |",
             f"| seed loop, Adam float32 (reference) | {reference_steps} | {reference_seconds:.1f} | 1 | "
             f"{target:.5g} |"]
    for r in rows:
        mark = "" if r.reached else " (target not reached)"
        lines.append(f"| {r.method} | {r.steps} | {r.seconds:.1f} | 1/{reference_seconds / r.seconds:.1f} | "
                     f"{r.loss:.5g}{mark} |")
    return "\n".join(lines)
