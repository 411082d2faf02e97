"""load_image: every odd but valid image loads as (1, H, W, 3) in [0, 1]; bad ones fail clearly."""

from __future__ import annotations

import io
import threading
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
from PIL import Image

from nst_lab.errors import ImageLoadError
from nst_lab.images import MAX_PIXELS, bundled_images, load_image, save_image, tensor_to_image


def _bytes(image: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    image.save(buf, format=fmt, **kw)
    return buf.getvalue()


def _check(t, h, w):
    assert tuple(t.shape) == (1, h, w, 3)
    assert t.dtype.name == "float32"
    a = t.numpy()
    assert a.min() >= 0.0 and a.max() <= 1.0


def test_default_is_the_seeds_square_400(tmp_path):
    path = tmp_path / "x.png"
    Image.new("RGB", (123, 77), (10, 20, 30)).save(path)
    _check(load_image(path), 400, 400)


def test_max_dim_keeps_aspect_ratio(tmp_path):
    path = tmp_path / "x.png"
    Image.new("RGB", (200, 100)).save(path)
    _check(load_image(path, max_dim=64), 32, 64)
    _check(load_image(path, size=(20, 30)), 20, 30)
    _check(load_image(path, size=None), 100, 200)


def test_grayscale_and_rgb_values(tmp_path):
    data = _bytes(Image.new("L", (4, 4), 128), "PNG")
    a = load_image(data, size=None).numpy()
    np.testing.assert_allclose(a, 128 / 255, atol=1e-6)


def test_rgba_is_composited_on_white():
    rgba = Image.new("RGBA", (4, 4), (0, 0, 0, 0))  # fully transparent black
    a = load_image(_bytes(rgba, "PNG"), size=None).numpy()
    np.testing.assert_allclose(a, 1.0)
    half = Image.new("RGBA", (4, 4), (0, 0, 0, 128))
    np.testing.assert_allclose(load_image(half, size=None).numpy(), 127 / 255, atol=2 / 255)


def test_palette_with_transparency_and_la():
    p = Image.new("P", (4, 4), 0)
    p.putpalette([255, 0, 0] + [0, 0, 0] * 255)
    p.info["transparency"] = 0
    np.testing.assert_allclose(load_image(_bytes(p, "PNG", transparency=0), size=None).numpy(), 1.0)
    la = Image.new("LA", (4, 4), (0, 255))
    np.testing.assert_allclose(load_image(la, size=None).numpy(), 0.0)


def test_16_bit_grayscale_keeps_its_range():
    arr = np.full((4, 4), 65535 // 2, dtype=np.uint16)
    img = Image.fromarray(arr)  # mode I;16
    a = load_image(_bytes(img, "PNG"), size=None).numpy()
    np.testing.assert_allclose(a, 0.5, atol=1 / 255)


def test_cmyk_jpeg():
    cmyk = Image.new("CMYK", (8, 8), (0, 255, 255, 0))  # red
    a = load_image(_bytes(cmyk, "JPEG"), size=None).numpy()[0, 4, 4]
    assert a[0] > 0.8 and a[1] < 0.2 and a[2] < 0.2


def test_animated_gif_uses_first_frame():
    frames = [Image.new("RGB", (8, 8), c) for c in [(255, 0, 0), (0, 0, 255)]]
    buf = io.BytesIO()
    frames[0].save(buf, format="GIF", save_all=True, append_images=frames[1:])
    a = load_image(buf.getvalue(), size=None).numpy()[0, 4, 4]
    assert a[0] > 0.9 and a[2] < 0.1


def test_webp():
    a = load_image(_bytes(Image.new("RGB", (8, 8), (0, 255, 0)), "WEBP", lossless=True), size=None).numpy()
    np.testing.assert_allclose(a[0, 4, 4], [0, 1, 0], atol=1 / 255)


def test_exif_orientation_is_applied():
    img = Image.new("RGB", (20, 10))
    exif = Image.Exif()
    exif[0x0112] = 6  # rotate 90 degrees clockwise to display
    t = load_image(_bytes(img, "JPEG", exif=exif.tobytes()), size=None)
    assert tuple(t.shape) == (1, 20, 10, 3)


def test_bundled_images_load():
    found = bundled_images()
    assert {"content/chelsea", "style/swirls"} <= set(found)
    for path in found.values():
        _check(load_image(path, size=32), 32, 32)


# ----------------------------------------------------------------- bad input
def _truncated(tmp_path):
    data = _bytes(Image.new("RGB", (64, 64), (1, 2, 3)), "PNG")
    path = tmp_path / "cut.png"
    path.write_bytes(data[: len(data) // 2])
    return path


def _written(name: str, data: bytes):
    def make(folder):
        (folder / name).write_bytes(data)
        return folder / name

    return make


BAD = {
    "missing": (lambda folder: folder / "nope.png", "no such file"),
    "empty": (_written("empty.png", b""), "empty"),
    "text": (_written("notes.png", b"hello, not pixels"), "not an image"),
    "folder": (lambda folder: folder, "is a folder"),
    "truncated": (_truncated, "damaged or truncated"),
}


@pytest.mark.parametrize("kind", sorted(BAD))
def test_bad_files_raise_one_clear_error(tmp_path, kind):
    make, why = BAD[kind]
    path = make(tmp_path)
    with pytest.raises(ImageLoadError) as info:
        load_image(path)
    message = str(info.value)
    assert why in message and "\n" not in message
    assert str(path) in message


def test_decompression_bomb_is_refused_before_decoding():
    side = int(MAX_PIXELS**0.5) + 100
    data = _bytes(Image.new("1", (side, side)), "PNG")  # tiny file, huge image
    with pytest.raises(ImageLoadError, match="too many pixels"):
        load_image(data)


def test_unsupported_source_type():
    with pytest.raises(ImageLoadError, match="expected an image path"):
        load_image(12345)


def test_url_offline_gives_clear_error():
    with pytest.raises(ImageLoadError, match="could not download .* online"):
        load_image("http://127.0.0.1:9/none.png")  # port 9 (discard): connection refused


def test_url_from_a_local_server(tmp_path):
    Image.new("RGB", (16, 8), (0, 0, 255)).save(tmp_path / "blue.png")
    server = ThreadingHTTPServer(("127.0.0.1", 0), partial(SimpleHTTPRequestHandler, directory=str(tmp_path)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        t = load_image(f"http://127.0.0.1:{server.server_port}/blue.png", size=None)
        _check(t, 8, 16)
        with pytest.raises(ImageLoadError, match="could not download"):
            load_image(f"http://127.0.0.1:{server.server_port}/missing.png")
    finally:
        server.shutdown()


def test_save_image_round_trip_and_no_overwrite(tmp_path):
    a = np.random.RandomState(0).uniform(size=(1, 6, 5, 3)).astype(np.float32)
    path = save_image(a, tmp_path / "out.png")
    back = load_image(path, size=None).numpy()
    np.testing.assert_allclose(back, a, atol=0.5 / 255 + 1e-6)
    with pytest.raises(FileExistsError):
        save_image(a * 0, path)
    np.testing.assert_allclose(load_image(path, size=None).numpy(), back)  # untouched


def test_tensor_to_image_rejects_bad_shapes():
    with pytest.raises(ValueError, match="expected one picture, got a batch of 2"):
        tensor_to_image(np.zeros((2, 4, 4, 3)))
    with pytest.raises(ValueError, match="shape"):
        tensor_to_image(np.zeros((4, 4)))
