"""Test cases of the graded cost functions: inputs, reference values and typical mistakes.

Inputs come from NumPy's legacy ``RandomState`` (its stream is frozen across versions), never
from ``tf.random``. Expected values are NumPy re-derivations, independent of ``nst_lab.costs``,
and so is each typical mistake the judge recognises.

Lesson: every notebook's check cells.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import tensorflow as tf

from nst_lab.checks import (
    NUMPY_HINT,
    CaseResult,
    Produced,
    Spec,
    attempt,
    gradient_flows,
    judge_flag,
    judge_value,
    rng,
    traces,
)
from nst_lab.config import STYLE_LAYERS

# ----------------------------------------------------------------- content cost
CONTENT_SHAPES = [(1, 4, 3, 5), (1, 2, 6, 3)]


def _content_inputs(seed: int, case: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    r = rng(seed, case)
    shape = CONTENT_SHAPES[case]
    extra = [(1, 3, 3, 2), (1, 2, 2, 4)]  # earlier outputs (style layers), which must be ignored
    c = [r.normal(size=s).astype(np.float32) for s in extra] + [r.normal(size=shape).astype(np.float32)]
    g = [r.normal(size=s).astype(np.float32) for s in extra] + [r.normal(size=shape).astype(np.float32)]
    return c, g


def _produce_content(fn: Callable[..., Any], seed: int) -> Produced:
    out: Produced = {}
    for case in range(len(CONTENT_SHAPES)):
        c, g = _content_inputs(seed, case)
        tc, tg = [tf.constant(x) for x in c], [tf.constant(x) for x in g]
        out[f"case{case}"] = attempt(fn, tc, tg)
    c, g = _content_inputs(seed, 0)
    tc = [tf.constant(x) for x in c]
    out["gradient"] = gradient_flows(fn, lambda v: (tc, [tf.constant(x) for x in g[:-1]] + [v]), g[-1])
    out["tf.function"] = traces(fn, tc, [tf.constant(x) for x in g])
    return out


def _judge_content(produced: Produced, seed: int) -> list[CaseResult]:
    results = []
    for case in range(len(CONTENT_SHAPES)):
        c, g = _content_inputs(seed, case)
        a_C, a_G = c[-1].astype(np.float64), g[-1].astype(np.float64)
        n = a_C.size
        diff = a_C - a_G
        expected = np.sum(diff**2) / (4 * n)
        first = np.sum((c[0].astype(np.float64) - g[0]) ** 2) / (4 * c[0].size)
        mistakes = [
            ("the 4 in 4*n_H*n_W*n_C is missing (or you took the mean)", np.sum(diff**2) / n),
            ("you used the first output; the content layer is the last one, output[-1]", first),
            ("the difference is not squared: use tf.square(a_C - a_G)", np.sum(diff) / (4 * n)),
            ("you took a square root (a norm); the cost is the plain sum of squares",
             np.sqrt(np.sum(diff**2)) / (4 * n)),
            ("you divided by 4*n_H*n_W*n_C twice or squared it", np.sum(diff**2) / (4 * n) ** 2),
        ]
        label = f"content cost on shape {CONTENT_SHAPES[case]}"
        results.append(judge_value(label, produced[f"case{case}"], expected, mistakes))
    results.append(judge_flag("gradient with respect to a_G", produced["gradient"], NUMPY_HINT))
    results.append(judge_flag("inside tf.function", produced["tf.function"], NUMPY_HINT))
    return results


# ----------------------------------------------------------------- gram matrix
GRAM_SHAPES = [(3, 7), (5, 2)]


def _gram_input(seed: int, case: int) -> np.ndarray:
    return rng(seed, 10 + case).normal(size=GRAM_SHAPES[case]).astype(np.float32)


def _produce_gram(fn: Callable[..., Any], seed: int) -> Produced:
    out: Produced = {f"case{c}": attempt(fn, tf.constant(_gram_input(seed, c))) for c in range(len(GRAM_SHAPES))}
    out["gradient"] = gradient_flows(lambda a: tf.reduce_sum(fn(a)), lambda v: (v,), _gram_input(seed, 0))
    out["tf.function"] = traces(fn, tf.constant(_gram_input(seed, 0)))
    return out


def _judge_gram(produced: Produced, seed: int) -> list[CaseResult]:
    results = []
    for case, shape in enumerate(GRAM_SHAPES):
        A = _gram_input(seed, case).astype(np.float64)
        mistakes = [
            ("you computed A^T A (n_H*n_W x n_H*n_W); the Gram matrix is A A^T (n_C x n_C)", A.T @ A),
            ("that is the element-wise product A*A; use tf.matmul(A, tf.transpose(A))", A * A),
            ("you returned A itself", A),
        ]
        results.append(judge_value(f"gram_matrix of shape {shape}", produced[f"case{case}"], A @ A.T, mistakes))
    results.append(judge_flag("gradient", produced["gradient"], NUMPY_HINT))
    results.append(judge_flag("inside tf.function", produced["tf.function"], NUMPY_HINT))
    return results


# ----------------------------------------------------------------- layer style cost
LAYER_SHAPES = [(1, 4, 3, 5), (1, 2, 2, 6)]


def _layer_inputs(seed: int, case: int) -> tuple[np.ndarray, np.ndarray]:
    r = rng(seed, 20 + case)
    shape = LAYER_SHAPES[case]
    return r.normal(size=shape).astype(np.float32), r.normal(size=shape).astype(np.float32)


def np_layer_style_cost(a_S: np.ndarray, a_G: np.ndarray, unroll: str = "right", norm: str = "right") -> float:
    """NumPy layer style cost, with switches that reproduce typical mistakes."""
    _, n_H, n_W, n_C = a_G.shape
    if unroll == "right":
        S, G = a_S.reshape(-1, n_C).T, a_G.reshape(-1, n_C).T
    else:  # reshape straight to (n_C, n_H*n_W): mixes channels and positions
        S, G = a_S.reshape(n_C, -1), a_G.reshape(n_C, -1)
    total = np.sum((S @ S.T - G @ G.T) ** 2)
    denominators = {
        "right": 4.0 * (n_H * n_W * n_C) ** 2,
        "no4": float(n_H * n_W * n_C) ** 2,
        "unsquared": 4.0 * n_H * n_W * n_C,
        "none": 1.0,
    }
    return float(total / denominators[norm])


def _produce_layer(fn: Callable[..., Any], seed: int) -> Produced:
    out: Produced = {}
    for case in range(len(LAYER_SHAPES)):
        s, g = _layer_inputs(seed, case)
        out[f"case{case}"] = attempt(fn, tf.constant(s), tf.constant(g))
    s, g = _layer_inputs(seed, 0)
    out["same image"] = attempt(fn, tf.constant(s), tf.constant(s))
    out["gradient"] = gradient_flows(fn, lambda v: (tf.constant(s), v), g)
    out["tf.function"] = traces(fn, tf.constant(s), tf.constant(g))
    return out


def _judge_layer(produced: Produced, seed: int) -> list[CaseResult]:
    results = []
    for case, shape in enumerate(LAYER_SHAPES):
        s, g = (x.astype(np.float64) for x in _layer_inputs(seed, case))
        mistakes = [
            ("you reshaped straight to (n_C, n_H*n_W); unroll with tf.reshape(a, [-1, n_C]) "
             "then tf.transpose", np_layer_style_cost(s, g, unroll="wrong")),
            ("the 4 in the denominator is missing", np_layer_style_cost(s, g, norm="no4")),
            ("the denominator must be 4*(n_H*n_W*n_C)**2: you did not square n_H*n_W*n_C",
             np_layer_style_cost(s, g, norm="unsquared")),
            ("the normalisation 1/(4*(n_H*n_W*n_C)**2) is missing", np_layer_style_cost(s, g, norm="none")),
        ]
        results.append(judge_value(f"layer style cost on shape {shape}", produced[f"case{case}"],
                                   np_layer_style_cost(s, g), mistakes))
    results.append(judge_value("cost of an image against itself", produced["same image"], 0.0))
    results.append(judge_flag("gradient with respect to a_G", produced["gradient"], NUMPY_HINT))
    results.append(judge_flag("inside tf.function", produced["tf.function"], NUMPY_HINT))
    return results


# ----------------------------------------------------------------- style cost
STYLE_OUT_SHAPES = [(1, 4, 4, 2), (1, 3, 3, 3), (1, 2, 3, 4), (1, 2, 2, 3), (1, 1, 2, 5), (1, 1, 2, 6)]
CUSTOM_LAYERS = [(name, w) for (name, _), w in zip(STYLE_LAYERS, (0.5, 0.1, 0.9, 0.3, 0.6))]


def _style_inputs(seed: int) -> tuple[list[np.ndarray], list[np.ndarray]]:
    r = rng(seed, 30)
    s = [r.normal(size=shape).astype(np.float32) for shape in STYLE_OUT_SHAPES]
    g = [r.normal(size=shape).astype(np.float32) for shape in STYLE_OUT_SHAPES]
    return s, g


def _produce_style(fn: Callable[..., Any], seed: int) -> Produced:
    s, g = _style_inputs(seed)
    ts, tg = [tf.constant(x) for x in s], [tf.constant(x) for x in g]
    return {
        "default": attempt(fn, ts, tg),
        "custom": attempt(fn, ts, tg, CUSTOM_LAYERS),
        "gradient": gradient_flows(fn, lambda v: (ts, tg[:1] + [v] + tg[2:]), g[1]),
        "tf.function": traces(fn, ts, tg),
    }


def _weighted(s: list[np.ndarray], g: list[np.ndarray], weights: list[float], offset: int = 0) -> float:
    return sum(w * np_layer_style_cost(s[i + offset].astype(np.float64), g[i + offset].astype(np.float64))
               for i, w in enumerate(weights))


def _judge_style(produced: Produced, seed: int) -> list[CaseResult]:
    s, g = _style_inputs(seed)
    results = []
    for case, layers in (("default", STYLE_LAYERS), ("custom", CUSTOM_LAYERS)):
        weights = [w for _, w in layers]
        mistakes = [
            ("you sliced [1:] like the seed: that drops block1_conv1 and scores the content layer "
             "as style; slice [:-1] instead", _weighted(s, g, weights, offset=1)),
            ("the layer weights are not applied: multiply each layer cost by its weight", _weighted(s, g, [1.0] * 5)),
            ("the weights are in reverse order", _weighted(s, g, weights[::-1])),
        ]
        if case == "custom":
            mistakes.append(("you used the global STYLE_LAYERS, not the STYLE_LAYERS argument",
                             _weighted(s, g, [w for _, w in STYLE_LAYERS])))
        results.append(judge_value(f"style cost with {case} STYLE_LAYERS", produced[case],
                                   _weighted(s, g, weights), mistakes))
    results.append(judge_flag("gradient", produced["gradient"], NUMPY_HINT))
    results.append(judge_flag("inside tf.function", produced["tf.function"], NUMPY_HINT))
    return results


# ----------------------------------------------------------------- total cost
def _total_inputs(seed: int) -> tuple[float, float]:
    r = rng(seed, 40)
    return float(r.uniform(1.0, 5.0)), float(r.uniform(0.1, 0.9))


def _produce_total(fn: Callable[..., Any], seed: int) -> Produced:
    jc, js = _total_inputs(seed)
    c, s = tf.constant(jc), tf.constant(js)
    return {
        "weights": attempt(fn, c, s, alpha=7.0, beta=3.0),
        "positional": attempt(fn, c, s, 2.0, 0.5),
        "defaults": attempt(fn, c, s),
        "gradient": gradient_flows(lambda v: fn(v, s, 7.0, 3.0), lambda v: (v,), np.array(jc)),
    }


def _judge_total(produced: Produced, seed: int) -> list[CaseResult]:
    jc, js = _total_inputs(seed)
    results = []
    for case, (a, b) in (("weights", (7.0, 3.0)), ("positional", (2.0, 0.5)), ("defaults", (100.0, 10.0))):
        mistakes = [
            ("alpha and beta are swapped: alpha weights J_content, beta weights J_style", b * jc + a * js),
            ("alpha is missing", jc + b * js),
            ("beta is missing", a * jc + js),
            ("you used the default alpha=100, beta=10 instead of the arguments", 100 * jc + 10 * js),
        ]
        if case == "defaults":
            mistakes = [("the defaults are swapped: alpha=100 weights J_content, beta=10 J_style", 10 * jc + 100 * js),
                        ("alpha and beta must default to 100 and 10, the seed's values", jc + js)]
        results.append(judge_value(f"total cost ({case}, alpha={a:g}, beta={b:g})", produced[case],
                                   a * jc + b * js, mistakes))
    results.append(judge_flag("gradient", produced["gradient"], NUMPY_HINT))
    return results


COST_SPECS = (
    Spec("compute_content_cost", _produce_content, _judge_content),
    Spec("gram_matrix", _produce_gram, _judge_gram),
    Spec("compute_layer_style_cost", _produce_layer, _judge_layer, depends=("gram_matrix",)),
    Spec("compute_style_cost", _produce_style, _judge_style, depends=("compute_layer_style_cost", "gram_matrix")),
    Spec("total_cost", _produce_total, _judge_total),
)
