"""Beyond the seed: colour preservation, style blending, total variation, style scale, masks.

``build_transfer`` prepares the images (colour handling, style scale), computes one set of
size-normalised (optionally guided) style Grams per style image, and returns an ordinary
``StyleTransfer`` whose cost is ``StyleCost.cost_parts`` instead of the seed's:

    J = alpha J_content + beta sum_l lambda_l sum_i w_il E_il(G) + tv_weight TV(G)

where E_il compares the Gram of style image i with G's Gram (with a mask: G's guided Gram of
region i) at layer l. With every option at its default the seed's cost and loop run untouched.

Lesson: notebooks/07_beyond.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from nst_lab.color import RGB_TO_YIQ, luminance_image, match_color_histogram, match_luminance, restore_chroma
from nst_lab.config import MIN_SIZE, ConfigError, StyleConfig
from nst_lab.costs import compute_content_cost, total_cost
from nst_lab.guided import layer_masks, layer_style_cost_normalized, load_mask, normalized_gram
from nst_lab.images import load_image, tensor_to_image
from nst_lab.train import StyleTransfer
from nst_lab.vgg import WeightsInfo


def total_variation(image: tf.Tensor) -> tf.Tensor:
    """Mean squared difference between neighbouring pixels, a smoothness cost.

    TV(G) = (sum (G[i+1, j] - G[i, j])^2 + sum (G[i, j+1] - G[i, j])^2) / (H W)

    Args:
        image: (1, H, W, 3) float tensor.

    Returns:
        scalar tensor (); 0 for a flat image. Dividing by H W keeps a tv_weight meaningful
        across image sizes.
    """
    down = image[:, 1:, :, :] - image[:, :-1, :, :]  # (1, H-1, W, 3)
    right = image[:, :, 1:, :] - image[:, :, :-1, :]  # (1, H, W-1, 3)
    pixels = tf.cast(tf.shape(image)[1] * tf.shape(image)[2], image.dtype)
    return (tf.reduce_sum(tf.square(down)) + tf.reduce_sum(tf.square(right))) / pixels


def grey(image: tf.Tensor) -> tf.Tensor:
    """(1, H, W, 3) -> (1, H, W, 3): the luminance Y = 0.299 R + 0.587 G + 0.114 B in every channel."""
    y = tf.reduce_sum(image * tf.constant(RGB_TO_YIQ[0], image.dtype), axis=-1, keepdims=True)
    return tf.tile(y, [1, 1, 1, 3])


def blend_weights(blend: Sequence[float] | None, count: int) -> list[float]:
    """One weight per style image, normalised to sum to 1 (equal weights when ``blend`` is None)."""
    if blend is None:
        return [1.0 / count] * count
    if len(blend) != count:
        raise ConfigError(
            f"style_blend has {len(blend)} weight(s) but {count} style image(s) were given: "
            "give one weight per style, e.g. --style-blend 0.7,0.3 for two"
        )
    total = float(sum(blend))
    return [float(w) / total for w in blend]


def style_shape(content_shape: tuple[int, int], scale: float) -> tuple[int, int]:
    """(H_S, W_S): the content's (H, W) times ``scale``; refuses sizes VGG19 cannot take."""
    height, width = (max(1, round(side * scale)) for side in content_shape)
    if min(height, width) < MIN_SIZE:
        raise ConfigError(
            f"style_scale {scale} makes the style image {height}x{width} px, below the {MIN_SIZE} px "
            "VGG19 needs: use a larger style_scale or a larger image size"
        )
    return height, width


def uses_extensions(config: StyleConfig, style: Any = None) -> bool:
    """True when the run needs ``build_transfer`` rather than the seed's plain loop."""
    several = isinstance(style, (list, tuple))
    return several or config != config.replace(
        preserve_color="none", style_blend=None, tv_weight=0.0, style_scale=1.0, mask=None
    )


