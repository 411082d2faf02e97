"""Test cases of the graded functions that involve a model or an optimizer.

``get_layer_outputs`` and ``train_step`` run on ``build_tiny_vgg``: VGG19's layer names with
a few channels each, so a check takes well under a second. ``adam_update`` is judged against
``tf.keras.optimizers.Adam`` and a NumPy re-derivation of each typical mistake.

Lesson: notebooks/01_vgg19.ipynb, 04_adam.ipynb, 05_style_transfer.ipynb
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from nst_lab.checks import (
    NUMPY_HINT,
    CaseResult,
    Produced,
    Spec,
    describe,
    error_text,
    judge_value,
    rng,
)
from nst_lab.config import CONTENT_LAYER, STYLE_LAYERS

TINY_SIZE = 32  # the smallest input VGG19's five poolings accept


def _image(seed: int, case: int) -> np.ndarray:
    return rng(seed, case).uniform(0.0, 1.0, (1, TINY_SIZE, TINY_SIZE, 3)).astype(np.float32)


def _stats(outputs: Any) -> list[list[float]]:
    """Shape, mean and standard deviation of each output: enough to tell layers apart."""
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    return [list(np.shape(a)) + [float(np.mean(a)), float(np.std(a))] for a in outputs]


# ----------------------------------------------------------------- get_layer_outputs
LAYER_CASES = [STYLE_LAYERS + CONTENT_LAYER, [("block3_conv1", 1.0), ("block1_conv2", 0.5)]]


def _produce_layer_outputs(fn: Callable[..., Any], seed: int) -> Produced:
    from nst_lab.vgg import build_tiny_vgg

    out: Produced = {}
    for case, names in enumerate(LAYER_CASES):
        try:
            model = fn(build_tiny_vgg(seed), names)
            out[f"case{case}"] = {"stats": _stats(model(tf.constant(_image(seed, 50 + case))))}
        except Exception as exc:
            out[f"case{case}"] = {"error": error_text(exc)}
    return out


def _judge_layer_outputs(produced: Produced, seed: int) -> list[CaseResult]:
    from nst_lab.vgg import build_tiny_vgg

    vgg = build_tiny_vgg(seed)
    results = []
    for case, names in enumerate(LAYER_CASES):
        label = f"outputs for {[n for n, _ in names]}"
        got = produced[f"case{case}"]
        if "error" in got:
            results.append(CaseResult(label, False, f"{label}: it raised {got['error']}; use "
                                      "vgg.get_layer(name).output for each (name, weight) pair"))
            continue
        x = tf.constant(_image(seed, 50 + case))
        expected = [_stats(keras.Model(vgg.input, vgg.get_layer(n).output)(x))[0] for n, _ in names]
        stats = got["stats"]
        if len(stats) != len(expected):
            hint = " (only the last?)" if len(stats) == 1 else ""
            results.append(CaseResult(label, False, f"{label}: expected {len(expected)} outputs, got "
                                      f"{len(stats)}{hint}: build keras.Model([vgg.input], outputs) "
                                      "with one output per layer"))
        elif not np.allclose(stats, expected, rtol=1e-4, atol=1e-6):
            same_set = np.allclose(sorted(stats), sorted(expected), rtol=1e-4)
            order = "they are not in the order of layer_names" if same_set else "they are not the named layers' outputs"
            results.append(CaseResult(label, False, f"{label}: wrong outputs: {order}"))
        else:
            results.append(CaseResult(label, True))
    return results


# ----------------------------------------------------------------- adam_update
ADAM_STEPS = 12
# "defaults" is judged against tf.keras Adam. "custom" uses gradients about as small as epsilon,
# where Keras' epsilon placement (on sqrt(v), before bias correction) differs from the seed's
# equations, so it is judged against a NumPy re-derivation of the seed's section 6.
ADAM_CASES = {
    "defaults": ({}, 1.0),
    "custom": (dict(learning_rate=0.01, beta1=0.8, beta2=0.95, epsilon=1e-3), 1e-3),
}
ADAM_DEFAULTS = dict(learning_rate=0.001, beta1=0.9, beta2=0.999, epsilon=1e-8)


def _adam_inputs(seed: int, grad_scale: float = 1.0) -> tuple[np.ndarray, np.ndarray]:
    r = rng(seed, 60)
    theta0, grads = r.normal(size=(2, 3)), r.normal(size=(ADAM_STEPS, 2, 3)) * grad_scale
    return theta0.astype(np.float32), grads.astype(np.float32)


def _produce_adam(fn: Callable[..., Any], seed: int) -> Produced:
    out: Produced = {}
    for case, (kwargs, scale) in ADAM_CASES.items():
        theta0, grads = _adam_inputs(seed, scale)
        theta, m, v = tf.constant(theta0), tf.zeros_like(theta0), tf.zeros_like(theta0)
        path = []
        try:
            for t in range(1, ADAM_STEPS + 1):
                returned = fn(theta, tf.constant(grads[t - 1]), m, v, t, **kwargs)
                if not isinstance(returned, (tuple, list)) or len(returned) != 3:
                    raise TypeError(f"expected (theta, m, v), got {type(returned).__name__}")
                theta, m, v = returned
                path.append(describe(theta)["value"])
            out[case] = {"theta": path, "m": describe(m), "v": describe(v), "type": describe(theta)["type"]}
        except Exception as exc:
            out[case] = {"error": error_text(exc)}
    return out


def np_adam(theta0: np.ndarray, grads: np.ndarray, learning_rate: float, beta1: float, beta2: float,
            epsilon: float, variant: str = "right") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """NumPy Adam over ``grads``; ``variant`` reproduces a typical mistake. Returns (path, m, v)."""
    theta, m, v = theta0.astype(np.float64), np.zeros(theta0.shape), np.zeros(theta0.shape)
    path = []
    with np.errstate(all="ignore"):
        for t, g in enumerate(grads.astype(np.float64), start=1):
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * (g if variant == "v_not_squared" else g * g)
            m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
            if variant == "no_bias_correction":
                m_hat, v_hat = m, v
            step = m_hat / (np.sqrt(v_hat + epsilon) if variant == "eps_in_sqrt" else np.sqrt(v_hat) + epsilon)
            theta = theta + learning_rate * step if variant == "ascent" else theta - learning_rate * step
            path.append(theta)
    return np.array(path), m, v


def _keras_adam_path(theta0: np.ndarray, grads: np.ndarray, learning_rate: float, beta1: float,
                     beta2: float, epsilon: float) -> np.ndarray:
    var = tf.Variable(theta0)
    opt = keras.optimizers.Adam(learning_rate=learning_rate, beta_1=beta1, beta_2=beta2, epsilon=epsilon)
    path = []
    for g in grads:
        opt.apply_gradients([(tf.constant(g), var)])
        path.append(var.numpy().copy())
    return np.array(path)


def _judge_adam(produced: Produced, seed: int) -> list[CaseResult]:
    results = []
    for case, (kwargs, scale) in ADAM_CASES.items():
        theta0, grads = _adam_inputs(seed, scale)
        hp: dict[str, Any] = {**ADAM_DEFAULTS, **kwargs}
        label = f"{ADAM_STEPS} steps, {case} hyperparameters"
        got = produced[case]
        if "error" in got:
            results.append(CaseResult(label, False, f"{label}: it raised {got['error']}"))
            continue
        if case == "defaults":
            reference, against = _keras_adam_path(theta0, grads, **hp), "tf.keras Adam"
        else:
            reference, against = np_adam(theta0, grads, **hp)[0], "the seed's equations"
        mistakes = [
            ("no bias correction: divide m by (1 - beta1**t) and v by (1 - beta2**t)",
             np_adam(theta0, grads, **hp, variant="no_bias_correction")[0]),
            ("epsilon belongs outside the square root: sqrt(v_hat) + epsilon",
             np_adam(theta0, grads, **hp, variant="eps_in_sqrt")[0]),
            ("the update goes uphill: subtract learning_rate * m_hat / (sqrt(v_hat) + epsilon)",
             np_adam(theta0, grads, **hp, variant="ascent")[0]),
            ("v must average the squared gradient, g**2", np_adam(theta0, grads, **hp, variant="v_not_squared")[0]),
        ]
        got_theta = {"type": "tf.Tensor" if got["type"] == "tf.Tensor" else got["type"], "value": got["theta"]}
        verdict = judge_value(f"theta after each of {label} vs {against}", got_theta, reference, mistakes)
        if verdict.passed:
            _, m, v = np_adam(theta0, grads, **hp)
            verdict = judge_value(f"m after {label}", got["m"], m, want_tensor=False)
            if verdict.passed:
                verdict = judge_value(f"v after {label}", got["v"], v, want_tensor=False)
        results.append(verdict)
    return results


# ----------------------------------------------------------------- train_step
TRAIN_STEPS = 3
TRAIN_CASES = {"alpha=2, beta=0.05": (2.0, 0.05), "alpha=0.3, beta=1": (0.3, 1.0)}


def _train_setup(seed: int) -> tuple[Callable, list, list, np.ndarray]:
    from nst_lab.vgg import FeatureExtractor, build_tiny_vgg

    extractor = FeatureExtractor(build_tiny_vgg(seed + 3), [n for n, _ in STYLE_LAYERS + CONTENT_LAYER])
    content, style = _image(seed, 70), _image(seed, 71)
    start = np.clip(content + rng(seed, 72).uniform(-0.3, 0.3, content.shape), 0, 1).astype(np.float32)
    return extractor, extractor(tf.constant(content)), extractor(tf.constant(style)), start


def _run_steps(step_fn: Callable[..., Any], seed: int, alpha: float, beta: float) -> dict[str, Any]:
    extractor, a_C, a_S, start = _train_setup(seed)
    image = tf.Variable(start)
    optimizer = keras.optimizers.Adam(learning_rate=0.03)
    costs = [describe(step_fn(image, extractor, a_C, a_S, optimizer, alpha, beta)) for _ in range(TRAIN_STEPS)]
    return {"J": costs, "image": image.numpy().ravel().tolist()}


def _produce_train(fn: Callable[..., Any], seed: int) -> Produced:
    out: Produced = {}
    for case, (alpha, beta) in TRAIN_CASES.items():
        try:
            out[case] = _run_steps(fn, seed, alpha, beta)
        except Exception as exc:
            out[case] = {"error": error_text(exc)}
    return out


def reference_train_step(variant: str = "right") -> Callable[..., Any]:
    """The library's train_step, or a copy with one typical mistake (for the judge)."""
    from nst_lab.costs import clip_0_1
    from nst_lab.train import cost_parts

    def step(image, extractor, a_C, a_S, optimizer, alpha, beta):  # noqa: N803
        if variant == "swap_weights":
            alpha, beta = beta, alpha
        if variant == "swap_targets":
            a_C, a_S = a_S, a_C
        with tf.GradientTape() as tape:
            J = cost_parts(image, extractor, a_C, a_S, alpha, beta, STYLE_LAYERS)[0]
        grad = tape.gradient(J, image)
        optimizer.apply_gradients([(-grad if variant == "ascent" else grad, image)])
        if variant != "no_clip":
            image.assign(clip_0_1(image))
        return J

    return step


