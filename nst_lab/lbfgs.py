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
import tensorflow as tf

from nst_lab.errors import NonFiniteLossError
from nst_lab.fast import fast_cost_parts

IterationCallback = Callable[[int], None]
FLOAT16_LOSS_SCALE = 2.0**12  # fixed scale for float16 gradients (scipy keeps no dynamic scale)


STALL_ITERATIONS = 10  # stop after this many iterations without a new best loss


class _Stop(Exception):
    pass


class _Stalled(Exception):
    pass


def value_and_grad(transfer: Any) -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """Compile f(alpha, beta) -> (parts (3,), dJ/dG (1, H, W, 3)) at the transfer's G."""
    image = transfer.generated_image
    scale = FLOAT16_LOSS_SCALE if transfer.precision.loss_scaling else 1.0

    def fn(alpha: tf.Tensor, beta: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        with tf.GradientTape() as tape:
            if transfer.extension is not None:  # issue 7's costs (TV, blends, masks): graded path
                parts = transfer.extension.cost_parts(image, transfer.extractor, transfer.a_C, transfer.a_S,
                                                      alpha, beta, transfer.config.style_layers)
            else:
                parts = fast_cost_parts(image, transfer.forward, transfer.a_C[-1], transfer.style_grams,
                                        alpha, beta, transfer.config.style_layers)
            target = parts[0] * scale
        return tf.stack(parts), tape.gradient(target, image) / scale

    return tf.function(fn)


def run_lbfgs(transfer: Any, iterations: int, on_iteration: IterationCallback | None = None,
              stop_below: float | None = None, history_size: int = 10) -> str:
    """Run up to ``iterations`` L-BFGS-B iterations on ``transfer.generated_image``.

    Each iteration appends G's (total, content, style) to ``transfer.history``, as
    ``StyleTransfer.step`` does, then calls ``on_iteration(i)``.

    Args:
        transfer: a StyleTransfer (its G, forward model, targets and config are used).
        iterations: the most iterations (one or more loss+gradient evaluations each).
        on_iteration: called with the 0-based iteration number after each is recorded.
        stop_below: stop as soon as the total loss is at or below this value.
        history_size: number of past gradients in the curvature model (scipy's maxcor).

    Returns:
        scipy's message of why it stopped (or "reached the target loss").
    """
    from scipy.optimize import Bounds, minimize

    shape = tuple(transfer.generated_image.shape)
    alpha, beta = transfer._loss_weights()
    evaluate = value_and_grad(transfer)
    last: dict[str, Any] = {}
    first = transfer.steps_done
    transfer._last_good.assign(transfer.generated_image)

    def fun(x: np.ndarray) -> tuple[float, np.ndarray]:
        transfer.generated_image.assign(x.reshape(shape).astype(np.float32))
        parts, grad = evaluate(alpha, beta)
        parts = parts.numpy()
        if not np.all(np.isfinite(parts)):
            raise NonFiniteLossError(f"the loss became {parts[0]} during L-BFGS: lower --alpha/--beta")
        last["x"], last["parts"] = x, parts
        return float(parts[0]), grad.numpy().astype(np.float64).ravel()

    def callback(x: np.ndarray) -> None:
        parts = last["parts"] if "x" in last and np.array_equal(last["x"], x) else None
        if parts is None:  # the accepted point was not the last one evaluated
            fun(x)
            parts = last["parts"]
        transfer._last_good.assign(x.reshape(shape).astype(np.float32))
        for key, value in zip(("total", "content", "style"), parts):
            transfer.history[key].append(float(value))
        if on_iteration is not None:
            on_iteration(transfer.steps_done - 1)
        if stop_below is not None and parts[0] <= stop_below:
            raise _Stop
        best = min(transfer.history["total"][first:])
        recent = transfer.history["total"][-STALL_ITERATIONS:]
        if len(recent) == STALL_ITERATIONS and min(recent) > best * (1 - 1e-9) and best not in recent:
            raise _Stalled

    message = "reached the target loss"
    try:
        while transfer.steps_done < first + iterations:
            done_before = transfer.steps_done
            start = transfer._last_good.numpy().astype(np.float64).ravel()
            left = first + iterations - transfer.steps_done
            result = minimize(fun, start, jac=True, method="L-BFGS-B",
                              bounds=Bounds(np.zeros_like(start), np.ones_like(start)), callback=callback,
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
    except NonFiniteLossError:
        transfer.generated_image.assign(transfer._last_good)
        raise
    transfer.generated_image.assign(transfer._last_good)  # the last accepted iterate
    return message
