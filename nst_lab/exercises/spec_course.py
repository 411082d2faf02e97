"""Test cases of the exercises that make students think: total variation, preprocessing, the loop.

As in ``spec_costs``, inputs come from NumPy's legacy ``RandomState``, and expected values and
typical mistakes are NumPy re-derivations, independent of ``nst_lab``; only the expected
gradients come from the reference. The shapes are chosen so that no two mistakes coincide.

Lesson: the check cells of notebooks/01_vgg19.ipynb, 05_style_transfer.ipynb, 07_beyond.ipynb.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nst_lab.exercises.judging import CaseResult, Plan, Results, Spec, close, fmt, judge_call, rng, vjp
from nst_lab.exercises.kit import encode

# ----------------------------------------------------------------- total variation
TV_SHAPES = [(1, 4, 6, 3), (1, 5, 3, 3)]  # H != W: the two directions have different pair counts


def _tv_inputs(seed: int, case: int) -> tuple[np.ndarray, np.ndarray]:
    r = rng(seed, 60 + case)
    return r.uniform(0.0, 1.0, TV_SHAPES[case]).astype(np.float32), r.normal(size=()).astype(np.float32) + 2.0


def np_total_variation(x: np.ndarray, variant: str = "right") -> float:
    """NumPy total variation of (1, H, W, 3), with switches that reproduce typical mistakes."""
    x = x.astype(np.float64)
    if variant == "roll":  # tf.roll wraps around: the last row / column is paired with the first
        down, right = np.roll(x, -1, axis=1) - x, np.roll(x, -1, axis=2) - x
    else:
        down, right = x[:, 1:] - x[:, :-1], x[:, :, 1:] - x[:, :, :-1]
    if variant == "abs":
        return float(np.abs(down).sum() + np.abs(right).sum())
    if variant == "mean":
        return float((down**2).mean() + (right**2).mean())
    if variant == "vertical":
        return float((down**2).sum())
    if variant == "horizontal":
        return float((right**2).sum())
    total = float((down**2).sum() + (right**2).sum())
    if variant == "per_pixel":
        return total / (x.shape[1] * x.shape[2])
    if variant == "unsquared_sum":
        return float((down.sum() + right.sum()) ** 2)
    return total


TV_MISTAKES = [
    ("only the vertical neighbours are counted: add the horizontal ones, image[:, :, 1:] - image[:, :, :-1]",
     "vertical"),
    ("only the horizontal neighbours are counted: add the vertical ones, image[:, 1:] - image[:, :-1]", "horizontal"),
    ("you summed absolute differences; J_TV squares them (tf.square)", "abs"),
    ("you took the mean (tf.reduce_mean); J_TV is a plain sum (tf.reduce_sum)", "mean"),
    ("tf.roll wraps around, so the border pair (last row with the first) is counted: slice instead", "roll"),
    ("you divided by H*W, like the old mean-based smoothness term; J_TV is a plain sum", "per_pixel"),
    ("you squared the sum of the differences; square each difference, then sum", "unsquared_sum"),
]


def _plan_tv(seed: int) -> Plan:
    plan = []
    for case in range(len(TV_SHAPES)):
        x, cot = _tv_inputs(seed, case)
        plan.append({"id": f"case{case}", "args": [encode(x)], "grad": {"wrt": [0], "cotangent": encode(cot)},
                     "trace": case == 0})
    return plan


def _judge_tv(results: Results, seed: int) -> list[CaseResult]:
    from nst_lab.costs import compute_total_variation_cost

    verdicts = []
    for case, shape in enumerate(TV_SHAPES):
        x, cot = _tv_inputs(seed, case)
        mistakes = [(why, np_total_variation(x, variant)) for why, variant in TV_MISTAKES]
        grad = vjp(compute_total_variation_cost, [x], [0], cot)
        verdicts.append(judge_call(f"total variation of shape {shape}", results.get(f"case{case}"),
                                   np_total_variation(x), mistakes, grad=grad))
    return verdicts


# ----------------------------------------------------------------- ImageNet preprocessing
PRE_SHAPES = [(1, 3, 4, 3), (1, 2, 2, 3)]
MEAN_BGR = np.array([103.939, 116.779, 123.68])  # Keras' vgg19.preprocess_input (Caffe convention)
STD_RGB = np.array([0.229, 0.224, 0.225])  # the torch convention's standard deviations
MEAN_RGB_01 = np.array([0.485, 0.456, 0.406])


def _pre_inputs(seed: int, case: int) -> tuple[np.ndarray, np.ndarray]:
    r = rng(seed, 70 + case)
    shape = PRE_SHAPES[case]
    return r.uniform(0.0, 1.0, shape).astype(np.float32), r.normal(size=shape).astype(np.float32)


def np_preprocess(x: np.ndarray, variant: str = "right") -> np.ndarray:
    """NumPy Caffe preprocessing of [0, 1] RGB, with switches that reproduce typical mistakes."""
    x = x.astype(np.float64)
    bgr = x[..., ::-1]
    variants: dict[str, Callable[[], np.ndarray]] = {
        "right": lambda: bgr * 255.0 - MEAN_BGR,
        "no_scale": lambda: bgr - MEAN_BGR,
        "no_flip": lambda: x * 255.0 - MEAN_BGR,
        "rgb_means": lambda: bgr * 255.0 - MEAN_BGR[::-1],
        "no_flip_rgb_means": lambda: x * 255.0 - MEAN_BGR[::-1],
        "divide": lambda: bgr / 255.0 - MEAN_BGR,
        "no_mean": lambda: bgr * 255.0,
        "std": lambda: (bgr * 255.0 - MEAN_BGR) / (255.0 * STD_RGB[::-1]),
        "torch": lambda: (x - MEAN_RGB_01) / STD_RGB,
    }
    return np.asarray(variants[variant]())


PRE_MISTAKES = [
    ("the pixels were not scaled to [0, 255] first: multiply by 255", "no_scale"),
    ("the channels were not flipped from RGB to BGR: image[..., ::-1]", "no_flip"),
    ("the means are in RGB order; after the flip, subtract (103.939, 116.779, 123.68) from (B, G, R)", "rgb_means"),
    ("neither the flip nor the BGR order of the means: Caffe's VGG19 reads B, G, R", "no_flip_rgb_means"),
    ("you divided by 255; the pixels are in [0, 1] and must be multiplied by 255", "divide"),
    ("the ImageNet means were not subtracted", "no_mean"),
    ("you divided by a standard deviation; the Caffe convention only subtracts the means", "std"),
    ("that is the torch convention ((x - mean) / std in RGB); VGG19's Keras weights use Caffe's", "torch"),
]


def _plan_pre(seed: int) -> Plan:
    plan = []
    for case in range(len(PRE_SHAPES)):
        x, cot = _pre_inputs(seed, case)
        plan.append({"id": f"case{case}", "args": [encode(x)], "grad": {"wrt": [0], "cotangent": encode(cot)},
                     "trace": case == 0, "watch": KERAS_APPLICATIONS})
    return plan


KERAS_APPLICATIONS = ["keras", "/applications/"]  # Keras' preprocess_input lives there (vgg16, vgg19, imagenet_utils)
KERAS_CALLED = "this calls Keras' own preprocess_input; write the conversion yourself (x255, RGB to BGR, means off)"


def _judge_pre(results: Results, seed: int) -> list[CaseResult]:
    from nst_lab.vgg import preprocess_for_vgg19

    verdicts = []
    for case, shape in enumerate(PRE_SHAPES):
        x, cot = _pre_inputs(seed, case)
        mistakes = [(why, np_preprocess(x, variant)) for why, variant in PRE_MISTAKES]
        grad = vjp(preprocess_for_vgg19, [x], [0], cot)
        result = results.get(f"case{case}")
        if isinstance(result, dict) and result.get("watched"):  # not the student's work, whatever it returns
            verdicts.append(CaseResult(f"preprocess of shape {shape}", False,
                                       f"preprocess of shape {shape}: {KERAS_CALLED} (it ran {result['watched'][0]})"))
            continue
        verdicts.append(judge_call(f"preprocess of shape {shape}", results.get(f"case{case}"), np_preprocess(x),
                                   mistakes, grad=grad))
    return verdicts


# ----------------------------------------------------------------- the training loop
LOOP_CASES = [(7, 3), (5, 2)]  # (steps, snapshot_every): snapshots at 0, 3, 6 and at 0, 2, 4
LOOP_SHAPE = (1, 3, 4, 3)


def _loop_inputs(seed: int, case: int) -> dict[str, Any]:
    r = rng(seed, 80 + case)
    return {"start": r.uniform(0.0, 1.0, LOOP_SHAPE).astype(np.float32),
            "target": r.uniform(0.0, 1.0, LOOP_SHAPE).astype(np.float32),
            "decay": float(np.float32(r.uniform(0.5, 0.9))), "shift": float(np.float32(r.uniform(0.02, 0.1)))}


def np_loop(inputs: dict[str, Any], steps: int) -> tuple[list[float], list[np.ndarray]]:
    """The costs of ``steps`` steps of kit's known step, and the images x_0 ... x_steps."""
    x = inputs["start"].astype(np.float64)
    target = inputs["target"].astype(np.float64)
    images, costs = [x], []
    for _ in range(steps):
        costs.append(float(np.sum((x - target) ** 2)))
        x = x * inputs["decay"] + inputs["shift"]
        images.append(x)
    return costs, images


