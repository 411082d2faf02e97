"""A training-free feature network for style transfer offline: one layer of random filters per scale.

Without ImageNet weights, VGG19 with random He-normal weights matches style Gram matrices yet
produces coloured pixel noise, not style. Ustyuzhaninov, Brendel, Gatys and Bethge ("What does
it take to generate natural textures?", ICLR 2017) found that a *single* convolution layer of
random filters, taken at several filter sizes with many maps each, already synthesises textures
close to VGG19's. This module builds such a network from a seed, in NumPy:

- ``half``: the picture blurred by binomial taps (1, 4, 6, 4, 1) / 16 and kept at every second
  pixel. The binomial is exactly 0 at the Nyquist frequency, so nothing behind it can see, or
  paint through its gradient, the 2-px plaid that any other stride leaves (a stride-2 content
  layer and a Gaussian blur before halving were both measured to print it).
- ``scale1_conv`` ... ``scaleN_conv``: reflect padding, then a Conv2D of random kernels (stride 1)
  and ReLU; 5x5, 7x7 and 11x11 kernels on the picture, 7x7 and 11x11 on ``half`` (22 px of the
  picture: the 4x cheaper stand-in for 15x15 and 23x23 kernels). Each kernel is white noise
  blurred in proportion to its size, so big kernels see strokes and blobs while pixel-scale
  detail is left to the small ones. The input is centred on 0.5 through the bias, so colour and
  texture both show in the responses. There is no 3x3 bank: its near-white kernels are matched
  by pixel dither, and dropping it raised the texture measure on every pair tried. Their Gram
  matrices are the style representation.
- ``content``: smooth zero-mean random filters on the luminance of ``half``, linear. They keep
  where the edges of the photograph are at a coarse scale and leave colours and fine strokes
  free for the style.

The model plugs into the engine like VGG19 (``features="multiscale"``, or ``"auto"`` offline)
with its own ``MULTISCALE_STYLE_LAYERS`` and ``MULTISCALE_CONTENT_LAYER``; the run's alpha, beta
and learning rate are the presets' (alpha 100, beta 10, Adam 0.03), and the style weights below
are scaled so that those give the measured balance.

Lesson: notebooks/08_trained_network.ipynb
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import keras
import numpy as np
import tensorflow as tf

MULTISCALE_NOTE = (
    "training-free multi-scale random-filter network (Ustyuzhaninov et al. 2017), not ImageNet VGG19"
)
# (kernel size, level) of each style bank, smallest first; level 1 is the picture, level 2 ``half``.
MULTISCALE_BANKS: tuple[tuple[int, int], ...] = ((5, 1), (7, 1), (11, 1), (7, 2), (11, 2))
HALF_ORDER = 4  # the half-resolution copy is blurred by binomial taps C(4, k) / 16 before halving
MULTISCALE_MAPS = 64  # feature maps per bank
MULTISCALE_SMOOTHING = 0.12  # Gaussian blur of the style kernels, as a fraction of their side
CONTENT_KERNEL = 9  # kernel side of the content filters, in px of ``half``
CONTENT_SIGMA = 1.25  # blur of the content kernels in px of ``half`` (2.5 px of the picture)
CONTENT_MAPS = 32
# Style weights: 30 / (each bank's style cost between content and style), geometric mean over
# chelsea/swirls, coffee/mosaic and astronaut/waves at 192 px, seed 272, normalised so the
# weights' geometric mean is 30. Equal per-bank terms keep every scale in play (smooth big kernels
# respond far more strongly than small ones). The 30 folds in the cost balance: at the presets'
# alpha 100, beta 10 (quick preset) it gave texture 0.69 and 0.40 on chelsea/swirls and
# astronaut/waves against 0.51 and 0.23 for 10, with the content still clear (edges 0.90, 0.98).
MULTISCALE_STYLE_LAYERS: list[tuple[str, float]] = [
    ("scale1_conv", 199.6), ("scale2_conv", 46.7), ("scale3_conv", 6.27),
    ("scale4_conv", 43.3), ("scale5_conv", 9.61),
]
MULTISCALE_CONTENT_LAYER = "content"


@keras.saving.register_keras_serializable(package="nst_lab")
class ReflectPad2D(keras.layers.Layer):
    """Pad height and width by mirroring the picture (no repeated edge row), so borders look like insides.

    Args (constructor):
        pad: pixels added on each side of both spatial axes (>= 0).

    Call:
        x: (batch, H, W, C), any float dtype; H and W must exceed ``pad``.

    Returns:
        (batch, H + 2 pad, W + 2 pad, C), the layer's compute dtype.

    Lesson: notebooks/08_trained_network.ipynb
    """

    def __init__(self, pad: int, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        if pad < 0:
            raise ValueError(f"pad must be 0 or more, got {pad}")
        self.pad = int(pad)

    def call(self, x: tf.Tensor) -> tf.Tensor:
        if self.pad == 0:
            return x
        p = self.pad
        return tf.pad(x, [[0, 0], [p, p], [p, p], [0, 0]], mode="REFLECT")

    def compute_output_shape(self, input_shape: tuple[int | None, ...]) -> tuple[int | None, ...]:
        batch, height, width, channels = input_shape
        return batch, self._grow(height), self._grow(width), channels

    def _grow(self, n: int | None) -> int | None:
        return None if n is None else n + 2 * self.pad

    def get_config(self) -> dict[str, Any]:
        config = super().get_config()
        config["pad"] = self.pad
        return config


def _padding_layer(padding: str, pad: int, name: str) -> keras.layers.Layer:
    if padding == "reflect":
        return ReflectPad2D(pad, name=name)
    if padding == "zero":
        return keras.layers.ZeroPadding2D(pad, name=name)
    raise ValueError(f"padding {padding!r} is not one of reflect, zero")


def style_bank_weights(
    rng: np.random.RandomState, kernel: int, maps: int, smoothing: float = 0.0, zero_mean: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Random kernels of one style bank and the bias that centres its input on 0.5.

    Args:
        rng: the seeded NumPy stream (advanced by kernel * kernel * 3 * maps draws).
        kernel: kernel side in px.
        maps: number of filters.
        smoothing: the kernels' white noise is blurred by a Gaussian of smoothing * kernel px
            (0 = white He-normal kernels). Smooth large kernels leave pixel-scale detail to the
            small banks, so their gradients do not dither the picture.

    Returns:
        (kernel (kernel, kernel, 3, maps) float32, bias (maps,) float32). Every filter has the
        squared norm 2 of a He-normal N(0, 2/fan_in) kernel on average; conv(x) + bias equals
        conv(x - 0.5) because reflect padding commutes with subtracting a constant.
    """
    w = rng.normal(0.0, 1.0, (kernel, kernel, 3 * maps))
    sigma = smoothing * kernel
    if sigma > 0.0:
        w = _gaussian_smooth(w, sigma)
    w = w.reshape(kernel, kernel, 3, maps)
    if zero_mean:
        w -= w.mean(axis=(0, 1), keepdims=True)
    w *= np.sqrt(2.0 / (w**2).sum(axis=(0, 1, 2), keepdims=True))
    bias = -0.5 * w.sum(axis=(0, 1, 2))
    return w.astype(np.float32), bias.astype(np.float32)


