"""Every check passes the reference and rejects realistic wrong implementations, naming the right mistake.

The wrong implementations below are written here, from the maths of the lessons (each one a slip
a student makes), never taken from the judges' own mistake catalogue. Each comes with the phrase
the check must say about it; a check must name that mistake, and no other mistake of the same
function (the inputs are chosen so that distinct mistakes give distinct numbers).
"""

from __future__ import annotations

import functools
import re

import keras
import numpy as np
import pytest
import tensorflow as tf

import nst_lab
from nst_lab import checks
from nst_lab.config import STYLE_LAYERS
from nst_lab.costs import clip_0_1, compute_layer_style_cost
from nst_lab.grading.grade import POINTS

GRADED = list(POINTS)  # every function the grader scores needs a check that passes it and rejects its mistakes


# ----------------------------------------------------------------- wrong implementations: content cost
def content_no_4(c, g):
    _, h, w, ch = g[-1].shape
    return tf.reduce_sum(tf.square(c[-1] - g[-1])) / (h * w * ch)


def content_first_layer(c, g):
    _, h, w, ch = g[0].shape
    return tf.reduce_sum(tf.square(c[0] - g[0])) / (4 * h * w * ch)


def content_numpy(c, g):
    a, b = np.asarray(c[-1]), np.asarray(g[-1])
    return float(np.sum((a - b) ** 2) / (4 * a.size))


def content_every_output(c, g):
    total = 0.0
    for a_C, a_G in zip(c, g):
        _, h, w, ch = a_G.shape
        total += tf.reduce_sum(tf.square(a_C - a_G)) / (4 * h * w * ch)
    return total


def content_norm(c, g):
    _, h, w, ch = g[-1].shape
    return tf.norm(c[-1] - g[-1]) / (4 * h * w * ch)


def content_gatys_half(c, g):  # Gatys et al.'s L_content = 1/2 * sum (F - P)^2
    return 0.5 * tf.reduce_sum(tf.square(c[-1] - g[-1]))


def not_implemented(*args, **kwargs):
    raise NotImplementedError("compute_content_cost is not implemented yet")


# ----------------------------------------------------------------- gram matrix
def gram_transposed(A):
    return tf.matmul(A, A, transpose_a=True)


def gram_elementwise(A):
    return A * A


def gram_normalised(A):
    return tf.matmul(A, tf.transpose(A)) / tf.cast(tf.shape(A)[1], A.dtype)


def gram_numpy_constant(A):
    a = A.numpy()
    return tf.constant(a @ a.T)


def gram_identity(A):
    return tf.identity(A)


# ----------------------------------------------------------------- layer style cost
def _grams(a_S, a_G):
    _, h, w, c = a_G.shape
    S, G = tf.transpose(tf.reshape(a_S, [-1, c])), tf.transpose(tf.reshape(a_G, [-1, c]))
    return tf.reduce_sum(tf.square(S @ tf.transpose(S) - G @ tf.transpose(G))), h * w, c


def layer_reshape_no_transpose(a_S, a_G):
    _, h, w, c = a_G.shape
    S, G = tf.reshape(a_S, [c, -1]), tf.reshape(a_G, [c, -1])
    return tf.reduce_sum(tf.square(S @ tf.transpose(S) - G @ tf.transpose(G))) / (4.0 * (h * w * c) ** 2)


def layer_unsquared_norm(a_S, a_G):
    return compute_layer_style_cost(a_S, a_G) * float(np.prod(a_G.shape[1:]))


def layer_hw_unsquared(a_S, a_G):
    total, hw, c = _grams(a_S, a_G)
    return total / (4.0 * c**2 * hw)


def layer_nc_unsquared(a_S, a_G):
    total, hw, c = _grams(a_S, a_G)
    return total / (4.0 * c * hw**2)


def layer_no_4(a_S, a_G):
    total, hw, c = _grams(a_S, a_G)
    return total / float(c * hw) ** 2


