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
from nst_lab.errors import NonFiniteLossError
from nst_lab.images import ImageSource, load_image, save_image, tensor_to_image
from nst_lab.scales import coarse_start, run_steps
from nst_lab.train import StyleTransfer
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


def new_run_dir(parent: str | os.PathLike) -> Path:
    """Create and return ``parent/run-NNN`` with the next free number (never reuses one)."""
    root = Path(parent)
    if root.exists() and not root.is_dir():
        raise NotADirectoryError(f"output path {root} is a file; give a folder for the runs")
    root.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name[4:]) for p in root.glob("run-*") if p.name[4:].isdigit()]
    number = max(taken, default=0) + 1
    while True:
        candidate = root / f"run-{number:03d}"
        try:
            candidate.mkdir()  # atomic: two runs started at once cannot share a folder
            return candidate
        except FileExistsError:
            number += 1


def device_name() -> str:
    gpus = tf.config.list_physical_devices("GPU")
    return f"GPU ({gpus[0].name})" if gpus else f"CPU ({platform.processor() or platform.machine()})"


def write_run_json(path: Path, result: RunResult, extra: dict[str, Any] | None = None) -> None:
    """Write run.json atomically: settings, weights, precision, timing and per-step losses."""
    steps = max(result.steps_done, 1)
    record = {
        "status": result.status,
        "message": result.message,
        "steps_done": result.steps_done,
        "seconds": round(result.seconds, 3),
        "seconds_per_step": round(result.seconds / steps, 4),
        "precision": result.precision or result.config.precision,
        "device": device_name(),
        "weights": {"kind": result.weights.kind, "source": result.weights.source,
                    "note": result.weights.note},
        "config": result.config.to_dict(),
        "snapshots": {str(k): v.name for k, v in sorted(result.snapshots.items())},
        "losses": result.history,
        "versions": {"tensorflow": tf.__version__, "python": platform.python_version()},
    }
    record.update(extra or {})
    tmp = path.with_name(path.name + ".part")
    tmp.write_text(json.dumps(record, indent=1))
    os.replace(tmp, path)


def save_outputs(result: RunResult, run_dir: Path) -> None:
    """Write the final image, the seed's final figure and run.json into ``run_dir``."""
    import matplotlib.pyplot as plt

    from nst_lab.plots import final_figure

    save_image(result.image, run_dir / "final.png", overwrite=True)
    title = f"{result.status}: {result.steps_done} steps"
    fig = final_figure(result.image, result.history, title=title, note=result.weights.note)
    fig.savefig(run_dir / "loss_plot.png", dpi=90)
    plt.close(fig)
    write_run_json(run_dir / "run.json", result)


def prepare_transfer(content: Any, style: Any, config: StyleConfig) -> StyleTransfer:
    """Load the images and build the run's StyleTransfer: issue 7's extended cost when any of
    its options is set, else the seed's (memory-checked before VGG19 loads)."""
    from nst_lab.extensions import build_transfer, uses_extensions

    if uses_extensions(config, style):  # colour, blend, TV, style scale, mask
        return build_transfer(content, style, config)
    content_image = _as_image(content, config)
    height, width = int(content_image.shape[1]), int(content_image.shape[2])
    style_image = _as_image(style, config, shape=(height, width))
    return plain_transfer(content_image, style_image, config)


def plain_transfer(content_image: tf.Tensor, style_image: tf.Tensor, config: StyleConfig) -> StyleTransfer:
    """The seed's transfer, started coarse-to-fine when ``config.scales > 1``; VGG19 loads once,
    after the memory check, so an impossible size fails before any work."""
    from nst_lab.memory import check_fits
    from nst_lab.precision import resolve_precision
    from nst_lab.vgg import load_vgg19

    check_fits(int(content_image.shape[1]), int(content_image.shape[2]), resolve_precision(config.precision).name)
    vgg, weights = load_vgg19(config.weights, seed=config.seed)
    start = coarse_start(content_image, style_image, config, vgg=vgg, weights=weights)  # None if scales == 1
    return StyleTransfer(content_image, style_image, config, vgg=vgg, weights=weights, start_image=start)


def stylize(
    content: ImageSource | tf.Tensor,
    style: ImageSource | tf.Tensor,
    config: StyleConfig | None = None,
    out_dir: str | os.PathLike | None = None,
    progress: bool = True,
    on_step: StepCallback | None = None,
    transfer: StyleTransfer | None = None,
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

    Returns:
        RunResult. Ctrl-C / kernel interrupt and NaN losses end the run early; the result
        then holds the last good image, and its status says why it stopped.
    """
    start = time.perf_counter()
    if transfer is None:
        transfer = prepare_transfer(content, style, config or StyleConfig())
    config = transfer.config
    run_dir = new_run_dir(out_dir) if out_dir is not None else None
    snapshots: dict[int, Path] = {}
    status, message = "finished", ""
    bar = tqdm(total=config.epochs, desc="style transfer", disable=not progress, unit="step")

    def after_step(i: int) -> None:
        bar.update(1)
        bar.set_postfix(loss=f"{transfer.history['total'][-1]:.4g}", refresh=False)
        if run_dir is not None and config.save_every and i % config.save_every == 0:
            snapshots[i] = save_image(transfer.image(), run_dir / "snapshots" / f"step_{i:04d}.png")
        if on_step is not None:
            on_step(i, transfer)

    failure: Exception | None = None
    try:
        run_steps(transfer, config.epochs, after_step)  # Adam steps or L-BFGS iterations
    except KeyboardInterrupt:
        status, message = "interrupted", f"interrupted after {transfer.steps_done} steps; kept what was made"
    except NonFiniteLossError as exc:
        status, message = "non-finite loss", str(exc)
    except Exception as exc:  # e.g. out of memory mid-run: save what was made, then re-raise
        failure = exc
        status, message = "failed", f"{type(exc).__name__} after {transfer.steps_done} steps"
    finally:
        bar.close()
    result = RunResult(
        image=transfer.image(), history=transfer.history, steps_done=transfer.steps_done,
        status=status, seconds=time.perf_counter() - start, weights=transfer.weights_info,
        config=config, run_dir=run_dir, snapshots=snapshots, message=message,
        precision=transfer.precision.label,
    )
    if run_dir is not None:
        save_outputs(result, run_dir)
    if failure is not None:
        raise failure
    return result


def _as_image(source: Any, config: StyleConfig, shape: tuple[int, int] | None = None) -> tf.Tensor:
    """Load ``source`` at the config's size, or at exactly ``shape`` (H, W) for the style."""
    if isinstance(source, (tf.Tensor, np.ndarray)):
        array = np.asarray(source, dtype=np.float32)
        array = array[None] if array.ndim == 3 else array
        if shape is None or tuple(array.shape[1:3]) == shape:
            return tf.constant(array)  # a tensor is used at the size the caller made it
        source = tensor_to_image(array)  # through PIL, so tensors resize like files do
    return load_image(source, size=shape or config.size, max_dim=None if shape else config.max_dim)
