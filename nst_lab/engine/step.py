"""The one step builder: every run's cost reaches the optimiser through ``make_adam_step`` or
``make_value_and_grad``, and every cost is weighted by the graded ``total_cost`` in ``weighted_cost``.

The seed's objective (``SeedObjective``) computes the same costs as the graded functions, with less work.

What it saves, measured with ``nst-lab bench`` (README, section "Speed"):

- The style Gram matrices G_S are computed once, not every step as the graded
  ``compute_style_cost(a_S, a_G)`` does.
- The layer style cost has a hand-written gradient, dJ/dF = 4 F (G_G - G_S) / norm for the
  unrolled activations F (n_H*n_W, n_C): one matmul, where autodiff of F^T F takes two plus
  an addition. Under mixed bfloat16 that matmul runs in bfloat16, the dtype the gradient is
  needed in anyway, so the large activation gradient is never cast.
- The Gram matrices and costs are float32 whatever the VGG19 precision.

``tests/test_speed.py`` proves ``style_cost_from_grams`` and its gradient equal the graded
``compute_style_cost``.

Lesson: README.md, section "Speed".
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol

import keras
import numpy as np
import tensorflow as tf

from nst_lab.costs import clip_0_1, total_cost
from nst_lab.vgg import preprocess_for_vgg19

Parts = tuple[tf.Tensor, tf.Tensor, tf.Tensor]  # (J_content, J_style, J_extra), float32 scalars


def gram_of(a: tf.Tensor) -> tf.Tensor:
    """Gram matrix of one layer's activations, in float32.

    Args:
        a: activations (1, n_H, n_W, n_C), any float dtype.

    Returns:
        (n_C, n_C) float32, equal to ``gram_matrix(unroll(a))``: F^T F for F (n_H*n_W, n_C).
    """
    n_C = a.shape[-1]
    F = tf.cast(tf.reshape(a, [-1, n_C]), tf.float32)  # (n_H*n_W, n_C)
    return tf.matmul(F, F, transpose_a=True)  # (n_C, n_C)


def _layer_style_cost_from_gram(a_G: tf.Tensor, G_S: tf.Tensor) -> tf.Tensor:
    """compute_layer_style_cost(a_S, a_G) given G_S = gram of a_S; float32 scalar."""
    _, n_H, n_W, n_C = a_G.shape
    scale = 1.0 / (4.0 * float(n_H * n_W * n_C) ** 2)

    @tf.custom_gradient
    def cost(a: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
        F = tf.reshape(a, [-1, n_C])  # (n_H*n_W, n_C), a's dtype
        F32 = tf.cast(F, tf.float32)
        diff = tf.matmul(F32, F32, transpose_a=True) - G_S  # (n_C, n_C) float32
        J = tf.reduce_sum(tf.square(diff)) * scale

        def grad(upstream: tf.Tensor) -> tf.Tensor:
            coef = diff * (4.0 * scale * upstream)  # (n_C, n_C): dJ/dF = F @ coef, G symmetric
            if a.dtype == tf.bfloat16:  # same exponent range as float32: safe to do in bf16
                dF = tf.matmul(F, tf.cast(coef, a.dtype))
            else:  # float32, or float16 whose range the tiny coef would underflow
                dF = tf.cast(tf.matmul(F32, coef), a.dtype)
            return tf.reshape(dF, tf.shape(a))  # (1, n_H, n_W, n_C)

        return J, grad

    return cost(a_G)


def style_cost_from_grams(
    style_grams: Sequence[tf.Tensor],
    generated_output: Sequence[tf.Tensor],
    style_layers: Sequence[tuple[str, float]],
) -> tf.Tensor:
    """``compute_style_cost(a_S, a_G, style_layers)`` with the style Gram matrices precomputed.

    Args:
        style_grams: float32 (n_C_l, n_C_l) Gram matrices of the style image, one per style
            layer (``[gram_of(a) for a in a_S[:-1]]``).
        generated_output: activations of G: one per style layer, then the content layer.
        style_layers: (name, weight) pairs, in output order.

    Returns:
        J_style: float32 scalar, shape ().
    """
    J_style = tf.constant(0.0)
    for G_S, a_G, (_, weight) in zip(style_grams, generated_output[:-1], style_layers):
        J_style += weight * _layer_style_cost_from_gram(a_G, G_S)
    return J_style


def content_cost(a_C: tf.Tensor, a_G: tf.Tensor) -> tf.Tensor:
    """``compute_content_cost`` on the last layer, accepting a bfloat16/float16 a_G."""
    _, n_H, n_W, n_C = a_G.shape
    return tf.reduce_sum(tf.square(a_C - tf.cast(a_G, tf.float32))) / (4.0 * n_H * n_W * n_C)


class Objective(Protocol):
    """What a run minimises: the unweighted parts of the cost of G, and how G is shown.

    ``parts(image)`` returns (J_content, J_style, J_extra) for G (1, H, W, 3) float32; J_extra is
    already weighted (e.g. ``tv_weight * TV(G)``) and 0 for the seed's cost. ``finish(image)`` maps
    G (1, H, W, 3) in [0, 1] to the picture shown and saved.
    """

    def parts(self, image: tf.Tensor) -> Parts: ...

    def finish(self, image: np.ndarray) -> np.ndarray: ...


@dataclass(eq=False)
class SeedObjective:
    """The seed report's cost with precomputed targets: a_C of the content layer, G_S per style layer.

    Attributes:
        forward: image (1, H, W, 3) -> activations (style layers, then the content layer), any float dtype.
        a_C: content-layer activations of C, float32 (1, n_H, n_W, n_C).
        style_grams: float32 Gram matrices of S, one (n_C_l, n_C_l) per style layer.
        style_layers: (name, weight) pairs, in output order.
    """

    forward: Callable[[tf.Tensor], Sequence[tf.Tensor]]
    a_C: tf.Tensor  # noqa: N815 (the seed's name)
    style_grams: Sequence[tf.Tensor]
    style_layers: Sequence[tuple[str, float]]

    def parts(self, image: tf.Tensor) -> Parts:
        a_G = self.forward(image)
        J_style = style_cost_from_grams(self.style_grams, a_G, self.style_layers)
        return content_cost(self.a_C, a_G[-1]), J_style, tf.constant(0.0)

    def finish(self, image: np.ndarray) -> np.ndarray:
        return image


def weighted_cost(parts: Parts, alpha: tf.Tensor, beta: tf.Tensor) -> tf.Tensor:
    """J = alpha * J_content + beta * J_style (the graded ``total_cost``) + J_extra: the one place
    where the weights meet the costs, for Adam, L-BFGS and every extension."""
    J_content, J_style, J_extra = parts
    return total_cost(J_content, J_style, alpha=alpha, beta=beta) + J_extra


def raw_forward(model: keras.Model, preprocess: str) -> Callable[[tf.Tensor], list[tf.Tensor]]:
    """image -> activations in the model's compute dtype (no cast to float32 of big tensors)."""

    def forward(image: tf.Tensor) -> list[tf.Tensor]:
        x = image
        if preprocess == "caffe":
            x = preprocess_for_vgg19(x)
        return list(model(x, training=False))

    return forward


