"""The training-free multi-scale random-filter network: weights from a seed, names, padding, precision.

Small inputs (24-64 px) keep every test to a few seconds. Whether the pictures it makes look
stylised is judged in test_stylized.py.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst_lab.beyond.multiscale import (
    MULTISCALE_BANKS,
    MULTISCALE_CONTENT_LAYER,
    MULTISCALE_MAPS,
    MULTISCALE_NOTE,
    MULTISCALE_STYLE_LAYERS,
    ReflectPad2D,
    binomial_taps,
    build_multiscale,
    content_weights,
    style_bank_weights,
)
from nst_lab.vgg import get_layer_outputs

try:  # the package is being split into subpackages; accept either home of with_precision
    from nst_lab.engine.precision import Precision, with_precision
except ImportError:  # pragma: no cover - the layout before the split
    from nst_lab.precision import Precision, with_precision

LAYERS = [*MULTISCALE_STYLE_LAYERS, (MULTISCALE_CONTENT_LAYER, 1.0)]


@pytest.fixture(scope="module")
def net():
    return build_multiscale(272)


def _image(h: int = 40, w: int = 48, seed: int = 0) -> tf.Tensor:
    return tf.constant(np.random.RandomState(seed).uniform(0, 1, (1, h, w, 3)).astype(np.float32))


def test_same_seed_same_weights_other_seed_other_weights(net):
    again, other = build_multiscale(272), build_multiscale(273)
    random_layers = [layer.name for layer in net.layers if layer.name.endswith("conv") or layer.name == "content"]
    assert len(random_layers) == len(MULTISCALE_BANKS) + 1
    for name in random_layers:
        for a, b, c in zip(*(m.get_layer(name).get_weights() for m in (net, again, other))):
            np.testing.assert_array_equal(a, b)
            assert a.shape == c.shape
            if a.ndim == 4:  # kernels (biases of the content layer are 0 for every seed)
                assert not np.allclose(a, c)
    # the half-resolution blur is fixed, not random
    np.testing.assert_array_equal(net.get_layer("half").get_weights()[0], other.get_layer("half").get_weights()[0])


def test_weights_come_from_numpy_randomstate_in_bank_order(net):
    rng = np.random.RandomState(272)
    kernel, bias = style_bank_weights(rng, MULTISCALE_BANKS[0][0], MULTISCALE_MAPS, 0.12)
    got_kernel, got_bias = net.get_layer("scale1_conv").get_weights()
    np.testing.assert_array_equal(got_kernel, kernel)
    np.testing.assert_array_equal(got_bias, bias)
    # He-normal's average squared norm 2 per filter, and a bias that centres the input on 0.5
    np.testing.assert_allclose((kernel.astype(np.float64) ** 2).sum(axis=(0, 1, 2)), 2.0, rtol=1e-5)
    np.testing.assert_allclose(bias, -0.5 * kernel.sum(axis=(0, 1, 2)), rtol=1e-5, atol=1e-6)


def test_content_filters_are_zero_mean_and_luminance_only():
    kernel, bias = content_weights(np.random.RandomState(0), 9, 4, 1.5)
    assert kernel.shape == (9, 9, 3, 4) and not bias.any()
    np.testing.assert_allclose(kernel.sum(axis=(0, 1, 2)), 0.0, atol=1e-5)  # float32 rounding
    np.testing.assert_allclose((kernel.astype(np.float64).sum(axis=2) ** 2).sum(axis=(0, 1)), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(kernel[:, :, 0], kernel[:, :, 1])
    np.testing.assert_array_equal(kernel[:, :, 0], kernel[:, :, 2])


def test_layer_names_shapes_and_constants(net):
    names = {layer.name for layer in net.layers}
    assert {f"scale{i}_conv" for i in range(1, len(MULTISCALE_BANKS) + 1)} <= names
    assert [n for n, _ in MULTISCALE_STYLE_LAYERS] == [f"scale{i}_conv" for i in range(1, len(MULTISCALE_BANKS) + 1)]
    assert all(weight > 0 for _, weight in MULTISCALE_STYLE_LAYERS)
    assert MULTISCALE_CONTENT_LAYER == "content" and "not ImageNet VGG19" in MULTISCALE_NOTE
    assert net.input.shape == (None, None, None, 3) and not net.trainable
    outputs = net(_image(33, 40))
    assert len(outputs) == len(MULTISCALE_BANKS) + 1
    for out, (_kernel, level) in zip(outputs[:-1], MULTISCALE_BANKS):
        assert tuple(out.shape) == (1, -(-33 // level), -(-40 // level), MULTISCALE_MAPS)
    assert tuple(outputs[-1].shape) == (1, 17, 20, 32)
    assert min(float(tf.reduce_max(o)) for o in outputs[:-1]) > 0.0  # every bank has active units


def test_half_copy_is_a_binomial_blur_blind_to_the_2px_plaid(net):
    np.testing.assert_allclose(binomial_taps(4), np.array([1, 4, 6, 4, 1]) / 16)
    with pytest.raises(ValueError, match="half_order"):
        build_multiscale(0, half_order=3)
    half = tf.keras.Model(net.input, net.get_layer("half").output)
    y, x = np.mgrid[0:24, 0:30]
    flat = np.full((24, 30), 0.5)
    # a plaid of period 2 in rows and columns (the stride artefact) and a 2-px checker: both vanish
    for pattern in (0.5 + 0.2 * ((-1.0) ** x + (-1.0) ** y) / 2, 0.5 + 0.2 * (-1.0) ** (x + y)):
        out = half(np.repeat(pattern[None, :, :, None], 3, axis=-1).astype(np.float32)).numpy()
        assert out.shape == (1, 12, 15, 3)
        np.testing.assert_allclose(out, 0.5, atol=1e-6)
    # a 4-px period passes, so the test can fail: (1, 4, 6, 4, 1) / 16 has gain (6 - 2) / 16 there
    wave = flat + 0.2 * np.cos(np.pi * x / 2)
    out = half(np.repeat(wave[None, :, :, None], 3, axis=-1).astype(np.float32)).numpy()[0, :, 2:-2, 0]
    assert np.abs(out - 0.5).max() == pytest.approx(0.2 / 4, abs=1e-5)


def test_reflect_pad_matches_numpy_and_round_trips_its_config():
    x = np.arange(2 * 4 * 5 * 3, dtype=np.float32).reshape(2, 4, 5, 3)
    layer = ReflectPad2D(2, name="p")
    np.testing.assert_array_equal(layer(x).numpy(), np.pad(x, [(0, 0), (2, 2), (2, 2), (0, 0)], mode="reflect"))
    clone = ReflectPad2D.from_config(layer.get_config())
    assert clone.pad == 2 and clone.name == "p"
    assert layer.compute_output_shape((None, 4, None, 3)) == (None, 8, None, 3)
    with pytest.raises(ValueError, match="pad"):
        ReflectPad2D(-1)


def test_constant_image_gives_spatially_constant_features_with_reflect_padding(net):
    flat = tf.fill((1, 37, 41, 3), 0.3)
    for out in net(flat):
        per_map = tf.reduce_max(out, axis=(1, 2)) - tf.reduce_min(out, axis=(1, 2))  # (1, n_C)
        assert float(tf.reduce_max(per_map)) < 1e-4
    zero = build_multiscale(272, padding="zero")  # the test can fail: zero padding marks the border
    per_map = [tf.reduce_max(o, axis=(1, 2)) - tf.reduce_min(o, axis=(1, 2)) for o in zero(flat)]
    assert max(float(tf.reduce_max(p)) for p in per_map) > 0.05


def test_gradients_reach_every_pixel(net):
    x = tf.Variable(_image(32, 32))
    with tf.GradientTape() as tape:
        outputs = net(x)
        cost = tf.add_n([tf.reduce_sum(tf.square(o)) for o in outputs])
    grad = tape.gradient(cost, x).numpy()
    assert np.isfinite(grad).all()
    assert (np.abs(grad).sum(axis=-1) > 0).all()  # borders included


def test_get_layer_outputs_and_bfloat16_copy(net):
    from nst_lab.images import load_image

    image = load_image("data/content/chelsea.jpg", size=48)  # a photograph: errors measured <= 0.012
    features = get_layer_outputs(net, LAYERS)
    reference = features(image)
    assert len(reference) == len(LAYERS)
    fast = with_precision(net, Precision("bfloat16", "bfloat16"))
    assert [layer.name for layer in fast.layers] == [layer.name for layer in net.layers]
    assert isinstance(fast.get_layer("scale1_pad"), ReflectPad2D)
    assert fast.get_layer("scale3_conv").compute_dtype == "bfloat16"
    low = get_layer_outputs(fast, LAYERS)(image)
    for a, b in zip(reference, low):
        assert b.dtype == tf.bfloat16
        b = tf.cast(b, tf.float32)
        error = float(tf.norm(a - b) / tf.norm(a))
        assert error < 0.03, error
    assert with_precision(net, Precision("float32", "float32")) is net
