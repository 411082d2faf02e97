"""Run a whole style transfer: progress bar, snapshots, interrupt and NaN handling, run folder.

Each run gets a fresh folder ``OUTDIR/run-NNN`` holding ``final.png``, ``snapshots/``,
``loss_plot.png`` and ``run.json``; no earlier run is ever overwritten.

Lesson: notebooks/05_style_transfer.ipynb
"""

from __future__ import annotations

import json
import os
import platform
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from tqdm.auto import tqdm

from nst_lab.config import StyleConfig
from nst_lab.engine.scales import ctrl_c_between_steps, run_steps
from nst_lab.engine.transfer import StyleTransfer, prepare_transfer
from nst_lab.errors import NonFiniteLossError
from nst_lab.files import atomic_write_text, describe_inputs, new_run_dir
from nst_lab.images import ImageSource, save_image
from nst_lab.vgg import WeightsInfo

StepCallback = Callable[[int, StyleTransfer], None]


@dataclass
class RunResult:
    """What a run made, also when it was interrupted or stopped by a NaN."""

    image: np.ndarray  # (1, H, W, 3) float32 in [0, 1]
    history: dict[str, list[float]]  # per-step total, content and style costs
    steps_done: int
    status: str  # "finished" | "interrupted" | "non-finite loss"
    seconds: float
    weights: WeightsInfo
    config: StyleConfig
    run_dir: Path | None = None
    snapshots: dict[int, Path] = field(default_factory=dict)
    message: str = ""
    precision: str = ""  # what ran, e.g. "bfloat16 (auto)"; empty = config.precision
    conv_path: str = ""  # how the convolutions' input gradients ran, and why (engine/convpath.py)


def device_name() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU ({gpus[0].name})" if gpus else f"CPU ({platform.processor() or platform.machine()})"


def write_run_json(path: Path, result: RunResult, extra: dict[str, Any] | None = None) -> None:
    """Write run.json atomically: settings, weights, precision, timing and per-step losses."""
    per_step = round(result.seconds / result.steps_done, 4) if result.steps_done else None
    record = {
        "status": result.status,
        "message": result.message,
        "steps_done": result.steps_done,
        "seconds": round(result.seconds, 3),
        "seconds_per_step": per_step,
        "precision": result.precision or result.config.precision,
        "conv_path": result.conv_path,
        "device": device_name(),
        "weights": {"kind": result.weights.kind, "network": result.weights.label(), "arch": result.weights.arch,
                    "source": result.weights.source, "note": result.weights.note},
        "config": result.config.to_dict(),
        "snapshots": {str(k): v.name for k, v in sorted(result.snapshots.items())},
        "losses": result.history,
        "versions": {"tensorflow": tf.__version__, "python": platform.python_version()},
    }
    record.update(extra or {})
    atomic_write_text(path, json.dumps(record, indent=1))


def save_outputs(result: RunResult, run_dir: Path, record: dict[str, Any] | None = None) -> None:
    """Write the final image, the seed's final figure and run.json into ``run_dir``."""
    import matplotlib.pyplot as plt

    from nst_lab.plots import final_figure

    save_image(result.image, run_dir / "final.png", overwrite=True)
    title = f"{result.status}: {result.steps_done} steps"
    fig = final_figure(result.image, result.history, title=title, note=result.weights.summary(),
                       alpha=result.config.alpha, beta=result.config.beta)
    fig.savefig(run_dir / "loss_plot.png", dpi=90)
    plt.close(fig)
    write_run_json(run_dir / "run.json", result, record)


def stylize(
    content: ImageSource | tf.Tensor,
    style: ImageSource | tf.Tensor,
    config: StyleConfig | None = None,
    out_dir: str | os.PathLike[str] | None = None,
    progress: bool = True,
    on_step: StepCallback | None = None,
    transfer: StyleTransfer | None = None,
    run_dir: Path | None = None,
    record: dict[str, Any] | None = None,
) -> RunResult:
    """Run the seed's optimisation loop and return what it made.

    Args:
        content, style: image sources (see ``load_image``) or (1, H, W, 3) tensors; ``style``
            may be a list of style images (blended, or one per mask region).
        config: the run's settings; None means the seed report's preset.
        out_dir: parent folder; when given, a new ``run-NNN`` folder receives the outputs.
        progress: show a tqdm progress bar (notebook widget or terminal).
        on_step: called as on_step(step, transfer) after every step (e.g. to show images).
        transfer: an already-built StyleTransfer to continue (its config is used).
        run_dir: an already-made run folder to write into (instead of a new one in ``out_dir``).
        record: more entries for run.json (the CLI adds the command that made the run and the
            inputs it described); without it, run.json says the run came from ``nst_lab.stylize``.

    Returns:
        RunResult. Ctrl-C / kernel interrupt and NaN losses end the run early; the result
        then holds the last good image, and its status says why it stopped.
    """
    start = time.perf_counter()
    if transfer is None:
        transfer = prepare_transfer(content, style, config or StyleConfig())
    if run_dir is None and out_dir is not None:
        run_dir = new_run_dir(out_dir)
    status, message, snapshots, failure = _drive(transfer, run_dir, progress, on_step)
    result = RunResult(
        image=transfer.image(), history=transfer.history, steps_done=transfer.steps_done,
        status=status, seconds=time.perf_counter() - start, weights=transfer.weights_info,
        config=transfer.config, run_dir=run_dir, snapshots=snapshots, message=message,
        precision=transfer.precision.label, conv_path=transfer.conv_path.label,
    )
    if run_dir is not None:
        extra: dict[str, Any] = dict(record) if record else {"call": "nst_lab.stylize"}
        if "inputs" not in extra:  # the CLI hashed the files once already, before TensorFlow loaded
            extra["inputs"] = describe_inputs(content, style)
        save_outputs(result, run_dir, extra)
    if failure is not None:
        raise failure
    return result


def _drive(transfer: StyleTransfer, run_dir: Path | None, progress: bool, on_step: StepCallback | None
           ) -> tuple[str, str, dict[int, Path], Exception | None]:
    """Advance ``transfer`` by its config's steps: (status, message, snapshots, failure to re-raise)."""
    config = transfer.config
    snapshots: dict[int, Path] = {}
    bar = tqdm(total=config.steps, desc="style transfer", disable=not progress, unit="step")
    asked: list[bool] = []  # set by a Ctrl-C during the run (see scales.ctrl_c_between_steps)

    def after_step(i: int) -> None:
        if asked:
            raise KeyboardInterrupt  # Ctrl-C came during this step: end here, at a step boundary
        bar.update(1)
        bar.set_postfix(loss=f"{transfer.history['total'][-1]:.4g}", refresh=False)
        if run_dir is not None and config.save_every and i % config.save_every == 0:
            snapshots[i] = save_image(transfer.image(), run_dir / "snapshots" / f"step_{i:04d}.png")
        if on_step is not None:
            on_step(i, transfer)

    try:
        with ctrl_c_between_steps(asked):
            run_steps(transfer, config.steps, after_step)  # Adam steps or L-BFGS iterations
    except KeyboardInterrupt:
        return "interrupted", f"interrupted after {transfer.steps_done} steps; kept what was made", snapshots, None
    except NonFiniteLossError as exc:
        return "non-finite loss", str(exc), snapshots, None
    except Exception as exc:  # e.g. out of memory mid-run: save what was made, then re-raise
        return "failed", f"{type(exc).__name__} after {transfer.steps_done} steps", snapshots, exc
    finally:
        bar.close()
    return "finished", "", snapshots, None