def _plan_loop(seed: int) -> Plan:
    plan = []
    for case, (steps, every) in enumerate(LOOP_CASES):
        inputs = _loop_inputs(seed, case)
        plan.append({"id": f"case{case}", "kind": "loop", "start": encode(inputs["start"]),
                     "target": encode(inputs["target"]), "decay": inputs["decay"], "shift": inputs["shift"],
                     "steps": steps, "snapshot_every": every})
    return plan


def _items_value(item: Any) -> np.ndarray | None:
    try:
        value = item.get("value") if isinstance(item, dict) else None
        return None if value is None else np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def _judge_history(label: str, history: Any, calls: Any, expected: list[float]) -> str:
    """Empty when the history is right, else the message naming its mistake."""
    steps = len(expected)
    if calls != steps:
        off = {steps + 1: "range(steps + 1) runs one step too many",
               steps - 1: "one step is missing (range(1, steps)?)"}
        why = off.get(calls, "") if isinstance(calls, int) else ""
        return f"{label}: train_step_fn was called {calls} times, expected {steps}" + (f": {why}" if why else "")
    if not isinstance(history, dict) or history.get("type") != "sequence":
        got = history.get("type") if isinstance(history, dict) else None
        return f"{label}: the history should be a list of floats, got a {got}"
    items = history.get("items")
    if not isinstance(items, list) or history.get("length") != steps:
        return f"{label}: the history has {history.get('length')} entries, expected one per step ({steps})"
    kinds = {str(i.get("type")) for i in items if isinstance(i, dict)}
    if "tf.Tensor" in kinds:
        return f"{label}: the history holds tensors; append float(J) so that it holds plain numbers"
    values = [_items_value(i) for i in items]
    if not kinds <= {"float", "numpy"} or any(v is None or v.shape != () for v in values):
        return f"{label}: every history entry should be a float, got {sorted(kinds)}"
    got = np.array([float(v) for v in values if v is not None])
    if not close(got, np.array(expected)):
        return f"{label}: the history should be the cost returned by each step, {fmt(expected)}; got {fmt(got)}"
    return ""