# ----------------------------------------------------------------- style cost
def style_seed_slice(S, G, STYLE_LAYERS=STYLE_LAYERS):  # noqa: N803  (the report's [1:] slip)
    J = 0.0
    for i, (_, w) in zip(range(len(S[1:])), STYLE_LAYERS):
        J += w * compute_layer_style_cost(S[1:][i], G[1:][i])
    return J


def style_unweighted(S, G, STYLE_LAYERS=STYLE_LAYERS):  # noqa: N803
    return tf.add_n([compute_layer_style_cost(s, g) for s, g in zip(S[:-1], G[:-1])])


def style_global_layers(S, G, layers=None):
    return tf.add_n([w * compute_layer_style_cost(s, g) for s, g, (_, w) in zip(S[:-1], G[:-1], STYLE_LAYERS)])


def style_averaged(S, G, STYLE_LAYERS=STYLE_LAYERS):  # noqa: N803
    costs = [w * compute_layer_style_cost(s, g) for s, g, (_, w) in zip(S[:-1], G[:-1], STYLE_LAYERS)]
    return tf.add_n(costs) / len(costs)


def style_normalised_weights(S, G, STYLE_LAYERS=STYLE_LAYERS):  # noqa: N803  (weights rescaled to sum to 1)
    total = sum(w for _, w in STYLE_LAYERS)
    return tf.add_n([w / total * compute_layer_style_cost(s, g) for s, g, (_, w) in zip(S[:-1], G[:-1], STYLE_LAYERS)])


def style_mean_of_layers(S, G, STYLE_LAYERS=STYLE_LAYERS):  # noqa: N803
    return tf.reduce_mean(tf.stack([compute_layer_style_cost(s, g) for s, g in zip(S[:-1], G[:-1])]))


def style_reversed_weights(S, G, STYLE_LAYERS=STYLE_LAYERS):  # noqa: N803
    weights = [w for _, w in STYLE_LAYERS][::-1]
    return tf.add_n([w * compute_layer_style_cost(s, g) for s, g, w in zip(S[:-1], G[:-1], weights)])


# ----------------------------------------------------------------- total cost
def total_swapped(J_content, J_style, alpha=100, beta=10):  # noqa: N803
    return beta * J_content + alpha * J_style


def total_python_float(J_content, J_style, alpha=100, beta=10):  # noqa: N803
    return float(alpha * J_content + beta * J_style)


def total_bad_defaults(J_content, J_style, alpha=10, beta=100):  # noqa: N803
    return alpha * J_content + beta * J_style


def total_hardcoded(J_content, J_style, alpha=100, beta=10):  # noqa: N803
    return 100 * J_content + 10 * J_style


def total_no_alpha(J_content, J_style, alpha=100, beta=10):  # noqa: N803
    return J_content + beta * J_style


# ----------------------------------------------------------------- layer outputs
def layers_only_last(vgg, names):
    return keras.Model(vgg.input, vgg.get_layer(names[-1][0]).output)


def layers_reversed(vgg, names):
    return keras.Model(vgg.input, [vgg.get_layer(n).output for n, _ in reversed(names)])


def layers_by_index(vgg, names):
    convs = [layer for layer in vgg.layers if "conv" in layer.name]
    return keras.Model(vgg.input, [convs[i].output for i in range(len(names))])


def layers_pooled(vgg, names):  # the block's pooling layer instead of the named conv
    return keras.Model(vgg.input, [vgg.get_layer(n.split("_")[0] + "_pool").output for n, _ in names])


# ----------------------------------------------------------------- adam_update
def _moments(g, m, v, beta1, beta2):
    return beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g * g


