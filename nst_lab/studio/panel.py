"""The studio: an ipywidgets panel to pick images, turn the knobs, run, stop and save.

Import it only in a notebook (``from nst_lab.studio.panel import Studio``); the rest of nst_lab
never imports ipywidgets. How Run and Stop work without threads: the Run click schedules
``ChunkedRun.drive`` as an asyncio task on the kernel's event loop and returns at once.
The task runs ``k`` steps (blocking), updates the preview, the loss curve and the progress
bar, then awaits a short sleep; while it sleeps the kernel's loop handles queued widget
messages, so a Stop click lands between two chunks. Every widget update is sent from the
kernel's main thread, which Colab needs (it drops updates sent from other threads).

Lesson: notebooks/06_studio.ipynb
"""

from __future__ import annotations

import html
import warnings
from pathlib import Path
from typing import Any

import ipywidgets as ipw
import numpy as np

from nst_lab.config import (
    CONV_LAYERS,
    COSINE,
    FEATURE_CHOICES,
    INIT_MODES,
    LR_SCHEDULE_CHOICES,
    SEED,
    VGG19_CONV_LAYERS,
    WEIGHT_CHOICES,
    StyleConfig,
    layer_for,
)
from nst_lab.errors import one_line
from nst_lab.images import DEFAULT_CONTENT, DEFAULT_STYLE
from nst_lab.notebook import weights_notice
from nst_lab.studio.picker import ImagePicker
from nst_lab.studio.session import (
    ChunkedRun,
    default_out_dir,
    download_link_html,
    loss_curve_png,
    png_bytes,
    schedule,
)

PREVIEW_PX = 256  # side of the preview and loss-curve pictures
# Exact values (a log slider would snap the seed's 0.03 to 10**-1.5 = 0.0316).
LEARNING_RATES = (0.001, 0.002, 0.005, 0.01, 0.02, 0.03, 0.05, 0.1, 0.2, 0.5, 1.0)
WIDE = {"description_width": "initial"}  # show descriptions in full

STUDIO_DEFAULT = SEED.replace(precision="auto")  # the seed's settings on the fast path (issue 6)


