"""L-BFGS on the pixels (scipy's L-BFGS-B, pixels bounded to [0, 1]) and coarse-to-fine runs.

Adam takes a fixed-size step per pixel; L-BFGS builds a curvature model from the last few
gradients and usually reaches a given loss in far fewer evaluations. The bounds replace the
seed's ``clip_0_1``.

Lesson: README.md, section "Speed".
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from nst_lab.engine.step import make_value_and_grad
from nst_lab.errors import NonFiniteLossError

IterationCallback = Callable[[int], None]
FLOAT16_LOSS_SCALE = 2.0**12  # fixed scale for float16 gradients (scipy keeps no dynamic scale)


STALL_ITERATIONS = 10  # stop after this many iterations without a new best loss


class _Stop(Exception):
    pass


class _Stalled(Exception):
    pass


class _Iterations:
    """scipy's callbacks on one StyleTransfer: evaluate J and dJ/dG at x, record accepted iterates."""

    def __init__(self, transfer: Any, on_iteration: IterationCallback | None, stop_below: float | None) -> None:
        self.transfer, self.on_iteration, self.stop_below = transfer, on_iteration, stop_below
        self.shape = tuple(transfer.generated_image.shape)  # (1, H, W, 3)
        self.alpha, self.beta = transfer.loss_weights()
        scale = FLOAT16_LOSS_SCALE if transfer.precision.loss_scaling else 1.0
        self.evaluate = make_value_and_grad(transfer.generated_image, transfer.objective, scale)
        self.last: dict[str, Any] = {}
        self.first = transfer.steps_done

    def fun(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        """(J, dJ/dG flattened, float64) at the pixels x."""
        self.transfer.generated_image.assign(x.reshape(self.shape).astype(np.float32))
        parts, grad = self.evaluate(self.alpha, self.beta)
        parts = parts.numpy()
        if not np.all(np.isfinite(parts)):
            raise NonFiniteLossError(f"the loss became {parts[0]} during L-BFGS: lower alpha/beta")
        self.last["x"], self.last["parts"] = x, parts
        return float(parts[0]), grad.numpy().astype(np.float64).ravel()

    def callback(self, x: np.ndarray) -> None:
        """Record an accepted iterate; raise _Stop at the target and _Stalled without progress."""
        if not ("x" in self.last and np.array_equal(self.last["x"], x)):  # not the last point evaluated
            self.fun(x)
        parts = self.last["parts"]
        history = self.transfer.history
        self.transfer.last_good.assign(x.reshape(self.shape).astype(np.float32))
        self.transfer.record(*(float(value) for value in parts))
        if self.on_iteration is not None:
            self.on_iteration(self.transfer.steps_done - 1)
        if self.stop_below is not None and parts[0] <= self.stop_below:
            raise _Stop
        best = min(history["total"][self.first:])
        recent = history["total"][-STALL_ITERATIONS:]
        if len(recent) == STALL_ITERATIONS and min(recent) > best * (1 - 1e-9) and best not in recent:
            raise _Stalled


def run_lbfgs(transfer: Any, iterations: int, on_iteration: IterationCallback | None = None,
              stop_below: float | None = None, history_size: int = 10) -> str:
    """Run up to ``iterations`` L-BFGS-B iterations on ``transfer.generated_image``.

    Each iteration appends G's (total, content, style) to ``transfer.history``, as
    ``StyleTransfer.step`` does, then calls ``on_iteration(i)``.

    Args:
        transfer: a StyleTransfer (its G, objective and config are used).
        iterations: the most iterations (one or more loss+gradient evaluations each).
        on_iteration: called with the 0-based iteration number after each is recorded.
        stop_below: stop as soon as the total loss is at or below this value.
        history_size: number of past gradients in the curvature model (scipy's maxcor).

    Returns:
        scipy's message of why it stopped (or "reached the target loss").
    """
    from scipy.optimize import Bounds, minimize

    run = _Iterations(transfer, on_iteration, stop_below)
    transfer.last_good.assign(transfer.generated_image)
    message = "reached the target loss"
    try:
        while transfer.steps_done < run.first + iterations:
            done_before = transfer.steps_done
            start = transfer.last_good.numpy().astype(np.float64).ravel()
            left = run.first + iterations - transfer.steps_done
            result = minimize(run.fun, start, jac=True, method="L-BFGS-B",
                              bounds=Bounds(np.zeros_like(start), np.ones_like(start)), callback=run.callback,
                              options={"maxiter": left, "maxcor": history_size, "maxfun": 3 * left,
                                       "ftol": 0.0, "gtol": 0.0})
            message = str(result.message)
            if transfer.steps_done == done_before:  # a fresh start made no progress: done
                break
            # Otherwise the line search stalled on rounding noise (bfloat16 gradients are
            # not exact): restart with an empty curvature memory from the last iterate.
    except _Stop:
        message = "reached the target loss"
    except _Stalled:
        message = f"stalled: no lower loss in {STALL_ITERATIONS} iterations"
    except (NonFiniteLossError, KeyboardInterrupt):  # G may be a line search's trial point: keep the last iterate
        transfer.generated_image.assign(transfer.last_good)
        raise
    transfer.generated_image.assign(transfer.last_good)  # the last accepted iterate
    return message
