"""Load, convert and save images as float32 tensors of shape (1, H, W, 3) in [0, 1].

Lesson: notebooks/01_vgg19.ipynb
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps

from nst_lab.errors import ImageLoadError
from nst_lab.files import (
    DATA_DIR,
    DEFAULT_CONTENT,
    DEFAULT_STYLE,
    MAX_PIXELS,
    ImageSource,
    atomic_write,
    bundled_images,
    default_pair,
    describe_source,
    one_picture,
    read_image,
)

__all__ = ["DATA_DIR", "DEFAULT_CONTENT", "DEFAULT_STYLE", "MAX_PIXELS", "ImageSource", "as_image", "bundled_images",
           "default_pair", "load_image", "save_image", "tensor_to_image"]


def _to_rgb_array(image: Image.Image) -> np.ndarray:
    """Any PIL mode -> float32 array (H, W, 3) in [0, 1]; transparency composited on white."""
    image = ImageOps.exif_transpose(image) or image
    if image.mode in ("I;16", "I;16B", "I;16L", "I", "F"):
        gray = np.asarray(image, dtype=np.float64)
        top = 65535.0 if image.mode.startswith("I") and gray.max() > 255 else 255.0
        gray = np.clip(gray / top, 0.0, 1.0).astype(np.float32)
        return np.repeat(gray[..., None], 3, axis=-1)
    if image.mode == "P" and "transparency" in image.info:
        image = image.convert("RGBA")
    if image.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = image.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        image = Image.alpha_composite(background, rgba)
    rgb = np.asarray(image.convert("RGB"), dtype=np.float32) / 255.0
    return rgb


def _resize(image: Image.Image, size: int | tuple[int, int] | None, max_dim: int | None) -> Image.Image:
    if isinstance(size, tuple):
        new = (size[1], size[0])  # PIL wants (width, height)
    elif max_dim is not None:
        scale = max_dim / max(image.size)
        new = (max(1, round(image.size[0] * scale)), max(1, round(image.size[1] * scale)))
    elif size is not None:
        new = (size, size)  # the seed's square resize
    else:
        return image
    return image.resize(new, Image.Resampling.BICUBIC) if new != image.size else image


def load_image(
    source: ImageSource, size: int | tuple[int, int] | None = 400, max_dim: int | None = None, crop: bool = False
) -> tf.Tensor:
    """Load an image and return it as a float32 batch of one.

    Args:
        source: a file path, the file's bytes, a PIL image, or an http(s) URL (online only).
        size: side of the square resize (the seed's 400x400), or an exact (height, width);
            None keeps the original size.
        max_dim: if given, resize keeping the aspect ratio so the longest side is max_dim;
            it overrides an int ``size`` (not a (height, width) pair).
        crop: with an int ``size``, crop the centre to a square first, so nothing is squashed.

    Returns:
        image: float32 tensor of shape (1, H, W, 3) with values in [0, 1].

    Raises:
        ImageLoadError: missing, empty, truncated, non-image or oversized input.
    """
    name = describe_source(source)
    image = read_image(source)
    try:
        rgb = _to_rgb_array(image)
    except (OSError, ValueError) as exc:
        raise ImageLoadError(f"{name} could not be converted to RGB ({exc})") from None
    pil = Image.fromarray(np.round(rgb * 255).astype(np.uint8))
    if crop and isinstance(size, int) and max_dim is None:
        pil = ImageOps.fit(pil, (size, size), Image.Resampling.BICUBIC)  # centre crop, then resize
    elif size is not None or max_dim is not None:
        pil = _resize(pil, size, max_dim)
    array = np.asarray(pil, dtype=np.float32) / 255.0
    return tf.constant(array[None, ...])  # (1, H, W, 3)


def tensor_to_image(tensor: tf.Tensor | np.ndarray) -> Image.Image:
    """Convert a (1, H, W, 3) or (H, W, 3) float image in [0, 1] to a PIL RGB image."""
    array = one_picture(np.asarray(tensor, dtype=np.float32))
    return Image.fromarray(np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8))


def save_image(tensor: tf.Tensor | np.ndarray, path: str | os.PathLike[str], overwrite: bool = False) -> Path:
    """Save a float image in [0, 1] as PNG/JPEG (by suffix); refuses to overwrite by default."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; choose another name or pass overwrite=True")
    picture = tensor_to_image(tensor)
    return atomic_write(target, lambda handle: picture.save(handle, format=_format_for(target)))


def _format_for(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(suffix, "PNG")


def as_image(source: Any, size: int | tuple[int, int], square: bool = False) -> tf.Tensor:
    """An image source at a run's size, or an array/tensor used as it is.

    Args:
        source: anything ``load_image`` reads, or a (1, H, W, 3) / (H, W, 3) array or tensor in [0, 1].
        size: the longest side in px (proportions kept), or an exact (H, W); an array is resized
            (through PIL, like a file) only when ``size`` is an (H, W) it does not already have.
        square: with an int ``size``, crop the centre to a square first (size x size).

    Returns:
        (1, H, W, 3) float32 tensor in [0, 1].
    """
    if isinstance(source, (tf.Tensor, tf.Variable, np.ndarray)):
        array = np.asarray(source, dtype=np.float32)
        array = array[None] if array.ndim == 3 else array
        if not isinstance(size, tuple) or tuple(array.shape[1:3]) == size:
            return tf.constant(array)
        source = tensor_to_image(array)
    if isinstance(size, tuple):
        return load_image(source, size=size)
    return load_image(source, size=size, crop=True) if square else load_image(source, size=None, max_dim=size)