class Studio:
    """The control panel. Display it with ``studio`` (last line of a cell) or ``display(studio.panel)``.

    Args:
        config: starting settings (default: the seed report's); ``weights`` picks VGG19's.
        vgg, weights_info: a ready VGG19-like model to use instead of loading one (tests).
        out_dir: parent folder of saved runs; default Drive in Colab if mounted, else ./runs.
        chunk: steps between two updates of the preview (k).
    """

    def __init__(self, config: StyleConfig = STUDIO_DEFAULT, *, vgg: Any = None, weights_info: Any = None,
                 out_dir: str | Path | None = None, chunk: int = 10):
        self.base_config = config
        self.out_dir = Path(out_dir) if out_dir is not None else default_out_dir()
        if vgg is not None:
            from nst_lab.engine import Network
            from nst_lab.vgg import WeightsInfo

            self._given: Any = Network(vgg, weights_info or WeightsInfo("unknown", "passed in by caller"))
        else:
            self._given = None
        self._network_cache: dict[tuple[str, int, str], Any] = {}
        self.job: ChunkedRun | None = None
        self._task: Any = None
        self.last_message = ""
        self.layer_controls_active = True  # False while the multi-scale network (fixed layers) is in use
        self.status = ipw.HTML()
        self.content = ImagePicker("content", DEFAULT_CONTENT, self.show_error)
        self.style = ImagePicker("style", DEFAULT_STYLE, self.show_error)
        self._build_controls(config, chunk)
        self._build_outputs()
        self.panel = self._layout()

    def _build_controls(self, config: StyleConfig, chunk: int) -> None:
        log = dict(base=10, step=0.05, style=WIDE, readout_format=".3g")
        self.alpha = ipw.FloatLogSlider(value=config.alpha, min=-2, max=5, description="alpha (content)",
                                        **log)
        self.beta = ipw.FloatLogSlider(value=config.beta, min=-2, max=5, description="beta (style)", **log)
        rates = sorted({*LEARNING_RATES, config.learning_rate, SEED.learning_rate})
        self.learning_rate = ipw.SelectionSlider(options=rates, value=config.learning_rate,
                                               description="learning rate", style=WIDE)
        self.schedule = ipw.Dropdown(options=LR_SCHEDULE_CHOICES, value=config.lr_schedule,
                                     description="lr schedule", style=WIDE,
                                     tooltip=f"cosine: decay to {config.final_learning_rate} at the last epoch")
        self.steps = ipw.IntText(value=config.steps, description="steps", style=WIDE)
        self.size = ipw.IntText(value=config.size, description="longest side (px)", style=WIDE)
        self.init = ipw.Dropdown(options=INIT_MODES, value=config.init, description="init", style=WIDE)
        self.content_layer = ipw.Dropdown(options=VGG19_CONV_LAYERS, value=config.content_layer,
                                        description="content layer", style=WIDE)
        self.seed = ipw.IntText(value=config.seed, description="seed", style=WIDE)
        self.weights = ipw.Dropdown(options=WEIGHT_CHOICES, value=config.weights if config.weights in
                                  WEIGHT_CHOICES else "auto", description="weights", style=WIDE,
                                  disabled=self._given is not None)
        self.features = ipw.Dropdown(options=FEATURE_CHOICES, value=config.features, description="network",
                                     style=WIDE, disabled=self._given is not None,
                                     tooltip="auto: ImageNet VGG19 when it can be downloaded, else ImageNet VGG16 "
                                             "(offline), else the training-free multi-scale network")
        self.chunk = ipw.BoundedIntText(value=chunk, min=1, max=1000, description="steps per update",
                                        style=WIDE)
        self.style_weights = [ipw.FloatSlider(value=w, min=0.0, max=1.0, step=0.05, description=name,
                                              style=WIDE) for name, w in config.style_layers]
        self.run_button = ipw.Button(description="Run", button_style="success", icon="play")
        self.stop_button = ipw.Button(description="Stop", button_style="danger", icon="stop", disabled=True)
        self.preset_button = ipw.Button(description="Seed preset", icon="undo",
                                      tooltip="restore the seed report's settings")
        self.cosine_button = ipw.Button(description="Cosine schedule", icon="forward",
                                        tooltip="500 Adam steps, the rate decayed by a cosine from 0.08 to 0.002: "
                                                "a lower cost than the constant rate after as many steps")
        self.save_button = ipw.Button(description="Save", button_style="info", icon="save", disabled=True)
        self.run_button.on_click(self._on_run)
        self.stop_button.on_click(self._on_stop)
        self.preset_button.on_click(lambda _: self.apply(SEED))
        self.cosine_button.on_click(lambda _: self.apply(COSINE))
        self.save_button.on_click(self._on_save)

    def _build_outputs(self) -> None:
        self.progress = ipw.IntProgress(min=0, max=max(self.steps.value, 1), description="progress",
                                        style=WIDE)
        self.step_label = ipw.Label()
        blank = png_bytes(np.full((1, PREVIEW_PX, PREVIEW_PX, 3), 0.92, np.float32))  # light grey
        self.preview = ipw.Image(value=blank, format="png", layout=ipw.Layout(width=f"{PREVIEW_PX}px"))
        self.preview.add_class("nst-preview")
        self.loss_plot = ipw.Image(value=loss_curve_png({}), format="png", layout=ipw.Layout(width="360px"))
        self.link = ipw.HTML()

    def _layout(self) -> ipw.Widget:
        knobs = ipw.VBox([self.alpha, self.beta, self.learning_rate, self.schedule, self.steps, self.size,
                          self.init, self.content_layer, self.seed, self.weights, self.features,
                          self.chunk])
        layers = ipw.VBox([ipw.HTML("<b>style layer weights</b>"), *self.style_weights])
        buttons = ipw.HBox([self.run_button, self.stop_button, self.preset_button, self.cosine_button,
                            self.save_button])
        return ipw.VBox([
            ipw.HBox([self.content.box, self.style.box]), ipw.HBox([knobs, layers]), buttons,
            ipw.HBox([self.progress, self.step_label]), self.status,
            ipw.HBox([self.preview, self.loss_plot]), self.link,
        ])

    def _ipython_display_(self) -> None:
        from IPython.display import display

        display(self.panel)  # type: ignore[no-untyped-call]

    @property
    def inputs(self) -> list[ipw.Widget]:
        """Every control that is disabled while a run is going."""
        return [*self.content.inputs, *self.style.inputs, self.alpha, self.beta, self.learning_rate,
                self.schedule, self.steps, self.size, self.init, self.content_layer, self.seed, self.chunk,
                *self.style_weights, self.run_button, self.preset_button, self.cosine_button, self.save_button]

    def read_config(self) -> StyleConfig:
        """The settings the controls show, validated (ConfigError names a bad one)."""
        return self.base_config.replace(
            alpha=float(self.alpha.value), beta=float(self.beta.value),
            learning_rate=float(self.learning_rate.value), lr_schedule=self.schedule.value,
            steps=int(self.steps.value),
            size=int(self.size.value), init=self.init.value,
            content_layer=self.content_layer.value, seed=int(self.seed.value),
            weights=self.weights.value, features=self.features.value, save_every=0,
            style_layers=tuple((s.description, float(s.value)) for s in self.style_weights),
        )

    def apply(self, config: StyleConfig) -> None:
        """Set the controls to ``config`` (the preset buttons apply SEED and COSINE)."""
        self.alpha.value, self.beta.value = config.alpha, config.beta
        if config.learning_rate not in self.learning_rate.options:
            self.learning_rate.options = sorted({*self.learning_rate.options, config.learning_rate})
        self.learning_rate.value, self.steps.value = config.learning_rate, config.steps
        self.schedule.value = config.lr_schedule
        self.size.value, self.init.value, self.seed.value = config.size, config.init, config.seed
        shown = list(self.content_layer.options)  # VGG16's layers after a run on VGG16
        self.content_layer.value = (config.content_layer if config.content_layer in shown
                                    else layer_for(config.content_layer, "vgg16"))
        self.features.value = config.features
        for slider, (name, weight) in zip(self.style_weights, config.style_layers, strict=True):
            slider.description, slider.value = name, weight
        self.base_config = self.base_config.replace(final_learning_rate=config.final_learning_rate)
        name = "seed report" if config == SEED else "cosine schedule" if config == COSINE else "given config"
        self.show(f"settings of the {name} restored")

    def show(self, text: str) -> None:
        self.last_message = text
        self.status.value = f"<span>{html.escape(text)}</span>"

    def show_error(self, exc: BaseException) -> None:
        self.last_message = f"error: {one_line(exc)}"
        self.status.value = f'<span style="color:#b00020">{html.escape(self.last_message)}</span>'

    def _network(self, config: StyleConfig) -> Any:
        if self._given is not None:
            return self._given
        key = (config.weights, config.seed, config.features)
        if key not in self._network_cache:
            from nst_lab.engine import load_network

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # the fallback is reported below, in one line
                self._network_cache[key] = load_network(config)
        return self._network_cache[key]

    def _prepare(self, config: StyleConfig) -> ChunkedRun:
        from nst_lab.engine import prepare_transfer

        network = self._network(config)
        transfer = prepare_transfer(self.content.source, self.style.source, config, network=network)
        self._follow_network(transfer.config, network.info.arch)
        return ChunkedRun(transfer, chunk=int(self.chunk.value))

    def _follow_network(self, config: StyleConfig, arch: str) -> None:
        """Show the layers of the network that runs: VGG16's names, or no layer controls for the
        multi-scale network, whose layers are fixed (``layer_controls_active`` says which)."""
        self.layer_controls_active = arch in CONV_LAYERS
        if self.layer_controls_active:
            if list(self.content_layer.options) != CONV_LAYERS[arch]:
                self.content_layer.options = CONV_LAYERS[arch]
            self.content_layer.value = config.content_layer
            for slider, (name, _) in zip(self.style_weights, config.style_layers):
                slider.description = name

    def _set_running(self, running: bool) -> None:
        for widget in self.inputs:
            widget.disabled = running
        for widget in (self.content_layer, *self.style_weights):  # the multi-scale network has fixed layers
            widget.disabled = running or not self.layer_controls_active
        self.weights.disabled = running or self._given is not None
        self.features.disabled = running or self._given is not None
        self.stop_button.disabled = not running
        self.save_button.disabled = running or self.job is None or self.job.steps_done == 0

    def _start(self) -> ChunkedRun | None:
        """Read the settings, build the run and lock the controls; None (and one error line) if bad."""
        if self.job is not None and not self.job.over:
            return None
        self.link.value = ""
        try:
            config = self.read_config()
            self.show("preparing: loading the images and the network...")
            job = self._prepare(config)
        except Exception as exc:  # any failure becomes one line in the panel
            self.show_error(exc)
            return None
        self.job = job
        self.progress.max, self.progress.value = max(config.steps, 1), 0
        self._set_running(True)
        return job

    def _on_run(self, _button: Any = None) -> None:
        job = self._start()
        if job is not None:
            self.show(f"running {job.steps} steps, {job.chunk} per update; Stop ends after this chunk. "
                      f"{weights_notice(job.weights)}")
            self._task = schedule(self._drive(job))

    def run_here(self) -> None:
        """Run with the panel's settings inside the calling cell; interrupt the kernel to stop.

        A fallback for a host whose kernel does not run asyncio tasks between cells: the
        preview still updates after every chunk (sent from the main thread), and the
        kernel's interrupt button ends the run between two steps, keeping what was made.
        """
        job = self._start()
        if job is None:
            return
        self.show(f"running {job.steps} steps in this cell; interrupt the kernel to stop. "
                  f"{weights_notice(job.weights)}")
        try:
            while not job.over:
                job.run_chunk()
                self._after_chunk(job)
        except KeyboardInterrupt:
            job.status = "stopped"
        finally:
            self._set_running(False)
        self._report(job)

    async def _drive(self, job: ChunkedRun) -> None:
        try:
            await job.drive(self._after_chunk)
        except Exception as exc:  # a task's exception would otherwise vanish silently
            job.status = "failed"
            self.show_error(exc)
        finally:
            self._set_running(False)
        self._report(job)

    def _after_chunk(self, job: ChunkedRun) -> None:
        self.preview.value = png_bytes(job.transfer.image())
        config = job.transfer.config
        self.loss_plot.value = loss_curve_png(job.transfer.history, config.alpha, config.beta)
        self.progress.value = job.steps_done
        if job.steps_done:
            cost = job.transfer.history["total"][-1]
            self.step_label.value = f"step {job.steps_done}/{job.steps}, cost {cost:.4g}"

    def _report(self, job: ChunkedRun) -> None:
        note = weights_notice(job.weights)
        if job.status == "finished":
            self.show(f"finished {job.steps_done} steps in {job.seconds:.1f} s. {note}".strip())
        elif job.status == "stopped":
            self.show(f"stopped after {job.steps_done} of {job.steps} steps. {note}".strip())
        elif job.status == "non-finite loss":
            self.show_error(ValueError(job.message))

    def _on_stop(self, _button: Any = None) -> None:
        if self.job is not None and not self.job.over:
            self.job.stop_requested = True
            self.show("stopping after the current chunk...")

    def _on_save(self, _button: Any = None) -> None:
        if self.job is None or self.job.steps_done == 0:
            self.show_error(ValueError("nothing to save yet: press Run first"))
            return
        if not self.job.over:
            self.show_error(ValueError("a run is going: press Stop or wait for it to finish, then Save"))
            return
        try:
            run_dir = self.job.save(self.out_dir)
        except Exception as exc:
            self.show_error(exc)
            return
        self.link.value = download_link_html(run_dir / "final.png", "Download final.png")
        self.show(f"saved final.png, loss_plot.png and run.json in {run_dir}")
