"""Test cases of the graded functions that involve a model or an optimizer.

The model is a narrow VGG19 look-alike (VGG19's layer names) whose weights come from the seed
and travel to the sandbox as numbers; both sides build it with ``kit.build_model``.

Lesson: every notebook's check cells.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

import numpy as np

from nst_lab.config import CONTENT_LAYER, STYLE_LAYERS, VGG19_BLOCKS
from nst_lab.exercises.judging import CaseResult, Plan, Results, Spec, fmt, judge_value, rng
from nst_lab.exercises.kit import build_model, encode

TINY_SIZE = 32  # the smallest input VGG19's five poolings accept
TINY_WIDTHS = [4, 8, 8, 8, 8]  # channels per block of the look-alike (VGG19's own: 64 ... 512)


def model_spec(seed: int) -> dict[str, Any]:
    """The look-alike's blocks and He-normal conv weights from ``seed``, as plain data."""
    r = rng(seed, 90)
    blocks = [[convs, width] for (convs, _), width in zip(VGG19_BLOCKS, TINY_WIDTHS)]
    weights, channels_in = [], 3
    for convs, width in blocks:
        for _ in range(convs):
            kernel = r.normal(0.0, np.sqrt(2.0 / (9 * channels_in)), (3, 3, channels_in, width))
            weights.append([encode(kernel), encode(np.full(width, 0.01))])
            channels_in = width
    return {"blocks": blocks, "weights": weights}


def _image(seed: int, case: int) -> np.ndarray:
    return rng(seed, case).uniform(0.0, 1.0, (1, TINY_SIZE, TINY_SIZE, 3)).astype(np.float32)


# ----------------------------------------------------------------- get_layer_outputs
LAYER_CASES = [STYLE_LAYERS + CONTENT_LAYER, [("block3_conv1", 1.0), ("block1_conv2", 0.5)]]


def _plan_layer_outputs(seed: int) -> Plan:
    return [{"id": f"case{case}", "kind": "layer_outputs", "model": model_spec(seed),
             "layer_names": [list(pair) for pair in names], "image": encode(_image(seed, 50 + case))}
            for case, names in enumerate(LAYER_CASES)]


@functools.lru_cache(maxsize=8)
def _activations(seed: int, case: int) -> dict[str, np.ndarray]:
    """Every conv layer's activation of the case's image, by name."""
    import keras
    import tensorflow as tf

    vgg = build_model(model_spec(seed))
    names = [layer.name for layer in vgg.layers if "conv" in layer.name]
    outputs = keras.Model(vgg.input, [vgg.get_layer(n).output for n in names])(tf.constant(_image(seed, 50 + case)))
    return {n: np.asarray(a, np.float64) for n, a in zip(names, outputs)}


def _judge_layer_outputs(results: Results, seed: int) -> list[CaseResult]:
    verdicts = []
    for case, names in enumerate(LAYER_CASES):
        label = f"outputs for {[n for n, _ in names]}"
        got = (results.get(f"case{case}") or {}).get("value")
        if not isinstance(got, dict) or "error" in got:
            why = got.get("error") if isinstance(got, dict) else "nothing came back"
            verdicts.append(CaseResult(label, False, f"{label}: it raised {why}; use vgg.get_layer(name).output "
                                       "for each (name, weight) pair"))
            continue
        verdicts.append(_judge_outputs(label, got, [n for n, _ in names], _activations(seed, case)))
    return verdicts


def _judge_outputs(label: str, got: dict[str, Any], names: list[str], every: dict[str, np.ndarray]) -> CaseResult:
    items = got.get("items") if got.get("type") == "sequence" else [got]
    if not isinstance(items, list) or len(items) != len(names):
        count = len(items) if isinstance(items, list) else 0
        hint = " (only the last?)" if count == 1 else ""
        return CaseResult(label, False, f"{label}: expected {len(names)} outputs, got {count}{hint}: build "
                          "keras.Model([vgg.input], outputs) with one output per layer, in order")
    for k, (name, item) in enumerate(zip(names, items)):
        verdict = judge_value(f"{label}, output {k} ({name})", item, every[name])
        if not verdict.passed:
            found = [n for n, a in every.items() if isinstance(item, dict) and item.get("value") is not None
                     and np.shape(item["value"]) == a.shape and np.allclose(item["value"], a, rtol=1e-4, atol=1e-6)]
            hint = f": that is the output of {found[0]}; keep the order of layer_names" if found else \
                ": it is not the named layer's activation (vgg.get_layer(name).output)"
            return CaseResult(label, False, verdict.message + hint)
    return CaseResult(label, True, got=f"{len(items)} outputs")


