"""Files without TensorFlow: where the bundled images are, and the one atomic write.

Nothing here imports TensorFlow, so the CLI can check every path before it loads (in well
under a second).

Lesson: notebooks/01_vgg19.ipynb (the bundled images).
"""

from __future__ import annotations

import io
import json
import os
import re
import tempfile
import urllib.error
import urllib.request
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

from PIL import Image, UnidentifiedImageError

from nst_lab.errors import ImageLoadError

ImageSource = str | os.PathLike[str] | bytes | Image.Image

DEFAULT_CONTENT, DEFAULT_STYLE = "content/chelsea", "style/swirls"  # the bundled pair every default uses
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png")


def _data_dir() -> Path:
    """``$NST_LAB_DATA`` if set, else the repository's ``data/`` beside the package (a clone or an
    editable install), else the copy installed inside the package (``pip install`` of the repository)."""
    override = os.environ.get("NST_LAB_DATA")
    if override:
        return Path(override)
    here = Path(__file__).resolve().parent
    beside = here.parent / "data"
    if (beside / "content").is_dir():
        return beside
    return here / "data"


DATA_DIR = _data_dir()


# The real Keras download (keras.applications.vgg19): URL, cache name and MD5 checksum.
IMAGENET_URL = (
    "https://storage.googleapis.com/tensorflow/keras-applications/vgg19/"
    "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
)
IMAGENET_FILE = "vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"
IMAGENET_MD5 = "253f8cb515780f3b799900260a226db6"
HOW_TO_GET_IMAGENET = (
    "to get the real weights, go online once with `weights` set to imagenet (Keras then caches "
    f"{IMAGENET_FILE} in ~/.keras/models), or download {IMAGENET_URL} and set `weights` to its path"
)


def check_weights_file(path: str | os.PathLike[str]) -> Path:
    """A local weights file that can be loaded: it exists, is a non-empty .h5 or .keras file (or .onnx for VGG16).

    Raises:
        WeightsError: one line naming the problem and how to get the real weights.
    """
    from nst_lab.errors import WeightsError

    file = Path(path).expanduser()
    if not file.exists():
        raise WeightsError(f"weights file {file} does not exist; {HOW_TO_GET_IMAGENET}", ["weights"])
    if not file.is_file() or file.suffix not in (".h5", ".keras", ".onnx") or file.stat().st_size == 0:
        raise WeightsError(f"weights file {file} is not a Keras .h5 weights file (or a VGG16 .onnx file); "
                           f"{HOW_TO_GET_IMAGENET}", ["weights"])
    return file


def new_run_dir(parent: str | os.PathLike[str]) -> Path:
    """Create and return ``parent/run-NNN`` with the next free number (never reuses one)."""
    from nst_lab.errors import UsageError

    root = Path(parent)
    if root.exists() and not root.is_dir():
        raise UsageError(f"output path {root} is a file; give a folder for the runs as `out`", ["out"])
    root.mkdir(parents=True, exist_ok=True)
    taken = [int(p.name[4:]) for p in root.glob("run-*") if p.name[4:].isdigit()]
    number = max(taken, default=0) + 1
    while True:
        candidate = root / f"run-{number:03d}"
        try:
            candidate.mkdir()  # atomic: two runs started at once cannot share a folder
            return candidate
        except FileExistsError:
            number += 1


def bundled_images() -> dict[str, Path]:
    """The images shipped in ``data/``: "content/NAME" or "style/NAME" (file stem) -> path."""
    found = {}
    for folder in ("content", "style"):
        for path in sorted((DATA_DIR / folder).glob("*")):
            if path.suffix.lower() in IMAGE_SUFFIXES:
                found[f"{folder}/{path.stem}"] = path
    return found


def default_pair() -> tuple[Path, Path]:
    """Paths of the bundled default content (the cat) and style (the swirls)."""
    content, style = DATA_DIR / f"{DEFAULT_CONTENT}.jpg", DATA_DIR / f"{DEFAULT_STYLE}.jpg"
    return content, style


MAX_PIXELS = 64_000_000  # refuse bigger images before decoding them (decompression bombs)
MAX_FILE_BYTES = 200 * 1024 * 1024
URL_TIMEOUT_S = 15.0


def describe_source(source: ImageSource) -> str:
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


def _read_bytes(source: str | os.PathLike[str]) -> bytes:
    path = Path(source).expanduser()
    if not path.exists():
        raise ImageLoadError(f"{path}: no such file. Check the path, or use a bundled image from "
                             f"{DATA_DIR / 'content'} or {DATA_DIR / 'style'}")
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


