"""The studio panel, driven from Python: Run, Stop, Save, presets, uploads and error lines.

Runs happen inside ``asyncio.run`` so the Run click becomes a task on a running loop, as
it does on a Jupyter kernel; the test awaits between chunks like the kernel does.
"""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

pytest.importorskip("ipywidgets")

from nst_lab.config import StyleConfig  # noqa: E402
from nst_lab.errors import NonFiniteLossError  # noqa: E402
from nst_lab.studio.panel import Studio  # noqa: E402
from nst_lab.studio.session import ChunkedRun, UploadError, parse_upload, weighted_curves  # noqa: E402
from nst_lab.vgg import RANDOM_NOTE, WeightsInfo, build_tiny_vgg  # noqa: E402

TINY = StyleConfig(size=48, steps=4, weights="random", save_every=0)  # the 451x300 cat: 48x32


def png_file(color: tuple[int, int, int] = (200, 30, 30), side: int = 40) -> bytes:
    buffer = io.BytesIO()
    Image.new("RGB", (side, side), color).save(buffer, format="PNG")
    return buffer.getvalue()


def upload_v8(name: str, data: bytes) -> tuple[dict, ...]:
    return ({"name": name, "type": "image/png", "size": len(data), "content": memoryview(data),
             "last_modified": datetime.datetime(2024, 1, 1)},)


def upload_v7(name: str, data: bytes) -> dict:
    return {name: {"metadata": {"name": name, "type": "image/png", "size": len(data),
                                "lastModified": 0}, "content": data}}


@pytest.fixture(scope="module")
def tiny_vgg():
    return build_tiny_vgg(seed=0, width=2)


@pytest.fixture
def studio(tiny_vgg, tmp_path):
    return Studio(TINY, vgg=tiny_vgg, weights_info=WeightsInfo("random", "tiny", RANDOM_NOTE),
                  out_dir=tmp_path / "runs", chunk=2)


def run_to_end(studio: Studio) -> None:
    async def scenario() -> None:
        studio.run_button.click()
        assert studio._task is not None, studio.last_message
        await studio._task

    asyncio.run(scenario())


def test_run_updates_preview_loss_curve_and_progress(studio):
    preview, curve = bytes(studio.preview.value), bytes(studio.loss_plot.value)
    run_to_end(studio)
    assert studio.job.steps_done == 4
    assert len(studio.job.transfer.history["total"]) == 4
    assert bytes(studio.preview.value) != preview and bytes(studio.preview.value).startswith(b"\x89PNG")
    assert bytes(studio.loss_plot.value) != curve
    assert studio.progress.value == 4
    assert studio.last_message.startswith("finished 4 steps")
    assert "RANDOM" in studio.last_message  # random weights are never silent


def test_controls_are_disabled_while_running_and_restored_after(studio):
    seen = {}

    async def scenario() -> None:
        studio.run_button.click()
        seen["during"] = {w.description: w.disabled for w in (studio.alpha, studio.run_button,
                                                               studio.stop_button, studio.size)}
        seen["upload"] = studio.content.upload.disabled
        await studio._task

    asyncio.run(scenario())
    assert seen["during"] == {"alpha (content)": True, "Run": True, "Stop": False, "longest side (px)": True}
    assert seen["upload"] is True
    assert not studio.alpha.disabled and not studio.run_button.disabled
    assert studio.stop_button.disabled and not studio.save_button.disabled


def test_preview_changes_after_every_chunk(studio):
    previews = []
    studio.steps.value, studio.chunk.value = 6, 2
    original = studio._after_chunk

    def spy(job):
        original(job)
        previews.append((job.steps_done, bytes(studio.preview.value)))

    studio._after_chunk = spy
    run_to_end(studio)
    assert [steps for steps, _ in previews] == [2, 4, 6]
    assert len({png for _, png in previews}) == 3