def make_adam_step(
    generated_image: tf.Variable,
    objective: Objective,
    optimizer: keras.optimizers.Optimizer,
    last_good: tf.Variable,
    jit_compile: bool = False,
) -> Callable[[tf.Tensor, tf.Tensor], tf.Tensor]:
    """Compile step(alpha, beta) -> float32 (4,) [J, J_content, J_style, finite].

    The costs are G's before the update; ``finite`` is 0.0 when the updated G held a NaN or
    inf, in which case G is left at ``last_good`` (its value before the step). With a
    ``keras.optimizers.LossScaleOptimizer`` the loss is scaled before the gradient and the
    optimizer unscales it (and skips a step whose gradient overflowed).
    """
    scaled = isinstance(optimizer, keras.optimizers.LossScaleOptimizer)

    def step(alpha: tf.Tensor, beta: tf.Tensor) -> tf.Tensor:
        last_good.assign(generated_image)
        with tf.GradientTape() as tape:
            parts = objective.parts(generated_image)
            J = weighted_cost(parts, alpha, beta)
            target = optimizer.scale_loss(J) if scaled else J
        grad = tape.gradient(target, generated_image)
        optimizer.apply_gradients([(grad, generated_image)])
        updated = clip_0_1(generated_image)
        finite = tf.reduce_all(tf.math.is_finite(updated))
        generated_image.assign(tf.where(finite, updated, last_good))  # never keep NaN pixels
        return tf.stack([J, parts[0], parts[1], tf.cast(finite, tf.float32)])

    return tf.function(step, jit_compile=jit_compile)


def make_value_and_grad(
    generated_image: tf.Variable, objective: Objective, loss_scale: float = 1.0
) -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """Compile f(alpha, beta) -> ([J, J_content, J_style] (3,), dJ/dG (1, H, W, 3)) at G (for L-BFGS).

    ``loss_scale`` multiplies J before the gradient and divides the gradient after (float16).
    """

    def fn(alpha: tf.Tensor, beta: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            parts = objective.parts(generated_image)
            J = weighted_cost(parts, alpha, beta)
            target = J * loss_scale
        return tf.stack([J, parts[0], parts[1]]), tape.gradient(target, generated_image) / loss_scale

    return tf.function(fn)