def _judge_snapshots(label: str, snapshots: Any, steps: int, every: int, images: list[np.ndarray]) -> str:
    """Empty when the snapshots are right, else the message naming the mistake."""
    if not isinstance(snapshots, dict) or snapshots.get("type") != "dict":
        got = snapshots.get("type") if isinstance(snapshots, dict) else None
        return f"{label}: snapshots should be a dict step -> image, got a {got}"
    keys, items = snapshots.get("keys"), snapshots.get("items")
    want = [i for i in range(steps) if i % every == 0]
    if not isinstance(keys, list) or not isinstance(items, list) or len(keys) != len(items):
        return f"{label}: the snapshots could not be read"
    if keys != want:
        wrong = {tuple(i for i in range(steps) if (i + 1) % every == 0): "you counted steps from 1; "
                 "the seed takes a snapshot when i % snapshot_every == 0, from step 0",
                 tuple(range(0, steps + 1, every)): "a snapshot after the loop's end, at step == steps, is extra",
                 tuple(range(every, steps, every)): "the snapshot of step 0 is missing"}
        why = wrong.get(tuple(k for k in keys if isinstance(k, int)), "")
        return f"{label}: snapshots at steps {keys}, expected {want}" + (f": {why}" if why else "")
    values = [_items_value(i) for i in items]
    final = images[-1]
    for step, item, value in zip(want, items, values):
        expected = images[step + 1]  # the image after step i
        if value is None or value.shape != expected.shape:
            return f"{label}: the snapshot of step {step} is not an image of shape {expected.shape}"
        if close(value, expected):
            if item.get("type") != "numpy":
                return (f"{label}: the snapshot of step {step} is a {item.get('type')}; store a NumPy copy, "
                        "generated_image.numpy()")
            continue
        if close(value, final) and len(want) > 1:
            return (f"{label}: every snapshot shows the final image: you stored the Variable itself (a "
                    "reference that keeps changing); store a copy, generated_image.numpy()")
        if close(value, images[step]):
            return (f"{label}: the snapshot of step {step} shows the image before that step; the seed takes it "
                    "after train_step")
        return f"{label}: the snapshot of step {step} is not the image after that step"
    return ""


def _judge_loop(results: Results, seed: int) -> list[CaseResult]:
    verdicts = []
    for case, (steps, every) in enumerate(LOOP_CASES):
        label = f"{steps} steps, a snapshot every {every}"
        costs, images = np_loop(_loop_inputs(seed, case), steps)
        result = results.get(f"case{case}")
        got = result.get("value") if isinstance(result, dict) else None
        if not isinstance(got, dict):
            verdicts.append(CaseResult(label, False, f"{label}: nothing came back"))
            continue
        if "error" in got:
            verdicts.append(CaseResult(label, False, f"{label}: it raised {got['error']}"))
            continue
        if got.get("type") != "pair":
            verdicts.append(CaseResult(label, False, f"{label}: return (history, snapshots), got a "
                                                     f"{got.get('type')}"))
            continue
        message = (_judge_history(label, got.get("history"), result.get("calls") if isinstance(result, dict)
                                  else None, costs)
                   or _judge_snapshots(label, got.get("snapshots"), steps, every, images))
        shown = f"{steps} costs, snapshots at {[i for i in range(steps) if i % every == 0]}"
        verdicts.append(CaseResult(label, not message, message, "" if message else shown))
    return verdicts


COURSE_SPECS = (
    Spec("preprocess_for_vgg19", _plan_pre, _judge_pre),
    Spec("run_style_transfer", _plan_loop, _judge_loop),
    Spec("compute_total_variation_cost", _plan_tv, _judge_tv),
)