@functools.lru_cache(maxsize=32)
def _reference_run(variant: str, seed: int, alpha: float, beta: float) -> dict[str, Any]:
    """The reference (or one typical mistake) over TRAIN_STEPS; cached, since the grader judges
    many submissions on the same seed and these runs dominate its judging time."""
    return _run_steps(reference_train_step(variant), seed, alpha, beta)


def _judge_train(produced: Produced, seed: int) -> list[CaseResult]:
    results = []
    for case, (alpha, beta) in TRAIN_CASES.items():
        label = f"{TRAIN_STEPS} steps with {case}"
        got = produced[case]
        if "error" in got:
            results.append(CaseResult(label, False, f"{label}: it raised {got['error']}"))
            continue
        if any("error" in j or j.get("type") != "tf.Tensor" for j in got["J"]):
            results.append(CaseResult(label, False, f"{label}: train_step must return the total cost J "
                                      f"as a tf.Tensor; {NUMPY_HINT}"))
            continue
        reference = _reference_run("right", seed, alpha, beta)
        image = np.asarray(got["image"])
        mistakes = {
            "no_clip": "the image is not clipped to [0, 1] after the update: use clip_0_1",
            "swap_weights": "alpha and beta are swapped in total_cost",
            "swap_targets": "a_C and a_S are swapped: the content cost compares with a_C",
            "ascent": "the gradient is applied with the wrong sign",
        }
        candidates = [(why, _reference_run(variant, seed, alpha, beta)["image"])
                      for variant, why in mistakes.items()]
        if image.min() < 0 or image.max() > 1:
            candidates = candidates[:1]
        candidates.append(("the image did not change: apply the gradient with optimizer.apply_gradients",
                           _train_setup(seed)[3].ravel()))
        verdict = judge_value(f"image after {label}", {"type": "tf.Tensor", "value": image.tolist()},
                              np.asarray(reference["image"]), candidates, rtol=1e-3)
        if verdict.passed:
            costs = [j["value"] for j in got["J"]]
            verdict = judge_value(f"returned J over {label}", {"type": "tf.Tensor", "value": costs},
                                  [j["value"] for j in reference["J"]], rtol=1e-3)
        results.append(verdict)
    return results


LAYER_OUTPUTS_SPEC = Spec("get_layer_outputs", _produce_layer_outputs, _judge_layer_outputs)
ADAM_SPEC = Spec("adam_update", _produce_adam, _judge_adam)
TRAIN_STEP_SPEC = Spec("train_step", _produce_train, _judge_train,
                       depends=("compute_content_cost", "compute_style_cost", "compute_layer_style_cost",
                                "gram_matrix", "total_cost"))
