"""Does the picture look stylised? The engine run as users run it, judged by nst_lab.beyond.measures.

Each case runs ``prepare_transfer`` with the quick preset (120 Adam steps, lr 0.03, alpha 100,
beta 10, init content, precision auto) at 96 px instead of 192 px, so the file stays well under
a minute, on one bundled pair and on two pairs made here that the project has never seen: a
synthetic photograph (gradient backdrop, red ball, shaded green box, dark shelf) under a
stroke texture (blue-violet strokes on lemon) and under a dot texture (orange and white dots on
teal). The measures use statistics of their own (Lab colour moments; Gram matrices of a fixed
derivative-of-Gaussian bank), unrelated to either network.

Measured at 96 px, seed 272, bfloat16 (AMX CPU), multi-scale network vs random VGG19:

    pair              network      colour  texture  edges
    chelsea/swirls    multiscale     1.00     0.73   0.65
    chelsea/swirls    random VGG19   0.57     0.11   0.79
    synth/strokes     multiscale     0.83     0.61   0.75
    synth/strokes     random VGG19   0.27     0.12   0.93
    synth/dots        multiscale     0.80     0.52   0.64
    synth/dots        random VGG19   0.57     0.07   0.91
    (coffee/mosaic    multiscale     0.98     0.72   0.88; random VGG19 0.65 0.14 0.92)

Thresholds (a picture passes when all three hold):

- MIN_COLOR = 0.70: the colour statistics moved at least 70 % of the way to the style's
  (multi-scale lowest 0.80; random VGG19's rainbow noise reached 0.65 on coffee/mosaic, so
  colour alone does not separate the two networks).
- MIN_TEXTURE = 0.35: the texture statistics moved at least 35 % of the way (multi-scale lowest
  0.52, random VGG19 highest 0.14: the margin is on both sides). This is what random VGG19 fails.
- MIN_EDGES = 0.40: the content's coarse edges are still correlated with the output's
  (multi-scale lowest 0.64; a shuffled picture scores about 0).

Random VGG19's own style cost falls about tenfold over the same run while the texture measure
stays near 0: the network is fooled; the test checks both, which is the lesson of notebook 08.
"""

from __future__ import annotations

import numpy as np
import pytest

from nst_lab.beyond.measures import Stylised, measure

SIZE = 96  # px; the quick preset's 192 px measured alike (colour 0.99, texture 0.69 on chelsea/swirls)
MIN_COLOR, MIN_TEXTURE, MIN_EDGES = 0.70, 0.35, 0.40


def synthetic_photo(n: int = SIZE) -> np.ndarray:
    """A photograph-like scene: warm gradient backdrop, red ball, shaded green box, dark shelf; (1, n, n, 3)."""
    y, x = np.mgrid[0:n, 0:n] / n
    img = np.stack([0.55 + 0.3 * x, 0.6 + 0.25 * y, 0.45 + 0.2 * (1 - x)], axis=-1)
    img[(x - 0.33) ** 2 + (y - 0.38) ** 2 < 0.045] = [0.85, 0.3, 0.15]
    box = (np.abs(x - 0.7) < 0.16) & (np.abs(y - 0.66) < 0.2)
    img[box] = np.stack([0.15 + 0.2 * y, 0.35 + 0.1 * x, 0.2 + 0 * x], -1)[box]
    img[(np.abs(y - 0.88) < 0.04) & (x < 0.55)] = [0.2, 0.15, 0.1]
    return img[None].astype(np.float32)


