"""Checks that notebooks call after each graded function: pass or fail, and why.

Each graded function has a *spec* (see ``nst_lab.specs``) split in two halves:

- ``produce(fn, seed)`` calls the student's function on deterministic inputs built from fixed
  NumPy arrays and returns plain data (numbers and lists, JSON-safe);
- ``judge(produced, seed)`` rebuilds the same inputs, computes the reference, compares, and
  explains the likely mistake.

``check_<name>(fn)`` runs both halves here. The grader (``nst_lab.grading``) runs ``produce``
in a separate process and ``judge`` in its own, so student code never touches the judge.

Lesson: every notebook's check cells.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import tensorflow as tf

PUBLIC_SEED = 1  # seeds the inputs of the notebook checks; the grader uses hidden seeds
PASS_MESSAGE = "All tests passed"


Produced = dict[str, Any]
NUMPY_HINT = "use TensorFlow ops only (no .numpy(), np.* or float()) so gradients can flow"


@dataclass(frozen=True)
class Spec:
    """How to exercise one graded function (``produce``) and how to judge it (``judge``)."""

    name: str
    produce: Callable[[Callable[..., Any], int], Produced]
    judge: Callable[[Produced, int], list[CaseResult]]
    depends: tuple[str, ...] = ()  # graded functions it may call; the grader injects references


def rng(seed: int, case: int) -> np.random.RandomState:
    """The input generator of one test case: NumPy's frozen legacy stream."""
    return np.random.RandomState(seed * 1009 + case)



class CheckFailed(AssertionError):
    """A graded function returned the wrong thing; the message says what and the likely fix."""


@dataclass(frozen=True)
class CaseResult:
    """The verdict on one test case of a graded function."""

    case: str
    passed: bool
    message: str = ""


def describe(value: Any) -> dict[str, Any]:
    """Summarise a returned value as JSON-safe data: its type, dtype, shape and numbers."""
    if isinstance(value, (tf.Tensor, tf.Variable)):
        kind = "tf.Tensor"
    elif isinstance(value, np.ndarray) or isinstance(value, np.generic):
        kind = "numpy"
    elif isinstance(value, (bool, int, float)):
        kind = type(value).__name__
    else:
        return {"type": type(value).__name__, "shape": None, "value": None}
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return {"type": kind, "shape": None, "value": None}
    dtype = value.dtype.name if hasattr(value, "dtype") else type(value).__name__
    return {"type": kind, "dtype": str(dtype), "shape": list(array.shape), "value": array.tolist()}


def error_text(exc: BaseException) -> str:
    """``TypeError: first line of the message`` (long messages trimmed)."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0][:300] if lines else ''}".rstrip(": ")


def attempt(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> dict[str, Any]:
    """Call ``fn`` and describe what it returned, or the error it raised."""
    try:
        return describe(fn(*args, **kwargs))
    except Exception as exc:  # student code may raise anything
        return {"error": error_text(exc)}


def gradient_flows(
    fn: Callable[..., Any], make_args: Callable[[tf.Variable], tuple], var_value: np.ndarray
) -> dict[str, Any]:
    """Whether d fn(...) / d var exists, where ``make_args(var)`` builds the call's arguments."""
    var = tf.Variable(var_value.astype(np.float32))
    try:
        with tf.GradientTape() as tape:
            out = fn(*make_args(var))
        if not isinstance(out, (tf.Tensor, tf.Variable)):
            return {"ok": False, "why": f"it returned a {type(out).__name__}, which carries no gradient"}
        grad = tape.gradient(out, var)
    except Exception as exc:
        return {"ok": False, "why": error_text(exc)}
    if grad is None:
        return {"ok": False, "why": "the gradient is None"}
    return {"ok": bool(np.all(np.isfinite(grad.numpy()))), "why": "the gradient is not finite"}


def traces(fn: Callable[..., Any], *args: Any) -> dict[str, Any]:
    """Whether ``fn`` runs inside ``tf.function`` (graph mode)."""
    try:
        tf.function(fn, autograph=False)(*args)
        return {"ok": True}
    except Exception as exc:
        return {"ok": False, "why": error_text(exc)}


