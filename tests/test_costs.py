"""Each graded cost against an independent NumPy re-derivation, plus its basic properties."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from nst_lab.config import STYLE_LAYERS
from nst_lab.costs import (
    clip_0_1,
    compute_content_cost,
    compute_layer_style_cost,
    compute_style_cost,
    gram_matrix,
    total_cost,
)

SHAPES = [(1, 1, 1, 1), (1, 4, 3, 5), (1, 7, 2, 3), (1, 8, 8, 16)]


def np_content(a_C: np.ndarray, a_G: np.ndarray) -> float:
    _, h, w, c = a_C.shape
    total = 0.0
    for idx in np.ndindex(a_C.shape):  # the sum "over all entries", written as a loop
        total += (float(a_C[idx]) - float(a_G[idx])) ** 2
    return total / (4 * h * w * c)


def np_gram(A: np.ndarray) -> np.ndarray:
    n_C = A.shape[0]
    return np.array([[float(np.dot(A[i], A[j])) for j in range(n_C)] for i in range(n_C)])


def np_layer_style(a_S: np.ndarray, a_G: np.ndarray) -> float:
    _, h, w, c = a_S.shape
    # unrolled filter matrix: row k = channel k over all positions
    S = np.stack([a_S[0, :, :, k].ravel() for k in range(c)])
    G = np.stack([a_G[0, :, :, k].ravel() for k in range(c)])
    return float(np.sum((np_gram(S) - np_gram(G)) ** 2) / (4 * (h * w * c) ** 2))


def _pair(rng, shape):
    return rng.normal(size=shape).astype(np.float32), rng.normal(size=shape).astype(np.float32)


@pytest.mark.parametrize("shape", SHAPES)
def test_content_cost_matches_numpy(rng, shape):
    a_C, a_G = _pair(rng, shape)
    decoy_C, decoy_G = _pair(rng, (1, 2, 2, 2))
    got = compute_content_cost([tf.constant(decoy_C), tf.constant(a_C)], [tf.constant(decoy_G), tf.constant(a_G)])
    assert got.shape == ()
    np.testing.assert_allclose(float(got), np_content(a_C, a_G), rtol=1e-5)


@pytest.mark.parametrize("shape", [(2, 3), (5, 1), (4, 9), (16, 64)])
def test_gram_matches_numpy(rng, shape):
    A = rng.normal(size=shape).astype(np.float32)
    got = gram_matrix(tf.constant(A)).numpy()
    assert got.shape == (shape[0], shape[0])
    np.testing.assert_allclose(got, np_gram(A), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(got, got.T, rtol=1e-6)  # a Gram matrix is symmetric


@pytest.mark.parametrize("shape", SHAPES)
def test_layer_style_cost_matches_numpy(rng, shape):
    a_S, a_G = _pair(rng, shape)
    got = compute_layer_style_cost(tf.constant(a_S), tf.constant(a_G))
    np.testing.assert_allclose(float(got), np_layer_style(a_S, a_G), rtol=1e-4)


def test_style_cost_is_weighted_sum_over_all_but_last(rng):
    shapes = [(1, 6, 6, 2), (1, 5, 5, 3), (1, 4, 4, 4), (1, 3, 3, 5), (1, 2, 2, 6), (1, 2, 2, 7)]
    S = [rng.normal(size=s).astype(np.float32) for s in shapes]
    G = [rng.normal(size=s).astype(np.float32) for s in shapes]
    expected = sum(w * np_layer_style(s, g) for s, g, (_, w) in zip(S[:5], G[:5], STYLE_LAYERS))
    got = compute_style_cost([tf.constant(x) for x in S], [tf.constant(x) for x in G])
    np.testing.assert_allclose(float(got), expected, rtol=1e-4)
    # the last output (content layer) does not count: changing it changes nothing
    G_changed = [tf.constant(x) for x in G[:-1]] + [tf.constant(G[-1] + 5.0)]
    np.testing.assert_allclose(float(compute_style_cost([tf.constant(x) for x in S], G_changed)), expected, rtol=1e-4)


def test_style_cost_uses_the_style_layers_argument(rng):
    shapes = [(1, 3, 3, 2)] * 6
    S = [tf.constant(rng.normal(size=s).astype(np.float32)) for s in shapes]
    G = [tf.constant(rng.normal(size=s).astype(np.float32)) for s in shapes]
    only_first = [(name, 1.0 if i == 0 else 0.0) for i, (name, _) in enumerate(STYLE_LAYERS)]
    np.testing.assert_allclose(float(compute_style_cost(S, G, only_first)),
                               float(compute_layer_style_cost(S[0], G[0])), rtol=1e-6)


def test_style_cost_rejects_mismatched_layer_count(rng):
    S = [tf.zeros((1, 2, 2, 2))] * 4
    with pytest.raises(ValueError, match="STYLE_LAYERS"):
        compute_style_cost(S, S)


def test_total_cost_matches_formula():
    assert float(total_cost(tf.constant(2.0), tf.constant(3.0))) == pytest.approx(100 * 2 + 10 * 3)
    assert float(total_cost(tf.constant(2.0), tf.constant(3.0), alpha=0.5, beta=4)) == pytest.approx(13.0)


@pytest.mark.parametrize("cost", [compute_layer_style_cost, lambda a, b: compute_content_cost([a], [b])])
@pytest.mark.parametrize("shape", SHAPES[1:])
def test_cost_of_identical_inputs_is_zero_and_positive_otherwise(rng, cost, shape):
    a, b = _pair(rng, shape)
    assert float(cost(tf.constant(a), tf.constant(a))) == 0.0
    assert float(cost(tf.constant(a), tf.constant(b))) > 0.0


@pytest.mark.parametrize("shape", SHAPES[1:])
def test_gradients_exist_and_match_finite_differences(rng, shape):
    a_S, a_G = _pair(rng, shape)
    var = tf.Variable(a_G.astype(np.float64))
    S = tf.constant(a_S.astype(np.float64))
    with tf.GradientTape() as tape:
        J = compute_layer_style_cost(S, var) + compute_content_cost([S], [var])
    grad = tape.gradient(J, var).numpy()
    assert grad is not None and np.all(np.isfinite(grad))
    idx = (0,) * 4
    eps = 1e-6
    bumped = a_G.astype(np.float64).copy()
    bumped[idx] += eps
    f = lambda x: np_layer_style(a_S.astype(np.float64), x) + np_content(a_S.astype(np.float64), x)  # noqa: E731
    numeric = (f(bumped) - f(a_G.astype(np.float64))) / eps
    np.testing.assert_allclose(grad[idx], numeric, rtol=1e-3, atol=1e-7)


def test_costs_trace_inside_tf_function(rng):
    a, b = (tf.constant(x) for x in _pair(rng, (1, 4, 3, 5)))
    traced = tf.function(lambda x, y: compute_layer_style_cost(x, y) + compute_content_cost([x], [y]))
    eager = compute_layer_style_cost(a, b) + compute_content_cost([a], [b])
    np.testing.assert_allclose(float(traced(a, b)), float(eager), rtol=1e-6)


def test_clip_0_1():
    np.testing.assert_array_equal(clip_0_1(tf.constant([-1.0, 0.5, 2.0])).numpy(), [0.0, 0.5, 1.0])