# ----------------------------------------------------------------- adam_update
ADAM_DEFAULTS = {"learning_rate": 0.001, "beta1": 0.9, "beta2": 0.999, "epsilon": 1e-8}
ADAM_CASES = {  # name: (keyword arguments given, step t); an epsilon near sqrt(v_hat) shows where it goes
    "first step, default hyperparameters": ({}, 1),
    "step 3, custom hyperparameters": ({"learning_rate": 0.05, "beta1": 0.8, "beta2": 0.95, "epsilon": 0.1}, 3),
    "step 40, default hyperparameters": ({}, 40),
}


def _adam_inputs(seed: int, case: int) -> list[np.ndarray]:
    r = rng(seed, 60 + case)
    # theta near 0.01, so float32 resolves its small update; v small enough that the update is not tiny
    theta, grad = 0.01 * r.normal(size=(2, 3)), r.normal(size=(2, 3))
    m, v = 0.1 * r.normal(size=(2, 3)), r.uniform(1e-3, 2e-2, (2, 3))
    return [x.astype(np.float32) for x in (theta, grad, m, v)]


def np_adam_step(theta: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, t: int, learning_rate: float,
                 beta1: float, beta2: float, epsilon: float, variant: str = "right") -> list[np.ndarray]:
    """One step of the seed's Adam (section 6) in NumPy; ``variant`` reproduces a typical mistake."""
    theta, grad, m, v = (x.astype(np.float64) for x in (theta, grad, m, v))
    one_minus = variant != "no_one_minus"
    m = beta1 * m + ((1 - beta1) if one_minus else 1.0) * grad
    v = beta2 * v + ((1 - beta2) if one_minus else 1.0) * (grad if variant == "v_not_squared" else grad * grad)
    power = t + 1 if variant == "t_off_by_one" else t
    m_hat, v_hat = m / (1 - beta1**power), v / (1 - beta2**power)
    if variant == "no_bias_correction":
        m_hat, v_hat = m, v
    if variant == "v_uncorrected":
        v_hat = v
    if variant == "keras_eps":  # lr*sqrt(1 - beta2^t)/(1 - beta1^t) * m/(sqrt(v) + eps): eps after the correction
        epsilon = epsilon / np.sqrt(1 - beta2**power)
    if variant == "keras_eps_in_sqrt":  # the same with m/sqrt(v + eps)
        epsilon = epsilon / (1 - beta2**power)
    with np.errstate(all="ignore"):
        inside = variant in ("eps_in_sqrt", "keras_eps_in_sqrt")
        step = m_hat / (np.sqrt(v_hat + epsilon) if inside else np.sqrt(v_hat) + epsilon)
    theta = theta + learning_rate * step if variant == "ascent" else theta - learning_rate * step
    if variant == "stores_corrected":  # the seed's m_t = m_t / (1 - beta1^t), read literally
        return [theta, m_hat, v_hat]
    return [theta, m, v]


ADAM_MISTAKES = {
    "no_bias_correction": "no bias correction: divide m by (1 - beta1**t) and v by (1 - beta2**t)",
    "eps_in_sqrt": "epsilon belongs outside the square root: sqrt(v_hat) + epsilon",
    "v_uncorrected": "only m is bias-corrected: divide v by (1 - beta2**t) too, v_hat = v / (1 - beta2**t)",
    "keras_eps": "you added epsilon to the uncorrected sqrt(v), as Keras' Adam does (its epsilon_hat form, "
                 "lr*sqrt(1 - beta2**t)/(1 - beta1**t) * m/(sqrt(v) + epsilon)); the seed adds it to sqrt(v_hat)",
    "keras_eps_in_sqrt": "you put epsilon inside the square root of the uncorrected v (Keras' epsilon_hat "
                         "form with sqrt(v + epsilon)); the seed adds it outside, to sqrt(v_hat)",
    "ascent": "the update goes uphill: subtract learning_rate * m_hat / (sqrt(v_hat) + epsilon)",
    "v_not_squared": "v must average the squared gradient, g**2",
    "no_one_minus": "the moving averages need (1 - beta): m = beta1*m + (1 - beta1)*g",
    "t_off_by_one": "the bias correction uses the step number t itself: 1 - beta1**t, with t = 1 first",
    "stores_corrected": "you returned the bias-corrected m_hat and v_hat as m and v; the moving averages "
                        "m and v stay uncorrected (the seed's m_t = m_t/(1 - beta1^t) names the corrected copy)",
}