def _gaussian_smooth(noise: np.ndarray, sigma: float) -> np.ndarray:
    """Blur the first two axes of ``noise`` (k, k, ...) with a Gaussian of ``sigma`` px, zero outside the kernel."""
    k = noise.shape[0]
    offsets = np.arange(k)[:, None] - np.arange(k)[None, :]
    taps = np.exp(-0.5 * (offsets / sigma) ** 2)  # (k, k): row i mixes entries j near i
    return np.einsum("ia,jb,ab...->ij...", taps, taps, noise)


def content_weights(
    rng: np.random.RandomState, kernel: int, maps: int, sigma: float
) -> tuple[np.ndarray, np.ndarray]:
    """Smooth zero-mean random kernels on luminance: coarse edges, not colours and not fine strokes.

    White noise blurred by a Gaussian of ``sigma`` px, made zero-mean and unit-norm, then spread
    equally over R, G and B (a third each), so the filters see only luminance.

    Args:
        rng: the seeded NumPy stream (advanced by kernel * kernel * maps draws).
        kernel: kernel side in px.
        maps: number of filters.
        sigma: blur of the kernels in px; larger keeps only coarser structure of the photograph.

    Returns:
        (kernel (kernel, kernel, 3, maps) float32, bias (maps,) zeros float32). Each filter sums
        to 0, so a flat patch of any colour responds 0.
    """
    w = _gaussian_smooth(rng.normal(0.0, 1.0, (kernel, kernel, maps)), sigma)
    w -= w.mean(axis=(0, 1), keepdims=True)
    w /= np.sqrt((w**2).sum(axis=(0, 1), keepdims=True))
    w = np.repeat(w[:, :, None, :] / 3.0, 3, axis=2)
    return w.astype(np.float32), np.zeros(maps, np.float32)


def binomial_taps(n: int) -> np.ndarray:
    """Binomial taps C(n, k) / 2^n, k = 0..n: (n + 1,) float64 summing to 1, exactly 0 at the Nyquist frequency."""
    taps = np.array([math.comb(n, k) for k in range(n + 1)], dtype=np.float64)
    return taps / taps.sum()


