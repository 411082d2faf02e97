"""The studio's engine, without any widget: uploads, chunked runs, pictures and saving.

``nst_lab.studio.panel`` draws the panel; everything here is plain Python so it can be tested
without Jupyter. A run advances in chunks of ``chunk`` steps. ``ChunkedRun.drive`` is a
coroutine that awaits between chunks: on the kernel's event loop this lets the kernel
handle pending widget messages (a Stop click) between chunks, with no thread.

Lesson: notebooks/06_studio.ipynb
"""

from __future__ import annotations

import asyncio
import base64
import html
import io
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from nst_lab.engine.runs import RunResult, save_outputs
from nst_lab.engine.transfer import StyleTransfer
from nst_lab.errors import ImageLoadError, NonFiniteLossError, UploadError
from nst_lab.files import new_run_dir
from nst_lab.images import ImageSource, load_image, tensor_to_image
from nst_lab.notebook import in_colab
from nst_lab.vgg import WeightsInfo

YIELD_S = 0.02  # pause between chunks: long enough for the kernel to read queued clicks
DRIVE_ROOT = Path("/content/drive/MyDrive")  # where Colab mounts Google Drive




def parse_upload(value: Any) -> tuple[str, bytes]:
    """The (file name, bytes) of the first file in a FileUpload value.

    Args:
        value: ``FileUpload.value``. ipywidgets 8: a tuple of dicts with "name" and
            "content" (a memoryview). ipywidgets 7: a dict {name: {"metadata": {...},
            "content": bytes}}.

    Returns:
        (name, data): the file name and its bytes.

    Raises:
        UploadError: nothing uploaded, or a value of neither format.
    """
    if isinstance(value, Mapping):  # ipywidgets 7
        if not value:
            raise UploadError("no file uploaded: pick an image file first")
        name, entry = next(iter(value.items()))
        metadata = entry.get("metadata", {}) if isinstance(entry, Mapping) else {}
        name = metadata.get("name", name)
    elif isinstance(value, (tuple, list)):  # ipywidgets 8
        if not value:
            raise UploadError("no file uploaded: pick an image file first")
        entry = value[0]
        name = entry.get("name", "upload") if isinstance(entry, Mapping) else "upload"
    else:
        raise UploadError(f"unexpected upload value of type {type(value).__name__}")
    content = entry.get("content") if isinstance(entry, Mapping) else None
    if not isinstance(content, (bytes, bytearray, memoryview)):
        raise UploadError(f"{name}: the upload carries no file content; upload it again")
    data = bytes(content)
    if not data:
        raise UploadError(f"{name} is empty (0 bytes)")
    return str(name), data


def decode_image(source: ImageSource, name: str) -> Image.Image:
    """Decode ``source`` at its own size into a PIL RGB image; errors name the file."""
    try:
        tensor = load_image(source, size=None)
    except ImageLoadError as exc:
        described = f"<{len(source)} bytes>" if isinstance(source, bytes) else str(source)
        raise ImageLoadError(str(exc).replace(described, name, 1)) from None
    return tensor_to_image(tensor)


def png_bytes(image: Image.Image | np.ndarray, side: int | None = None) -> bytes:
    """PNG file bytes of an image ((1, H, W, 3) floats or PIL), shrunk to fit ``side`` px."""
    pil = image if isinstance(image, Image.Image) else tensor_to_image(image)
    if side is not None and max(pil.size) > side:
        pil = pil.copy()
        pil.thumbnail((side, side))
    buffer = io.BytesIO()
    pil.save(buffer, format="PNG")
    return buffer.getvalue()


def weighted_curves(history: Mapping[str, list[float]], alpha: float, beta: float) -> dict[str, np.ndarray]:
    """J, alpha*J_content and beta*J_style per step, each (steps,) float64; values <= 0 -> NaN.

    NaN (not dropping the value) keeps every curve aligned with its step numbers.
    """
    parts = {"total J": ("total", 1.0), "alpha * J_content": ("content", alpha),
             "beta * J_style": ("style", beta)}
    curves = {}
    for label, (key, weight) in parts.items():
        y = np.asarray(history.get(key, []), dtype=np.float64) * weight
        curves[label] = np.where(y > 0, y, np.nan)
    return curves


