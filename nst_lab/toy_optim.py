"""Four optimizers on the 2-D Rosenbrock valley, to compare their paths by eye.

The seed report (section 6) says Adam combines momentum and RMSprop. Notebook 04 tests that
claim: it runs plain gradient descent, momentum, RMSprop and Adam from the same start and
draws their paths on a contour plot. Everything here is NumPy and runs in milliseconds.

Lesson: notebooks/04_adam.ipynb
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

METHODS = ("sgd", "momentum", "rmsprop", "adam")
START = (-1.5, 1.5)  # on the far side of the banana-shaped valley from the minimum (1, 1)
# Candidate learning rates, and each method's best one on this grid after 2000 steps from START
# (tests/test_toy_optim.py recomputes the sweep and checks these).
LR_GRID = (1e-4, 2e-4, 5e-4, 1e-3, 2e-3, 5e-3, 1e-2, 2e-2, 5e-2, 0.1, 0.2, 0.5, 1.0, 2.0)  # past Adam's edge at 0.5
LEARNING_RATES = {"sgd": 2e-3, "momentum": 2e-3, "rmsprop": 5e-3, "adam": 0.2}


def rosenbrock(x: np.ndarray | float, y: np.ndarray | float, b: float = 100.0) -> np.ndarray:
    """f(x, y) = (1 - x)^2 + b (y - x^2)^2; minimum 0 at (1, 1). Works elementwise on grids."""
    return (1.0 - np.asarray(x)) ** 2 + b * (np.asarray(y) - np.asarray(x) ** 2) ** 2


def rosenbrock_grad(point: np.ndarray, b: float = 100.0) -> np.ndarray:
    """Gradient (df/dx, df/dy) at ``point`` of shape (2,)."""
    x, y = point
    return np.array([-2.0 * (1.0 - x) - 4.0 * b * x * (y - x**2), 2.0 * b * (y - x**2)])


def optimize_path(
    method: str,
    steps: int = 2000,
    start: Sequence[float] = START,
    learning_rate: float | None = None,
    beta1: float = 0.9,
    beta2: float = 0.999,
    rho: float = 0.9,
    epsilon: float = 1e-8,
    scale: float = 1.0,
) -> np.ndarray:
    """Run ``method`` on the Rosenbrock function and return every point visited.

    Args:
        method: "sgd" | "momentum" | "rmsprop" | "adam".
        steps: number of updates.
        start: the starting point (x, y).
        learning_rate: step size; None uses ``LEARNING_RATES[method]``.
        beta1: decay of momentum's velocity and of Adam's gradient average.
        beta2: decay of Adam's squared-gradient average.
        rho: decay of RMSprop's squared-gradient average (its usual default, 0.9).
        epsilon: keeps the divisions finite.
        scale: minimise ``scale * f`` instead of f (same minimum, gradients ``scale`` times larger).

    Returns:
        path: float64 array of shape (at most steps + 1, 2); row 0 is ``start``. A path that
        diverges stops at the last finite point.
    """
    if method not in METHODS:
        raise ValueError(f"method {method!r} is not one of {', '.join(METHODS)}")
    lr = LEARNING_RATES[method] if learning_rate is None else learning_rate
    point = np.asarray(start, dtype=np.float64).copy()
    m = np.zeros(2)  # velocity (momentum) or running average of the gradient (Adam)
    v = np.zeros(2)  # running average of the squared gradient (RMSprop, Adam)
    path = [point.copy()]
    for t in range(1, steps + 1):
        g = scale * rosenbrock_grad(point)
        if method == "sgd":
            point -= lr * g
        elif method == "momentum":  # heavy ball: m sums past gradients, decayed by beta1
            m = beta1 * m + g
            point -= lr * m
        elif method == "rmsprop":
            v = rho * v + (1 - rho) * g**2
            point -= lr * g / (np.sqrt(v) + epsilon)
        else:
            m = beta1 * m + (1 - beta1) * g
            v = beta2 * v + (1 - beta2) * g**2
            m_hat, v_hat = m / (1 - beta1**t), v / (1 - beta2**t)
            point -= lr * m_hat / (np.sqrt(v_hat) + epsilon)
        if not np.all(np.isfinite(point)) or np.abs(point).max() > 1e6:
            break  # diverged: keep the finite part of the path
        path.append(point.copy())
    return np.array(path)


def final_value(path: np.ndarray, steps: int) -> float:
    """f at the end of ``path``, or inf when the path diverged before ``steps`` steps."""
    return float(rosenbrock(*path[-1])) if len(path) == steps + 1 else float("inf")


def sweep_learning_rates(method: str, grid: Sequence[float] = LR_GRID, steps: int = 2000) -> list[float]:
    """Final f(x, y) after ``steps`` steps of ``method`` for each rate of ``grid``; inf: diverged."""
    return [final_value(optimize_path(method, steps, learning_rate=lr), steps) for lr in grid]
