"""The judging machinery behind every check: compare what a function returned, name the mistake.

Each graded function has a *spec* (``nst_lab.exercises.specs``) in two halves that never meet the
student's code in the same place:

- ``plan(seed)`` draws concrete inputs from the seed and lists the calls to make (``kit.py``
  runs them: the value, a vector-Jacobian product, the value again under ``tf.function``);
- ``judge(results, seed)`` draws the same inputs, computes the expected values here (NumPy
  re-derivations, and the reference's gradients), compares, and explains the likely mistake.

A case passes only when every value it asked for is right: the output, the gradient and the
traced output. Being differentiable or traceable earns nothing on its own.

``nst_lab.checks.check_<name>(fn)`` runs both halves in the notebook's process; the grader runs
the plan in a sandbox that holds no reference, and the judge in its own process.

Lesson: every notebook's check cells (through ``nst_lab.checks``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

PUBLIC_SEED = 1  # seeds the inputs of the notebook checks; the grader uses hidden seeds
PASS_MESSAGE = "All tests passed"
NUMPY_HINT = "use TensorFlow ops only (no .numpy(), np.* or float()) so gradients can flow"

Results = dict[str, Any]  # call id -> what kit.run_plan sent back
Plan = list[dict[str, Any]]


@dataclass(frozen=True)
class Spec:
    """How to exercise one graded function (``plan``) and how to judge it (``judge``).

    ``depends`` names the graded functions it may call: the grader provides their references.
    ``prelude`` names further provided helpers (sources from ``nst_lab.exercises.references``).
    """

    name: str
    plan: Callable[[int], Plan]
    judge: Callable[[Results, int], list[CaseResult]]
    depends: tuple[str, ...] = ()
    prelude: tuple[str, ...] = ()

    @property
    def provided(self) -> tuple[str, ...]:
        """What it builds on: its dependencies' references and the provided helpers, in the grader and the checks."""
        return tuple(n for n in dict.fromkeys((*self.depends, *self.prelude, "clip_0_1")) if n != self.name)


@dataclass(frozen=True)
class CaseResult:
    """The verdict on one test case of a graded function; ``got`` shows the student's value."""

    case: str
    passed: bool
    message: str = ""
    got: str = ""


def rng(seed: int, case: int) -> np.random.RandomState:
    """The input generator of one test case: NumPy's frozen legacy stream."""
    return np.random.RandomState((seed * 1009 + case) % (2**32))


def close(a: Any, b: Any, rtol: float = 1e-4, atol: float = 1e-6) -> bool:
    """True when two arrays of the same shape agree to float32 precision."""
    try:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    except (TypeError, ValueError):
        return False
    return a.shape == b.shape and bool(np.allclose(a, b, rtol=rtol, atol=atol, equal_nan=False))


def fmt(value: Any) -> str:
    """Short text for a number or array in a message."""
    array = np.asarray(value, dtype=np.float64)
    if array.ndim == 0:
        return f"{float(array):.6g}"
    head = ", ".join(f"{x:.4g}" for x in array.ravel()[:4])
    return f"[{head}{', ...' if array.size > 4 else ''}] of shape {array.shape}"


def first_difference(value: np.ndarray, expected: np.ndarray, rtol: float, atol: float = 1e-6) -> str:
    """Where two same-shape arrays first differ: ``at [i, j]: expected x, got y``."""
    if value.ndim == 0:
        return f"expected {float(expected):.6g}, got {float(value):.6g}"
    bad = ~np.isclose(value, expected, rtol=rtol, atol=atol)
    index = tuple(int(i) for i in np.argwhere(bad)[0]) if bad.any() else (0,) * value.ndim
    where = ", ".join(str(i) for i in index)
    count = int(bad.sum())
    return (f"{count} of {value.size} values differ; the first at [{where}]: expected "
            f"{float(expected[index]):.6g}, got {float(value[index]):.6g}")


def _as_array(got: dict[str, Any]) -> np.ndarray | None:
    try:
        value = got.get("value")
        return None if value is None else np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        return None