def loss_curve_png(history: Mapping[str, list[float]], alpha: float = 1.0, beta: float = 1.0,
                   width_px: int = 360, height_px: int = 220) -> bytes:
    """PNG bytes of J and its two weighted parts, alpha*J_content and beta*J_style, per step.

    The parts add up to the total, so the curves show which term dominates. Log scale;
    zero values (J_content at step 0 when G starts as C) are left out of the plot.
    Drawn on a bare Figure (no pyplot), so no global figure state is touched.
    """
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    dpi = 80
    fig = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    for label, y in weighted_curves(history, alpha, beta).items():
        if np.any(np.isfinite(y)):
            ax.plot(np.arange(1, len(y) + 1), y, label=label, marker="." if len(y) < 30 else None)
    ax.set_xlabel("step")
    ax.set_title("cost (log scale)", fontsize=10)
    if history.get("total"):
        ax.set_yscale("log")
        ax.legend(fontsize=8)
    fig.tight_layout()
    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    return buffer.getvalue()


def default_out_dir() -> Path:
    """Drive's ``nst-lab/runs`` when in Colab with Drive mounted, else ``./runs``."""
    if in_colab() and DRIVE_ROOT.is_dir():
        return DRIVE_ROOT / "nst-lab" / "runs"
    return Path("runs")


def download_link_html(path: Path, label: str) -> str:
    """An HTML link that downloads ``path`` from its bytes (works in Colab and JupyterLab)."""
    data = base64.b64encode(path.read_bytes()).decode("ascii")
    name = html.escape(f"{path.parent.name}-{path.name}")
    return (f'<a download="{name}" href="data:image/png;base64,{data}">{html.escape(label)}</a> '
            f"<code>{html.escape(str(path.parent))}</code>")


@dataclass
class ChunkedRun:
    """A StyleTransfer advanced ``chunk`` steps at a time until ``steps`` or a stop."""

    transfer: StyleTransfer
    chunk: int = 10  # steps between two updates of the panel
    stop_requested: bool = False
    status: str = "ready"  # ready | running | finished | stopped | non-finite loss | failed
    message: str = ""
    seconds: float = 0.0
    _started: float = field(default=0.0, repr=False)

    @property
    def steps(self) -> int:
        return self.transfer.config.steps

    @property
    def steps_done(self) -> int:
        return self.transfer.steps_done

    @property
    def weights(self) -> WeightsInfo:
        return self.transfer.weights_info

    @property
    def over(self) -> bool:
        return self.status not in ("ready", "running")

    def run_chunk(self) -> int:
        """Run up to ``chunk`` steps (blocking); returns how many ran. Sets the final status."""
        if self.status == "ready":
            self.status, self._started = "running", time.perf_counter()
        if self.stop_requested:  # Stop arrived while the loop was idle: run nothing more
            self.status = "stopped"
            return 0
        ran = 0
        try:
            while ran < self.chunk and self.steps_done < self.steps:
                self.transfer.step()
                ran += 1
        except NonFiniteLossError as exc:
            self.status, self.message = "non-finite loss", str(exc)
        self.seconds = time.perf_counter() - self._started
        if self.status == "running" and self.steps_done >= self.steps:
            self.status = "finished"
        return ran

    async def drive(self, on_chunk: Callable[[ChunkedRun], None], pause_s: float = YIELD_S) -> None:
        """Run chunks until done, calling ``on_chunk`` after each and yielding in between."""
        while not self.over:
            self.run_chunk()
            on_chunk(self)
            await asyncio.sleep(pause_s)  # the kernel handles queued widget messages here

    def result(self) -> RunResult:
        """What the run made so far, in the shape ``nst_lab.engine.runs`` saves."""
        return RunResult(
            image=self.transfer.image(), history=self.transfer.history, steps_done=self.steps_done,
            status=self.status, seconds=self.seconds, weights=self.weights,
            config=self.transfer.config, message=self.message, precision=self.transfer.precision.label,
        )

    def save(self, out_dir: str | Path) -> Path:
        """Write final.png, loss_plot.png and run.json into a new run folder; return it."""
        result = self.result()
        run_dir = new_run_dir(out_dir)
        result.run_dir = run_dir
        save_outputs(result, run_dir)
        return run_dir


def schedule(coroutine: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Start ``coroutine`` on the running event loop (the kernel's), or run it to the end.

    In a Jupyter kernel, widget callbacks run on the kernel's asyncio loop, so the run
    becomes a task and the callback returns at once; the loop then interleaves chunks
    with the kernel's own message handling. Without a running loop (a script), the
    coroutine simply runs to completion.
    """
    try:
        loop = asyncio.get_running_loop()
    except RuntimeError:
        asyncio.run(coroutine)
        return None
    return loop.create_task(coroutine)
