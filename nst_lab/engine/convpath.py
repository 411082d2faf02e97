"""How the frozen network's convolutions and their input gradients run: the one place that decides it.

Style transfer differentiates the cost with respect to the image only: the weights are frozen,
so no filter gradient is ever needed. For a 3x3, stride-1, SAME-padded convolution
y = conv(x, K) the gradient with respect to the input is itself a forward convolution,

    dJ/dx = conv(dJ/dy, K'),   K'[i, j, c_out, c_in] = K[2 - i, 2 - j, c_in, c_out]

(the kernel flipped in both spatial axes and its two channel axes swapped). Paths:

- ``keras``: the Keras model as it is; TensorFlow's own ``Conv2DBackpropInput`` (and a filter
  gradient the tape may keep inputs for).
- ``flipped``: the same layers rebuilt from ``tf.nn.conv2d`` with a ``tf.custom_gradient`` whose
  input gradient is the forward convolution above, so it runs at the forward kernel's speed and
  keeps no input of the convolution alive for a filter gradient. float32 only; VGG-style
  networks only (3x3 stride-1 SAME convolutions, max pooling).

``choose_conv_path`` is the rule behind ``auto``; it is pure, so tests can feed any machine.
Measured with ``benchmarks/conv_paths.py`` and ``nst-lab bench`` (README, section "Speed").
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import keras
import tensorflow as tf

from nst_lab.engine.precision import CPU_BF16_FLAGS, Precision, cpu_flags, gpu_capabilities
from nst_lab.vgg import preprocess_for_vgg19

CONV_PATHS = ("keras", "flipped")
ENV_OVERRIDE = "NST_LAB_CONV_PATH"  # "keras" or "flipped" forces a path (benchmarks); unset = auto


@dataclass(frozen=True)
class ConvPath:
    """A resolved convolution path: what runs, and why."""

    name: str  # "keras" | "flipped"
    reason: str

    @property
    def label(self) -> str:
        return f"{self.name} ({self.reason})"


def cpu_kind(flags: set[str]) -> str:
    """The CPU kind a benchmark is labelled with, from its flags (and ``ONEDNN_MAX_CPU_ISA``, which caps oneDNN)."""
    kinds = [("amx_bf16", "AMX"), ("avx512_bf16", "AVX512-BF16"), ("avx512f", "AVX-512"), ("avx2", "AVX2")]
    kind = next((name for flag, name in kinds if flag in flags), "no AVX2")
    cap = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return f"{kind} (oneDNN capped at {cap} by ONEDNN_MAX_CPU_ISA)" if cap else kind


def onednn_enabled() -> bool:
    """Whether this TensorFlow process runs its oneDNN kernels (``TF_ENABLE_ONEDNN_OPTS`` and the CPU decide)."""
    try:
        from tensorflow.python.util import _pywrap_util_port
    except ImportError:  # another TensorFlow build: assume its documented default, off
        return False
    return bool(_pywrap_util_port.IsMklEnabled())


def choose_conv_path(precision: str, flags: set[str], capabilities: Sequence[tuple[int, int]],
                     onednn: bool) -> tuple[str, str]:
    """The rule behind ``auto``: (path, reason).

    - reduced precision, a GPU, or a CPU with AMX/AVX512-BF16: ``keras``, the path the README's
      GPU and AMX figures were measured on (the flipped path is float32 and not measured there).
    - float32 on a CPU where TensorFlow runs Eigen (oneDNN off: its default on AVX2-only CPUs):
      ``flipped``; Eigen's input-gradient convolution is much slower than its forward one.
    - float32 with oneDNN on (TensorFlow's default on AVX-512 VNNI CPUs): ``keras``; oneDNN's own
      backward-data convolution is fast, and the flipped step measured slower there (3.21 against
      2.81 s, 1.81 against 1.65 CPU-s per step at 400 px on the README's AVX-512 Xeon).
    """
    if precision != "float32":
        return "keras", f"{precision} runs through Keras' mixed-precision layers"
    if capabilities:
        return "keras", "GPU: cuDNN's own backward convolution (flipped path not measured on GPUs)"
    native = [flag for flag in CPU_BF16_FLAGS if flag in flags]
    if native:
        return "keras", f"CPU has {' and '.join(native)}: the measured AMX path is kept"
    if not onednn:
        return "flipped", "float32 on TensorFlow's Eigen convolutions: input gradient as a forward convolution"
    return "keras", "float32 on oneDNN: its backward-data convolution measured faster than the flipped one"


def resolve_conv_path(precision: Precision, requested: str | None = None, flags: set[str] | None = None,
                      capabilities: Sequence[tuple[int, int]] | None = None, onednn: bool | None = None
                      ) -> ConvPath:
    """The path this run uses: ``requested`` ("keras"/"flipped"), else ``$NST_LAB_CONV_PATH``, else ``auto``.

    An explicit "flipped" under a reduced precision falls back to "keras" (the path is float32).
    """
    requested = requested or os.environ.get(ENV_OVERRIDE) or "auto"
    if requested not in (*CONV_PATHS, "auto"):
        raise ValueError(f"conv path {requested!r} is not one of auto, {', '.join(CONV_PATHS)}")
    if requested == "keras":
        return ConvPath("keras", "requested")
    if requested == "flipped":
        if precision.name != "float32":
            return ConvPath("keras", f"flipped was requested but {precision.name} runs through Keras")
        return ConvPath("flipped", "requested")
    flags = cpu_flags() if flags is None else flags
    capabilities = gpu_capabilities() if capabilities is None else capabilities
    onednn = onednn_enabled() if onednn is None else onednn
    return ConvPath(*choose_conv_path(precision.name, flags, capabilities, onednn))


def measure_conv_rate(shapes: Sequence[tuple[str, int, int, int, int]]) -> Callable[[], float]:
    """rate() -> FLOP/s of TensorFlow's forward 3x3 SAME convolutions at ``shapes`` (``flops.conv_shapes``),
    timed once per call on random inputs: the machine's own throughput for the step's convolutions."""
    import time

    import numpy as np

    rng = np.random.default_rng(0)
    pairs = [(tf.constant(rng.normal(size=(1, h, w, c_in)).astype(np.float32)),
              tf.constant(rng.normal(size=(3, 3, c_in, c_out)).astype(np.float32)))
             for _, h, w, c_in, c_out in shapes]
    flops = sum(2 * 9 * c_in * c_out * h * w for _, h, w, c_in, c_out in shapes)
    run = tf.function(lambda: tf.add_n([tf.reduce_sum(tf.nn.conv2d(x, k, 1, "SAME")) for x, k in pairs]))
    run()  # trace and pick kernels

    def rate() -> float:
        start = time.perf_counter()
        run().numpy()
        return flops / (time.perf_counter() - start)

    return rate


def flipped_kernel(kernel: tf.Tensor) -> tf.Tensor:
    """K' of a (3, 3, c_in, c_out) kernel: flipped spatially, channels swapped -> (3, 3, c_out, c_in)."""
    return tf.transpose(tf.reverse(kernel, axis=[0, 1]), perm=[0, 1, 3, 2])


def conv_input_grad_only(kernel: tf.Tensor) -> Callable[[tf.Tensor], tf.Tensor]:
    """x -> conv2d(x, kernel) (stride 1, SAME) whose gradient is the input's only, as a forward convolution.

    Args:
        kernel: (3, 3, c_in, c_out) float32, frozen (a constant: no gradient flows to it).
    """
    kernel = tf.constant(kernel)
    back = tf.constant(flipped_kernel(kernel))

    @tf.custom_gradient
    def conv(x: tf.Tensor) -> tuple[tf.Tensor, Callable[[tf.Tensor], tf.Tensor]]:
        def grad(dy: tf.Tensor) -> tf.Tensor:
            return tf.nn.conv2d(dy, back, strides=1, padding="SAME")

        return tf.nn.conv2d(x, kernel, strides=1, padding="SAME"), grad

    return conv


def flippable(model: keras.Model, layer_names: Sequence[str]) -> bool:
    """Whether each layer up to the deepest of ``layer_names`` is a 3x3/1/SAME ReLU conv, 2x2 max pool or input."""
    for layer in _layers_until(model, layer_names):
        if isinstance(layer, keras.layers.Conv2D):
            cfg = layer.get_config()
            if (tuple(cfg["kernel_size"]) != (3, 3) or tuple(cfg["strides"]) != (1, 1) or cfg["padding"] != "same"
                    or tuple(cfg["dilation_rate"]) != (1, 1) or cfg.get("groups", 1) != 1
                    or cfg["activation"] != "relu" or not cfg["use_bias"] or cfg["data_format"] != "channels_last"):
                return False
        elif isinstance(layer, keras.layers.MaxPooling2D):
            cfg = layer.get_config()
            if tuple(cfg["pool_size"]) != (2, 2) or tuple(cfg["strides"]) != (2, 2) or cfg["padding"] != "valid":
                return False
        elif not isinstance(layer, keras.layers.InputLayer):
            return False
    return True


def _layers_until(model: keras.Model, layer_names: Sequence[str]) -> list[keras.layers.Layer]:
    """The model's layers in order, up to and including the deepest of ``layer_names``."""
    order = [layer.name for layer in model.layers]
    last = max(order.index(name) for name in layer_names)
    return list(model.layers[: last + 1])


def flipped_forward(model: keras.Model, layer_names: Sequence[str], preprocess: str = "none"
                    ) -> Callable[[tf.Tensor], list[tf.Tensor]]:
    """image (1, H, W, 3) float32 -> float32 activations of ``layer_names``, in order, on the flipped path.

    The same weights and operations as ``model`` (conv2d + bias + ReLU, 2x2 max pooling), NHWC;
    only the gradient with respect to each convolution's input is computed, and it is exact.

    Raises:
        ValueError: the model has a layer the path does not cover (see ``flippable``).
    """
    if not flippable(model, layer_names):
        raise ValueError("the flipped path covers only 3x3 stride-1 SAME ReLU convolutions and 2x2 max pooling")
    plan: list[tuple[str, Callable[[tf.Tensor], tf.Tensor] | None, tf.Tensor | None]] = []
    for layer in _layers_until(model, layer_names):
        if isinstance(layer, keras.layers.Conv2D):
            kernel, bias = (tf.convert_to_tensor(w, tf.float32) for w in layer.get_weights())
            plan.append((layer.name, conv_input_grad_only(kernel), tf.constant(bias)))
        elif isinstance(layer, keras.layers.MaxPooling2D):
            plan.append((layer.name, None, None))
    wanted = list(layer_names)

    def forward(image: tf.Tensor) -> list[tf.Tensor]:
        x = tf.cast(image, tf.float32)
        if preprocess == "caffe":
            x = preprocess_for_vgg19(x)
        found: dict[str, tf.Tensor] = {}
        for name, conv, bias in plan:
            if conv is None:
                x = tf.nn.max_pool2d(x, ksize=2, strides=2, padding="VALID")
            else:
                x = tf.nn.relu(tf.nn.bias_add(conv(x), bias))
            found[name] = x
        return [found[name] for name in wanted]

    return forward
