"""``nst-lab bench``: the seed's step against nst_lab's, side by side, in one table.

Three step functions run round-robin in one process, so a busy machine slows all of them
alike and the ratios stay fair:

- ``seed``: the seed report's ``train_step`` as written (section 7.12), kept here as the
  speed baseline: a ``tf.function`` with Python-float alpha and beta, a global Adam, the
  Gram of S recomputed every step, and its ``[1:]`` style slice (so it optimises a slightly
  different cost: its loss column is not comparable).
- ``float32``: ``StyleTransfer`` with precision float32.
- ``auto``: ``StyleTransfer`` with precision auto.

Each row says what ran and why: the precision (``engine/precision.py``) and the convolution
path (``engine/convpath.py``). Beside the step times stands the machine's own limit: the step's
FLOPs (``engine/flops.py``) over the forward-convolution throughput measured at the step's shapes
in the same rounds. Peak memory is the peak RSS of a separate process that builds one variant and
runs two steps. Losses are evaluated in float32 with the graded costs.

Lesson: README.md, section "Speed".
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import keras
import tensorflow as tf

from nst_lab.config import CONTENT_LAYER, STYLE_LAYERS, StyleConfig
from nst_lab.engine.convpath import cpu_kind, measure_conv_rate, onednn_enabled
from nst_lab.engine.flops import conv_shapes, step_flops
from nst_lab.engine.memory import peak_rss_bytes
from nst_lab.engine.precision import cpu_flags
from nst_lab.engine.quality import QUALITY_METHODS as QUALITY_METHODS  # the CLI reads these three here
from nst_lab.engine.quality import bench_images
from nst_lab.engine.quality import format_quality as format_quality
from nst_lab.engine.quality import time_to_quality as time_to_quality
from nst_lab.engine.transfer import Network, load_network, prepare_transfer
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
    path: str = ""  # convolution path that ran, and why
    seconds: list[float] = field(default_factory=list)  # timed steps, after warm-up
    cpu: list[float] = field(default_factory=list)  # own-process CPU seconds of those steps
    flops: int = 0  # FLOPs of one step (engine/flops.py)
    conv_rate: float = 0.0  # measured forward-convolution FLOP/s at the step's shapes
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


def build_variant(variant: str, network: Network, content: tf.Tensor, style: tf.Tensor,
                  config: StyleConfig) -> tuple[Callable[[], Any], tf.Variable, str, str]:
    """(step, G, precision label, conv path label) of one variant; step() runs one step and syncs."""
    if variant == "seed":
        step, image = seed_step(network.model, content, style, config.learning_rate, config.content_layer)
        return (lambda: step().numpy()), image, "float32", "keras (the seed's own model)"
    precision = "float32" if variant == "float32" else "auto"
    transfer = prepare_transfer(content, style, config.replace(precision=precision), network=network)
    why = f" ({transfer.precision.reason})" if transfer.precision.reason else ""
    return transfer.step, transfer.generated_image, transfer.precision.label + why, transfer.conv_path.label


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
    height, width = int(content.shape[1]), int(content.shape[2])
    flops = step_flops(network.info.arch, height, width, config.layer_names)["total"] if network.info.arch in (
        "vgg16", "vgg19") else 0
    rows = {v: BenchRow(v, built[v][2], built[v][3], flops=flops) for v in VARIANTS}
    conv = measure_conv_rate(conv_shapes(network.info.arch, height, width, config.content_layer)) if flops else None
    for v in VARIANTS:
        for _ in range(warmup):
            built[v][0]()
    say(f"warmed up ({warmup} steps each); timing {steps} rounds")
    rates = []
    for i in range(steps):
        for v in VARIANTS:
            start, cpu = time.perf_counter(), time.process_time()
            built[v][0]()
            rows[v].seconds.append(time.perf_counter() - start)
            rows[v].cpu.append(time.process_time() - cpu)
        rates.append(conv() if conv else 0.0)
        say(f"round {i + 1}/{steps}: " + ", ".join(f"{v} {rows[v].seconds[-1]:.3f} s" for v in VARIANTS))
    evaluator = FeatureExtractor(vgg, config.layer_names)
    a_C, a_S = evaluator(content), evaluator(style)
    for v in VARIANTS:
        rows[v].conv_rate = statistics.median(rates)
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
    limit = rows[0].flops / rows[0].conv_rate if rows[0].conv_rate else float("nan")
    lines = [f"| step ({size}x{size}) | precision | median s/step | CPU-s/step | vs seed | vs limit | peak RSS "
             "| loss (float32 eval) |", "| --- | --- | --- | --- | --- | --- | --- | --- |"]
    for r in rows:
        peak = f"{r.peak_bytes / 2**30:.2f} GiB" if r.peak_bytes else "n/a"
        note = " (seed's [1:] cost)" if r.variant == "seed" else ""
        lines.append(f"| {LABELS[r.variant]} | {r.precision.split(' (')[0]} | {r.median:.3f} | "
                     f"{statistics.median(r.cpu):.3f} | {seed / r.median:.2f}x | {r.median / limit:.2f}x | {peak} | "
                     f"{r.loss:.5g}{note} |")
    lines += ["", f"machine limit: {rows[0].flops / 1e9:.1f} GFLOP per step (forward to the content layer, its "
              f"input gradient, the Grams) at {rows[0].conv_rate / 1e9:.1f} GFLOP/s of forward convolution "
              f"measured at the step's shapes = {limit:.3f} s/step; TensorFlow oneDNN "
              f"{'on' if onednn_enabled() else 'off'}, CPU kind {cpu_kind(cpu_flags())}",
              "what ran and why:"]
    lines += [f"- {LABELS[r.variant]}: precision {r.precision}; convolutions {r.path}" for r in rows]
    f32, auto = by["float32"].loss, by["auto"].loss
    lines.append("")
    lines.append(f"loss parity, auto vs float32 after the same {len(rows[0].seconds)} timed + warm-up "
                 f"steps: {100 * abs(auto - f32) / f32:.2f}%")
    return "\n".join(lines)
