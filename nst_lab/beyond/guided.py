"""Size-normalised and guided Gram matrices (Gatys et al. 2017, "Controlling perceptual factors").

The seed's style cost divides by (n_H n_W n_C)^2 using G's size for both Grams, which is right
only when S and G have the same size. Here each Gram is divided by its **own** number of
positions, so it becomes the average of the outer products f f^T over the image, a statistic
that does not grow with the image. Then a style image of any size can be compared with G.

A guided Gram averages f f^T only over the positions of one region of G, given by a mask;
comparing it with the Gram of style image i paints style i into region i alone.

Lesson: notebooks/07_beyond.ipynb
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
from PIL import Image

from nst_lab.errors import MaskError
from nst_lab.images import load_image

MASK_LEVELS = 8  # mask colours are grouped in steps of 1/8 per channel (9 levels)
MASK_EPSILON = 1e-8  # keeps an empty region's guided Gram finite (its weight is 0 anyway)




def normalized_gram(a: tf.Tensor, mask: tf.Tensor | None = None) -> tf.Tensor:
    """Average of f_p f_p^T over the positions p (weighted by ``mask`` when given).

    Args:
        a: activations, shape (1, n_H, n_W, n_C).
        mask: optional weights, shape (n_H, n_W), values in [0, 1]; None weights every
            position by 1.

    Returns:
        G: tensor (n_C, n_C) = sum_p m_p f_p f_p^T / sum_p m_p.
    """
    n_C = a.get_shape().as_list()[-1]
    features = tf.reshape(a, [-1, n_C])  # (n_H*n_W, n_C)
    if mask is None:
        count = tf.cast(tf.shape(features)[0], features.dtype)
        return tf.matmul(features, features, transpose_a=True) / count
    weights = tf.reshape(tf.cast(mask, features.dtype), [-1, 1])  # (n_H*n_W, 1)
    gram = tf.matmul(features * weights, features, transpose_a=True)  # (n_C, n_C)
    return gram / (tf.reduce_sum(weights) + MASK_EPSILON)


def layer_style_cost_normalized(gram_S: tf.Tensor, gram_G: tf.Tensor) -> tf.Tensor:  # noqa: N803
    """sum((G_S - G_G)^2) / (4 n_C^2) for two size-normalised Grams (n_C, n_C) -> scalar ().

    With S and G of the same size this equals the seed's compute_layer_style_cost: dividing
    both Grams by n_H n_W moves the (n_H n_W)^2 of the seed's denominator inside the square.
    """
    n_C = gram_G.get_shape().as_list()[-1]
    return tf.reduce_sum(tf.square(gram_S - gram_G)) / (4.0 * float(n_C) ** 2)


def mask_labels(rgb: np.ndarray, count: int) -> np.ndarray:
    """Split a mask image into ``count`` regions, numbered from darkest to lightest.

    Colours are first grouped in steps of 1/8 per channel, so JPEG noise and soft edges do not
    make new regions; the ``count`` most frequent groups are the regions, and every pixel joins
    the region whose mean colour is nearest. Regions are ordered by luminance: the darkest is
    region 0 (the first style image). Use clearly different colours or grey levels.

    Args:
        rgb: mask image, array (H, W, 3) floats in [0, 1] (grey masks have R = G = B).
        count: number of style images.

    Returns:
        labels: int array (H, W) with values 0 .. count-1.
    """
    flat = np.asarray(rgb, dtype=np.float64).reshape(-1, 3)  # (H*W, 3)
    groups, group_of = np.unique(np.round(flat * MASK_LEVELS), axis=0, return_inverse=True)
    group_of = group_of.reshape(-1)
    if len(groups) < count:
        raise MaskError(
            f"the mask has {len(groups)} colour(s) but {count} style images were given: paint "
            "one colour or grey level per style (darkest = first style)"
        )
    frequency = np.bincount(group_of, minlength=len(groups))
    chosen = np.argsort(-frequency, kind="stable")[:count]
    palette = np.stack([flat[group_of == g].mean(axis=0) for g in chosen])  # (count, 3)
    palette = palette[np.argsort(palette @ np.array([0.299, 0.587, 0.114]), kind="stable")]
    distance = ((flat[:, None, :] - palette[None, :, :]) ** 2).sum(axis=-1)  # (H*W, count)
    return distance.argmin(axis=1).reshape(np.shape(rgb)[:2])


def load_mask(source: str | os.PathLike[str] | Image.Image | np.ndarray, count: int,
              shape: tuple[int, int]) -> np.ndarray:
    """Read a mask and return one soft region map per style, resized to the content's shape.

    Args:
        source: a path/PIL image of the mask, an RGB array (H, W, 3) or (1, H, W, 3) in
            [0, 1], or an int label array (H, W) with values 0 .. count-1.
        count: number of style images.
        shape: (H_C, W_C) of the content image; a mask of another size is resized (area
            averaging), so edges become soft.

    Returns:
        masks: float32 array (H_C, W_C, count); at each pixel the regions' shares sum to 1.
    """
    if isinstance(source, (str, os.PathLike, Image.Image)):
        array = np.asarray(load_image(source, size=None))  # (1, H, W, 3), full size
    else:
        array = np.asarray(source)
    if array.ndim == 2:
        labels = array.astype(np.int64)
        if labels.min() < 0 or labels.max() >= count:
            raise MaskError(f"label mask values must lie in 0..{count - 1}, got "
                            f"{labels.min()}..{labels.max()}")
    else:
        rgb = array.reshape(array.shape[-3:])  # (H, W, 3)
        labels = mask_labels(rgb, count)
    one_hot = np.eye(count, dtype=np.float32)[labels]  # (H, W, count)
    resized = tf.image.resize(one_hot[None], shape, method="area")[0].numpy()  # (H_C, W_C, count)
    return resized / np.maximum(resized.sum(axis=-1, keepdims=True), MASK_EPSILON)


def layer_masks(masks: np.ndarray, activations: list[tf.Tensor]) -> list[tf.Tensor]:
    """Downsample the region maps to each layer's grid (area averaging, as pooling does).

    Args:
        masks: (H, W, count) region shares at the image's resolution.
        activations: one tensor (1, n_H_l, n_W_l, n_C_l) per layer, giving the grid sizes.

    Returns:
        one float32 tensor (count, n_H_l, n_W_l) per layer.
    """
    result = []
    for a in activations:
        n_H, n_W = a.get_shape().as_list()[1:3]
        small = tf.image.resize(masks[None], (n_H, n_W), method="area")[0]  # (n_H, n_W, count)
        result.append(tf.transpose(tf.cast(small, tf.float32), [2, 0, 1]))
    return result