def _check_banks(banks: Sequence[tuple[int, int]], half_order: int) -> None:
    if not banks:
        raise ValueError("banks is empty: give at least one (kernel size, level) pair")
    if half_order < 2 or half_order % 2:
        raise ValueError(f"half_order must be even and at least 2, got {half_order}")
    if any(level not in (1, 2) for _, level in banks):
        raise ValueError(f"bank levels must be 1 (full resolution) or 2 (half), got {[b[1] for b in banks]}")


def _half_resolution(inputs: Any, padding: str, half_order: int) -> tuple[Any, list[tuple[Any, list[np.ndarray]]]]:
    """The picture blurred by binomial taps and halved, ``half`` (1, ceil(H/2), ceil(W/2), 3), and its weights."""
    taps = binomial_taps(half_order)
    x = _padding_layer(padding, half_order // 2, "half_pad")(inputs)
    blur = keras.layers.DepthwiseConv2D(half_order + 1, strides=2, padding="valid", use_bias=False, name="half")
    kernel2d = np.outer(taps, taps)[:, :, None, None] * np.ones((1, 1, 3, 1))  # (n + 1, n + 1, 3, 1)
    return blur(x), [(blur, [kernel2d.astype(np.float32)])]


def build_multiscale(
    seed: int = 272,
    banks: Sequence[tuple[int, int]] = MULTISCALE_BANKS,
    maps: int = MULTISCALE_MAPS,
    padding: str = "reflect",
    smoothing: float = MULTISCALE_SMOOTHING,
    colour_banks: int | None = None,
    content_kernel: int = CONTENT_KERNEL,
    content_sigma: float = CONTENT_SIGMA,
    content_maps: int = CONTENT_MAPS,
    half_order: int = HALF_ORDER,
) -> keras.Model:
    """Build the frozen multi-scale random-filter network from ``seed``.

    Args:
        seed: seed of ``np.random.RandomState``; the same seed always gives the same weights.
        banks: (kernel size, level) of each style bank, named ``scale1_conv`` ... in this order;
            level 1 runs on the picture, level 2 on the half-resolution copy ``half``, with
            stride 1 on either.
        maps: feature maps per style bank.
        padding: "reflect" (mirror, no border artefacts) or "zero".
        smoothing: blur of the style kernels as a fraction of their side (see style_bank_weights).
        colour_banks: the first ``colour_banks`` banks keep their mean; the later ones are made
            zero-mean per input channel (blind to flat colour). The default keeps every bank's mean
            (zero-mean big banks were measured to paint rainbow fringes).
        content_kernel, content_sigma, content_maps: side, blur (px of ``half``) and number of the
            content filters, which run on ``half``.
        half_order: even order n of the binomial taps C(n, k) / 2^n that blur the picture
            before it is halved (n + 1 taps; 4 gives (1, 4, 6, 4, 1) / 16).

    Returns:
        A Keras functional model, input (None, None, None, 3) float32 in [0, 1], outputs
        ``[scale1_conv, ..., scaleN_conv, content]``; for a (1, H, W, 3) input and odd kernels
        ``scale{i}_conv`` has shape (1, ceil(H / level_i), ceil(W / level_i), maps) and
        ``content`` (1, ceil(H / 2), ceil(W / 2), content_maps), all
        float32 (or the compute dtype of a with_precision copy). Not trainable.

    Lesson: notebooks/08_trained_network.ipynb
    """
    _check_banks(banks, half_order)
    rng = np.random.RandomState(seed)
    inputs = keras.Input((None, None, 3), name="input_layer")
    outputs = []
    half, weights = _half_resolution(inputs, padding, half_order)
    for i, (kernel, level) in enumerate(banks, start=1):
        source = inputs if level == 1 else half
        pad = _padding_layer(padding, kernel // 2, f"scale{i}_pad")(source)
        conv = keras.layers.Conv2D(maps, kernel, padding="valid", activation="relu", name=f"scale{i}_conv")
        outputs.append(conv(pad))
        zero_mean = colour_banks is not None and i > colour_banks
        weights.append((conv, list(style_bank_weights(rng, kernel, maps, smoothing, zero_mean))))
    x = _padding_layer(padding, content_kernel // 2, "content_pad")(half)
    conv = keras.layers.Conv2D(content_maps, content_kernel, padding="valid", name="content")
    outputs.append(conv(x))
    weights.append((conv, list(content_weights(rng, content_kernel, content_maps, content_sigma))))
    model = keras.Model(inputs, outputs, name="multiscale_random")
    for layer, values in weights:
        layer.set_weights(values)
    model.trainable = False
    return model