class StyleCost:
    """The extended cost: several style targets with weights, optional masks and TV term."""

    def __init__(self, style_grams: list[list[tf.Tensor]], weights: list[float],
                 style_layers: Sequence[tuple[str, float]], masks: list[tf.Tensor] | None,
                 tv_weight: float, chroma_source: np.ndarray | None):
        self.style_grams = style_grams  # [style i][layer l] -> (n_C_l, n_C_l)
        self.style_layers = list(style_layers)
        self.masks = masks  # [layer l] -> (count, n_H_l, n_W_l), or None
        self.tv_weight = float(tv_weight)
        self.chroma_source = chroma_source  # colour content (1, H, W, 3) for luminance mode
        self.style_images: list[np.ndarray] = []  # the style images as VGG19 saw them (figures)
        count = len(style_grams)
        # w_il: the blend weight; with masks also times count * (area share of region i at
        # layer l), so each pixel feels about the same style pull as in a one-style run.
        self.layer_weights = [[weights[i]] * len(self.style_layers) for i in range(count)]
        if masks is not None:
            for i in range(count):
                for layer, m in enumerate(masks):
                    share = float(tf.reduce_mean(m[i]))
                    self.layer_weights[i][layer] = count * weights[i] * share

    def style_cost(self, a_G: Sequence[tf.Tensor]) -> tf.Tensor:  # noqa: N803
        """J_style of G's style-layer activations (1, n_H_l, n_W_l, n_C_l) -> scalar ()."""
        J_style = tf.constant(0.0)
        for layer, (a_G_l, (_, layer_weight)) in enumerate(zip(a_G, self.style_layers, strict=True)):
            for i, grams in enumerate(self.style_grams):
                weight = layer_weight * self.layer_weights[i][layer]
                if weight == 0.0:
                    continue
                mask = None if self.masks is None else self.masks[layer][i]  # (n_H_l, n_W_l)
                J_style += weight * layer_style_cost_normalized(grams[layer], normalized_gram(a_G_l, mask))
        return J_style

    def cost_parts(self, generated_image: tf.Tensor, vgg_model_outputs: Any,
                   a_C: Sequence[tf.Tensor], a_S: Any, alpha: Any, beta: Any,  # noqa: N803
                   style_layers: Any) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Drop-in for ``nst_lab.train.cost_parts``: (J, J_content, J_style). ``a_S`` is unused.

        In luminance mode VGG19 sees G's luminance as a grey image, so only Y is optimised.
        """
        if self.chroma_source is not None:
            generated_image = grey(generated_image)
        a_G = vgg_model_outputs(generated_image)
        J_style = self.style_cost(a_G[:-1])
        J_content = compute_content_cost(a_C, a_G)
        J = total_cost(J_content, J_style, alpha=alpha, beta=beta)
        if self.tv_weight:
            J += self.tv_weight * total_variation(generated_image)
        return J, J_content, J_style

    def finish(self, image: np.ndarray) -> np.ndarray:
        """The image shown and saved: G itself, or G's luminance with the content's chroma."""
        if self.chroma_source is None:
            return image
        return restore_chroma(image, self.chroma_source)


def _image(source: Any, size: int | tuple[int, int], max_dim: int | None = None) -> np.ndarray:
    """Load a source, or resize an array/tensor (through PIL, like files), to (1, H, W, 3)."""
    if isinstance(source, (tf.Tensor, np.ndarray)):
        array = np.asarray(source, dtype=np.float32)
        array = array[None] if array.ndim == 3 else array
        if not isinstance(size, tuple) or tuple(array.shape[1:3]) == size:
            return array
        source = tensor_to_image(array)
    return np.asarray(load_image(source, size=size, max_dim=max_dim))


def build_transfer(content: Any, styles: Any, config: StyleConfig, vgg: keras.Model | None = None,
                   weights: WeightsInfo | None = None, mask: Any = None) -> StyleTransfer:
    """A StyleTransfer with the config's colour, blend, TV, scale and mask options applied.

    Args:
        content: content image source (path, PIL image, bytes) or (1, H, W, 3) array/tensor,
            loaded at config.size / config.max_dim (arrays are used at their own size).
        styles: one style source or a list of them.
        config: settings; style_blend needs one weight per style image.
        vgg, weights: an already-loaded VGG19 and its WeightsInfo (else config.weights loads).
        mask: overrides config.mask: a path, PIL image, RGB array or int label array (H, W).

    Returns:
        StyleTransfer ready to ``step()``; its ``image()`` already has the content's colours
        back in luminance mode, and ``extension.style_images`` holds the prepared styles.
    """
    style_list = list(styles) if isinstance(styles, (list, tuple)) else [styles]
    if not style_list:
        raise ConfigError("give at least one style image")
    if config.scales > 1:  # coarse_start knows only the seed's cost, so refuse rather than ignore
        raise ConfigError("--scales works only with the plain seed cost: drop --scales, or drop "
                          "--preserve-color/--style-blend/--tv-weight/--style-scale/--mask and extra styles")
    blend = blend_weights(config.style_blend, len(style_list))
    content_rgb = _image(content, config.size, config.max_dim)  # (1, H, W, 3)
    shape = style_shape(tuple(content_rgb.shape[1:3]), config.style_scale)
    style_rgbs = [_image(s, shape) for s in style_list]  # each (1, H_S, W_S, 3)
    content_in, chroma = content_rgb, None
    if config.preserve_color == "histogram":
        style_rgbs = [match_color_histogram(s, content_rgb) for s in style_rgbs]
    elif config.preserve_color == "luminance":
        style_rgbs = [match_luminance(s, content_rgb) for s in style_rgbs]
        content_in, chroma = luminance_image(content_rgb), content_rgb
    transfer = StyleTransfer(tf.constant(content_in), tf.constant(style_rgbs[0]), config, vgg=vgg,
                             weights=weights)
    n_style = len(config.style_layers)
    grams = [[normalized_gram(a) for a in transfer.extractor(tf.constant(s))[:n_style]] for s in style_rgbs]
    mask_source = mask if mask is not None else config.mask
    masks = None
    if mask_source is not None:
        maps = load_mask(mask_source, len(style_list), tuple(content_rgb.shape[1:3]))
        masks = layer_masks(maps, transfer.a_C[:n_style])
    extension = StyleCost(grams, blend, config.style_layers, masks, config.tv_weight, chroma)
    extension.style_images = style_rgbs  # what VGG19 saw, for figures
    transfer.use_extension(extension)
    return transfer
