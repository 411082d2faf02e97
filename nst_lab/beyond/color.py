"""Colour preservation (Gatys et al. 2016, "Preserving color in neural artistic style transfer").

Two ways to keep the content photo's colours while taking the style's texture:

- **luminance**: convert both images to YIQ, run the transfer on the luminance Y alone (as a
  grey RGB image), then give the result back the content's chroma (I, Q);
- **histogram**: before the transfer, move the style image's colours with an affine map so
  their mean and covariance equal the content's.

All functions here are NumPy: they run once before or after the optimisation, never inside it.

Lesson: notebooks/07_beyond.ipynb
"""

from __future__ import annotations

import numpy as np

# RGB -> YIQ (the NTSC matrix). The I and Q rows sum to 0, so a grey pixel has no chroma,
# and the Y row sums to 1, so grey v has luminance v.
RGB_TO_YIQ = np.array(
    [
        [0.299, 0.587, 0.114],
        [0.596, -0.274, -0.322],
        [0.211, -0.523, 0.312],
    ]
)
YIQ_TO_RGB = np.linalg.inv(RGB_TO_YIQ)  # its first column is (1, 1, 1): RGB = Y + f(I, Q)
EIGEN_FLOOR = 1e-8  # smallest covariance eigenvalue used when inverting a (near-)flat style


def rgb_to_yiq(image: np.ndarray) -> np.ndarray:
    """RGB -> YIQ, pixel by pixel.

    Args:
        image: array (..., 3), RGB floats in [0, 1].

    Returns:
        array (..., 3) float64: Y in [0, 1]; I in about [-0.6, 0.6]; Q in about [-0.52, 0.52].
    """
    return np.asarray(image, dtype=np.float64) @ RGB_TO_YIQ.T


def yiq_to_rgb(image: np.ndarray) -> np.ndarray:
    """YIQ -> RGB, the exact inverse of ``rgb_to_yiq`` (no clipping). Shapes (..., 3)."""
    return np.asarray(image, dtype=np.float64) @ YIQ_TO_RGB.T


def luminance_image(image: np.ndarray) -> np.ndarray:
    """The luminance Y as a grey RGB image, so VGG19 can take it: (..., 3) -> (..., 3) float32."""
    y = rgb_to_yiq(image)[..., :1]
    return np.repeat(y, 3, axis=-1).astype(np.float32)


def match_luminance(style_image: np.ndarray, content_image: np.ndarray) -> np.ndarray:
    """Grey style image whose luminance has the content's mean and standard deviation.

    Gatys et al. 2016 do this before luminance-only transfer so that the style's brightness
    range does not overrule the content's.

    Args:
        style_image, content_image: RGB arrays (..., H, W, 3) in [0, 1] (sizes may differ).

    Returns:
        grey RGB array with the style's shape, float32 in [0, 1].
    """
    y_style = rgb_to_yiq(style_image)[..., 0]
    y_content = rgb_to_yiq(content_image)[..., 0]
    spread = y_content.std() / max(y_style.std(), 1e-6)
    y = np.clip((y_style - y_style.mean()) * spread + y_content.mean(), 0.0, 1.0)
    return np.repeat(y[..., None], 3, axis=-1).astype(np.float32)


def restore_chroma(generated_image: np.ndarray, content_image: np.ndarray) -> np.ndarray:
    """Luminance of the generated image with the chroma (I, Q) of the content image.

    Where the new luminance would push a pixel out of [0, 1], the luminance is clamped to the
    range that the content's chroma allows, instead of clipping R, G and B one by one (which
    would change the colour). That range is never empty: the content pixel itself lies in it.

    Args:
        generated_image: RGB array (..., H, W, 3) in [0, 1]; only its luminance is used.
        content_image: RGB array of the same shape, in [0, 1].

    Returns:
        RGB array of the same shape, float32 in [0, 1], whose I and Q equal the content's.
    """
    y = rgb_to_yiq(generated_image)[..., 0]  # (..., H, W)
    chroma = rgb_to_yiq(content_image)
    chroma[..., 0] = 0.0
    offset = yiq_to_rgb(chroma)  # (..., H, W, 3): RGB = Y + offset
    low = np.max(-offset, axis=-1)  # Y >= -offset_c for every channel c
    high = np.min(1.0 - offset, axis=-1)  # Y <= 1 - offset_c
    y = np.clip(y, low, np.maximum(low, high))
    return np.clip(y[..., None] + offset, 0.0, 1.0).astype(np.float32)


def _sqrt_psd(matrix: np.ndarray, inverse: bool = False) -> np.ndarray:
    """Symmetric square root (or inverse square root) of a covariance matrix (3, 3)."""
    values, vectors = np.linalg.eigh(matrix)
    values = np.maximum(values, EIGEN_FLOOR)
    power = -0.5 if inverse else 0.5
    return (vectors * values**power) @ vectors.T


def match_color_histogram(
    style_image: np.ndarray, content_image: np.ndarray, clip: bool = True
) -> np.ndarray:
    """Recolour the style image so its colour mean and covariance equal the content's.

    Each style pixel x becomes ``A (x - mu_S) + mu_C`` with ``A = Sigma_C^(1/2) Sigma_S^(-1/2)``
    (symmetric matrix square roots), so the new covariance is ``A Sigma_S A^T = Sigma_C``.

    Args:
        style_image: RGB array (..., H_S, W_S, 3) in [0, 1].
        content_image: RGB array (..., H_C, W_C, 3) in [0, 1]; only its statistics are used.
        clip: clip the result to [0, 1] (a few saturated pixels then deviate a little).

    Returns:
        float32 array with the style's shape.
    """
    style = np.asarray(style_image, dtype=np.float64)
    pixels_s = style.reshape(-1, 3)  # (N_S, 3)
    pixels_c = np.asarray(content_image, dtype=np.float64).reshape(-1, 3)  # (N_C, 3)
    mean_s, mean_c = pixels_s.mean(axis=0), pixels_c.mean(axis=0)  # (3,)
    cov_s = np.cov(pixels_s, rowvar=False, bias=True)  # (3, 3)
    cov_c = np.cov(pixels_c, rowvar=False, bias=True)
    transform = _sqrt_psd(cov_c) @ _sqrt_psd(cov_s, inverse=True)  # A, (3, 3)
    matched = (pixels_s - mean_s) @ transform.T + mean_c  # (N_S, 3)
    if clip:
        matched = np.clip(matched, 0.0, 1.0)
    return matched.reshape(style.shape).astype(np.float32)
