"""Test cases of the graded cost functions: inputs, expected values and typical mistakes.

Inputs come from NumPy's legacy ``RandomState`` (its stream is frozen across versions), never
from ``tf.random``. Expected values are NumPy re-derivations, independent of ``nst_lab.costs``,
and so is each typical mistake the judge recognises; the expected gradients are the reference's.
The shapes are chosen so that no two mistakes give the same number.

Lesson: every notebook's check cells.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from nst_lab.config import STYLE_LAYERS
from nst_lab.exercises.judging import CaseResult, Plan, Results, Spec, judge_call, rng, vjp
from nst_lab.exercises.kit import encode


def _costs() -> Any:
    from nst_lab import costs

    return costs


# ----------------------------------------------------------------- content cost
CONTENT_SHAPES = [(1, 4, 3, 5), (1, 2, 6, 3)]
EARLIER = [(1, 3, 3, 2), (1, 2, 2, 4)]  # earlier outputs (style layers), which must be ignored


def _content_inputs(seed: int, case: int) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    r = rng(seed, case)
    shapes = [*EARLIER, CONTENT_SHAPES[case]]
    c = [r.normal(size=s).astype(np.float32) for s in shapes]
    g = [r.normal(size=s).astype(np.float32) for s in shapes]
    return c, g, r.normal(size=()).astype(np.float32) + 2.0  # cotangent of the scalar output


def _plan_content(seed: int) -> Plan:
    plan = []
    for case in range(len(CONTENT_SHAPES)):
        c, g, cot = _content_inputs(seed, case)
        plan.append({"id": f"case{case}", "args": [[encode(x) for x in c], [encode(x) for x in g]],
                     "grad": {"wrt": [1, -1], "cotangent": encode(cot)}, "trace": case == 0})
    return plan


def _judge_content(results: Results, seed: int) -> list[CaseResult]:
    verdicts = []
    for case in range(len(CONTENT_SHAPES)):
        c, g, cot = _content_inputs(seed, case)
        a_C, a_G = c[-1].astype(np.float64), g[-1].astype(np.float64)
        n = a_C.size
        diff = a_C - a_G
        first = np.sum((c[0].astype(np.float64) - g[0]) ** 2) / (4 * c[0].size)
        mistakes = [
            ("the 4 in 4*n_H*n_W*n_C is missing (or you took the mean)", np.sum(diff**2) / n),
            ("you used the first output; the content layer is the last one, output[-1]", first),
            ("the difference is not squared: use tf.square(a_C - a_G)", np.sum(diff) / (4 * n)),
            ("you took a square root (a norm); the cost is the plain sum of squares",
             np.sqrt(np.sum(diff**2)) / (4 * n)),
            ("you divided by 4*n_H*n_W*n_C twice or squared it", np.sum(diff**2) / (4 * n) ** 2),
            ("you summed over every output, not only the content layer",
             sum(np.sum((x.astype(np.float64) - y) ** 2) / (4 * x.size) for x, y in zip(c, g))),
            ("that is Gatys' form 1/2 * sum of squares; the course's content cost divides the sum by "
             "4*n_H*n_W*n_C", np.sum(diff**2) / 2),
        ]
        grad = vjp(_costs().compute_content_cost, [c, g], [1, -1], cot)
        verdicts.append(judge_call(f"content cost on shape {CONTENT_SHAPES[case]}", results.get(f"case{case}"),
                                   np.sum(diff**2) / (4 * n), mistakes, grad=grad))
    return verdicts


# ----------------------------------------------------------------- gram matrix
GRAM_SHAPES = [(3, 7), (5, 2)]


def _gram_inputs(seed: int, case: int) -> tuple[np.ndarray, np.ndarray]:
    r = rng(seed, 10 + case)
    n_C = GRAM_SHAPES[case][0]
    return r.normal(size=GRAM_SHAPES[case]).astype(np.float32), r.normal(size=(n_C, n_C)).astype(np.float32)


def _plan_gram(seed: int) -> Plan:
    plan = []
    for case in range(len(GRAM_SHAPES)):
        A, cot = _gram_inputs(seed, case)
        plan.append({"id": f"case{case}", "args": [encode(A)], "grad": {"wrt": [0], "cotangent": encode(cot)},
                     "trace": True})
    return plan


def _judge_gram(results: Results, seed: int) -> list[CaseResult]:
    verdicts = []
    for case, shape in enumerate(GRAM_SHAPES):
        A, cot = _gram_inputs(seed, case)
        A64 = A.astype(np.float64)
        mistakes = [
            ("you computed A^T A (n_H*n_W x n_H*n_W); the Gram matrix is A A^T (n_C x n_C)", A64.T @ A64),
            ("that is the element-wise product A*A; use tf.matmul(A, tf.transpose(A))", A64 * A64),
            ("you returned A itself", A64),
            ("you normalised the Gram matrix; the seed's gram_matrix is the plain A A^T", A64 @ A64.T / A64.shape[1]),
        ]
        grad = vjp(_costs().gram_matrix, [A], [0], cot)
        verdicts.append(judge_call(f"gram_matrix of shape {shape}", results.get(f"case{case}"), A64 @ A64.T,
                                   mistakes, grad=grad))
    return verdicts


# ----------------------------------------------------------------- layer style cost
LAYER_SHAPES = [(1, 4, 3, 5), (1, 3, 5, 2)]  # n_H*n_W = 12 and 15: no two normalisations coincide


def _layer_inputs(seed: int, case: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    r = rng(seed, 20 + case)
    shape = LAYER_SHAPES[case]
    return (r.normal(size=shape).astype(np.float32), r.normal(size=shape).astype(np.float32),
            r.normal(size=()).astype(np.float32) + 2.0)


def np_layer_style_cost(a_S: np.ndarray, a_G: np.ndarray, unroll: str = "right", norm: str = "right") -> float:
    """NumPy layer style cost, with switches that reproduce typical mistakes."""
    _, n_H, n_W, n_C = a_G.shape
    if unroll == "right":
        S, G = a_S.reshape(-1, n_C).T, a_G.reshape(-1, n_C).T
    else:  # reshape straight to (n_C, n_H*n_W): mixes channels and positions
        S, G = a_S.reshape(n_C, -1), a_G.reshape(n_C, -1)
    total = np.sum((S @ S.T - G @ G.T) ** 2)
    hw = n_H * n_W
    denominators = {
        "right": 4.0 * n_C**2 * hw**2,
        "no4": float(n_C**2 * hw**2),
        "unsquared": 4.0 * n_C * hw,
        "hw_unsquared": 4.0 * n_C**2 * hw,
        "nc_unsquared": 4.0 * n_C * hw**2,
        "none": 1.0,
    }
    return float(total / denominators[norm])


def _plan_layer(seed: int) -> Plan:
    plan = []
    for case in range(len(LAYER_SHAPES)):
        s, g, cot = _layer_inputs(seed, case)
        plan.append({"id": f"case{case}", "args": [encode(s), encode(g)],
                     "grad": {"wrt": [1], "cotangent": encode(cot)}, "trace": case == 0})
    return plan


def _judge_layer(results: Results, seed: int) -> list[CaseResult]:
    verdicts = []
    for case, shape in enumerate(LAYER_SHAPES):
        s, g, cot = (x.astype(np.float64) for x in _layer_inputs(seed, case))
        mistakes = [
            ("you reshaped straight to (n_C, n_H*n_W); unroll with tf.reshape(a, [-1, n_C]) then tf.transpose",
             np_layer_style_cost(s, g, unroll="wrong")),
            ("the 4 in the denominator is missing", np_layer_style_cost(s, g, norm="no4")),
            ("the denominator must be 4*(n_H*n_W*n_C)**2: you did not square n_H*n_W*n_C",
             np_layer_style_cost(s, g, norm="unsquared")),
            ("you squared n_C but not n_H*n_W: the denominator is 4 * n_C**2 * (n_H*n_W)**2",
             np_layer_style_cost(s, g, norm="hw_unsquared")),
            ("you squared n_H*n_W but not n_C: the denominator is 4 * n_C**2 * (n_H*n_W)**2",
             np_layer_style_cost(s, g, norm="nc_unsquared")),
            ("the normalisation 1/(4*(n_H*n_W*n_C)**2) is missing", np_layer_style_cost(s, g, norm="none")),
        ]
        grad = vjp(_costs().compute_layer_style_cost, [s, g], [1], cot)
        verdicts.append(judge_call(f"layer style cost on shape {shape}", results.get(f"case{case}"),
                                   np_layer_style_cost(s, g), mistakes, grad=grad))
    return verdicts


# ----------------------------------------------------------------- style cost
STYLE_OUT_SHAPES = [(1, 4, 4, 2), (1, 3, 3, 3), (1, 2, 3, 4), (1, 2, 2, 3), (1, 1, 2, 5), (1, 1, 2, 6)]
CUSTOM_LAYERS = [(name, w) for (name, _), w in zip(STYLE_LAYERS, (0.5, 0.1, 0.9, 0.3, 0.6))]


def _style_inputs(seed: int) -> tuple[list[np.ndarray], list[np.ndarray], np.ndarray]:
    r = rng(seed, 30)
    s = [r.normal(size=shape).astype(np.float32) for shape in STYLE_OUT_SHAPES]
    g = [r.normal(size=shape).astype(np.float32) for shape in STYLE_OUT_SHAPES]
    return s, g, r.normal(size=()).astype(np.float32) + 2.0


def _plan_style(seed: int) -> Plan:
    s, g, cot = _style_inputs(seed)
    args = [[encode(x) for x in s], [encode(x) for x in g]]
    return [
        {"id": "default", "args": args, "grad": {"wrt": [1, 1], "cotangent": encode(cot)}, "trace": True},
        {"id": "custom", "args": [*args, [list(pair) for pair in CUSTOM_LAYERS]],
         "grad": {"wrt": [1, 0], "cotangent": encode(cot)}},
    ]


def _weighted(s: list[np.ndarray], g: list[np.ndarray], weights: list[float], offset: int = 0) -> float:
    return sum(w * np_layer_style_cost(s[i + offset].astype(np.float64), g[i + offset].astype(np.float64))
               for i, w in enumerate(weights))


def _judge_style(results: Results, seed: int) -> list[CaseResult]:
    s, g, cot = _style_inputs(seed)
    verdicts = []
    for case, layers, wrt in (("default", STYLE_LAYERS, [1, 1]), ("custom", CUSTOM_LAYERS, [1, 0])):
        weights = [w for _, w in layers]
        mistakes = [
            ("you sliced [1:] like the seed: that drops block1_conv1 and scores the content layer "
             "as style; slice [:-1] instead", _weighted(s, g, weights, offset=1)),
            ("the layer weights are not applied: multiply each layer cost by its weight", _weighted(s, g, [1.0] * 5)),
            ("the weights are in reverse order", _weighted(s, g, weights[::-1])),
            ("you averaged the layer costs instead of adding them", _weighted(s, g, weights) / len(weights)),
            ("you normalised the layer weights (divided them by their sum); the seed adds "
             "weight * J_layer with the weights as given", _weighted(s, g, weights) / sum(weights)),
            ("you took the plain mean of the layer costs (tf.reduce_mean); the seed adds weight * J_layer",
             _weighted(s, g, [1.0] * 5) / 5),
        ]
        if case == "custom":
            mistakes.append(("you used the global STYLE_LAYERS, not the STYLE_LAYERS argument",
                             _weighted(s, g, [w for _, w in STYLE_LAYERS])))

        def reference(a_S: Any, a_G: Any, layers: Any = layers) -> Any:
            return _costs().compute_style_cost(a_S, a_G, layers)

        grad = vjp(reference, [s, g], wrt, cot)
        verdicts.append(judge_call(f"style cost with {case} STYLE_LAYERS", results.get(case),
                                   _weighted(s, g, weights), mistakes, grad=grad))
    return verdicts


# ----------------------------------------------------------------- total cost
TOTAL_CASES = {"weights": ({"alpha": 7.0, "beta": 3.0}, (7.0, 3.0)), "positional": ((2.0, 0.5), (2.0, 0.5)),
               "defaults": ({}, (100.0, 10.0))}


def _total_inputs(seed: int) -> tuple[float, float]:
    r = rng(seed, 40)
    return float(r.uniform(1.0, 5.0)), float(r.uniform(0.1, 0.9))


def _plan_total(seed: int) -> Plan:
    jc, js = _total_inputs(seed)
    plan = []
    for case, (given, _) in TOTAL_CASES.items():
        args = [encode(jc), encode(js)] + (list(given) if isinstance(given, tuple) else [])
        kwargs = given if isinstance(given, dict) else {}
        plan.append({"id": case, "args": args, "kwargs": kwargs, "grad": {"wrt": [0], "cotangent": encode(1.0)},
                     "trace": case == "weights"})
    return plan


def _judge_total(results: Results, seed: int) -> list[CaseResult]:
    jc, js = _total_inputs(seed)
    verdicts = []
    for case, (_, (a, b)) in TOTAL_CASES.items():
        mistakes = [
            ("alpha and beta are swapped: alpha weights J_content, beta weights J_style", b * jc + a * js),
            ("alpha is missing", jc + b * js),
            ("beta is missing", a * jc + js),
            ("you used alpha=100, beta=10 instead of the arguments", 100 * jc + 10 * js),
        ]
        if case == "defaults":
            mistakes = [("the defaults are swapped: alpha=100 weights J_content, beta=10 J_style", 10 * jc + 100 * js),
                        ("alpha and beta must default to 100 and 10, the seed's values", jc + js)]
        verdicts.append(judge_call(f"total cost ({case}, alpha={a:g}, beta={b:g})", results.get(case),
                                   a * jc + b * js, mistakes, grad=np.float64(a)))
    return verdicts


COST_SPECS = (
    Spec("compute_content_cost", _plan_content, _judge_content),
    Spec("gram_matrix", _plan_gram, _judge_gram),
    Spec("compute_layer_style_cost", _plan_layer, _judge_layer, depends=("gram_matrix",)),
    Spec("compute_style_cost", _plan_style, _judge_style, depends=("compute_layer_style_cost", "gram_matrix")),
    Spec("total_cost", _plan_total, _judge_total),
)