def adam_no_bias_correction(theta, g, m, v, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    m, v = _moments(g, m, v, beta1, beta2)
    return theta - learning_rate * m / (tf.sqrt(v) + epsilon), m, v


def adam_eps_in_sqrt(theta, g, m, v, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    m, v = _moments(g, m, v, beta1, beta2)
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return theta - learning_rate * m_hat / tf.sqrt(v_hat + epsilon), m, v


def adam_keras_epsilon(theta, g, m, v, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """Keras' Adam: the corrections folded into the learning rate, epsilon added to the uncorrected sqrt(v)."""
    m, v = _moments(g, m, v, beta1, beta2)
    lr_t = learning_rate * tf.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    return theta - lr_t * m / (tf.sqrt(v) + epsilon), m, v


def adam_keras_epsilon_in_sqrt(theta, g, m, v, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    m, v = _moments(g, m, v, beta1, beta2)
    lr_t = learning_rate * tf.sqrt(1.0 - beta2**t) / (1.0 - beta1**t)
    return theta - lr_t * m / tf.sqrt(v + epsilon), m, v


def adam_v_uncorrected(theta, g, m, v, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    m, v = _moments(g, m, v, beta1, beta2)
    return theta - learning_rate * (m / (1 - beta1**t)) / (tf.sqrt(v) + epsilon), m, v


def adam_ascent(theta, g, m, v, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    new_theta, m, v = nst_lab.adam_update(theta, g, m, v, t, learning_rate, beta1, beta2, epsilon)
    return 2 * theta - new_theta, m, v


def adam_seed_literal(theta, g, m, v, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    """The seed's ``m_t = m_t / (1 - beta1^t)`` read literally: the corrected moments are stored."""
    m, v = _moments(g, m, v, beta1, beta2)
    m = m / (1 - beta1**t)
    v = v / (1 - beta2**t)
    return theta - learning_rate * m / (tf.sqrt(v) + epsilon), m, v


def adam_no_one_minus(theta, g, m, v, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    m, v = beta1 * m + g, beta2 * v + g * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return theta - learning_rate * m_hat / (tf.sqrt(v_hat) + epsilon), m, v


def adam_v_not_squared(theta, g, m, v, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    m, v = beta1 * m + (1 - beta1) * g, beta2 * v + (1 - beta2) * g
    m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
    return theta - learning_rate * m_hat / (tf.sqrt(v_hat) + epsilon), m, v


def adam_t_off_by_one(theta, g, m, v, t, learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8):
    m, v = _moments(g, m, v, beta1, beta2)
    m_hat, v_hat = m / (1 - beta1 ** (t + 1)), v / (1 - beta2 ** (t + 1))
    return theta - learning_rate * m_hat / (tf.sqrt(v_hat) + epsilon), m, v


# ----------------------------------------------------------------- train_step
def _cost(image, extractor, a_C, a_S, alpha, beta):  # noqa: N803
    a_G = extractor(image)
    J_content, J_style = nst_lab.compute_content_cost(a_C, a_G), nst_lab.compute_style_cost(a_S, a_G)
    return nst_lab.total_cost(J_content, J_style, alpha, beta)


def _step(image, extractor, a_C, a_S, optimizer, alpha, beta, clip=True, sign=1.0):  # noqa: N803
    with tf.GradientTape() as tape:
        J = _cost(image, extractor, a_C, a_S, alpha, beta)
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
    return _cost(image, extractor, a_C, a_S, alpha, beta)


def train_hardcoded(image, extractor, a_C, a_S, optimizer, alpha=100, beta=10):  # noqa: N803
    return _step(image, extractor, a_C, a_S, optimizer, 100, 10)


def train_cost_after(image, extractor, a_C, a_S, optimizer, alpha=100, beta=10):  # noqa: N803
    _step(image, extractor, a_C, a_S, optimizer, alpha, beta)
    return _cost(image, extractor, a_C, a_S, alpha, beta)


def train_ascent(image, extractor, a_C, a_S, optimizer, alpha=100, beta=10):  # noqa: N803
    return _step(image, extractor, a_C, a_S, optimizer, alpha, beta, sign=-1.0)


# ----------------------------------------------------------------- total variation
def tv_down_only(image):
    return tf.reduce_sum(tf.square(image[:, 1:, :, :] - image[:, :-1, :, :]))


def tv_abs(image):
    down, right = image[:, 1:] - image[:, :-1], image[:, :, 1:] - image[:, :, :-1]
    return tf.reduce_sum(tf.abs(down)) + tf.reduce_sum(tf.abs(right))


def tv_mean(image):
    down, right = image[:, 1:] - image[:, :-1], image[:, :, 1:] - image[:, :, :-1]
    return tf.reduce_mean(down**2) + tf.reduce_mean(right**2)


def tv_wraps(image):  # tf.roll pairs the last row (column) with the first
    return (tf.reduce_sum(tf.square(image - tf.roll(image, shift=1, axis=1)))
            + tf.reduce_sum(tf.square(image - tf.roll(image, shift=1, axis=2))))


def tv_square_of_sum(image):
    down, right = image[:, 1:] - image[:, :-1], image[:, :, 1:] - image[:, :, :-1]
    return tf.square(tf.reduce_sum(down) + tf.reduce_sum(right))


# ----------------------------------------------------------------- VGG19 preprocessing
CAFFE_MEAN_BGR = (103.939, 116.779, 123.68)  # Simonyan & Zisserman's ImageNet means, B, G, R


def pre_unscaled(image):
    return image[..., ::-1] - tf.constant(CAFFE_MEAN_BGR)


def pre_rgb(image):
    return image * 255.0 - tf.constant(CAFFE_MEAN_BGR)


def pre_means_unflipped(image):
    return tf.reverse(image, axis=[-1]) * 255.0 - tf.constant(CAFFE_MEAN_BGR[::-1])


def pre_no_mean(image):
    return tf.reverse(image, axis=[-1]) * 255.0


def pre_torch(image):
    return (image - tf.constant([0.485, 0.456, 0.406])) / tf.constant([0.229, 0.224, 0.225])


def pre_keras_vgg19(image):  # right values, but Keras' work, not the student's
    return tf.keras.applications.vgg19.preprocess_input(image * 255.0)


def pre_keras_vgg16(image):
    return keras.applications.vgg16.preprocess_input(255.0 * image)


def pre_keras_imagenet_utils(image):
    from keras.applications import imagenet_utils

    return imagenet_utils.preprocess_input(image * 255.0, mode="caffe")


# ----------------------------------------------------------------- run_style_transfer
def _loop(image, step, steps, every, indices=None, snap=None, before=False, value=float):
    history, snapshots = [], {}
    for i in (range(steps) if indices is None else indices):
        if before and i % every == 0:
            snapshots[i] = image.numpy()
        history.append(value(step(image)))
        if not before and (snap or (lambda i: i % every == 0))(i):
            snapshots[i] = image.numpy()
    return history, snapshots


def loop_extra_step(generated_image, train_step_fn, steps, snapshot_every):
    return _loop(generated_image, train_step_fn, steps, snapshot_every, indices=range(steps + 1))


def loop_missing_step(generated_image, train_step_fn, steps, snapshot_every):
    return _loop(generated_image, train_step_fn, steps, snapshot_every, indices=range(1, steps))


def loop_keeps_tensors(generated_image, train_step_fn, steps, snapshot_every):
    return _loop(generated_image, train_step_fn, steps, snapshot_every, value=lambda J: J)


def loop_counts_from_one(generated_image, train_step_fn, steps, snapshot_every):
    return _loop(generated_image, train_step_fn, steps, snapshot_every, snap=lambda i: (i + 1) % snapshot_every == 0)


def loop_snapshot_first(generated_image, train_step_fn, steps, snapshot_every):
    return _loop(generated_image, train_step_fn, steps, snapshot_every, before=True)


def loop_stores_variable(generated_image, train_step_fn, steps, snapshot_every):
    history, snapshots = [], {}
    for i in range(steps):
        history.append(float(train_step_fn(generated_image)))
        if i % snapshot_every == 0:
            snapshots[i] = generated_image  # the Variable, not a copy
    return history, snapshots


def _regex(text: str) -> re.Pattern[str]:
    return re.compile(text)


# (graded function, wrong implementation, what the check must say: a phrase, or a pattern within one line)
MISTAKES = [
    ("compute_content_cost", content_no_4, "the 4 in 4*n_H*n_W*n_C is missing"),
    ("compute_content_cost", content_first_layer, "the content layer is the last one"),
    ("compute_content_cost", content_numpy, "expected a tf.Tensor but got a float"),
    ("compute_content_cost", content_every_output, "you summed over every output"),
    ("compute_content_cost", content_norm, "you took a square root"),
    ("compute_content_cost", not_implemented, "it raised NotImplementedError"),
    ("compute_content_cost", content_gatys_half, "that is Gatys' form 1/2 * sum of squares"),
    ("gram_matrix", gram_transposed, "you computed A^T A"),
    ("gram_matrix", gram_elementwise, "element-wise product"),
    ("gram_matrix", gram_normalised, "you normalised the Gram matrix"),
    ("gram_matrix", gram_numpy_constant, "the value is right but no gradient flows"),
    ("gram_matrix", gram_identity, "you returned A itself"),
    ("compute_layer_style_cost", layer_reshape_no_transpose, "you reshaped straight to (n_C, n_H*n_W)"),
    ("compute_layer_style_cost", layer_unsquared_norm, "you did not square n_H*n_W*n_C"),
    ("compute_layer_style_cost", layer_hw_unsquared, "you squared n_C but not n_H*n_W"),
    ("compute_layer_style_cost", layer_nc_unsquared, "you squared n_H*n_W but not n_C"),
    ("compute_layer_style_cost", layer_no_4, "the 4 in the denominator is missing"),
    ("compute_style_cost", style_seed_slice, "you sliced [1:] like the seed"),
    ("compute_style_cost", style_unweighted, "the layer weights are not applied"),
    ("compute_style_cost", style_global_layers, "you used the global STYLE_LAYERS"),
    ("compute_style_cost", style_averaged, "you averaged the layer costs instead of adding them"),
    ("compute_style_cost", style_reversed_weights, "the weights are in reverse order"),
    ("compute_style_cost", style_normalised_weights, "you normalised the layer weights (divided them by their sum)"),
    ("compute_style_cost", style_mean_of_layers, "you took the plain mean of the layer costs"),
    ("total_cost", total_swapped, "alpha and beta are swapped"),
    ("total_cost", total_python_float, "expected a tf.Tensor but got a float"),
    ("total_cost", total_bad_defaults, "the defaults are swapped"),
    ("total_cost", total_hardcoded, "you used alpha=100, beta=10 instead of the arguments"),
    ("total_cost", total_no_alpha, "alpha is missing"),
    ("get_layer_outputs", layers_only_last, "expected 6 outputs, got 1 (only the last?)"),
    # output 0 should be block1_conv1; reversed, it is the content layer block5_conv4
    ("get_layer_outputs", layers_reversed,
     _regex(r"output 0 \(block1_conv1\).*that is the output of block5_conv4; keep the order of layer_names")),
    # the second conv layer of the model is block1_conv2, not the second name, block2_conv1
    ("get_layer_outputs", layers_by_index,
     _regex(r"output 1 \(block2_conv1\).*that is the output of block1_conv2; keep the order of layer_names")),
    ("get_layer_outputs", layers_pooled, "it is not the named layer's activation"),
    ("adam_update", adam_no_bias_correction, "no bias correction"),
    ("adam_update", adam_eps_in_sqrt, "epsilon belongs outside the square root"),
    ("adam_update", adam_ascent, "the update goes uphill"),
    ("adam_update", adam_v_uncorrected, "only m is bias-corrected"),
    ("adam_update", adam_keras_epsilon, "you added epsilon to the uncorrected sqrt(v), as Keras' Adam does"),
    ("adam_update", adam_keras_epsilon_in_sqrt, "you put epsilon inside the square root of the uncorrected v"),
    ("adam_update", adam_seed_literal, "you returned the bias-corrected m_hat and v_hat as m and v"),
    ("adam_update", adam_no_one_minus, "the moving averages need (1 - beta)"),
    ("adam_update", adam_v_not_squared, "v must average the squared gradient"),
    ("adam_update", adam_t_off_by_one, "the bias correction uses the step number t itself"),
    ("train_step", train_no_clip, "not clipped to [0, 1]"),
    ("train_step", train_swapped_weights, "alpha and beta are swapped in total_cost"),
    ("train_step", train_swapped_targets, "a_C and a_S are swapped"),
    ("train_step", train_no_update, "the image did not change"),
    ("train_step", train_hardcoded, "alpha and beta are fixed at 100 and 10"),
    ("train_step", train_cost_after, "you returned the cost after the update"),
    ("train_step", train_ascent, "the gradient is applied with the wrong sign"),
    ("compute_total_variation_cost", tv_down_only, "only the vertical neighbours are counted"),
    ("compute_total_variation_cost", tv_abs, "you summed absolute differences"),
    ("compute_total_variation_cost", tv_mean, "you took the mean (tf.reduce_mean)"),
    ("compute_total_variation_cost", tv_wraps, "tf.roll wraps around"),
    ("compute_total_variation_cost", tv_square_of_sum, "you squared the sum of the differences"),
    ("preprocess_for_vgg19", pre_unscaled, "the pixels were not scaled to [0, 255] first"),
    ("preprocess_for_vgg19", pre_rgb, "the channels were not flipped from RGB to BGR"),
    ("preprocess_for_vgg19", pre_means_unflipped, "the means are in RGB order"),
    ("preprocess_for_vgg19", pre_no_mean, "the ImageNet means were not subtracted"),
    ("preprocess_for_vgg19", pre_torch, "that is the torch convention"),
    ("preprocess_for_vgg19", pre_keras_vgg19, "this calls Keras' own preprocess_input; write the conversion yourself"),
    ("preprocess_for_vgg19", pre_keras_vgg16, "this calls Keras' own preprocess_input; write the conversion yourself"),
    ("preprocess_for_vgg19", pre_keras_imagenet_utils,
     "this calls Keras' own preprocess_input; write the conversion yourself"),
    ("run_style_transfer", loop_extra_step, "range(steps + 1) runs one step too many"),
    ("run_style_transfer", loop_missing_step, "one step is missing"),
    ("run_style_transfer", loop_keeps_tensors, "the history holds tensors"),
    ("run_style_transfer", loop_counts_from_one, "you counted steps from 1"),
    ("run_style_transfer", loop_snapshot_first, "shows the image before that step"),
    ("run_style_transfer", loop_stores_variable, "you stored the Variable itself"),
]
IDS = [f"{n}-{w.__name__}" for n, w, _ in MISTAKES]

# Where two mistakes truly are the same computation on one case, naming both is right. Swapping
# alpha and beta in the formula, called with the default weights, computes 10*J_content +
# 100*J_style: exactly what swapped defaults compute on that case.
SAME_ON_SOME_CASE = {(total_swapped, "the defaults are swapped")}


def said(phrase: str | re.Pattern[str], text: str) -> bool:
    return bool(phrase.search(text)) if isinstance(phrase, re.Pattern) else phrase in text


@functools.cache
def verdict(name: str, wrong, seed: int = checks.PUBLIC_SEED) -> tuple[str | None, str]:
    """(CheckFailed's message or None when the check passed, what it printed) for one implementation."""
    import contextlib
    import io

    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        try:
            checks.report(name, checks.run_check(name, wrong, seed))
        except checks.CheckFailed as exc:
            assert isinstance(exc, AssertionError)
            return str(exc), printed.getvalue()
    return None, printed.getvalue()


# ----------------------------------------------------------------- the reference passes
@pytest.mark.parametrize("name", GRADED)
def test_reference_passes_and_shows_each_value(name, capsys):
    getattr(checks, f"check_{name}")(getattr(nst_lab, name))
    lines = capsys.readouterr().out.rstrip("\n").split("\n")
    assert lines[0] == "All tests passed"
    assert len(lines) >= 3, lines  # every graded function has at least two cases
    for line in lines[1:]:
        assert re.fullmatch(r"  - [^:]+: .*\d.*", line), line  # "  - <case>: <the value, with numbers>"


# ----------------------------------------------------------------- each mistake is rejected and named
@pytest.mark.parametrize("name, wrong, why", MISTAKES, ids=IDS)
def test_check_rejects_mistake_and_names_it(name, wrong, why):
    with pytest.raises(checks.CheckFailed) as info:
        getattr(checks, f"check_{name}")(wrong)
    assert isinstance(info.value, AssertionError)
    message = str(info.value)
    assert message.startswith(f"{name}: ") and " tests failed\n  - " in message
    assert said(why, message), message


@pytest.mark.parametrize("name, wrong, why", MISTAKES, ids=IDS)
def test_each_mistake_is_named_alone(name, wrong, why):
    """The message names this mistake and no other mistake of the same function."""
    message, printed = verdict(name, wrong)
    assert message is not None and "All tests passed" not in printed
    assert said(why, message), message
    others = [phrase for n, w, phrase in MISTAKES if n == name and w is not wrong and not said(phrase, str(why))
              and (wrong, phrase) not in SAME_ON_SOME_CASE]
    named = [str(p) for p in others if said(p, message)]
    assert not named, (named, message)


@pytest.mark.parametrize("name, wrong, why", [m for m in MISTAKES if m[0] != "train_step"],
                         ids=[i for i, m in zip(IDS, MISTAKES) if m[0] != "train_step"])
def test_mistakes_are_named_on_hidden_inputs_too(name, wrong, why):
    """The grader's inputs come from other seeds: the diagnosis must not depend on the public one."""
    for seed in (4242, 3_999_999):
        message, _ = verdict(name, wrong, seed)
        assert message is not None and said(why, message), (seed, message)


@pytest.mark.parametrize("name", GRADED)
def test_reference_passes_on_hidden_inputs(name):
    seed = 4242 if name == "train_step" else 3_999_999
    results = checks.run_check(name, getattr(nst_lab, name), seed)
    assert results and all(r.passed for r in results), [r.message for r in results if not r.passed]


@pytest.mark.parametrize("name", ["compute_content_cost", "gram_matrix", "compute_layer_style_cost",
                                  "compute_style_cost", "total_cost", "adam_update"])
def test_the_value_shown_is_the_functions_own_output(name, capsys):
    """Each "  - case: value" line shows what the student's function returned for that case (for
    adam_update, the new theta), recorded here by a spy around the reference."""
    reference, returned = getattr(nst_lab, name), []

    def leaves(x):
        return [y for v in x for y in leaves(v)] if isinstance(x, (list, tuple)) else [x]

    def spy(*args, **kwargs):
        out = reference(*args, **kwargs)
        if tf.executing_eagerly() and not any(isinstance(a, tf.Variable) for a in leaves(args)):
            returned.append(np.asarray(out[0] if isinstance(out, tuple) else out, np.float64))  # value calls only
        return out

    getattr(checks, f"check_{name}")(spy)
    lines = capsys.readouterr().out.rstrip("\n").split("\n")[1:]
    assert len(lines) == len(returned) >= 2
    for line, value in zip(lines, returned):
        shown = [float(x) for x in re.findall(r"-?\d+(?:\.\d*)?(?:e[-+]?\d+)?", line.split(": ", 1)[1])]
        head = value.ravel()[:4]
        assert np.allclose(shown[: head.size], head, rtol=1e-3, atol=1e-6), (line, head)


def test_every_graded_function_has_at_least_three_rejected_mistakes():
    counts = {name: sum(1 for n, _, _ in MISTAKES if n == name) for name in GRADED}
    assert min(counts.values()) >= 3, counts


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


# ----------------------------------------------------------------- one slip costs only its own check
NOTEBOOK_CELLS = '''
import tensorflow as tf

def gram_matrix(A):
    return tf.matmul(tf.transpose(A), A)  # the slip: A^T A

def compute_layer_style_cost(a_S, a_G):
    _, n_H, n_W, n_C = a_G.shape
    S, G = tf.transpose(tf.reshape(a_S, [-1, n_C])), tf.transpose(tf.reshape(a_G, [-1, n_C]))
    return tf.reduce_sum(tf.square(gram_matrix(S) - gram_matrix(G))) / (4.0 * (n_H * n_W * n_C) ** 2)

@tf.function
def compute_style_cost(style_image_output, generated_image_output, STYLE_LAYERS=STYLE_LAYERS):
    J = 0.0
    for a_S, a_G, (_, weight) in zip(style_image_output[:-1], generated_image_output[:-1], STYLE_LAYERS):
        J += weight * compute_layer_style_cost(a_S, a_G)
    return J
'''


def test_a_slip_in_one_function_fails_only_its_own_check_in_the_notebook():
    """As in a notebook: later functions call the student's transposed gram_matrix, yet their checks pass,
    because each check runs its function on the references of the functions it builds on."""
    notebook: dict = {"STYLE_LAYERS": STYLE_LAYERS}
    exec(compile(NOTEBOOK_CELLS, "<notebook>", "exec"), notebook)
    assert verdict("gram_matrix", notebook["gram_matrix"])[0] is not None
    for name in ("compute_layer_style_cost", "compute_style_cost"):
        assert verdict(name, notebook[name])[0] is None, verdict(name, notebook[name])[0]
    a = tf.reshape(tf.range(24, dtype=tf.float32), (1, 2, 3, 4)) / 24.0
    b = tf.reverse(a, axis=[1])
    assert not np.isclose(float(notebook["compute_layer_style_cost"](a, b)), float(compute_layer_style_cost(a, b)))


def test_the_notebook_keeps_its_own_functions():
    """on_references copies the globals: the notebook's own gram_matrix is still the one it defined."""
    notebook: dict = {"STYLE_LAYERS": STYLE_LAYERS}
    exec(compile(NOTEBOOK_CELLS, "<notebook>", "exec"), notebook)
    own = notebook["gram_matrix"]
    checks.run_check("compute_layer_style_cost", notebook["compute_layer_style_cost"])
    assert notebook["gram_matrix"] is own


KERAS_CELLS = {
    "vgg19": ("def preprocess_for_vgg19(image):\n"
              "    return tf.keras.applications.vgg19.preprocess_input(image * 255.0)\n"),
    "vgg16": ("from keras.applications.vgg16 import preprocess_input as pp\n\n"
              "def preprocess_for_vgg19(image):\n    return pp(255.0 * image)\n"),
    "imagenet_utils": ("def preprocess_for_vgg19(image):\n    from keras.applications import imagenet_utils\n"
                       "    return imagenet_utils.preprocess_input(image * 255.0, mode='caffe')\n"),
}
BY_HAND = ("def preprocess_for_vgg19(image):\n"
           "    return image[..., ::-1] * 255.0 - tf.constant([103.939, 116.779, 123.68])\n")


@pytest.mark.parametrize("cell", list(KERAS_CELLS.values()) + [BY_HAND], ids=[*KERAS_CELLS, "by_hand"])
def test_the_grader_scores_no_call_to_keras_preprocess_input(cell):
    """The grader's path (job, kit.exercise as in the sandbox, judge): Keras' own work scores 0, named."""
    from nst_lab.exercises.kit import exercise
    from nst_lab.grading.grade import job_for, judge_one

    worker = exercise(job_for("preprocess_for_vgg19", cell, 4242, 60.0))
    report = judge_one("preprocess_for_vgg19", worker, 4242, 10.0)
    if cell == BY_HAND:
        assert report["points"] == 10.0, report
        return
    assert report["points"] == 0.0 and report["cases"], report
    for case in report["cases"]:
        assert "this calls Keras' own preprocess_input; write the conversion yourself" in case["message"], case
