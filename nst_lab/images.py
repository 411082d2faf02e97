"""Load, convert and save images as float32 tensors of shape (1, H, W, 3) in [0, 1].

Lesson: notebooks/01_vgg19.ipynb
"""

from __future__ import annotations

import io
import os
import urllib.error
import urllib.request
import warnings
from pathlib import Path

import numpy as np
import tensorflow as tf
from PIL import Image, ImageOps, UnidentifiedImageError

from nst_lab.errors import ImageLoadError

ImageSource = str | os.PathLike | bytes | Image.Image
MAX_PIXELS = 64_000_000  # refuse bigger images before decoding them (decompression bombs)
MAX_FILE_BYTES = 200 * 1024 * 1024
URL_TIMEOUT_S = 15.0


def _data_dir() -> Path:
    """``$NST_LAB_DATA`` if set, else the repository's ``data/`` next to the package."""
    override = os.environ.get("NST_LAB_DATA")
    return Path(override) if override else Path(__file__).resolve().parent.parent / "data"


DATA_DIR = _data_dir()


def _describe(source: ImageSource) -> str:
    if isinstance(source, bytes):
        return f"<{len(source)} bytes>"
    if isinstance(source, Image.Image):
        return f"<PIL image {source.mode} {source.size[0]}x{source.size[1]}>"
    return str(source)


def _read_url(url: str) -> bytes:
    try:
        with urllib.request.urlopen(url, timeout=URL_TIMEOUT_S) as response:  # noqa: S310
            data = response.read(MAX_FILE_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as exc:
        reason = getattr(exc, "reason", exc)
        raise ImageLoadError(
            f"could not download {url}: {reason}. Check that you are online and the address "
            "is right, or download the image and pass its path"
        ) from None
    if len(data) > MAX_FILE_BYTES:
        raise ImageLoadError(f"{url} is larger than {MAX_FILE_BYTES // 2**20} MB")
    return data


def _read_bytes(source: str | os.PathLike) -> bytes:
    path = Path(source).expanduser()
    if not path.exists():
        raise ImageLoadError(f"{path}: no such file. Check the path, or use one of {DATA_DIR}")
    if path.is_dir():
        raise ImageLoadError(f"{path} is a folder, not an image file")
    size = path.stat().st_size
    if size == 0:
        raise ImageLoadError(f"{path} is empty (0 bytes): re-download or re-export the image")
    if size > MAX_FILE_BYTES:
        raise ImageLoadError(f"{path} is {size / 2**20:.0f} MB, more than the {MAX_FILE_BYTES // 2**20} MB allowed")
    return path.read_bytes()


def _open(data: bytes, name: str) -> Image.Image:
    if not data:
        raise ImageLoadError(f"{name} is empty (0 bytes)")
    previous = Image.MAX_IMAGE_PIXELS
    try:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data))
            width, height = image.size
            if width * height > MAX_PIXELS:
                raise Image.DecompressionBombError("too many pixels")
            image.seek(0)  # animated GIF / WebP / multipage TIFF: first frame
            image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise ImageLoadError(
            f"{name} has too many pixels (limit {MAX_PIXELS:,}): it may be a decompression "
            "bomb; shrink it with an image editor first"
        ) from None
    except UnidentifiedImageError:
        raise ImageLoadError(f"{name} is not an image Pillow can read (PNG, JPEG, WebP, ...)") from None
    except (OSError, SyntaxError, ValueError, EOFError) as exc:
        raise ImageLoadError(f"{name} is damaged or truncated ({exc}): re-download or re-export it") from None
    finally:
        Image.MAX_IMAGE_PIXELS = previous
    return image


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
    source: ImageSource, size: int | tuple[int, int] | None = 400, max_dim: int | None = None
) -> tf.Tensor:
    """Load an image and return it as a float32 batch of one.

    Args:
        source: a file path, the file's bytes, a PIL image, or an http(s) URL (online only).
        size: side of the square resize (the seed's 400x400), or an exact (height, width);
            None keeps the original size.
        max_dim: if given, resize keeping the aspect ratio so the longest side is max_dim;
            it overrides an int ``size`` (not a (height, width) pair).

    Returns:
        image: float32 tensor of shape (1, H, W, 3) with values in [0, 1].

    Raises:
        ImageLoadError: missing, empty, truncated, non-image or oversized input.
    """
    name = _describe(source)
    if isinstance(source, Image.Image):
        image = source
    elif isinstance(source, bytes):
        image = _open(source, name)
    elif isinstance(source, (str, os.PathLike)):
        text = str(source)
        data = _read_url(text) if text.startswith(("http://", "https://")) else _read_bytes(source)
        image = _open(data, name)
    else:
        raise ImageLoadError(
            f"load_image expected a path, URL, bytes or PIL image, got {type(source).__name__}"
        )
    try:
        rgb = _to_rgb_array(image)
    except (OSError, ValueError) as exc:
        raise ImageLoadError(f"{name} could not be converted to RGB ({exc})") from None
    pil = Image.fromarray(np.round(rgb * 255).astype(np.uint8))
    if size is not None or max_dim is not None:
        pil = _resize(pil, size, max_dim)
    array = np.asarray(pil, dtype=np.float32) / 255.0
    return tf.constant(array[None, ...])  # (1, H, W, 3)


def tensor_to_image(tensor: tf.Tensor | np.ndarray) -> Image.Image:
    """Convert a (1, H, W, 3) or (H, W, 3) float image in [0, 1] to a PIL RGB image."""
    array = np.asarray(tensor, dtype=np.float32)
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise ValueError(f"tensor_to_image expects a batch of one, got shape {array.shape}")
        array = array[0]
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"tensor_to_image expects shape (1, H, W, 3) or (H, W, 3), got {array.shape}")
    return Image.fromarray(np.round(np.clip(array, 0.0, 1.0) * 255).astype(np.uint8))


def save_image(tensor: tf.Tensor | np.ndarray, path: str | os.PathLike, overwrite: bool = False) -> Path:
    """Save a float image in [0, 1] as PNG/JPEG (by suffix); refuses to overwrite by default."""
    target = Path(path)
    if target.exists() and not overwrite:
        raise FileExistsError(f"{target} exists; choose another name or pass overwrite=True")
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = target.with_name(target.name + ".part")
    tensor_to_image(tensor).save(tmp, format=_format_for(target))
    os.replace(tmp, target)
    return target


def _format_for(path: Path) -> str:
    suffix = path.suffix.lower()
    return {".jpg": "JPEG", ".jpeg": "JPEG", ".webp": "WEBP"}.get(suffix, "PNG")


def bundled_images() -> dict[str, Path]:
    """The images shipped in ``data/``: name (file stem) -> path."""
    found = {}
    for folder in ("content", "style"):
        for path in sorted((DATA_DIR / folder).glob("*.jpg")):
            found[f"{folder}/{path.stem}"] = path
    return found
