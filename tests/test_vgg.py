"""VGG19 loading: random (seeded, non-vanishing), by path, the ImageNet download and its fallback."""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
import tensorflow as tf

from nst_lab import vgg as vgg_module
from nst_lab.config import CONTENT_LAYER, STYLE_LAYERS
from nst_lab.errors import WeightsError
from nst_lab.vgg import FeatureExtractor, build_tiny_vgg, get_layer_outputs, load_vgg19

LAYERS = [n for n, _ in STYLE_LAYERS + CONTENT_LAYER]


def test_random_weights_are_seeded_and_frozen(vgg_random):
    model, info = vgg_random
    assert info.kind == "random" and info.is_random and "RANDOM" in info.note
    assert not model.trainable and model.trainable_weights == []
    again, _ = load_vgg19("random", seed=272)
    other, _ = load_vgg19("random", seed=273)
    k = model.get_layer("block3_conv2").get_weights()[0]
    np.testing.assert_array_equal(k, again.get_layer("block3_conv2").get_weights()[0])
    assert not np.allclose(k, other.get_layer("block3_conv2").get_weights()[0])


def test_deep_features_do_not_vanish(vgg_random):
    model, _ = vgg_random
    image = tf.constant(np.random.RandomState(0).uniform(size=(1, 64, 64, 3)).astype(np.float32))
    outputs = FeatureExtractor(model, LAYERS)(image)
    stds = [float(tf.math.reduce_std(a)) for a in outputs]
    assert min(stds) > 0.1 and max(stds) < 10, stds  # He init keeps the scale within a decade


@pytest.mark.parametrize("side", [32, 57, 96])
def test_any_input_size_from_32(vgg_random, side):
    model, _ = vgg_random
    outputs = FeatureExtractor(model, LAYERS)(tf.zeros((1, side, side + 8, 3)))
    assert [a.shape[-1] for a in outputs] == [64, 128, 256, 512, 512, 512]
    assert outputs[0].shape[1:3] == (side, side + 8)
    assert all(a.dtype == tf.float32 for a in outputs)


def test_extractor_outputs_style_layers_then_content_layer(vgg_random):
    model, _ = vgg_random
    extractor = get_layer_outputs(model, STYLE_LAYERS + CONTENT_LAYER)
    x = tf.constant(np.random.RandomState(1).uniform(size=(1, 32, 32, 3)).astype(np.float32))
    outs = extractor(x)
    for name, out in zip(LAYERS, outs):
        alone = keras.Model(model.input, model.get_layer(name).output)(x)
        np.testing.assert_allclose(out.numpy(), alone.numpy(), rtol=1e-5, atol=1e-5)


def test_caffe_preprocessing_matches_keras(tiny_vgg):
    x = np.random.RandomState(2).uniform(size=(1, 32, 32, 3)).astype(np.float32)
    got = FeatureExtractor(tiny_vgg, ["block1_conv1"], preprocess="caffe")(tf.constant(x))[0]
    bgr = x[..., ::-1] * 255.0 - np.array([103.939, 116.779, 123.68], dtype=np.float32)
    want = keras.Model(tiny_vgg.input, tiny_vgg.get_layer("block1_conv1").output)(bgr)
    np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-4, atol=1e-3)


def test_tiny_vgg_has_vgg19_layer_names(vgg_random, tiny_vgg):
    names = lambda m: [layer.name for layer in m.layers if "block" in layer.name]  # noqa: E731
    assert names(tiny_vgg) == names(vgg_random[0])


@pytest.mark.slow
def test_weights_file_written_by_keras_loads_by_path(tmp_path, vgg_random):
    source, _ = vgg_random
    path = tmp_path / "vgg19.weights.h5"
    source.save_weights(path)
    model, info = load_vgg19(str(path))
    assert info.kind == "file" and info.source == str(path)
    for layer in ("block1_conv1", "block5_conv4"):
        np.testing.assert_array_equal(model.get_layer(layer).get_weights()[0], source.get_layer(layer).get_weights()[0])


@pytest.mark.parametrize("name, content, why", [
    ("missing.h5", None, "does not exist"),
    ("empty.h5", b"", "not a Keras .h5"),
    ("notes.txt", b"abc", "not a Keras .h5"),
    ("garbage.h5", b"this is not hdf5", "could not load"),
])
def test_bad_weights_files_fail_clearly(tmp_path, name, content, why):
    path = tmp_path / name
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(WeightsError) as info:
        load_vgg19(str(path))
    assert why in str(info.value) and str(path) in str(info.value)
    assert "set `weights` to its path" in str(info.value) or "no-top VGG19" in str(info.value)


@pytest.fixture
def unreachable_download(monkeypatch, tmp_path):
    """The real download code, pointed at a closed port on this machine and an empty cache."""
    monkeypatch.setattr(vgg_module, "IMAGENET_URL", "http://127.0.0.1:9/vgg19_notop.h5")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))


def test_auto_falls_back_to_random_and_says_so(unreachable_download):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        model, info = load_vgg19("auto")
    assert info.kind == "random"
    text = " ".join(str(w.message) for w in caught)
    assert "FALLING BACK TO RANDOM" in text and "`weights`" in text


def test_imagenet_without_network_is_a_clear_error(unreachable_download):
    with pytest.raises(WeightsError, match="could not download the ImageNet VGG19 weights"):
        load_vgg19("imagenet")


def test_imagenet_uses_the_keras_cache_with_checksum(monkeypatch, tmp_path):
    """A cached file with the right name but a wrong checksum is not trusted."""
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(vgg_module, "IMAGENET_URL", "http://127.0.0.1:9/vgg19_notop.h5")
    cached = tmp_path / "models" / vgg_module.IMAGENET_FILE
    cached.parent.mkdir(parents=True)
    cached.write_bytes(b"corrupt")
    assert vgg_module.keras_cache_path() == cached
    with pytest.raises(WeightsError):
        load_vgg19("imagenet")


def test_build_tiny_vgg_is_deterministic():
    a, b = build_tiny_vgg(seed=5), build_tiny_vgg(seed=5)
    kernel = lambda m: m.get_layer("block2_conv1").get_weights()[0]  # noqa: E731
    np.testing.assert_array_equal(kernel(a), kernel(b))


@pytest.mark.slow
def test_legacy_h5_like_the_imagenet_file_loads_by_path(tmp_path, vgg_random):
    """The Keras ImageNet file is a legacy HDF5 weights file; write one the same way."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    source, _ = vgg_random
    path = tmp_path / "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, source)
    model, info = load_vgg19(path)
    assert info.kind == "file"
    np.testing.assert_array_equal(model.get_layer("block4_conv3").get_weights()[0],
                                  source.get_layer("block4_conv3").get_weights()[0])
