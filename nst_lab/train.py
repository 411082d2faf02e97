"""The training step and loop of the seed report (section 7.12), made robust.

Lesson: notebooks/05_style_transfer.ipynb
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from nst_lab.config import STYLE_LAYERS, StyleConfig
from nst_lab.costs import clip_0_1, compute_content_cost, compute_style_cost, total_cost
from nst_lab.errors import NonFiniteLossError
from nst_lab.fast import gram_of, make_adam_step, raw_forward
from nst_lab.memory import check_fits
from nst_lab.precision import resolve_precision, with_precision
from nst_lab.schedules import adam_learning_rate
from nst_lab.vgg import FeatureExtractor, WeightsInfo, get_layer_outputs, load_vgg19

LossParts = tuple[tf.Tensor, tf.Tensor, tf.Tensor]


def cost_parts(
    generated_image: tf.Tensor,
    vgg_model_outputs: Callable[[tf.Tensor], Sequence[tf.Tensor]],
    a_C: Sequence[tf.Tensor],  # noqa: N803
    a_S: Sequence[tf.Tensor],  # noqa: N803
    alpha: float | tf.Tensor,
    beta: float | tf.Tensor,
    style_layers: Sequence[tuple[str, float]],
) -> LossParts:
    """Forward pass of G and its costs: (J, J_content, J_style), each a scalar tensor."""
    a_G = vgg_model_outputs(generated_image)
    J_style = compute_style_cost(a_S, a_G, style_layers)
    J_content = compute_content_cost(a_C, a_G)
    return total_cost(J_content, J_style, alpha=alpha, beta=beta), J_content, J_style


# GRADED FUNCTION: train_step
def train_step(
    generated_image: tf.Variable,
    vgg_model_outputs: Callable[[tf.Tensor], Sequence[tf.Tensor]],
    a_C: Sequence[tf.Tensor],  # noqa: N803
    a_S: Sequence[tf.Tensor],  # noqa: N803
    optimizer: Any,
    alpha: float | tf.Tensor = 100,
    beta: float | tf.Tensor = 10,
    STYLE_LAYERS: Sequence[tuple[str, float]] = STYLE_LAYERS,  # noqa: N803
) -> tf.Tensor:
    """One optimisation step on the pixels of G; returns the total cost before the update.

    Everything the seed's ``train_step`` read from globals is an argument here.

    Args:
        generated_image: tf.Variable of shape (1, H, W, 3), float32 in [0, 1]; updated in place
            by the optimizer, then clipped to [0, 1].
        vgg_model_outputs: callable image -> list of activations (STYLE_LAYERS + CONTENT_LAYER).
        a_C: activations of the content image (same list layout).
        a_S: activations of the style image (same list layout).
        optimizer: anything with ``apply_gradients([(grad, var)])``, e.g. keras Adam(0.03).
        alpha, beta: weights of the content and style costs.
        STYLE_LAYERS: (name, weight) pairs of the style layers.

    Returns:
        J: scalar float32 tensor, shape ().

    Lesson: notebooks/05_style_transfer.ipynb
    """
    with tf.GradientTape() as tape:
        J, _, _ = cost_parts(generated_image, vgg_model_outputs, a_C, a_S, alpha, beta, STYLE_LAYERS)
    grad = tape.gradient(J, generated_image)
    optimizer.apply_gradients([(grad, generated_image)])
    generated_image.assign(clip_0_1(generated_image))
    return J


def initial_image(content_image: tf.Tensor, init: str, noise_max: float, seed: int) -> np.ndarray:
    """The starting point of G, float32 (1, H, W, 3) in [0, 1].

    content: a copy of C (the seed's final loop); noisy: C + U(0, noise_max), clipped (seed
    section 7.9); noise: U(0, 1). Noise comes from NumPy so a seed gives the same image.
    """
    content = np.asarray(content_image, dtype=np.float32)
    rng = np.random.default_rng(seed)
    if init == "content":
        return content.copy()
    if init == "noisy":
        noise = rng.uniform(0.0, noise_max, content.shape).astype(np.float32)
        return np.clip(content + noise, 0.0, 1.0)
    if init == "noise":
        return rng.uniform(0.0, 1.0, content.shape).astype(np.float32)
    raise ValueError(f"init {init!r} is not one of content, noisy, noise")


@dataclass(eq=False)  # identity semantics: tf.function keys its trace on self, so no field compare
class StyleTransfer:
    """Holds G, the targets and the optimizer, and advances the optimisation in chunks.

    The targets a_C and a_S (and the style Gram matrices) are computed once, by the same
    VGG19 precision the steps use. alpha and beta are passed to the compiled step as
    tensors, so changing them never retraces. Without an extension the step is
    ``nst_lab.fast``'s, proven equal to the graded ``_train_step`` (tests/test_speed.py).
    Used by ``stylize`` and the studio.
    """

    content_image: tf.Tensor  # (1, H, W, 3) float32 in [0, 1]
    style_image: tf.Tensor  # (1, H, W, 3) float32 in [0, 1], resized to C's shape
    config: StyleConfig
    vgg: keras.Model | None = None
    weights: WeightsInfo | None = None
    history: dict[str, list[float]] = field(default_factory=lambda: {"total": [], "content": [], "style": []})
    # issue 7: an object with cost_parts(...) (same signature as ours) and finish(image);
    # set by nst_lab.extensions.build_transfer, None runs the seed's cost.
    extension: Any = None
    start_image: np.ndarray | None = None  # (1, H, W, 3) in [0, 1]; overrides config.init

    def __post_init__(self) -> None:
        cfg = self.config
        self.precision = resolve_precision(cfg.precision)
        check_fits(int(self.content_image.shape[1]), int(self.content_image.shape[2]), self.precision.name)
        if self.vgg is None:
            self.vgg, self.weights = load_vgg19(cfg.weights, seed=cfg.seed)
        if self.weights is None:
            self.weights = WeightsInfo("unknown", "passed in by caller")
        tf.random.set_seed(cfg.seed)
        compute_vgg = with_precision(self.vgg, self.precision)  # the model itself in float32
        self.extractor = FeatureExtractor(compute_vgg, cfg.layer_names, cfg.preprocess)
        self.a_C = self.extractor(self.content_image)
        self.a_S = self.extractor(self.style_image)
        self.style_grams = [gram_of(a) for a in self.a_S[:-1]]  # G_S, once: (n_C, n_C) float32
        start = self.start_image
        if start is None:
            start = initial_image(self.content_image, cfg.init, cfg.noise_max, cfg.seed)
        self.generated_image = tf.Variable(start, dtype=tf.float32, name="generated_image")
        self._last_good = tf.Variable(start, dtype=tf.float32, trainable=False)
        self.optimizer = keras.optimizers.Adam(learning_rate=adam_learning_rate(cfg))
        if self.precision.loss_scaling:  # float16: scale the loss so gradients do not underflow
            self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
        self.optimizer.build([self.generated_image])  # slots exist before tracing: one trace
        layers = [(name, 1.0) for name in cfg.layer_names]
        self.forward = raw_forward(get_layer_outputs(compute_vgg, layers), cfg.preprocess)
        self._step = make_adam_step(self.generated_image, self.forward, self.a_C[-1], self.style_grams,
                                    cfg.style_layers, self.optimizer, self._last_good)
        self._weights_cache: tuple[float, float, tf.Tensor, tf.Tensor] | None = None

    def _train_step(self, alpha: tf.Tensor, beta: tf.Tensor) -> tf.Tensor:
        """One step through the graded costs (or the extension's); ``fast`` mirrors it."""
        self._last_good.assign(self.generated_image)
        cost = cost_parts if self.extension is None else self.extension.cost_parts
        with tf.GradientTape() as tape:
            parts = cost(self.generated_image, self.extractor, self.a_C, self.a_S,
                         alpha, beta, self.config.style_layers)
            target = self.optimizer.scale_loss(parts[0]) if self.precision.loss_scaling else parts[0]
        grad = tape.gradient(target, self.generated_image)
        self.optimizer.apply_gradients([(grad, self.generated_image)])
        updated = clip_0_1(self.generated_image)
        finite = tf.reduce_all(tf.math.is_finite(updated))
        self.generated_image.assign(tf.where(finite, updated, self._last_good))  # never keep NaN pixels
        return tf.stack([*parts, tf.cast(finite, tf.float32)])  # (4,): total, content, style, ok

    @property
    def weights_info(self) -> WeightsInfo:
        """Which VGG19 weights this run uses (always set after construction)."""
        if self.weights is None:  # __post_init__ always sets it; this narrows the type
            raise RuntimeError("StyleTransfer.weights was cleared after construction")
        return self.weights

    def use_extension(self, extension: Any) -> None:
        """Swap in an extended cost (issue 7, nst_lab/extensions.py) and compile the step anew.

        The step then always runs through ``_train_step``, whatever step __post_init__ built.
        """
        self.extension = extension
        self._step = tf.function(self._train_step)

    @property
    def steps_done(self) -> int:
        return len(self.history["total"])

    def step(self) -> tuple[float, float, float]:
        """Run one step; record and return (total, content, style). Raises on NaN/inf."""
        alpha, beta = self._loss_weights()
        total, content, style, finite = (float(x) for x in self._step(alpha, beta).numpy())
        if not (finite and all(math.isfinite(x) for x in (total, content, style))):
            self.generated_image.assign(self._last_good)
            raise NonFiniteLossError(
                f"the loss (total {total:.4g}) or its gradient became infinite or NaN at step "
                f"{self.steps_done}: lower --alpha/--beta or --lr; the last finite image was kept"
            )
        for key, value in zip(("total", "content", "style"), (total, content, style)):
            self.history[key].append(value)
        return total, content, style

    def _loss_weights(self) -> tuple[tf.Tensor, tf.Tensor]:
        """alpha and beta as float32 tensors, made again only when the config changes them."""
        key = (self.config.alpha, self.config.beta)
        if self._weights_cache is None or self._weights_cache[:2] != key:
            self._weights_cache = (*key, tf.constant(key[0], tf.float32), tf.constant(key[1], tf.float32))
        return self._weights_cache[2], self._weights_cache[3]

    def image(self) -> np.ndarray:
        """G as a NumPy array (1, H, W, 3) in [0, 1] (with the content's colours in luminance mode)."""
        image = self.generated_image.numpy()
        return image if self.extension is None else self.extension.finish(image)


def timed(fn: Callable[[], Any]) -> tuple[Any, float]:
    """Run ``fn`` and return (result, seconds)."""
    start = time.perf_counter()
    result = fn()
    return result, time.perf_counter() - start