def test_stop_takes_effect_between_chunks(studio):
    studio.steps.value, studio.chunk.value = 200, 2

    async def scenario() -> None:
        studio.run_button.click()
        while studio.job.steps_done < 2:
            await asyncio.sleep(0.005)  # the loop turns between chunks, like a kernel
        studio.stop_button.click()
        await studio._task

    asyncio.run(scenario())
    assert studio.job.status == "stopped"
    assert studio.job.steps_done == 2  # Stop came between chunks 1 and 2: chunk 2 never ran
    assert studio.last_message.startswith("stopped after 2 of 200 steps")
    assert not studio.run_button.disabled


def test_controls_reach_the_run_config(studio):
    studio.alpha.value, studio.beta.value, studio.learning_rate.value = 5.0, 40.0, 0.1
    studio.init.value, studio.content_layer.value, studio.seed.value = "noise", "block4_conv2", 7
    studio.style_weights[4].value = 0.55
    run_to_end(studio)
    config = studio.job.transfer.config
    assert (config.alpha, config.beta, config.learning_rate) == pytest.approx((5.0, 40.0, 0.1))
    assert (config.init, config.content_layer, config.seed) == ("noise", "block4_conv2", 7)
    assert config.style_layers[4] == ("block5_conv1", pytest.approx(0.55))


def test_seed_preset_restores_the_report_settings(studio):
    studio.alpha.value, studio.steps.value, studio.size.value = 3.0, 5, 64
    studio.style_weights[0].value, studio.content_layer.value = 0.1, "block1_conv1"
    studio.preset_button.click()
    config = studio.read_config()
    # The report's numbers, typed from the seed report (sections 5.1, 5.2, 7.12).
    assert (config.alpha, config.beta, config.learning_rate) == pytest.approx((100, 10, 0.03))
    assert (config.steps, config.size, config.init, config.seed) == (1001, 400, "content", 272)
    assert [w for _, w in config.style_layers] == pytest.approx([1.0, 0.8, 0.7, 0.2, 0.1])
    assert config.content_layer == "block5_conv4"


def test_cosine_button_sets_the_cosine_schedule_and_seed_preset_undoes_it(studio):
    studio.cosine_button.click()
    config = studio.read_config()
    assert (config.lr_schedule, config.steps, config.learning_rate) == ("cosine", 500, pytest.approx(0.08))
    assert studio.last_message == "settings of the cosine schedule restored"
    studio.schedule.value = "constant"
    assert studio.read_config().lr_schedule == "constant"
    studio.preset_button.click()
    assert (studio.read_config().lr_schedule, studio.read_config().steps) == ("constant", 1001)


def test_cosine_below_its_final_rate_is_one_studio_error_line(studio):
    studio.schedule.value, studio.learning_rate.value = "cosine", 0.001
    studio.run_button.click()
    assert studio.job is None
    assert studio.last_message.startswith("error: final_learning_rate (0.002) is above learning_rate (0.001)")
    # the library's message names config fields (learning_rate, lr_schedule), as the studio shows it
    assert "pick a learning_rate of at least 0.002, the constant lr_schedule" in studio.last_message
    studio.learning_rate.value = 0.002
    assert studio.read_config().lr_schedule == "cosine"  # equal rates are allowed (a flat schedule)


def test_sliders_start_at_the_seed_layer_weights(tiny_vgg):
    studio = Studio(vgg=tiny_vgg, weights_info=WeightsInfo("random", "tiny"))
    assert [(s.description, s.value) for s in studio.style_weights] == [
        ("block1_conv1", 1.0), ("block2_conv1", 0.8), ("block3_conv1", 0.7),
        ("block4_conv1", 0.2), ("block5_conv1", 0.1)]


def test_save_writes_a_new_run_folder_and_a_download_link(studio, tmp_path):
    run_to_end(studio)
    studio.save_button.click()
    studio.save_button.click()  # a second save never overwrites the first
    runs = sorted((tmp_path / "runs").iterdir())
    assert [p.name for p in runs] == ["run-001", "run-002"]
    record = json.loads((runs[0] / "run.json").read_text())
    assert record["steps_done"] == 4 and record["status"] == "finished"
    assert record["weights"]["kind"] == "random"
    assert Image.open(runs[0] / "final.png").size == (48, 32)  # the cat, longest side 48
    assert 'href="data:image/png;base64,' in studio.link.value and "run-002" in studio.link.value