def close(a: Any, b: Any, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """True when two arrays of the same shape agree to float32 precision."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol))


def fmt(value: Any) -> str:
    """Short text for a number or array in a message."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return f"{float(array):.6g}"
    return np.array2string(array.ravel()[:6], precision=5) + (" ..." if array.size > 6 else "")


def judge_value(
    case: str,
    got: dict[str, Any],
    expected: Any,
    mistakes: Sequence[tuple[str, Any]] = (),
    want_tensor: bool = True,
    rtol: float = 1e-4,
) -> CaseResult:
    """Compare a described return value with the reference and name the matching mistake.

    ``mistakes`` lists (explanation, the value that mistake would produce) pairs.
    """
    if "error" in got:
        return CaseResult(case, False, f"{case}: it raised {got['error']}")
    if want_tensor and got["type"] != "tf.Tensor":
        return CaseResult(case, False, f"{case}: expected a tf.Tensor but got a {got['type']}: "
                          "use TensorFlow ops (tf.reduce_sum, tf.square, tf.matmul) and do not "
                          "convert with .numpy(), float() or NumPy")
    if got["value"] is None:
        return CaseResult(case, False, f"{case}: returned {got['type']}, not a number or tensor")
    value = np.asarray(got["value"], dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    if value.shape != expected.shape:
        for why, wrong in mistakes:
            if np.shape(wrong) == value.shape and close(value, wrong, rtol):
                return CaseResult(case, False, f"{case}: expected shape {expected.shape}, got {value.shape}: {why}")
        return CaseResult(case, False, f"{case}: expected shape {expected.shape}, got {value.shape}")
    if close(value, expected, rtol):
        return CaseResult(case, True)
    for why, wrong in mistakes:
        if np.shape(wrong) == value.shape and close(value, wrong, rtol):
            return CaseResult(case, False, f"{case}: expected {fmt(expected)}, got {fmt(value)}: {why}")
    return CaseResult(case, False, f"{case}: expected {fmt(expected)}, got {fmt(value)}")


def judge_flag(case: str, flag: dict[str, Any], hint: str) -> CaseResult:
    """Turn a gradient/tracing probe into a verdict."""
    if flag.get("ok"):
        return CaseResult(case, True)
    return CaseResult(case, False, f"{case}: {flag.get('why', 'failed')}; {hint}")


def run_check(name: str, fn: Callable[..., Any], seed: int = PUBLIC_SEED) -> list[CaseResult]:
    """Run every case of ``name``'s spec against ``fn`` in this process."""
    from nst_lab.specs import SPECS

    if not callable(fn):
        raise CheckFailed(f"check_{name} expected your function {name}, got {type(fn).__name__}")
    spec = SPECS[name]
    return spec.judge(spec.produce(fn, seed), seed)


def report(name: str, results: Sequence[CaseResult]) -> None:
    """Print ``All tests passed`` or raise CheckFailed listing each failing case."""
    failed = [r for r in results if not r.passed]
    if not failed:
        print(PASS_MESSAGE)
        return
    lines = "\n".join(f"  - {r.message}" for r in failed)
    raise CheckFailed(f"{name}: {len(failed)} of {len(results)} tests failed\n{lines}")


def _checker(name: str) -> Callable[[Callable[..., Any]], None]:
    def check(fn: Callable[..., Any]) -> None:
        report(name, run_check(name, fn))

    check.__name__ = f"check_{name}"
    check.__doc__ = f"Check your ``{name}``: prints '{PASS_MESSAGE}' or raises CheckFailed."
    return check


check_get_layer_outputs = _checker("get_layer_outputs")
check_compute_content_cost = _checker("compute_content_cost")
check_gram_matrix = _checker("gram_matrix")
check_compute_layer_style_cost = _checker("compute_layer_style_cost")
check_compute_style_cost = _checker("compute_style_cost")
check_total_cost = _checker("total_cost")
check_adam_update = _checker("adam_update")
check_train_step = _checker("train_step")