def read_image(source: ImageSource) -> Image.Image:
    """Read and decode an image source with every check (size, pixels, damage), without TensorFlow.

    Args:
        source: a file path, the file's bytes, a PIL image, or an http(s) URL (online only).

    Raises:
        ImageLoadError: missing, empty, truncated, non-image or oversized input; one line, with the fix.
    """
    name = describe_source(source)
    if isinstance(source, Image.Image):
        return source
    if isinstance(source, bytes):
        return _open(source, name)
    if isinstance(source, (str, os.PathLike)):
        text = str(source)
        data = _read_url(text) if text.startswith(("http://", "https://")) else _read_bytes(source)
        return _open(data, name)
    raise ImageLoadError(f"expected an image path, URL, bytes or PIL image, got {type(source).__name__}")


def one_picture(image: Any) -> Any:
    """One picture as an (H, W, 3) NumPy array, from (H, W, 3) or a batch of one (1, H, W, 3).

    Raises:
        ValueError: a batch of several pictures, or not three colour channels.
    """
    import numpy as np

    array = np.asarray(image)
    if array.ndim == 4:
        if array.shape[0] != 1:
            raise ValueError(f"expected one picture, got a batch of {array.shape[0]}")
        array = array[0]
    if array.ndim != 3 or array.shape[-1] != 3:
        raise ValueError(f"expected shape (1, H, W, 3) or (H, W, 3), got {np.shape(image)}")
    return array


def describe_input(source: Any) -> dict[str, Any]:
    """What run.json records of an input image: for a file its absolute path, pixel size, bytes and
    SHA-256 (so a repeat can check it is the same picture); for an array its shape and SHA-256."""
    import hashlib

    if isinstance(source, (str, os.PathLike)) and not str(source).startswith(("http://", "https://")):
        path = Path(source).expanduser().resolve()
        data = path.read_bytes()
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
        return {"path": str(path), "size": [width, height], "bytes": len(data),
                "sha256": hashlib.sha256(data).hexdigest()}
    if isinstance(source, (str, os.PathLike)):
        return {"url": str(source)}
    if isinstance(source, bytes):
        return {"bytes": len(source), "sha256": hashlib.sha256(source).hexdigest()}
    if isinstance(source, Image.Image):
        return {"image": list(source.size), "mode": source.mode}
    import numpy as np

    array = np.ascontiguousarray(np.asarray(source, dtype=np.float32))
    return {"array": list(array.shape), "sha256": hashlib.sha256(array.tobytes()).hexdigest()}


def describe_inputs(content: Any, style: Any) -> dict[str, Any]:
    """run.json's record of the content and style images (paths, sizes and SHA-256 of files)."""
    styles = list(style) if isinstance(style, (list, tuple)) else [style]
    return {"content": describe_input(content), "styles": [describe_input(s) for s in styles]}


def sha256_of(path: str | os.PathLike[str]) -> str:
    """The SHA-256 of a file's bytes, in hex."""
    import hashlib

    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def atomic_write(path: str | os.PathLike[str], write: Callable[[IO[bytes]], object], mode: int = 0o666) -> Path:
    """Write ``path`` through a temporary file in the same folder, then rename it into place.

    A reader never sees a half-written file, and a failed write leaves the old file untouched.

    Args:
        path: the target; its folder is created if missing.
        write: called with the open binary temporary file.
        mode: permission bits before the umask (mkstemp's own 0600 would hide shared files).
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".part", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            write(handle)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, mode & ~umask)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """``atomic_write`` of UTF-8 text with Unix newlines."""
    data = text.encode("utf-8")
    return atomic_write(path, lambda handle: handle.write(data))


_STRING = re.compile(rb'"(?:[^"\\]|\\.)*"', re.DOTALL)
_NOT_BRACKET = bytes(b for b in range(256) if b not in b"[]{}")


def json_depth(data: bytes) -> int:
    """The deepest nesting of ``[`` and ``{`` in JSON text, in linear time (strings skipped)."""
    import numpy as np

    brackets = _STRING.sub(b"", data).translate(None, _NOT_BRACKET)
    if not brackets:
        return 0
    codes = np.frombuffer(brackets, dtype=np.uint8)
    steps = np.where((codes == ord("[")) | (codes == ord("{")), 1, -1)
    return int(np.cumsum(steps).max())


def load_json_bounded(data: bytes, max_bytes: int, max_depth: int) -> object:
    """Parse JSON that an untrusted party wrote: at most ``max_bytes`` and ``max_depth`` levels deep.

    Raises:
        ValueError: with one line saying which bound was broken, or why the text is not JSON.
    """
    if len(data) > max_bytes:
        raise ValueError(f"more than {max_bytes} bytes")
    if json_depth(data) > max_depth:
        raise ValueError(f"nested more than {max_depth} levels deep")
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError, RecursionError) as exc:
        raise ValueError(f"not JSON ({type(exc).__name__})") from None
