"""Rebuild the bundled images in data/ (run: python data/make_data.py).

Content photos are copied from scikit-image's sample data (public domain / CC0, see
data/README.md) and shrunk to 512 px. Style images are painted here from a fixed seed with
NumPy, so the project owns them outright (CC0).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter

HERE = Path(__file__).resolve().parent
SIDE = 512


def save(array: np.ndarray, path: Path) -> None:
    image = Image.fromarray(np.clip(array, 0, 255).astype(np.uint8))
    image.thumbnail((SIDE, SIDE), Image.Resampling.LANCZOS)
    image.save(path, quality=88, optimize=True)
    print(f"{path.relative_to(HERE)}: {image.size[0]}x{image.size[1]}, {path.stat().st_size // 1024} KB")


def content_photos() -> None:
    from skimage import data

    for name in ("chelsea", "coffee", "astronaut"):
        save(getattr(data, name)(), HERE / "content" / f"{name}.jpg")


def palette_map(t: np.ndarray, colours: list[tuple[int, int, int]]) -> np.ndarray:
    """Map t in [0, 1] (H, W) through a piecewise-linear colour ramp -> (H, W, 3)."""
    stops = np.linspace(0, 1, len(colours))
    ramp = np.array(colours, dtype=np.float64)
    return np.stack([np.interp(t, stops, ramp[:, c]) for c in range(3)], axis=-1)


def swirls(rng: np.random.RandomState) -> np.ndarray:
    """Short strokes that follow a swirling flow field, in night-sky blues and yellows."""
    y, x = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    angle = 3.0 * np.sin(4 * x + 2 * np.sin(3 * y)) + 2.5 * np.cos(5 * y - 2 * x)
    base = 0.5 + 0.5 * np.sin(9 * x * np.cos(angle) + 9 * y * np.sin(angle))
    canvas = palette_map(base, [(12, 24, 70), (40, 80, 160), (90, 150, 210), (235, 210, 90), (250, 240, 190)])
    image = Image.fromarray(canvas.astype(np.uint8))
    strokes = np.asarray(image, dtype=np.float64).copy()
    for _ in range(9000):
        cy, cx = rng.randint(0, SIDE, 2)
        a = angle[cy, cx]
        length = rng.randint(6, 18)
        colour = strokes[cy, cx] * rng.uniform(0.8, 1.25)
        for s in range(length):
            py, px = int(cy + s * np.sin(a)), int(cx + s * np.cos(a))
            if 0 <= py < SIDE - 1 and 0 <= px < SIDE - 1:
                strokes[py:py + 2, px:px + 2] = colour
    return np.asarray(Image.fromarray(np.clip(strokes, 0, 255).astype(np.uint8)).filter(ImageFilter.SMOOTH))


def mosaic(rng: np.random.RandomState) -> np.ndarray:
    """Stained-glass cells (nearest of random seeds) with dark lead lines."""
    points = rng.uniform(0, SIDE, (260, 2))
    colours = rng.choice(np.arange(6), size=len(points))
    glass = np.array([(200, 40, 40), (230, 170, 30), (40, 110, 190), (30, 150, 90), (120, 50, 150), (240, 230, 200)])
    y, x = np.mgrid[0:SIDE, 0:SIDE]
    d = (y[..., None] - points[:, 0]) ** 2 + (x[..., None] - points[:, 1]) ** 2
    order = np.argsort(d, axis=-1)
    nearest, second = order[..., 0], order[..., 1]
    dist = lambda idx: np.sqrt(np.take_along_axis(d, idx[..., None], -1)[..., 0])  # noqa: E731
    gap = dist(second) - dist(nearest)
    canvas = glass[colours[nearest]] * rng.uniform(0.85, 1.15, (len(points), 1))[nearest]
    canvas[gap < 3.0] = (25, 20, 20)
    return canvas


def waves(rng: np.random.RandomState) -> np.ndarray:
    """Layered ocean waves in the flat-colour manner of a woodblock print."""
    y, x = np.mgrid[0:SIDE, 0:SIDE] / SIDE
    field = np.zeros((SIDE, SIDE))
    for k in range(6):
        phase, freq = rng.uniform(0, 2 * np.pi), rng.uniform(6, 14)
        field += np.sin(freq * x + 3 * np.sin(2 * np.pi * y * (k + 1) / 3) + phase) / (k + 1)
    bands = np.floor((field - field.min()) / np.ptp(field) * 6) / 5
    sea = [(10, 30, 80), (25, 70, 140), (70, 130, 190), (160, 200, 225), (240, 240, 230), (240, 240, 230)]
    return palette_map(bands, sea)


def style_images() -> None:
    for name, paint in (("swirls", swirls), ("mosaic", mosaic), ("waves", waves)):
        save(paint(np.random.RandomState(2015)), HERE / "style" / f"{name}.jpg")


if __name__ == "__main__":
    content_photos()
    style_images()
