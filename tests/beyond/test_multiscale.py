"""The training-free multi-scale random-filter network: weights from a seed, names, padding, precision.

Small inputs (24-64 px) keep every test to a few seconds; the end-to-end comparison with random
VGG19 runs at 96 px and is marked slow.
"""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst_lab.beyond.multiscale import (
    MULTISCALE_BANKS,
    MULTISCALE_CONTENT_LAYER,
    MULTISCALE_DEFAULTS,
    MULTISCALE_MAPS,
    MULTISCALE_NOTE,
    MULTISCALE_STYLE_LAYERS,
    ReflectPad2D,
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
    for a, b, c in zip(net.get_weights(), again.get_weights(), other.get_weights()):
        np.testing.assert_array_equal(a, b)
        assert a.shape == c.shape
        if a.ndim == 4:  # kernels (biases of the content layer are 0 for every seed)
            assert not np.allclose(a, c)


def test_weights_come_from_numpy_randomstate_in_bank_order(net):
    rng = np.random.RandomState(272)
    kernel, bias = style_bank_weights(rng, 3, MULTISCALE_MAPS, 0.12)
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
    assert [n for n, _ in MULTISCALE_STYLE_LAYERS] == [f"scale{i}_conv" for i in range(1, 7)]
    assert MULTISCALE_CONTENT_LAYER == "content" and "not ImageNet VGG19" in MULTISCALE_NOTE
    assert set(MULTISCALE_DEFAULTS) == {"alpha", "beta", "learning_rate"}
    assert net.input.shape == (None, None, None, 3) and not net.trainable
    outputs = net(_image(33, 40))
    for out, (_kernel, stride) in zip(outputs[:-1], MULTISCALE_BANKS):
        assert tuple(out.shape) == (1, -(-33 // stride), -(-40 // stride), MULTISCALE_MAPS)
    assert tuple(outputs[-1].shape) == (1, 17, 20, 32)
    assert min(float(tf.reduce_max(o)) for o in outputs[:-1]) > 0.0  # every bank has active units


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
    image = _image()
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


def _transfer(model, content, style, style_layers, content_layer, alpha, beta, lr, steps):
    """Run the project's engine for ``steps`` Adam steps and return G (H, W, 3)."""
    from nst_lab.config import QUICK
    from nst_lab.vgg import WeightsInfo

    cfg = QUICK.replace(size=int(content.shape[1]), style_layers=tuple(style_layers), content_layer=content_layer,
                        alpha=alpha, beta=beta, learning_rate=lr, precision="auto")
    info = WeightsInfo("random", "test", "")
    try:
        from nst_lab.engine.transfer import Network, prepare_transfer
    except ImportError:  # pragma: no cover - the layout before the split
        from nst_lab.train import StyleTransfer

        run = StyleTransfer(content, style, cfg, vgg=model, weights=info)
    else:
        run = prepare_transfer(content, style, cfg, network=Network(model, info))
    for _ in range(steps):
        run.step()
    return np.asarray(run.image())[0]


@pytest.mark.slow
def test_end_to_end_multiscale_stylises_where_random_vgg19_does_not(net, vgg_random):
    from nst_lab.beyond.measures import measure
    from nst_lab.config import CONTENT_LAYER, STYLE_LAYERS
    from nst_lab.images import load_image

    content = load_image("data/content/chelsea.jpg", size=96)
    style = load_image("data/style/swirls.jpg", size=96)
    d = MULTISCALE_DEFAULTS
    ours = _transfer(net, content, style, MULTISCALE_STYLE_LAYERS, MULTISCALE_CONTENT_LAYER,
                     d["alpha"], d["beta"], d["learning_rate"], 60)
    vgg = _transfer(vgg_random[0], content, style, STYLE_LAYERS, CONTENT_LAYER[0][0], 100.0, 10.0, 0.03, 60)
    m_ours, m_vgg = measure(content, ours, style), measure(content, vgg, style)
    assert m_ours.is_stylised(), m_ours  # default thresholds: colour >= 0.65, edges >= 0.25
    assert not m_vgg.is_stylised(), m_vgg
