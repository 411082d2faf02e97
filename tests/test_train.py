"""The training loop: init modes, reproducibility, no retracing, NaN and interrupt handling, run folders."""

from __future__ import annotations

import json

import keras
import numpy as np
import pytest
import tensorflow as tf

from nst_lab.config import STYLE_LAYERS, StyleConfig
from nst_lab.engine.runs import stylize
from nst_lab.engine.transfer import Network, initial_image, prepare_transfer
from nst_lab.train import train_step
from nst_lab.vgg import FeatureExtractor, WeightsInfo

TINY = WeightsInfo("random", "tiny test VGG", "RANDOM test weights")


def _images(seed=0, side=32):
    r = np.random.RandomState(seed)
    return (tf.constant(r.uniform(size=(1, side, side, 3)).astype(np.float32)),
            tf.constant(r.uniform(size=(1, side, side, 3)).astype(np.float32)))


def _transfer(tiny_vgg, **changes):
    content, style = _images()
    # float32 explicitly: the default precision is now "auto" (bfloat16 on CPUs with AMX/AVX512-BF16)
    config = StyleConfig(size=32, steps=4, save_every=2, weights="random", precision="float32").replace(**changes)
    return prepare_transfer(content, style, config, network=Network(tiny_vgg, TINY))


def test_init_modes():
    content = np.random.RandomState(0).uniform(size=(1, 8, 8, 3)).astype(np.float32)
    np.testing.assert_array_equal(initial_image(content, "content", 0.8, 1), content)
    noisy = initial_image(content, "noisy", 0.8, 1)
    assert noisy.min() >= 0 and noisy.max() <= 1
    assert np.all(noisy >= content - 1e-7)  # noise is U(0, 0.8): only ever adds, then clips
    assert 0.05 < float(np.mean(noisy - content)) < 0.4
    noise = initial_image(content, "noise", 0.8, 1)
    assert noise.shape == content.shape and abs(float(np.corrcoef(noise.ravel(), content.ravel())[0, 1])) < 0.2
    np.testing.assert_array_equal(noise, initial_image(content, "noise", 0.8, 1))
    with pytest.raises(ValueError, match="init"):
        initial_image(content, "zeros", 0.8, 1)


def test_loss_decreases_and_history_is_recorded(tiny_vgg):
    t = _transfer(tiny_vgg, init="noise", alpha=1.0, beta=1.0)
    for _ in range(8):
        t.step()
    assert len(t.history["total"]) == len(t.history["content"]) == len(t.history["style"]) == 8
    assert t.history["total"][-1] < t.history["total"][0]
    image = t.image()
    assert image.min() >= 0 and image.max() <= 1  # clipped after every step


def test_same_seed_same_result(tiny_vgg):
    a, b = _transfer(tiny_vgg, init="noisy", seed=7), _transfer(tiny_vgg, init="noisy", seed=7)
    c = _transfer(tiny_vgg, init="noisy", seed=8)
    for t in (a, b, c):
        t.step()
        t.step()
    np.testing.assert_array_equal(a.image(), b.image())
    assert not np.allclose(a.image(), c.image())


def test_changing_alpha_beta_does_not_retrace(tiny_vgg):
    t = _transfer(tiny_vgg)
    t.step()
    assert t._step.experimental_get_tracing_count() == 1
    for alpha, beta in [(1, 1), (5e3, 0.5), (0, 10)]:
        t.config = t.config.replace(alpha=float(alpha), beta=float(beta))
        t.step()
    assert t._step.experimental_get_tracing_count() == 1


def test_library_step_equals_graded_train_step(tiny_vgg):
    t = _transfer(tiny_vgg)
    extractor = FeatureExtractor(tiny_vgg, t.config.layer_names)
    image = tf.Variable(t.image())
    a_C, a_S = extractor(t.content_image), extractor(t.style_images[0])  # every layer, as the graded step takes
    J = train_step(image, extractor, a_C, a_S, keras.optimizers.Adam(0.03), 100.0, 10.0, STYLE_LAYERS)
    total, _, _ = t.step()
    assert float(J) == pytest.approx(total, rel=1e-5)
    np.testing.assert_allclose(image.numpy(), t.image(), atol=2e-5)  # graph vs eager round-off


