"""Network-independent measures of stylisation: colour, texture and edge statistics.

Expected values are derived here from definitions (CIE Lab of sRGB primaries, a projection
written out by hand, a correlation computed with explicit loops), never read from the code under test.
"""

from __future__ import annotations

import numpy as np
import pytest

from nst_lab.beyond.measures import (
    Stylised,
    as_image,
    color_fraction,
    color_stats,
    dog_bank,
    edge_correlation,
    fraction_toward,
    measure,
    rgb_to_lab,
    texture_fraction,
    texture_responses,
    texture_stats,
)


def _photo(n: int = 64) -> np.ndarray:
    """A smooth colour ramp with a bright disc and a dark bar: (n, n, 3) in [0, 1]."""
    y, x = np.mgrid[0:n, 0:n] / n
    img = np.stack([0.2 + 0.6 * x, 0.4 + 0.3 * y, 0.7 - 0.4 * x], axis=-1)
    img[(x - 0.4) ** 2 + (y - 0.4) ** 2 < 0.04] = [0.95, 0.85, 0.3]
    img[(np.abs(x - 0.75) < 0.06) & (y > 0.2)] = [0.1, 0.1, 0.3]
    return img


def _stripes(n: int = 64) -> np.ndarray:
    """Diagonal magenta/teal stripes with a period of about 8 px: (n, n, 3)."""
    y, x = np.mgrid[0:n, 0:n]
    on = np.sin((x + y) * np.pi / 4.0) > 0
    return np.where(on[..., None], [0.9, 0.1, 0.6], [0.1, 0.7, 0.6]).astype(np.float64)


def test_as_image_accepts_both_layouts_and_refuses_a_batch():
    img = _photo(8)
    np.testing.assert_array_equal(as_image(img[None]), as_image(img))
    assert as_image(img).shape == (8, 8, 3)
    with pytest.raises(ValueError, match="batch of 2"):
        as_image(np.stack([img, img]))
    with pytest.raises(ValueError, match="expected"):
        as_image(img[..., :2])


def test_rgb_to_lab_matches_the_published_values_of_white_black_and_red():
    pixels = np.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0], [1.0, 0.0, 0.0]]])  # (1, 3, 3)
    lab = rgb_to_lab(pixels)[0]
    np.testing.assert_allclose(lab[0], [100.0, 0.0, 0.0], atol=0.05)
    np.testing.assert_allclose(lab[1], [0.0, 0.0, 0.0], atol=1e-9)
    np.testing.assert_allclose(lab[2], [53.24, 80.09, 67.20], atol=0.1)  # sRGB red, D65


def test_fraction_toward_is_the_projection_on_the_content_to_style_line():
    c, s = np.array([1.0, 1.0]), np.array([3.0, 1.0])
    assert fraction_toward(c, c, s) == 0.0
    assert fraction_toward(c, s, s) == 1.0
    assert fraction_toward(c, np.array([2.0, 7.0]), s) == pytest.approx(0.5)  # off-line part ignored
    assert fraction_toward(c, np.array([0.0, 1.0]), s) == pytest.approx(-0.5)  # away from the style
    assert np.isnan(fraction_toward(c, s, c))


def test_color_stats_rederived_on_a_tiny_picture_without_blur():
    img = np.array([[[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]], [[1.0, 1.0, 1.0], [0.0, 0.0, 0.0]]])  # half white
    stats = color_stats(img, blur=0.0)
    # Lab pixels: two of (100, 0, 0), two of (0, 0, 0): mean L 50, var L 2500, sqrt of cov = diag(50, 0, 0).
    np.testing.assert_allclose(stats[:3], [50.0, 0.0, 0.0], atol=0.05)
    np.testing.assert_allclose(stats[3:], [50.0, 0.0, 0.0, 0.0, 0.0, 0.0], atol=0.05)