def _plan_adam(seed: int) -> Plan:
    plan = []
    for k, (case, (kwargs, t)) in enumerate(ADAM_CASES.items()):
        theta, grad, m, v = _adam_inputs(seed, k)
        plan.append({"id": case, "args": [encode(theta), encode(grad), encode(m), encode(v), t], "kwargs": kwargs,
                     "trace": k == 0})
    return plan


def _judge_adam(results: Results, seed: int) -> list[CaseResult]:
    verdicts = []
    for k, (case, (kwargs, t)) in enumerate(ADAM_CASES.items()):
        theta, grad, m, v = _adam_inputs(seed, k)
        hp: dict[str, Any] = {**ADAM_DEFAULTS, **kwargs}
        expected = np_adam_step(theta, grad, m, v, t, **hp)
        wrong = {variant: np_adam_step(theta, grad, m, v, t, **hp, variant=variant) for variant in ADAM_MISTAKES}
        verdicts.append(_judge_triple(case, results.get(case) or {}, expected, wrong, theta))
    return verdicts


def _minus(described: Any, start: np.ndarray) -> Any:
    """A described array minus ``start`` (unchanged when it holds no array of that shape)."""
    if not isinstance(described, dict) or described.get("value") is None:
        return described
    try:
        value = np.asarray(described["value"], dtype=np.float64)
    except (TypeError, ValueError):
        return described
    if value.shape != start.shape:
        return described
    return {**described, "value": (value - start).tolist()}


def _judge_triple(case: str, result: dict[str, Any], expected: list[np.ndarray],
                  wrong: dict[str, list[np.ndarray]], theta: np.ndarray) -> CaseResult:
    """theta is judged by its update (new theta - theta), which is small next to theta itself."""
    got = result.get("value")
    if not isinstance(got, dict) or "error" in got:
        return judge_value(case, got, expected[0])
    items = got.get("items") if got.get("type") == "sequence" else None
    if not isinstance(items, list) or len(items) != 3:
        return CaseResult(case, False, f"{case}: expected the tuple (theta, m, v), got a {got.get('type')}")
    start = theta.astype(np.float64)
    new_theta = items[0].get("value") if isinstance(items[0], dict) else None
    shown = fmt(new_theta) if isinstance(new_theta, list) else ""  # the new theta, shown on success
    for index, part in enumerate(("theta", "m", "v")):
        got_part, want, mistakes = items[index], expected[index], [
            (ADAM_MISTAKES[variant], values[index]) for variant, values in wrong.items()]
        if index == 0:  # compare the updates, with a tolerance scaled to the update, not to theta
            got_part = _minus(got_part, start)
            want = want - start
            mistakes = [(why, value - start) for why, value in mistakes]
            mistakes.append(("theta did not move: subtract learning_rate * m_hat / (sqrt(v_hat) + epsilon)",
                             np.zeros_like(start)))
        label = f"{case}: {'the update of theta' if index == 0 else part}"
        verdict = judge_value(label, got_part, want, mistakes, rtol=1e-3, atol=1e-9)
        if not verdict.passed:
            return verdict
    traced = result.get("traced")
    if traced is not None:
        traced_items = traced.get("items") if isinstance(traced, dict) else None
        if not isinstance(traced_items, list) or len(traced_items) != 3:
            return CaseResult(case, False, f"{case}: inside tf.function it did not return (theta, m, v)")
        check = judge_value(f"{case}: theta inside tf.function", traced_items[0], expected[0])
        if not check.passed:
            return check
    return CaseResult(case, True, got=f"theta {shown}")


# ----------------------------------------------------------------- train_step
TRAIN_STEPS = 3
TRAIN_CASES = {"alpha=2, beta=0.05": (2.0, 0.05), "alpha=0.3, beta=1": (0.3, 1.0)}
LEARNING_RATE = 0.03


