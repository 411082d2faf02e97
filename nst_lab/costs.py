"""The graded maths of the seed report: content cost, Gram matrix, style cost, total cost.

Every function is pure (all inputs are arguments), uses TensorFlow ops only, differentiates,
and traces inside ``tf.function``. Names and signatures follow the seed report section 7.

Lessons: notebooks/02_content_cost.ipynb, notebooks/03_style_cost.ipynb,
notebooks/05_style_transfer.ipynb, notebooks/07_beyond.ipynb (total variation)
"""

from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from nst_lab.config import STYLE_LAYERS


# GRADED FUNCTION: compute_content_cost
def compute_content_cost(
    content_output: Sequence[tf.Tensor], generated_output: Sequence[tf.Tensor]
) -> tf.Tensor:
    """Content cost between the content image C and the generated image G.

    J = sum((a_C - a_G)^2) / (4 * n_H * n_W * n_C), computed on the **last** layer output,
    which is the content layer (outputs are STYLE_LAYERS + CONTENT_LAYER, in that order).

    Args:
        content_output: list of layer activations of C; the last has shape (1, n_H, n_W, n_C).
        generated_output: list of layer activations of G, same shapes.

    Returns:
        J_content: scalar float32 tensor, shape ().

    Lesson: notebooks/02_content_cost.ipynb
    """
    a_C = content_output[-1]  # (1, n_H, n_W, n_C)
    a_G = generated_output[-1]  # (1, n_H, n_W, n_C)
    _, n_H, n_W, n_C = a_G.get_shape().as_list()
    return tf.reduce_sum(tf.square(a_C - a_G)) / (4.0 * n_H * n_W * n_C)


# GRADED FUNCTION: gram_matrix
def gram_matrix(A: tf.Tensor) -> tf.Tensor:
    """Gram matrix of the unrolled filter matrix A: GA = A A^T.

    Args:
        A: tensor of shape (n_C, n_H * n_W).

    Returns:
        GA: tensor of shape (n_C, n_C); GA[i, j] is the dot product of filters i and j.

    Lesson: notebooks/03_style_cost.ipynb
    """
    return tf.matmul(A, A, transpose_b=True)  # (n_C, n_H*n_W) @ (n_H*n_W, n_C)


def unroll(a: tf.Tensor) -> tf.Tensor:
    """Unroll activations (1, n_H, n_W, n_C) into the filter matrix (n_C, n_H * n_W)."""
    n_C = a.get_shape().as_list()[-1]
    return tf.transpose(tf.reshape(a, [-1, n_C]))  # (n_H*n_W, n_C) -> (n_C, n_H*n_W)


# GRADED FUNCTION: compute_layer_style_cost
def compute_layer_style_cost(a_S: tf.Tensor, a_G: tf.Tensor) -> tf.Tensor:
    """Style cost of one layer: squared Gram difference over 4 (n_H n_W n_C)^2.

    Args:
        a_S: activations of the style image, shape (1, n_H, n_W, n_C).
        a_G: activations of the generated image, shape (1, n_H, n_W, n_C).

    Returns:
        J_style_layer: scalar float32 tensor, shape ().

    Lesson: notebooks/03_style_cost.ipynb
    """
    _, n_H, n_W, n_C = a_G.get_shape().as_list()
    GS = gram_matrix(unroll(a_S))  # (n_C, n_C)
    GG = gram_matrix(unroll(a_G))  # (n_C, n_C)
    return tf.reduce_sum(tf.square(GS - GG)) / (4.0 * float(n_H * n_W * n_C) ** 2)


# GRADED FUNCTION: compute_style_cost
def compute_style_cost(
    style_image_output: Sequence[tf.Tensor],
    generated_image_output: Sequence[tf.Tensor],
    STYLE_LAYERS: Sequence[tuple[str, float]] = STYLE_LAYERS,  # noqa: N803 (the seed's name)
) -> tf.Tensor:
    """Weighted sum of the layer style costs over every output **but the last**.

    The outputs are STYLE_LAYERS + CONTENT_LAYER, so the last one is the content layer and
    must not be scored as style. (The seed slices ``[1:]``, which drops block1_conv1 and
    scores block5_conv4 instead; notebook 03 explains the slip.)

    Args:
        style_image_output: list of activations of S, one per style layer, then the content
            layer; element l has shape (1, n_H_l, n_W_l, n_C_l).
        generated_image_output: the same list for G.
        STYLE_LAYERS: (layer name, weight) pairs, one per style layer, in output order.

    Returns:
        J_style: scalar float32 tensor, shape ().

    Lesson: notebooks/03_style_cost.ipynb
    """
    a_S = style_image_output[:-1]  # drop the content layer, keep every style layer
    a_G = generated_image_output[:-1]
    if not len(a_S) == len(a_G) == len(STYLE_LAYERS):
        raise ValueError(
            f"compute_style_cost got {len(a_S)} style and {len(a_G)} generated style outputs "
            f"(content layer excluded) but {len(STYLE_LAYERS)} STYLE_LAYERS: the outputs must "
            "be STYLE_LAYERS + CONTENT_LAYER, in that order"
        )
    J_style = tf.constant(0.0)
    for a_S_l, a_G_l, (_, weight) in zip(a_S, a_G, STYLE_LAYERS):
        J_style += weight * compute_layer_style_cost(a_S_l, a_G_l)
    return J_style


# GRADED FUNCTION: total_cost
def total_cost(
    J_content: tf.Tensor | float,  # noqa: N803
    J_style: tf.Tensor | float,  # noqa: N803
    alpha: float | tf.Tensor = 100,
    beta: float | tf.Tensor = 10,
) -> tf.Tensor:
    """Total cost J = alpha * J_content + beta * J_style.

    Args:
        J_content: content cost, scalar tensor shape ().
        J_style: style cost, scalar tensor shape ().
        alpha: weight of the content cost.
        beta: weight of the style cost.

    Returns:
        J: scalar tensor, shape ().

    Lesson: notebooks/05_style_transfer.ipynb
    """
    return alpha * tf.convert_to_tensor(J_content) + beta * tf.convert_to_tensor(J_style)


# GRADED FUNCTION: compute_total_variation_cost
def compute_total_variation_cost(image: tf.Tensor) -> tf.Tensor:
    """Total variation of an image: squared differences between neighbouring pixels, summed.

    J_TV = sum_{i,j,c} (G[i+1, j, c] - G[i, j, c])^2 + sum_{i,j,c} (G[i, j+1, c] - G[i, j, c])^2,
    a plain sum (no normalisation); pairs never wrap around the border.

    Args:
        image: (1, H, W, 3) float tensor.

    Returns:
        J_TV: scalar tensor, shape (); 0 for a flat image.

    Lesson: notebooks/07_beyond.ipynb
    """
    down = image[:, 1:, :, :] - image[:, :-1, :, :]  # vertical neighbours, (1, H-1, W, 3)
    right = image[:, :, 1:, :] - image[:, :, :-1, :]  # horizontal neighbours, (1, H, W-1, 3)
    return tf.reduce_sum(tf.square(down)) + tf.reduce_sum(tf.square(right))


def clip_0_1(image: tf.Tensor) -> tf.Tensor:
    """Clip pixel values to [0, 1], the seed's ``clip_0_1``. Shape is unchanged."""
    return tf.clip_by_value(image, clip_value_min=0.0, clip_value_max=1.0)
