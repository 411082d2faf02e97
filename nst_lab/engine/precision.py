"""Compute precision of the VGG19 pass: which one `auto` picks, and the model that runs it.

Only VGG19's convolutions run in reduced precision. The image variable, the activations
handed to the costs, the Gram matrices and every cost stay float32.

- ``bfloat16``: mixed bfloat16 (float32 weights, bfloat16 compute), for CPUs with AMX or
  AVX512-BF16. bfloat16 has float32's exponent range, so it needs no loss scaling.
- ``float16``: mixed float16 with dynamic loss scaling, for GPUs with tensor cores
  (compute capability 7.0 or more). float16 gradients underflow without the scaling.
- ``float32``: everything in float32; what ``auto`` picks anywhere else.

Lesson: README.md, section "Speed".
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from nst_lab.config import PRECISION_CHOICES
from nst_lab.errors import ConfigError

CPU_BF16_FLAGS = ("amx_bf16", "avx512_bf16")  # /proc/cpuinfo flags of native bfloat16 math
MIN_TENSOR_CORE_CAPABILITY = (7, 0)  # Volta: the first GPUs with float16 tensor cores
KERAS_POLICY = {"float32": "float32", "bfloat16": "mixed_bfloat16", "float16": "mixed_float16"}


@dataclass(frozen=True)
class Precision:
    """A resolved precision: what runs, and whether ``auto`` chose it."""

    name: str  # "float32" | "bfloat16" | "float16"
    requested: str  # what the config asked for, e.g. "auto"
    reason: str = ""  # why auto chose it, e.g. "CPU has amx_bf16"

    @property
    def policy(self) -> str:
        """The Keras dtype policy of the VGG19 layers, e.g. "mixed_bfloat16"."""
        return KERAS_POLICY[self.name]

    @property
    def loss_scaling(self) -> bool:
        """float16 gradients underflow unless the loss is scaled up first."""
        return self.name == "float16"

    @property
    def label(self) -> str:
        """What run.json records: "bfloat16 (auto)" or "float32"."""
        return f"{self.name} (auto)" if self.requested == "auto" else self.name


def cpu_flags(cpuinfo: str | Path = "/proc/cpuinfo") -> set[str]:
    """The CPU feature flags listed in ``cpuinfo`` (empty when the file is missing)."""
    try:
        text = Path(cpuinfo).read_text()
    except OSError:
        return set()
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    return flags


def gpu_capabilities() -> list[tuple[int, int]]:
    """Compute capabilities (major, minor) of the visible GPUs; [] on a CPU-only machine."""
    import tensorflow as tf

    found = []
    for gpu in tf.config.list_physical_devices("GPU"):
        details = tf.config.experimental.get_device_details(gpu)
        capability = details.get("compute_capability")
        if capability:
            found.append((int(capability[0]), int(capability[1])))
    return found


def choose_auto(flags: set[str], capabilities: Sequence[tuple[int, int]]) -> tuple[str, str]:
    """The rule behind ``auto``: (precision, reason). Pure, so tests can feed any machine."""
    if capabilities:  # TensorFlow runs the model on the first GPU when there is one
        major, minor = capabilities[0]
        if (major, minor) >= MIN_TENSOR_CORE_CAPABILITY:
            return "float16", f"GPU compute capability {major}.{minor} has tensor cores"
        return "float32", f"GPU compute capability {major}.{minor} has no tensor cores"
    native = [flag for flag in CPU_BF16_FLAGS if flag in flags]
    if native:
        return "bfloat16", f"CPU has {' and '.join(native)}"
    return "float32", "CPU has neither amx_bf16 nor avx512_bf16"


def resolve_precision(
    requested: str,
    flags: set[str] | None = None,
    capabilities: Sequence[tuple[int, int]] | None = None,
) -> Precision:
    """Turn a config's ``precision`` into what runs on this machine.

    Args:
        requested: one of PRECISION_CHOICES.
        flags: CPU flags (default: read /proc/cpuinfo).
        capabilities: GPU compute capabilities (default: ask TensorFlow).

    Returns:
        Precision; explicit choices are honoured as given.
    """
    if requested not in PRECISION_CHOICES:
        raise ConfigError(f"precision {requested!r} is not one of {', '.join(PRECISION_CHOICES)}", ["precision"])
    if requested != "auto":
        return Precision(requested, requested)
    flags = cpu_flags() if flags is None else flags
    capabilities = gpu_capabilities() if capabilities is None else capabilities
    name, reason = choose_auto(flags, capabilities)
    return Precision(name, "auto", reason)


def with_precision(vgg, precision: Precision):  # type: ignore[no-untyped-def]
    """``vgg`` itself for float32, else a copy whose layers run under the mixed policy.

    Args:
        vgg: a float32 Keras functional model (VGG19 or build_tiny_vgg()).
        precision: the resolved precision.

    Returns:
        A Keras model with the same layer names and weights (kept float32); its conv layers
        compute in bfloat16/float16 and return activations of that dtype.
    """
    if precision.name == "float32":
        return vgg
    import keras

    def clone_layer(layer):  # type: ignore[no-untyped-def]
        config = layer.get_config()
        if not isinstance(layer, keras.layers.InputLayer):  # the input stays float32
            config["dtype"] = precision.policy
        return layer.__class__.from_config(config)

    model = keras.models.clone_model(vgg, clone_function=clone_layer)
    model.set_weights(vgg.get_weights())
    model.trainable = False
    return model