def test_non_finite_loss_stops_with_clear_message_and_keeps_last_good_image(tiny_vgg, tmp_path):
    t = _transfer(tiny_vgg, alpha=1e38, beta=1e38, steps=5)
    result = stylize(None, None, out_dir=tmp_path, progress=False, transfer=t)
    assert result.status == "non-finite loss"
    assert result.status == "non-finite loss" and f"at step {result.steps_done}" in result.message
    # the library names config fields (the CLI maps them to --alpha/--beta/--lr when printing)
    assert "infinite or NaN" in result.message and "lower alpha/beta or learning_rate" in result.message
    assert np.all(np.isfinite(result.image))
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["status"] == "non-finite loss" and (result.run_dir / "final.png").exists()


def test_interrupt_keeps_what_was_made(tiny_vgg, tmp_path):
    def interrupt_at_step_2(step, transfer):
        if step == 2:
            raise KeyboardInterrupt

    t = _transfer(tiny_vgg, steps=50, save_every=1)
    result = stylize(None, None, out_dir=tmp_path, progress=False, on_step=interrupt_at_step_2, transfer=t)
    assert result.status == "interrupted" and result.steps_done == 3
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["status"] == "interrupted" and len(record["losses"]["total"]) == 3
    assert sorted(p.name for p in (result.run_dir / "snapshots").iterdir()) == [
        "step_0000.png", "step_0001.png", "step_0002.png"]
    assert (result.run_dir / "final.png").exists() and (result.run_dir / "loss_plot.png").exists()


def test_each_run_gets_a_new_folder_and_a_complete_run_json(tiny_vgg, tmp_path):
    first = stylize(None, None, out_dir=tmp_path, progress=False, transfer=_transfer(tiny_vgg))
    second = stylize(None, None, out_dir=tmp_path, progress=False, transfer=_transfer(tiny_vgg))
    assert (first.run_dir.name, second.run_dir.name) == ("run-001", "run-002")
    record = json.loads((second.run_dir / "run.json").read_text())
    assert record["status"] == "finished" and record["steps_done"] == 4
    assert record["weights"]["kind"] == "random" and "RANDOM" in record["weights"]["note"]
    assert record["precision"] == "float32" and record["seconds"] > 0
    assert record["config"]["alpha"] == 100.0 and record["config"]["style_layers"][0] == ["block1_conv1", 1.0]
    assert len(record["losses"]["style"]) == 4
    assert sorted(record["snapshots"]) == ["0", "2"]


def test_stylize_from_files_with_full_vgg_random(image_files, tmp_path):
    config = StyleConfig(size=48, steps=2, save_every=0, weights="random")
    result = stylize(image_files["content"], image_files["style"], config, out_dir=tmp_path, progress=False)
    assert result.status == "finished" and result.image.shape == (1, 40, 48, 3)  # 48x40 file, proportions kept
    assert result.weights.kind == "random" and not (result.run_dir / "snapshots").exists()


def test_size_keeps_the_proportions_and_the_style_takes_the_content_shape(image_files, tiny_vgg):
    from nst_lab.images import as_image

    config = StyleConfig(size=96, weights="random")  # the 48x40 content, longest side 96
    content = as_image(image_files["content"], config.size)
    style = as_image(image_files["style"], tuple(content.shape[1:3]))
    assert content.shape == style.shape == (1, 80, 96, 3)
    square = as_image(image_files["content"], 64, square=True)  # a centre crop, not a squash
    assert square.shape == (1, 64, 64, 3)


def test_coarse_to_fine_loads_vgg19_once(monkeypatch, tiny_vgg):
    import nst_lab.engine.transfer

    calls = []

    def counting_load(weights, seed=272):
        calls.append(weights)
        return tiny_vgg, TINY

    monkeypatch.setattr(nst_lab.engine.transfer, "load_vgg19", counting_load)
    content, style = _images(side=64)
    config = StyleConfig(size=64, steps=2, scales=2, weights="random", precision="float32")
    transfer = nst_lab.engine.transfer.prepare_transfer(content, style, config)
    # float32 runs the loaded model itself: the extractor reads tiny_vgg's own layers
    assert calls == ["random"] and transfer.weights_info is TINY
    assert transfer.extractor.model.get_layer("block1_conv1") is tiny_vgg.get_layer("block1_conv1")
