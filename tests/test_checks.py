"""Every check passes the reference and rejects realistic wrong implementations, saying why."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf

import nst_lab
from nst_lab import checks
from nst_lab.config import STYLE_LAYERS
from nst_lab.costs import clip_0_1, compute_layer_style_cost


# ----------------------------------------------------------------- wrong implementations
def content_no_4(c, g):
    _, h, w, ch = g[-1].shape
    return tf.reduce_sum(tf.square(c[-1] - g[-1])) / (h * w * ch)


def content_first_layer(c, g):
    _, h, w, ch = g[0].shape
    return tf.reduce_sum(tf.square(c[0] - g[0])) / (4 * h * w * ch)


def content_numpy(c, g):
    a, b = np.asarray(c[-1]), np.asarray(g[-1])
    return float(np.sum((a - b) ** 2) / (4 * a.size))


def gram_transposed(A):
    return tf.matmul(A, A, transpose_a=True)


def gram_elementwise(A):
    return A * A


def layer_reshape_no_transpose(a_S, a_G):
    _, h, w, c = a_G.shape
    S, G = tf.reshape(a_S, [c, -1]), tf.reshape(a_G, [c, -1])
    return tf.reduce_sum(tf.square(S @ tf.transpose(S) - G @ tf.transpose(G))) / (4.0 * (h * w * c) ** 2)


def layer_unsquared_norm(a_S, a_G):
    return compute_layer_style_cost(a_S, a_G) * float(np.prod(a_G.shape[1:]))


def style_seed_slice(S, G, STYLE_LAYERS=STYLE_LAYERS):  # noqa: N803  (the report's [1:] slip)
    J = 0.0
    for i, (_, w) in zip(range(len(S[1:])), STYLE_LAYERS):
        J += w * compute_layer_style_cost(S[1:][i], G[1:][i])
    return J


def style_unweighted(S, G, STYLE_LAYERS=STYLE_LAYERS):  # noqa: N803
    return tf.add_n([compute_layer_style_cost(s, g) for s, g in zip(S[:-1], G[:-1])])


def style_global_layers(S, G, layers=None):
    return tf.add_n([w * compute_layer_style_cost(s, g) for s, g, (_, w) in zip(S[:-1], G[:-1], STYLE_LAYERS)])


def total_swapped(J_content, J_style, alpha=100, beta=10):  # noqa: N803
    return beta * J_content + alpha * J_style


def total_python_float(J_content, J_style, alpha=100, beta=10):  # noqa: N803
    return float(alpha * J_content + beta * J_style)


def total_bad_defaults(J_content, J_style, alpha=10, beta=100):  # noqa: N803
    return alpha * J_content + beta * J_style


def layers_only_last(vgg, names):
    return keras.Model(vgg.input, vgg.get_layer(names[-1][0]).output)


def layers_reversed(vgg, names):
    return keras.Model(vgg.input, [vgg.get_layer(n).output for n, _ in reversed(names)])


def layers_by_index(vgg, names):
    convs = [layer for layer in vgg.layers if "conv" in layer.name]
    return keras.Model(vgg.input, [convs[i].output for i in range(len(names))])


def adam_no_bias_correction(theta, g, m, v, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    return theta - learning_rate * m / (tf.sqrt(v) + epsilon), m, v


def adam_eps_in_sqrt(theta, g, m, v, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    m = beta1 * m + (1 - beta1) * g
    v = beta2 * v + (1 - beta2) * g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return theta - learning_rate * m_hat / tf.sqrt(v_hat + epsilon), m, v


def adam_ascent(theta, g, m, v, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    new_theta, m, v = nst_lab.adam_update(theta, g, m, v, t, learning_rate, beta1, beta2, epsilon)
    return 2 * theta - new_theta, m, v


def _step(image, extractor, a_C, a_S, optimizer, alpha, beta, clip=True, sign=1.0):  # noqa: N803
    with tf.GradientTape() as tape:
        a_G = extractor(image)
        J_content, J_style = nst_lab.compute_content_cost(a_C, a_G), nst_lab.compute_style_cost(a_S, a_G)
        J = nst_lab.total_cost(J_content, J_style, alpha, beta)
    optimizer.apply_gradients([(sign * tape.gradient(J, image), image)])
    if clip:
        image.assign(clip_0_1(image))
    return J


def train_no_clip(image, extractor, a_C, a_S, optimizer, alpha=100, beta=10):  # noqa: N803
    return _step(image, extractor, a_C, a_S, optimizer, alpha, beta, clip=False)


def train_swapped_weights(image, extractor, a_C, a_S, optimizer, alpha=100, beta=10):  # noqa: N803
    return _step(image, extractor, a_C, a_S, optimizer, beta, alpha)


def train_swapped_targets(image, extractor, a_C, a_S, optimizer, alpha=100, beta=10):  # noqa: N803
    return _step(image, extractor, a_S, a_C, optimizer, alpha, beta)


def train_no_update(image, extractor, a_C, a_S, optimizer, alpha=100, beta=10):  # noqa: N803
    a_G = extractor(image)
    return nst_lab.total_cost(nst_lab.compute_content_cost(a_C, a_G), nst_lab.compute_style_cost(a_S, a_G), alpha, beta)


def not_implemented(*args, **kwargs):
    raise NotImplementedError("compute_content_cost is not implemented yet")


MISTAKES = [
    ("compute_content_cost", content_no_4, "the 4"),
    ("compute_content_cost", content_first_layer, "last one"),
    ("compute_content_cost", content_numpy, "expected a tf.Tensor"),
    ("compute_content_cost", not_implemented, "NotImplementedError"),
    ("gram_matrix", gram_transposed, "A^T A"),
    ("gram_matrix", gram_elementwise, "element-wise"),
    ("compute_layer_style_cost", layer_reshape_no_transpose, "tf.transpose"),
    ("compute_layer_style_cost", layer_unsquared_norm, "did not square"),
    ("compute_style_cost", style_seed_slice, "[1:]"),
    ("compute_style_cost", style_unweighted, "weights are not applied"),
    ("compute_style_cost", style_global_layers, "global STYLE_LAYERS"),
    ("total_cost", total_swapped, "swapped"),
    ("total_cost", total_python_float, "expected a tf.Tensor"),
    ("total_cost", total_bad_defaults, "defaults are swapped"),
    ("get_layer_outputs", layers_only_last, "only the last"),
    ("get_layer_outputs", layers_reversed, "not in the order"),
    ("get_layer_outputs", layers_by_index, "not the named layers"),
    ("adam_update", adam_no_bias_correction, "bias correction"),
    ("adam_update", adam_eps_in_sqrt, "outside the square root"),
    ("adam_update", adam_ascent, "uphill"),
    ("train_step", train_no_clip, "not clipped"),
    ("train_step", train_swapped_weights, "alpha and beta are swapped"),
    ("train_step", train_swapped_targets, "a_C and a_S are swapped"),
    ("train_step", train_no_update, "did not change"),
]


@pytest.mark.parametrize("name", sorted(checks_names := [
    "get_layer_outputs", "compute_content_cost", "gram_matrix", "compute_layer_style_cost",
    "compute_style_cost", "total_cost", "adam_update", "train_step"]))
def test_reference_passes(name, capsys):
    getattr(checks, f"check_{name}")(getattr(nst_lab, name))
    assert capsys.readouterr().out.strip() == "All tests passed"


@pytest.mark.parametrize("name, wrong, why", MISTAKES, ids=[f"{n}-{w.__name__}" for n, w, _ in MISTAKES])
def test_check_rejects_mistake_and_names_it(name, wrong, why, capsys):
    with pytest.raises(checks.CheckFailed) as info:
        getattr(checks, f"check_{name}")(wrong)
    assert isinstance(info.value, AssertionError)
    assert why in str(info.value)
    assert "All tests passed" not in capsys.readouterr().out


def test_every_graded_function_has_at_least_two_rejected_mistakes():
    counts = {name: sum(1 for n, _, _ in MISTAKES if n == name) for name in checks_names}
    assert min(counts.values()) >= 2, counts


def test_check_rejects_a_non_callable():
    with pytest.raises(checks.CheckFailed, match="expected your function"):
        checks.check_gram_matrix(None)


def test_inputs_do_not_depend_on_tf_random():
    """Two runs with different TF global seeds produce the same judged inputs and verdicts."""
    tf.random.set_seed(1)
    first = checks.run_check("compute_layer_style_cost", layer_reshape_no_transpose)
    tf.random.set_seed(99)
    second = checks.run_check("compute_layer_style_cost", layer_reshape_no_transpose)
    assert [r.message for r in first] == [r.message for r in second]