def judge_value(
    case: str,
    got: Any,
    expected: Any,
    mistakes: Sequence[tuple[str, Any]] = (),
    want_tensor: bool = True,
    rtol: float = 1e-4,
    atol: float = 1e-6,
) -> CaseResult:
    """Compare one described value with the expected one and name every mistake it matches.

    ``mistakes`` lists (explanation, the value that mistake would produce) pairs; when several
    give the same value, all are named.
    """
    if not isinstance(got, dict):
        return CaseResult(case, False, f"{case}: nothing came back")
    if "error" in got:
        return CaseResult(case, False, f"{case}: it raised {got['error']}")
    if want_tensor and got.get("type") != "tf.Tensor":
        return CaseResult(case, False, f"{case}: expected a tf.Tensor but got a {got.get('type')}: "
                          "use TensorFlow ops (tf.reduce_sum, tf.square, tf.matmul) and do not "
                          "convert with .numpy(), float() or NumPy")
    value = _as_array(got)
    if value is None:
        return CaseResult(case, False, f"{case}: returned {got.get('type')}, not a number or tensor")
    expected = np.asarray(expected, dtype=np.float64)
    shown = fmt(value)
    matching = [why for why, wrong in mistakes if np.shape(wrong) == value.shape and close(value, wrong, rtol, atol)]
    diagnosis = f": {' or '.join(matching)}" if matching else ""
    if value.shape != expected.shape:
        return CaseResult(case, False, f"{case}: expected shape {expected.shape}, got {value.shape}{diagnosis}", shown)
    if close(value, expected, rtol, atol):
        return CaseResult(case, True, got=shown)
    return CaseResult(case, False, f"{case}: {first_difference(value, expected, rtol, atol)}{diagnosis}", shown)


def judge_call(
    case: str,
    result: Any,
    expected: Any,
    mistakes: Sequence[tuple[str, Any]] = (),
    grad: Any = None,
    rtol: float = 1e-4,
) -> CaseResult:
    """One case of a ``call``: the value, then (when asked for) the gradient, then the traced value.

    Args:
        result: kit's record of the call: {"value": ..., "grad": ..., "traced": ...}.
        expected: the right output; ``grad`` the right vector-Jacobian product (None: not asked).
    """
    if not isinstance(result, dict):
        return CaseResult(case, False, f"{case}: nothing came back")
    verdict = judge_value(case, result.get("value"), expected, mistakes, rtol=rtol)
    if not verdict.passed:
        return verdict
    if grad is not None:
        g = result.get("grad")
        if isinstance(g, dict) and "error" in g:
            return CaseResult(case, False, f"{case}: the value is right but no gradient flows ({g['error']}); "
                              f"{NUMPY_HINT}", verdict.got)
        check = judge_value(f"{case}, gradient", g, grad, want_tensor=True, rtol=max(rtol, 1e-3))
        if not check.passed:
            return CaseResult(case, False, f"{check.message} (the value is right, its gradient is not: {NUMPY_HINT})",
                              verdict.got)
    if "traced" in result:
        traced = judge_value(f"{case}, inside tf.function", result.get("traced"), expected, rtol=rtol)
        if not traced.passed:
            return CaseResult(case, False, f"{traced.message}; {NUMPY_HINT}", verdict.got)
    return verdict


def vjp(fn: Callable[..., Any], args: list[Any], wrt: Sequence[int], cotangent: np.ndarray) -> np.ndarray:
    """The reference's vector-Jacobian product: d sum(cotangent * fn(*args)) / d args[wrt]."""
    import tensorflow as tf

    def lift(x: Any) -> Any:
        if isinstance(x, np.ndarray):
            return tf.constant(x.astype(np.float32))
        return [lift(v) for v in x] if isinstance(x, list) else x

    values = lift(args)
    target = values[wrt[0]] if len(wrt) == 1 else values[wrt[0]][wrt[1]]
    var = tf.Variable(target)
    if len(wrt) == 1:
        values[wrt[0]] = var
    else:
        values[wrt[0]] = list(values[wrt[0]])
        values[wrt[0]][wrt[1]] = var
    with tf.GradientTape() as tape:
        loss = tf.reduce_sum(fn(*values) * tf.constant(np.asarray(cotangent, np.float32)))
    return np.asarray(tape.gradient(loss, var).numpy(), dtype=np.float64)