def test_save_before_any_run_is_a_readable_error(studio, tmp_path):
    studio._on_save()
    assert studio.last_message == "error: nothing to save yet: press Run first"
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("size, expected", [(5, "size must be at least 32"), (100000, "at most 4096")])
def test_impossible_size_is_one_error_line_and_no_run(studio, size, expected):
    studio.size.value = size
    studio.run_button.click()
    assert studio.last_message.startswith("error: ") and expected in studio.last_message
    assert "\n" not in studio.last_message and "Traceback" not in studio.status.value
    assert studio.job is None and not studio.run_button.disabled


@pytest.mark.parametrize("make", [upload_v8, upload_v7], ids=["ipywidgets8", "ipywidgets7"])
def test_parse_upload_reads_both_formats(make):
    data = png_file()
    assert parse_upload(make("cat.png", data)) == ("cat.png", data)


@pytest.mark.parametrize("value, expected", [
    ((), "no file uploaded"), ({}, "no file uploaded"),
    (({"name": "a.png", "content": b""},), "a.png is empty"),
    (({"name": "a.png"},), "a.png: the upload carries no file content"),
    ("a.png", "unexpected upload value of type str"),
])
def test_parse_upload_rejects_empty_or_odd_values(value, expected):
    with pytest.raises(UploadError, match=expected):
        parse_upload(value)


@pytest.mark.parametrize("make", [upload_v8, upload_v7], ids=["ipywidgets8", "ipywidgets7"])
def test_good_upload_becomes_the_content_image(studio, make):
    thumbnail = bytes(studio.content.thumbnail.value)
    studio.content._on_upload({"new": make("red.png", png_file())})
    assert studio.content.choice.value == "upload: red.png"
    assert bytes(studio.content.thumbnail.value) != thumbnail
    run_to_end(studio)
    red = np.asarray(studio.job.transfer.content_image)[0, 16, 16]
    assert red == pytest.approx([200 / 255, 30 / 255, 30 / 255], abs=0.02)


def test_bad_upload_is_one_error_line_and_keeps_the_old_choice(studio):
    studio.content._on_upload({"new": upload_v8("notes.txt", b"this is not an image")})
    assert studio.last_message == (
        "error: notes.txt is not an image Pillow can read (PNG, JPEG, WebP, ...)")
    assert studio.content.choice.value == "content/chelsea"


def test_upload_of_a_truncated_png_is_one_error_line(studio):
    studio.style._on_upload({"new": upload_v7("cut.png", png_file()[:60])})
    assert studio.last_message.startswith("error: cut.png is damaged or truncated")
    assert "\n" not in studio.last_message and studio.style.choice.value == "style/swirls"


def test_url_offline_is_one_error_line(studio):
    studio.style.url.value = "http://127.0.0.1:9/painting.jpg"  # port 9: nothing listens
    studio.style.fetch.click()
    assert studio.last_message.startswith("error: could not download http://127.0.0.1:9/painting.jpg")
    assert "online" in studio.last_message and "\n" not in studio.last_message


def test_url_must_be_a_web_address(studio):
    studio.style.url.value = "painting.jpg"
    studio.style.fetch.click()
    assert studio.last_message == "error: 'painting.jpg' is not a web address: it must start with https://"