def stroke_texture(n: int = SIZE, seed: int = 0) -> np.ndarray:
    """Short oriented strokes (12 x 2.6 px), mostly blue-violet, some navy, on lemon; (1, n, n, 3)."""
    rng = np.random.RandomState(seed)
    img = np.ones((n, n, 3)) * [0.95, 0.9, 0.35]
    y, x = np.mgrid[0:n, 0:n].astype(float)
    for _ in range(n * n // 90):
        cy, cx = rng.uniform(0, n, 2)
        theta = 0.6 + 0.3 * rng.randn()
        u = (x - cx) * np.cos(theta) + (y - cy) * np.sin(theta)
        v = -(x - cx) * np.sin(theta) + (y - cy) * np.cos(theta)
        img[(np.abs(u) < 6) & (np.abs(v) < 1.3)] = [0.25, 0.2, 0.7] if rng.rand() < 0.7 else [0.05, 0.05, 0.25]
    return img[None].astype(np.float32)


def dots_texture(n: int = SIZE, seed: int = 1) -> np.ndarray:
    """Orange and off-white dots of radius 2-5 px on teal; (1, n, n, 3)."""
    rng = np.random.RandomState(seed)
    img = np.ones((n, n, 3)) * [0.1, 0.3, 0.35]
    y, x = np.mgrid[0:n, 0:n]
    for _ in range(n * n // 160):
        cy, cx, r = rng.randint(0, n), rng.randint(0, n), rng.randint(2, 6)
        img[(y - cy) ** 2 + (x - cx) ** 2 < r * r] = [[1.0, 0.6, 0.2], [0.95, 0.9, 0.85]][rng.randint(2)]
    return img[None].astype(np.float32)


def _pair(name: str) -> tuple[np.ndarray, np.ndarray]:
    from nst_lab.images import load_image

    if name == "chelsea/swirls":
        return (np.asarray(load_image("data/content/chelsea.jpg", size=SIZE)),
                np.asarray(load_image("data/style/swirls.jpg", size=SIZE)))
    return synthetic_photo(), {"synth/strokes": stroke_texture, "synth/dots": dots_texture}[name]()


def _stylize(pair: str, features: str, network) -> tuple[Stylised, list[float]]:  # type: ignore[no-untyped-def]
    """Run the engine the way ``nst-lab stylize --preset quick`` does; return the measures and the style costs."""
    from nst_lab.config import QUICK
    from nst_lab.engine import prepare_transfer

    content, style = _pair(pair)
    # alpha 100, the quick preset's value when these thresholds were measured; the preset now takes 1e4 for
    # trained features, with which the multi-scale network still passes the three measures here
    config = QUICK.replace(size=SIZE, alpha=100.0, features=features,
                           weights="random" if features == "vgg19" else "auto")
    run = prepare_transfer(content, style, config, network=network)
    for _ in range(config.steps):
        run.step()
    return measure(content, run.image(), style), run.history["style"]


def _passes(m: Stylised) -> bool:
    return m.is_stylised(min_color=MIN_COLOR, min_edges=MIN_EDGES, min_texture=MIN_TEXTURE)


@pytest.fixture(scope="module")
def multiscale():
    from nst_lab.engine.transfer import multiscale_network

    return multiscale_network(272)


def test_the_thresholds_reject_the_content_and_a_cross_fade():
    content, style = _pair("synth/strokes")
    assert not _passes(measure(content, content, style))  # colour 0, texture 0
    blend = 0.5 * content + 0.5 * style  # a cross-fade is not style transfer: measured 0.46, 0.30, 0.35
    m = measure(content, blend, style)
    assert not _passes(m), m


@pytest.mark.parametrize("pair", ["chelsea/swirls", "synth/strokes", "synth/dots"])
def test_multiscale_network_stylises_bundled_and_unseen_pairs(multiscale, pair):
    m, style_cost = _stylize(pair, "multiscale", multiscale)
    assert m.color >= MIN_COLOR, m
    assert m.texture >= MIN_TEXTURE, m
    assert m.edges >= MIN_EDGES, m
    assert style_cost[-1] < 0.1 * style_cost[0]


@pytest.mark.slow
@pytest.mark.parametrize("pair", ["chelsea/swirls", "synth/strokes"])
def test_random_vgg19_matches_its_grams_but_does_not_stylise(vgg_random, pair):
    from nst_lab.engine.transfer import Network

    m, style_cost = _stylize(pair, "vgg19", Network(*vgg_random))
    assert style_cost[-1] < 0.2 * style_cost[0]  # its own style cost falls (measured ~10x)
    assert m.texture < MIN_TEXTURE, m  # measured <= 0.12: no strokes, only pixel noise
    assert not _passes(m), m
