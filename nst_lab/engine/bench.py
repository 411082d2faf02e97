"""``nst-lab bench``: the seed's step against nst_lab's, side by side, in one table.

Three step functions run round-robin in one process, so a busy machine slows all of them
alike and the ratios stay fair:

- ``seed``: the seed report's ``train_step`` as written (section 7.12), kept here as the
  speed baseline: a ``tf.function`` with Python-float alpha and beta, a global Adam, the
  Gram of S recomputed every step, and its ``[1:]`` style slice (so it optimises a slightly
  different cost: its loss column is not comparable).
- ``float32``: ``StyleTransfer`` with precision float32.
- ``auto``: ``StyleTransfer`` with precision auto.

Peak memory is the peak RSS of a separate process that builds one variant and runs two
steps. Losses are evaluated in float32 with the graded costs.

Lesson: README.md, section "Speed".
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import tensorflow as tf

from nst_lab.config import CONTENT_LAYER, FAST, STYLE_LAYERS, StyleConfig
from nst_lab.engine.memory import peak_rss_bytes
from nst_lab.engine.transfer import Network, StyleTransfer, load_network, prepare_transfer
from nst_lab.train import cost_parts
from nst_lab.vgg import FeatureExtractor, get_layer_outputs

VARIANTS = ("seed", "float32", "auto")
LABELS = {"seed": "seed train_step as written (float32)", "float32": "nst_lab float32",
          "auto": "nst_lab auto"}


@dataclass
class BenchRow:
    """One line of the table."""

    variant: str
    precision: str  # what ran
    seconds: list[float] = field(default_factory=list)  # timed steps, after warm-up
    loss: float = float("nan")  # graded float32 cost of G after all steps
    peak_bytes: int | None = None  # peak RSS of a process running only this variant

    @property
    def median(self) -> float:
        return statistics.median(self.seconds)


def seed_step(vgg: keras.Model, content_image: tf.Tensor, style_image: tf.Tensor,
              learning_rate: float = 0.03, content_layer: str = CONTENT_LAYER[0][0]
              ) -> tuple[Callable[[], tf.Tensor], tf.Variable]:
    """The seed's section 7.9-7.12 code, rewritten only to take its globals as closures.

    ``content_layer`` is the seed's block5_conv4, or the network's stand-in (block5_conv3 on VGG16).

    Returns:
        (step, generated_image): ``step()`` calls the seed's tf.function train_step with
        alpha=100, beta=10 as Python floats and returns J.
    """
    def compute_content_cost(content_output, generated_output):  # type: ignore[no-untyped-def]
        a_C, a_G = content_output[-1], generated_output[-1]
        m, n_H, n_W, n_C = a_G.get_shape().as_list()
        a_C_unrolled = tf.reshape(a_C, shape=[m, n_H * n_W, n_C])
        a_G_unrolled = tf.reshape(a_G, shape=[m, n_H * n_W, n_C])
        return tf.reduce_sum(tf.square(a_C_unrolled - a_G_unrolled)) / (4.0 * n_H * n_W * n_C)

    def gram_matrix(A):  # type: ignore[no-untyped-def]
        return tf.matmul(A, tf.transpose(A))

    def compute_layer_style_cost(a_S, a_G):  # type: ignore[no-untyped-def]
        m, n_H, n_W, n_C = a_G.get_shape().as_list()
        a_S = tf.transpose(tf.reshape(a_S, shape=[-1, n_C]))
        a_G = tf.transpose(tf.reshape(a_G, shape=[-1, n_C]))
        GS, GG = gram_matrix(a_S), gram_matrix(a_G)  # type: ignore[no-untyped-call]
        return tf.reduce_sum(tf.square(GS - GG)) / (4.0 * ((n_H * n_W * n_C) ** 2))

    def compute_style_cost(style_image_output, generated_image_output):  # type: ignore[no-untyped-def]
        J_style = 0
        a_S, a_G = style_image_output[1:], generated_image_output[1:]  # the seed's slice
        for i, weight in zip(range(len(a_S)), STYLE_LAYERS):
            J_style += weight[1] * compute_layer_style_cost(a_S[i], a_G[i])  # type: ignore[no-untyped-call]
        return J_style

    @tf.function()
    def total_cost(J_content, J_style, alpha=100, beta=10):  # type: ignore[no-untyped-def]
        return alpha * J_content + beta * J_style

    vgg_model_outputs = get_layer_outputs(vgg, [*STYLE_LAYERS, (content_layer, 1)])
    a_C = vgg_model_outputs(tf.Variable(tf.image.convert_image_dtype(content_image, tf.float32)))
    a_S = vgg_model_outputs(tf.Variable(tf.image.convert_image_dtype(style_image, tf.float32)))
    optimizer = tf.keras.optimizers.Adam(learning_rate)

    @tf.function()
    def train_step(generated_image, alpha, beta):  # type: ignore[no-untyped-def]
        with tf.GradientTape() as tape:
            a_G = vgg_model_outputs(generated_image)
            J_style = compute_style_cost(a_S, a_G)  # type: ignore[no-untyped-call]
            J_content = compute_content_cost(a_C, a_G)  # type: ignore[no-untyped-call]
            J = total_cost(J_content, J_style, alpha=alpha, beta=beta)
        grad = tape.gradient(J, generated_image)
        optimizer.apply_gradients([(grad, generated_image)])
        generated_image.assign(tf.clip_by_value(generated_image, 0.0, 1.0))
        return J

    generated_image = tf.Variable(tf.image.convert_image_dtype(content_image, tf.float32))
    return (lambda: train_step(generated_image, alpha=100, beta=10)), generated_image


def bench_images(size: int) -> tuple[tf.Tensor, tf.Tensor]:
    """The bundled content (chelsea) and style (swirls) images at size x size."""
    from nst_lab.images import default_pair, load_image

    content_path, style_path = default_pair()
    return load_image(content_path, size=size), load_image(style_path, size=(size, size))


def build_variant(variant: str, network: Network, content: tf.Tensor, style: tf.Tensor,
                  config: StyleConfig) -> tuple[Callable[[], Any], tf.Variable, str]:
    """(step, G, precision label) of one variant; step() runs one step and syncs."""
    if variant == "seed":
        step, image = seed_step(network.model, content, style, config.learning_rate, config.content_layer)
        return (lambda: step().numpy()), image, "float32"
    precision = "float32" if variant == "float32" else "auto"
    transfer = prepare_transfer(content, style, config.replace(precision=precision), network=network)
    return transfer.step, transfer.generated_image, transfer.precision.label


def run_bench(size: int = 400, steps: int = 6, warmup: int = 2, weights: str = "auto",
              memory: bool = True, log: Callable[[str], None] | None = None) -> list[BenchRow]:
    """Time the three variants round-robin and return one row each.

    Args:
        size: square image side in px.
        steps: timed steps per variant (after ``warmup`` untimed ones).
        warmup: untimed steps first (tracing, oneDNN kernel selection).
        weights: "auto" (the chain of ``load_network``: ImageNet VGG19, else VGG16, else multi-scale) or VGG19's.
        memory: measure each variant's peak RSS in a separate process.
        log: where to print progress (default: nowhere).
    """
    say = log or (lambda _: None)
    content, style = bench_images(size)
    network = load_network(StyleConfig(size=size, weights=weights))
    config = network.config_for(StyleConfig(size=size, weights=weights))  # VGG16: block5_conv3 for block5_conv4
    vgg = network.model
    built = {v: build_variant(v, network, content, style, config) for v in VARIANTS}
    rows = {v: BenchRow(v, built[v][2]) for v in VARIANTS}
    for v in VARIANTS:
        for _ in range(warmup):
            built[v][0]()
    say(f"warmed up ({warmup} steps each); timing {steps} rounds")
    for i in range(steps):
        for v in VARIANTS:
            start = time.perf_counter()
            built[v][0]()
            rows[v].seconds.append(time.perf_counter() - start)
        say(f"round {i + 1}/{steps}: " + ", ".join(f"{v} {rows[v].seconds[-1]:.3f} s" for v in VARIANTS))
    evaluator = FeatureExtractor(vgg, config.layer_names)
    a_C, a_S = evaluator(content), evaluator(style)
    for v in VARIANTS:
        total = cost_parts(built[v][1], evaluator, a_C, a_S, config.alpha, config.beta, config.style_layers)[0]
        rows[v].loss = float(total)
    if memory:
        for v in VARIANTS:
            rows[v].peak_bytes = measure_peak(v, size, weights)
    return [rows[v] for v in VARIANTS]


def measure_peak(variant: str, size: int, weights: str, steps: int = 2) -> int | None:
    """Peak RSS (bytes) of a fresh process that builds ``variant`` and runs ``steps`` steps."""
    code = ("import sys, json; from nst_lab.engine.bench import _peak_child; "
            "print(json.dumps(_peak_child(sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]))))")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    done = subprocess.run([sys.executable, "-c", code, variant, str(size), weights, str(steps)],
                          capture_output=True, text=True, env=env, check=False)
    try:
        return int(json.loads(done.stdout.strip().splitlines()[-1]))
    except (ValueError, IndexError):
        return None


def _peak_child(variant: str, size: int, weights: str, steps: int) -> int:
    content, style = bench_images(size)
    network = load_network(StyleConfig(size=size, weights=weights))
    config = network.config_for(StyleConfig(size=size, weights=weights))
    step = build_variant(variant, network, content, style, config)[0]
    for _ in range(steps):
        step()
    return peak_rss_bytes()


def format_table(rows: list[BenchRow], size: int) -> str:
    """The benchmark as one Markdown table (plus a parity line)."""
    by = {r.variant: r for r in rows}
    seed = by["seed"].median
    lines = [f"| step ({size}x{size}) | precision | median s/step | vs seed | peak RSS | loss (float32 eval) |",
             "| --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        peak = f"{r.peak_bytes / 2**30:.2f} GiB" if r.peak_bytes else "n/a"
        note = " (seed's [1:] cost)" if r.variant == "seed" else ""
        lines.append(f"| {LABELS[r.variant]} | {r.precision} | {r.median:.3f} | {seed / r.median:.2f}x | "
                     f"{peak} | {r.loss:.5g}{note} |")
    f32, auto = by["float32"].loss, by["auto"].loss
    lines.append("")
    lines.append(f"loss parity, auto vs float32 after the same {len(rows[0].seconds)} timed + warm-up "
                 f"steps: {100 * abs(auto - f32) / f32:.2f}%")
    return "\n".join(lines)


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
    fields = ("steps", "learning_rate", "lr_schedule", "final_learning_rate", "precision")
    return {name: getattr(preset, name) for name in fields}


# name: (table label, changes to the reference's config). An Adam method runs at most its
# config's steps; L-BFGS at most ``lbfgs_steps`` iterations.
QUALITY_METHODS: dict[str, tuple[str, dict[str, Any]]] = {
    "auto-adam": ("auto, Adam at the seed's constant lr", dict(precision="auto")),
    "float32-cosine": ("float32, Adam, cosine lr, 500 steps", {**_schedule_of(FAST), "precision": "float32"}),
    "fast": ("auto, Adam, cosine lr, 500 steps (--preset fast)", _schedule_of(FAST)),
    "float32-lbfgs": ("float32, L-BFGS", dict(precision="float32", optimizer="lbfgs")),
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