def test_core_does_not_import_jupyter():
    # (IPython itself may load: tqdm.auto probes for it. The widgets and the kernel must not.)
    code = ("import sys, nst_lab.train, nst_lab.engine.runs, nst_lab.studio.session, nst_lab.cli; "
            "print(sorted(m for m in ('ipywidgets', 'ipykernel', 'comm') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "[]"


def test_loss_curves_are_weighted_and_stay_aligned_with_steps():
    history = {"total": [0.5, 0.4, 0.3], "content": [0.0, 1e-3, 2e-3], "style": [0.05, 0.039, 0.028]}
    curves = weighted_curves(history, alpha=100.0, beta=10.0)
    assert np.isnan(curves["alpha * J_content"][0])  # J_content is 0 at step 1: not plotted
    np.testing.assert_allclose(curves["alpha * J_content"][1:], [0.1, 0.2])
    np.testing.assert_allclose(curves["beta * J_style"], [0.5, 0.39, 0.28])
    assert {len(y) for y in curves.values()} == {3}


def test_run_here_runs_in_the_cell_and_an_interrupt_keeps_the_result(studio):
    studio.steps.value, studio.chunk.value = 100, 2
    original, calls = studio._after_chunk, []

    def interrupted_after_two_chunks(job):
        original(job)
        calls.append(job.steps_done)
        if len(calls) == 2:
            raise KeyboardInterrupt  # what the kernel's interrupt button raises

    studio._after_chunk = interrupted_after_two_chunks
    studio.run_here()
    assert calls == [2, 4] and studio.job.status == "stopped"
    assert studio.last_message.startswith("stopped after 4 of 100 steps")
    assert not studio.run_button.disabled and not studio.save_button.disabled


class _BlowsUpAtStep3:
    """Stands in for StyleTransfer: the third step's loss is NaN."""

    config = TINY.replace(steps=10)

    def __init__(self) -> None:
        self.history: dict[str, list[float]] = {"total": []}

    @property
    def steps_done(self) -> int:
        return len(self.history["total"])

    def step(self) -> None:
        if self.steps_done == 2:
            raise NonFiniteLossError("the loss became nan at step 2: lower --alpha/--beta or --lr")
        self.history["total"].append(1.0)


def test_a_nan_loss_ends_the_run_with_its_message():
    job = ChunkedRun(_BlowsUpAtStep3(), chunk=4)  # type: ignore[arg-type]
    asyncio.run(job.drive(lambda _: None, pause_s=0))
    assert (job.status, job.steps_done) == ("non-finite loss", 2)
    assert job.message.startswith("the loss became nan at step 2")


def _vgg16_offline(monkeypatch, tmp_path):
    """Keras' VGG19 download pointed at a closed local port: the chain gives ImageNet VGG16."""
    from nst_lab import vgg as vgg_module

    monkeypatch.setattr(vgg_module, "IMAGENET_URL", "http://127.0.0.1:9/vgg19_notop.h5")
    monkeypatch.setenv("KERAS_HOME", str(tmp_path / "keras"))


def test_controls_follow_vgg16_and_the_note_speaks_at_run(vgg16_trained, monkeypatch, tmp_path):
    from nst_lab.config import VGG16_CONV_LAYERS

    _vgg16_offline(monkeypatch, tmp_path)
    studio = Studio(StyleConfig(size=56, steps=2, save_every=0), out_dir=tmp_path / "runs", chunk=1)
    assert studio.content_layer.value == "block5_conv4"  # VGG19's until a network runs

    async def scenario() -> None:
        studio.run_button.click()
        assert "VGG16" in studio.last_message and "--weights" not in studio.last_message  # said at Run
        assert studio.content_layer.disabled  # locked while running
        await studio._task

    asyncio.run(scenario())
    assert list(studio.content_layer.options) == VGG16_CONV_LAYERS
    assert studio.content_layer.value == "block5_conv3" and not studio.content_layer.disabled
    assert studio.job.transfer.config.content_layer == "block5_conv3"
    assert "VGG16" in studio.last_message
    studio.preset_button.click()  # the seed's block5_conv4 shows as its VGG16 stand-in
    assert studio.content_layer.value == "block5_conv3"


def test_layer_controls_are_off_for_the_multiscale_network(tmp_path):
    studio = Studio(StyleConfig(size=56, steps=2, save_every=0, features="multiscale"), out_dir=tmp_path, chunk=1)
    run_to_end(studio)
    assert studio.job.steps_done == 2
    assert studio.content_layer.disabled and all(s.disabled for s in studio.style_weights)
    assert not studio.alpha.disabled
    assert "multi-scale" in studio.last_message