def test_color_and_texture_fractions_are_0_for_the_content_and_1_for_the_style():
    c, s = _photo(), _stripes()
    assert color_fraction(c, c, s) == pytest.approx(0.0, abs=1e-12)
    assert color_fraction(c, s, s) == pytest.approx(1.0, abs=1e-12)
    assert texture_fraction(c, c, s) == pytest.approx(0.0, abs=1e-12)
    assert texture_fraction(c, s, s) == pytest.approx(1.0, abs=1e-12)
    half = 0.5 * (c + s)  # averaged pixels: part of the way, not all of it
    assert 0.2 < color_fraction(c, half, s) < 0.8


def test_color_fraction_ignores_pixel_noise_more_than_a_palette_change():
    c, s = _photo(), _stripes()
    rng = np.random.RandomState(0)
    noisy = np.clip(c + rng.uniform(-0.3, 0.3, c.shape), 0, 1)  # rainbow pixel noise
    assert abs(color_fraction(c, noisy, s)) < 0.15
    assert color_fraction(c, noisy, s) < color_fraction(c, 0.5 * (c + s), s)


def test_texture_responses_rederived_with_explicit_loops():
    rng = np.random.RandomState(3)
    img = rng.uniform(0, 1, (6, 7, 3))
    kernel = np.array([[0.0, -1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 1.0, 0.0]])  # vertical difference
    F = texture_responses(img, [kernel])
    gray = img @ np.array([0.299, 0.587, 0.114])
    padded = np.pad(gray, 1, mode="reflect")  # scipy's "mirror" is NumPy's "reflect"
    expected = np.zeros_like(gray)
    for i in range(6):
        for j in range(7):
            expected[i, j] = (padded[i : i + 3, j : j + 3] * kernel).sum()
    np.testing.assert_allclose(F[:, 0], np.maximum(expected, 0).ravel(), atol=1e-12)
    np.testing.assert_allclose(F[:, 1], np.maximum(-expected, 0).ravel(), atol=1e-12)
    gram = F.T @ F / F.shape[0]
    np.testing.assert_allclose(texture_stats(img, [kernel]), np.sqrt([gram[0, 0], gram[0, 1], gram[1, 1]]))


def test_dog_bank_kernels_are_zero_mean_unit_l1_and_oriented():
    bank = dog_bank((1.0, 2.0), 4)
    assert len(bank) == 8
    assert bank[0].shape == (7, 7) and bank[4].shape == (13, 13)
    for k in bank:
        assert abs(k.sum()) < 1e-12 and np.abs(k).sum() == pytest.approx(1.0)
    np.testing.assert_allclose(bank[2], bank[0].T, atol=1e-12)  # 90 degrees is the transpose of 0


def test_edge_correlation_high_for_a_blurred_copy_low_for_shuffled_pixels():
    from scipy import ndimage

    c = _photo(96)
    blurred = ndimage.gaussian_filter(c, (1.5, 1.5, 0))
    shuffled = np.random.RandomState(0).permutation(c.reshape(-1, 3)).reshape(c.shape)
    assert edge_correlation(c, c) == pytest.approx(1.0)
    assert edge_correlation(c, blurred) > 0.9
    assert abs(edge_correlation(c, shuffled)) < 0.2
    assert edge_correlation(c, np.full_like(c, 0.5)) == 0.0
    with pytest.raises(ValueError, match="same size"):
        edge_correlation(c, c[:90])


def test_measure_and_verdict():
    c, s = _photo(), _stripes()
    same = measure(c, c, s)
    assert same == Stylised(0.0, 0.0, pytest.approx(1.0))
    assert not same.is_stylised()
    assert Stylised(0.7, -0.1, 0.3).is_stylised()
    assert not Stylised(0.6, 0.9, 0.9).is_stylised()  # texture alone is not enough by default
    assert not Stylised(0.9, 0.9, 0.2).is_stylised()  # content lost
    assert not Stylised(0.7, 0.1, 0.9).is_stylised(min_texture=0.2)
