"""Beyond the seed: colour preservation, style blending, total variation, style scale, masks.

``prepare_images`` prepares the images (colour handling, style scale) and ``extended_objective``
computes one set of size-normalised (optionally guided) style Grams per style image; the engine's
``prepare_transfer`` then runs an ordinary ``StyleTransfer`` whose objective is ``StyleCost``:

    J = alpha J_content + beta sum_l lambda_l sum_i w_il E_il(G) + tv_weight J_TV(G)

where E_il compares the Gram of style image i with G's Gram (with a mask: G's guided Gram of
region i) at layer l, and J_TV is ``compute_total_variation_cost`` (a plain sum of squared
neighbour differences, graded in notebook 07). With every option at its default the seed's cost
and loop run untouched.

Lesson: notebooks/07_beyond.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf

from nst_lab.beyond.color import RGB_TO_YIQ, luminance_image, match_color_histogram, match_luminance, restore_chroma
from nst_lab.beyond.guided import layer_masks, layer_style_cost_normalized, load_mask, normalized_gram
from nst_lab.config import MIN_SIZE, StyleConfig
from nst_lab.costs import compute_content_cost, compute_total_variation_cost
from nst_lab.errors import ConfigError
from nst_lab.images import as_image


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
            "give one weight per style, e.g. style_blend (0.7, 0.3) for two", ["style_blend"]
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


def uses_extensions(config: StyleConfig, style: Any = None, mask: Any = None) -> bool:
    """True when the run needs the extended cost rather than the seed's."""
    several = isinstance(style, (list, tuple)) and len(style) != 1
    return several or mask is not None or config != config.replace(
        preserve_color="none", style_blend=None, tv_weight=0.0, style_scale=1.0, mask=None
    )


class StyleCost:
    """The extended cost: several style targets with weights, optional masks and TV term."""

    def __init__(self, extractor: Any, a_C: Sequence[tf.Tensor], style_grams: list[list[tf.Tensor]],  # noqa: N803
                 weights: list[float], style_layers: Sequence[tuple[str, float]], masks: list[tf.Tensor] | None,
                 tv_weight: float, chroma_source: np.ndarray | None):
        self.extractor = extractor  # image -> activations (style layers, then the content layer)
        self.a_C = a_C  # activations of the content image, same layout
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

    def parts(self, generated_image: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(J_content, J_style, tv_weight * J_TV(G)) of G (1, H, W, 3); ``nst_lab.engine.step`` weights them.

        In luminance mode the network sees G's luminance as a grey image, so only Y is optimised.
        """
        if self.chroma_source is not None:
            generated_image = grey(generated_image)
        a_G = self.extractor(generated_image)
        J_style = self.style_cost(a_G[:-1])
        J_content = compute_content_cost(self.a_C, a_G)
        J_extra = (self.tv_weight * compute_total_variation_cost(generated_image) if self.tv_weight
                   else tf.constant(0.0))
        return J_content, J_style, J_extra

    def finish(self, image: np.ndarray) -> np.ndarray:
        """The image shown and saved: G itself, or G's luminance with the content's chroma."""
        if self.chroma_source is None:
            return image
        return restore_chroma(image, self.chroma_source)


def prepare_images(content_image: tf.Tensor, styles: Sequence[Any], config: StyleConfig
                   ) -> tuple[np.ndarray, list[np.ndarray], np.ndarray | None]:
    """The images the network sees: (content, styles, chroma source or None).

    Args:
        content_image: (1, H, W, 3) float32 in [0, 1], already at the run's size.
        styles: style sources (paths, PIL images, arrays), resized to the style scale's shape.
        config: preserve_color, style_blend, style_scale, scales are read.

    Returns:
        content (1, H, W, 3) (grey in luminance mode), styles each (1, H_S, W_S, 3), and the colour
        content (1, H, W, 3) whose chroma luminance mode restores (else None).
    """
    if not styles:
        raise ConfigError("give at least one style image")
    if config.scales > 1:  # coarse-to-fine knows only the seed's cost, so refuse rather than ignore
        raise ConfigError("scales > 1 works only with the plain seed cost: set scales to 1, or drop "
                          "preserve_color, style_blend, tv_weight, style_scale, mask and extra styles",
                          ["scales", "preserve_color", "style_blend", "tv_weight", "style_scale", "mask"])
    blend_weights(config.style_blend, len(styles))  # validates the count before any work
    content_rgb = np.asarray(content_image, dtype=np.float32)
    shape = style_shape((int(content_rgb.shape[1]), int(content_rgb.shape[2])), config.style_scale)
    style_rgbs = [np.asarray(as_image(s, shape)) for s in styles]  # each (1, H_S, W_S, 3)
    if config.preserve_color == "histogram":
        return content_rgb, [match_color_histogram(s, content_rgb) for s in style_rgbs], None
    if config.preserve_color == "luminance":
        return luminance_image(content_rgb), [match_luminance(s, content_rgb) for s in style_rgbs], content_rgb
    return content_rgb, style_rgbs, None


def extended_objective(extractor: Any, content: np.ndarray, styles: list[np.ndarray], chroma: np.ndarray | None,
                       config: StyleConfig, mask: Any = None) -> StyleCost:
    """The extended cost of a run, from the images ``prepare_images`` made.

    Args:
        extractor: image (1, H, W, 3) -> float32 activations (style layers, then content layer).
        content, styles, chroma: ``prepare_images``'s output.
        config: style_blend, style_layers, tv_weight and mask are read.
        mask: overrides config.mask: a path, PIL image, RGB array or int label array (H, W).

    Returns:
        StyleCost; its ``style_images`` holds the styles as the network saw them, for figures.
    """
    n_style = len(config.style_layers)
    grams = [[normalized_gram(a) for a in extractor(tf.constant(s))[:n_style]] for s in styles]
    a_C = extractor(tf.constant(content))
    mask_source = mask if mask is not None else config.mask
    masks = None
    if mask_source is not None:
        maps = load_mask(mask_source, len(styles), (int(content.shape[1]), int(content.shape[2])))
        masks = layer_masks(maps, a_C[:n_style])
    blend = blend_weights(config.style_blend, len(styles))
    cost = StyleCost(extractor, a_C, grams, blend, config.style_layers, masks, config.tv_weight, chroma)
    cost.style_images = styles
    return cost
