"""The graded training step and loop of the seed report (sections 7.12-7.13), every global an argument.

Lesson: notebooks/05_style_transfer.ipynb
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from nst_lab.config import STYLE_LAYERS
from nst_lab.costs import clip_0_1, compute_content_cost, compute_style_cost, total_cost

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


# GRADED FUNCTION: run_style_transfer
def run_style_transfer(
    generated_image: tf.Variable,
    train_step_fn: Callable[[tf.Variable], tf.Tensor],
    steps: int,
    snapshot_every: int,
) -> tuple[list[float], dict[int, np.ndarray]]:
    """The seed's training loop: ``steps`` steps, every cost recorded, a snapshot every few steps.

    As in the seed, the snapshot of step i is taken after that step, whenever
    ``i % snapshot_every == 0`` (steps 0, k, 2k, ...).

    Args:
        generated_image: tf.Variable (1, H, W, 3), updated in place by ``train_step_fn``.
        train_step_fn: one step, ``J = train_step_fn(generated_image)``; J a scalar tensor.
        steps: how many steps to run.
        snapshot_every: the snapshot period k, in steps.

    Returns:
        history: ``steps`` Python floats, the cost returned by each step.
        snapshots: step i -> a NumPy copy (1, H, W, 3) of the image after step i.

    Lesson: notebooks/05_style_transfer.ipynb
    """
    history: list[float] = []
    snapshots: dict[int, np.ndarray] = {}
    for i in range(steps):
        J = train_step_fn(generated_image)
        history.append(float(J))  # a float, not the tensor
        if i % snapshot_every == 0:
            snapshots[i] = generated_image.numpy()  # a copy; the Variable itself would keep changing
    return history, snapshots