def _train_inputs(seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    content, style = _image(seed, 70), _image(seed, 71)
    start = np.clip(content + rng(seed, 72).uniform(-0.3, 0.3, content.shape), 0, 1).astype(np.float32)
    return content, style, start


def _plan_train(seed: int) -> Plan:
    content, style, start = _train_inputs(seed)
    layers = [n for n, _ in STYLE_LAYERS + CONTENT_LAYER]
    return [{"id": case, "kind": "train", "model": model_spec(seed + 3), "layers": layers,
             "content": encode(content), "style": encode(style), "start": encode(start), "alpha": alpha,
             "beta": beta, "learning_rate": LEARNING_RATE, "steps": TRAIN_STEPS}
            for case, (alpha, beta) in TRAIN_CASES.items()]


def reference_train_step(variant: str = "right") -> Callable[..., Any]:
    """The library's train_step, or a copy with one typical mistake (for the judge)."""
    import tensorflow as tf

    from nst_lab.costs import clip_0_1
    from nst_lab.train import cost_parts

    def step(image, extractor, a_C, a_S, optimizer, alpha, beta):  # type: ignore[no-untyped-def]  # noqa: N803
        if variant == "swap_weights":
            alpha, beta = beta, alpha
        if variant == "hardcoded":
            alpha, beta = 100, 10
        if variant == "swap_targets":
            a_C, a_S = a_S, a_C
        with tf.GradientTape() as tape:
            J = cost_parts(image, extractor, a_C, a_S, alpha, beta, STYLE_LAYERS)[0]
        grad = tape.gradient(J, image)
        optimizer.apply_gradients([(-grad if variant == "ascent" else grad, image)])
        if variant != "no_clip":
            image.assign(clip_0_1(image))
        if variant == "cost_after":
            return cost_parts(image, extractor, a_C, a_S, alpha, beta, STYLE_LAYERS)[0]
        return J

    return step


@functools.lru_cache(maxsize=64)
def _reference_run(variant: str, seed: int, case: str) -> tuple[list[float], list[np.ndarray]]:
    """The reference (or one mistake) run through kit, like the student's; cached per seed."""
    from nst_lab.exercises.kit import run_plan
    from nst_lab.exercises.references import prelude_namespace

    plan = [call for call in _plan_train(seed) if call["id"] == case]
    out = run_plan(reference_train_step(variant), plan, prelude_namespace(("make_extractor",)))[case]
    return ([float(c["value"]) for c in out["costs"]], [np.asarray(i["value"]) for i in out["images"]])


TRAIN_MISTAKES = {
    "no_clip": "the image is not clipped to [0, 1] after the update: use clip_0_1",
    "swap_weights": "alpha and beta are swapped in total_cost",
    "hardcoded": "alpha and beta are fixed at 100 and 10: pass the alpha and beta arguments to total_cost",
    "swap_targets": "a_C and a_S are swapped: the content cost compares with a_C",
    "ascent": "the gradient is applied with the wrong sign",
}


def _judge_train(results: Results, seed: int) -> list[CaseResult]:
    verdicts = []
    for case in TRAIN_CASES:
        label = f"{TRAIN_STEPS} steps with {case}"
        got = results.get(case) or {}
        costs, images = got.get("costs") or [], got.get("images") or []
        failed = [c for c in costs if not isinstance(c, dict) or "error" in c or c.get("type") != "tf.Tensor"]
        if failed or len(costs) != TRAIN_STEPS or len(images) != TRAIN_STEPS:
            why = failed[0].get("error") if failed and isinstance(failed[0], dict) else None
            verdicts.append(CaseResult(label, False, f"{label}: it raised {why}" if why else
                                       f"{label}: train_step must return the total cost J as a tf.Tensor; {NUMPY}"))
            continue
        verdicts.append(_judge_run(label, seed, case, costs, images))
    return verdicts


NUMPY = "use TensorFlow ops only (no .numpy(), np.* or float())"


def _judge_run(label: str, seed: int, case: str, costs: list[dict[str, Any]], images: list[dict[str, Any]]
               ) -> CaseResult:
    expected_costs, expected_images = _reference_run("right", seed, case)
    start = _train_inputs(seed)[2]
    mistakes = [(why, _reference_run(variant, seed, case)[1][-1]) for variant, why in TRAIN_MISTAKES.items()]
    mistakes.append(("the image did not change: apply the gradient with optimizer.apply_gradients", start))
    verdict = judge_value(f"image after {label}", {**images[-1], "type": "tf.Tensor"}, expected_images[-1],
                          mistakes, rtol=1e-3)
    if not verdict.passed:
        return verdict
    cost_mistakes = [("you returned the cost after the update: return J computed before apply_gradients",
                      _reference_run("cost_after", seed, case)[0])]
    got = {"type": "tf.Tensor", "value": [c["value"] for c in costs]}
    verdict = judge_value(f"returned J over {label}", got, expected_costs, cost_mistakes, rtol=1e-3, atol=0.0)
    return CaseResult(verdict.case, verdict.passed, verdict.message, "J " + ", ".join(f"{c:.4g}" for c in got["value"]))


LAYER_OUTPUTS_SPEC = Spec("get_layer_outputs", _plan_layer_outputs, _judge_layer_outputs)
ADAM_SPEC = Spec("adam_update", _plan_adam, _judge_adam)
TRAIN_STEP_SPEC = Spec("train_step", _plan_train, _judge_train,
                       depends=("compute_content_cost", "compute_style_cost", "compute_layer_style_cost",
                                "gram_matrix", "total_cost"),
                       prelude=("clip_0_1", "make_extractor"))
