"""Issue 22: the flipped convolution path computes TensorFlow's own activations and input gradients."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

from nst_lab.config import StyleConfig
from nst_lab.engine import convpath
from nst_lab.engine.convpath import (
    choose_conv_path,
    flippable,
    flipped_forward,
    flipped_kernel,
    resolve_conv_path,
)
from nst_lab.engine.flops import conv_shapes, step_flops
from nst_lab.engine.precision import Precision
from nst_lab.engine.transfer import Network, prepare_transfer
from nst_lab.vgg import WeightsInfo, build_tiny_vgg, get_layer_outputs

# the pooling boundaries: the last conv of blocks 1-2 and the first conv after each pool
LAYERS = ["block1_conv2", "block2_conv1", "block2_conv2", "block3_conv1", "block4_conv1", "block5_conv1"]
FLOAT32 = Precision("float32", "float32")


def _tape(forward, image, weights):
    """Activations of ``forward`` at ``image`` and the gradient of a random linear cost of all of them."""
    var = tf.Variable(image)
    with tf.GradientTape() as tape:
        outputs = forward(var)
        J = tf.add_n([tf.reduce_sum(a * w) for a, w in zip(outputs, weights)])
    return outputs, tape.gradient(J, var)


@pytest.mark.parametrize("height, width", [(37, 29), (64, 48)])  # odd sides: pooling floors
def test_flipped_gradient_equals_tensorflows(height, width):
    vgg = build_tiny_vgg(seed=3, width=8)
    image = np.random.RandomState(4).uniform(size=(1, height, width, 3)).astype(np.float32)
    reference = get_layer_outputs(vgg, [(name, 1.0) for name in LAYERS])
    weights = [tf.constant(np.random.RandomState(i).normal(size=a.shape).astype(np.float32))
               for i, a in enumerate(reference(image))]
    want_out, want_grad = _tape(lambda x: reference(x), image, weights)
    got_out, got_grad = _tape(flipped_forward(vgg, LAYERS), image, weights)
    for got, want in zip(got_out, want_out):
        np.testing.assert_allclose(got.numpy(), want.numpy(), rtol=1e-5, atol=1e-6)
    scale = float(tf.reduce_max(tf.abs(want_grad)))
    assert scale > 0
    np.testing.assert_allclose(got_grad.numpy(), want_grad.numpy(), rtol=1e-4, atol=1e-5 * scale)


def test_an_unflipped_kernel_gives_a_wrong_gradient(monkeypatch):
    """The check above can fail: only swapping the channels (no spatial flip) is caught."""
    vgg = build_tiny_vgg(seed=3, width=8)
    image = np.random.RandomState(4).uniform(size=(1, 37, 29, 3)).astype(np.float32)
    reference = get_layer_outputs(vgg, [(name, 1.0) for name in LAYERS])
    weights = [tf.constant(np.random.RandomState(i).normal(size=a.shape).astype(np.float32))
               for i, a in enumerate(reference(image))]
    want_grad = _tape(lambda x: reference(x), image, weights)[1]
    monkeypatch.setattr(convpath, "flipped_kernel", lambda k: tf.transpose(k, perm=[0, 1, 3, 2]))
    wrong_grad = _tape(flipped_forward(vgg, LAYERS), image, weights)[1]
    assert not np.allclose(wrong_grad.numpy(), want_grad.numpy(), rtol=1e-3, atol=1e-3)


def test_flipped_kernel_matches_its_definition():
    kernel = np.random.RandomState(0).normal(size=(3, 3, 2, 5)).astype(np.float32)
    flipped = flipped_kernel(tf.constant(kernel)).numpy()
    assert flipped.shape == (3, 3, 5, 2)
    for i, j, o, c in [(0, 0, 0, 0), (0, 2, 4, 1), (1, 2, 3, 0), (2, 1, 1, 1)]:
        assert flipped[i, j, o, c] == kernel[2 - i, 2 - j, c, o]


def test_the_engine_step_is_the_same_on_both_paths():
    """Five Adam steps through ``prepare_transfer``: same costs and image, keras vs flipped."""
    vgg = build_tiny_vgg(seed=0)
    r = np.random.RandomState(0)
    content, style = (tf.constant(r.uniform(size=(1, 40, 36, 3)).astype(np.float32)) for _ in range(2))
    config = StyleConfig(size=40, steps=5, save_every=0, weights="random", precision="float32")
    network = Network(vgg, WeightsInfo("random", "tiny", "RANDOM test weights"))
    runs = {path: prepare_transfer(content, style, config, network=network, conv_path=path)
            for path in ("keras", "flipped")}
    assert {run.conv_path.name for run in runs.values()} == {"keras", "flipped"}
    for _ in range(5):
        costs = {path: run.step() for path, run in runs.items()}
        np.testing.assert_allclose(costs["flipped"], costs["keras"], rtol=5e-4)  # summation order
    np.testing.assert_allclose(runs["flipped"].image(), runs["keras"].image(), atol=1e-4)


def test_layers_the_path_does_not_cover_are_refused():
    inputs = keras.Input((None, None, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="block1_conv1")(inputs)
    model = keras.Model(inputs, x)
    assert not flippable(model, ["block1_conv1"])
    with pytest.raises(ValueError, match="3x3 stride-1"):
        flipped_forward(model, ["block1_conv1"])
    assert flippable(build_tiny_vgg(), LAYERS)


@pytest.mark.parametrize("precision, flags, gpus, onednn, path", [
    ("float32", {"avx2", "fma"}, [], False, "flipped"),  # AVX2-only CPU, TensorFlow's Eigen default
    ("float32", {"avx2", "avx512_vnni"}, [], True, "keras"),  # oneDNN on: its own backward is fast
    ("float32", {"amx_bf16", "avx512_bf16"}, [], True, "keras"),  # AMX: the measured path kept
    ("float32", {"avx2"}, [(8, 0)], False, "keras"),  # GPU
    ("bfloat16", {"amx_bf16"}, [], True, "keras"),  # reduced precision runs in Keras' layers
    ("float16", set(), [(8, 0)], False, "keras"),
])
def test_auto_picks_per_machine(precision, flags, gpus, onednn, path):
    name, reason = choose_conv_path(precision, flags, gpus, onednn)
    assert name == path and reason


def test_requested_paths_and_the_override(monkeypatch):
    monkeypatch.delenv(convpath.ENV_OVERRIDE, raising=False)
    assert resolve_conv_path(FLOAT32, "keras").name == "keras"
    assert resolve_conv_path(Precision("bfloat16", "bfloat16"), "flipped").name == "keras"
    assert resolve_conv_path(FLOAT32, None, {"avx2"}, [], onednn=False).name == "flipped"
    assert resolve_conv_path(FLOAT32, None, {"avx2"}, [], onednn=True).name == "keras"
    monkeypatch.setenv(convpath.ENV_OVERRIDE, "keras")
    assert resolve_conv_path(FLOAT32, None, {"avx2"}, [], onednn=False).name == "keras"
    with pytest.raises(ValueError, match="not one of"):
        resolve_conv_path(FLOAT32, "nchw")


def test_flops_count_from_the_layer_shapes():
    shapes = conv_shapes("vgg16", 32, 30, "block2_conv1")
    assert [s[1:] for s in shapes] == [(32, 30, 3, 64), (32, 30, 64, 64), (16, 15, 64, 128)]
    by_hand = 2 * 9 * (32 * 30 * (3 * 64 + 64 * 64) + 16 * 15 * 64 * 128)
    gram = 4 * 32 * 30 * 64**2
    counted = step_flops("vgg16", 32, 30, ["block1_conv1", "block2_conv1"])
    assert counted["forward"] == by_hand
    assert counted["gram"] == gram
    assert counted["total"] == 2 * by_hand + gram


@pytest.mark.parametrize("flags, kind", [({"avx2", "fma"}, "AVX2"), ({"avx2", "avx512f", "avx512_vnni"}, "AVX-512"),
                                         ({"avx512f", "amx_bf16"}, "AMX"), (set(), "no AVX2")])
def test_cpu_kind_labels(flags, kind, monkeypatch):
    monkeypatch.delenv("ONEDNN_MAX_CPU_ISA", raising=False)
    assert convpath.cpu_kind(flags) == kind
    monkeypatch.setenv("ONEDNN_MAX_CPU_ISA", "AVX2")
    assert convpath.cpu_kind(flags).startswith(kind + " (oneDNN capped at AVX2")
