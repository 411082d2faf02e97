"""Issue 6, speed: precision choice, the fast style cost, L-BFGS, coarse-to-fine, memory guard, bench."""

from __future__ import annotations

import json
import re

import numpy as np
import pytest
import tensorflow as tf

from nst_lab.config import STYLE_LAYERS, ConfigError, StyleConfig
from nst_lab.costs import clip_0_1, compute_style_cost
from nst_lab.engine.memory import MemoryEstimateError, activation_elements, check_fits, step_bytes
from nst_lab.engine.precision import choose_auto, cpu_flags, resolve_precision, with_precision
from nst_lab.engine.runs import stylize
from nst_lab.engine.step import gram_of, style_cost_from_grams
from nst_lab.engine.transfer import Network, prepare_transfer
from nst_lab.train import cost_parts
from nst_lab.vgg import WeightsInfo

TINY = WeightsInfo("random", "tiny test VGG", "RANDOM test weights")
GIB = 2**30


def _images(seed=0, side=32):
    r = np.random.RandomState(seed)
    return (tf.constant(r.uniform(size=(1, side, side, 3)).astype(np.float32)),
            tf.constant(r.uniform(size=(1, side, side, 3)).astype(np.float32)))


def _transfer(vgg, side=32, **changes):
    content, style = _images(side=side)
    # float32 unless a test asks otherwise: the default precision is now "auto"
    config = StyleConfig(size=side, steps=4, save_every=0, weights="random", precision="float32").replace(**changes)
    return prepare_transfer(content, style, config, network=Network(vgg, TINY))


def _graded_step(transfer):
    """The reference step: the graded costs (``nst_lab.train.cost_parts``) and autodiff on the
    run's own G, optimizer and targets; returns (4,) [J, J_content, J_style, finite] like the engine's."""
    a_C = transfer.extractor(transfer.content_image)  # every layer, as the graded functions take them
    a_S = transfer.extractor(transfer.style_images[0])
    image, optimizer = transfer.generated_image, transfer.optimizer

    def step(alpha, beta):
        transfer.last_good.assign(image)
        with tf.GradientTape() as tape:
            parts = cost_parts(image, transfer.extractor, a_C, a_S, alpha, beta, transfer.config.style_layers)
        optimizer.apply_gradients([(tape.gradient(parts[0], image), image)])
        updated = clip_0_1(image)
        finite = tf.reduce_all(tf.math.is_finite(updated))
        image.assign(tf.where(finite, updated, transfer.last_good))
        return tf.stack([*parts, tf.cast(finite, tf.float32)])

    return tf.function(step)


# --- precision ---------------------------------------------------------------------------

@pytest.mark.parametrize("flags, gpus, expected", [
    ({"fpu", "avx2", "amx_bf16", "avx512_bf16"}, [], "bfloat16"),  # Sapphire Rapids and later
    ({"avx2", "avx512f", "avx512_bf16"}, [], "bfloat16"),  # Cooper Lake / Zen 4: no AMX
    ({"avx2", "amx_bf16"}, [], "bfloat16"),
    ({"avx2", "avx512f", "amx_tile"}, [], "float32"),  # AMX tiles without bf16 support
    (set(), [], "float32"),
    ({"amx_bf16"}, [(8, 0)], "float16"),  # a GPU decides, whatever the CPU has
    ({"amx_bf16"}, [(7, 0)], "float16"),  # V100: the first tensor cores
    ({"amx_bf16"}, [(6, 1)], "float32"),  # Pascal: no tensor cores
])
def test_auto_picks_by_hardware(flags, gpus, expected):
    assert choose_auto(flags, gpus)[0] == expected
    resolved = resolve_precision("auto", flags=flags, capabilities=gpus)
    assert resolved.name == expected and resolved.label == f"{expected} (auto)"
    assert resolved.loss_scaling == (expected == "float16")


@pytest.mark.parametrize("choice", ["float32", "bfloat16", "float16"])
def test_explicit_precision_is_honoured(choice):
    resolved = resolve_precision(choice, flags=set(), capabilities=[])
    assert resolved.name == choice and resolved.label == choice


def test_cpu_flags_reads_cpuinfo(tmp_path):
    path = tmp_path / "cpuinfo"
    path.write_text("processor\t: 0\nflags\t\t: fpu sse avx512_bf16 amx_bf16\n\nprocessor\t: 1\n")
    assert {"amx_bf16", "avx512_bf16", "fpu"} <= cpu_flags(path)
    assert cpu_flags(tmp_path / "missing") == set()


@pytest.mark.parametrize("bad", ["fp8", "bf16", "", "AUTO"])
def test_bad_precision_is_refused(bad):
    with pytest.raises(ConfigError, match="precision .* is not one of auto, float32, bfloat16, float16"):
        StyleConfig(precision=bad)
    with pytest.raises(ValueError, match="not one of"):
        resolve_precision(bad)


def test_mixed_model_computes_in_bfloat16_and_keeps_float32_weights(tiny_vgg):
    mixed = with_precision(tiny_vgg, resolve_precision("bfloat16"))
    assert with_precision(tiny_vgg, resolve_precision("float32")) is tiny_vgg
    conv = mixed.get_layer("block1_conv1")
    assert conv.compute_dtype == "bfloat16" and conv.kernel.dtype == "float32"
    x = tf.constant(np.random.RandomState(0).uniform(size=(1, 32, 32, 3)).astype(np.float32))
    ours, ref = mixed(x), tiny_vgg(x)
    assert ours.dtype == tf.bfloat16
    np.testing.assert_allclose(tf.cast(ours, tf.float32).numpy(), ref.numpy(), rtol=0.05, atol=0.02)


# --- the fast style cost equals the graded one ---------------------------------------------

SHAPES = [[(1, 8, 8, 4), (1, 4, 4, 8), (1, 2, 2, 8)], [(1, 6, 10, 3), (1, 3, 5, 16), (1, 3, 5, 5)]]


@pytest.mark.parametrize("shapes", SHAPES)
def test_fast_style_cost_and_gradient_equal_the_graded_function(shapes):
    r = np.random.RandomState(3)
    a_S = [tf.constant(r.randn(*s).astype(np.float32)) for s in shapes]
    a_G = [tf.Variable(r.randn(*s).astype(np.float32)) for s in shapes]
    layers = [(f"layer{i}", w) for i, w in enumerate([1.0, 0.8, 0.3][: len(shapes) - 1])]
    with tf.GradientTape(persistent=True) as tape:
        graded = compute_style_cost(a_S, a_G, layers)
        fast = style_cost_from_grams([gram_of(a) for a in a_S[:-1]], a_G, layers)
    np.testing.assert_allclose(fast.numpy(), graded.numpy(), rtol=1e-5)
    for var in a_G[:-1]:
        np.testing.assert_allclose(tape.gradient(fast, var).numpy(), tape.gradient(graded, var).numpy(),
                                   rtol=1e-4, atol=1e-6 * float(np.abs(tape.gradient(graded, var)).max()))
    assert tape.gradient(fast, a_G[-1]) is None  # the content layer is not a style layer


def test_fast_gradient_in_bfloat16_points_the_same_way():
    r = np.random.RandomState(4)
    a_S, a_G = r.rand(1, 16, 16, 8).astype(np.float32), r.rand(1, 16, 16, 8).astype(np.float32)
    content = tf.zeros((1, 2, 2, 2))
    grads = []
    for dtype in (tf.float32, tf.bfloat16):
        var = tf.Variable(tf.cast(a_G, dtype))
        with tf.GradientTape() as tape:
            cost = style_cost_from_grams([gram_of(a_S)], [var, content], [("l", 1.0)])
        grad = tape.gradient(cost, var)
        assert grad.dtype == dtype  # the big activation gradient is never cast
        grads.append(tf.cast(grad, tf.float32).numpy().ravel())
    cosine = grads[0] @ grads[1] / (np.linalg.norm(grads[0]) * np.linalg.norm(grads[1]))
    assert cosine > 0.999


def test_fast_step_follows_the_graded_step(tiny_vgg):
    fast, graded = _transfer(tiny_vgg), _transfer(tiny_vgg)
    graded._step = _graded_step(graded)  # the reference: graded costs, autodiff
    for _ in range(3):
        np.testing.assert_allclose(fast.step(), graded.step(), rtol=1e-4)
    np.testing.assert_allclose(fast.image(), graded.image(), atol=1e-5)


def test_bfloat16_step_measures_the_same_loss_and_descends(tiny_vgg):
    f32 = _transfer(tiny_vgg, precision="float32", init="noise", alpha=1.0, beta=1.0)
    bf16 = _transfer(tiny_vgg, precision="bfloat16", init="noise", alpha=1.0, beta=1.0)
    assert bf16.precision.name == "bfloat16" and bf16.generated_image.dtype == tf.float32
    np.testing.assert_allclose(bf16.step(), f32.step(), rtol=0.02)  # same G: same costs
    for _ in range(7):
        bf16.step()
    assert bf16.history["total"][-1] < 0.5 * bf16.history["total"][0]


def test_changing_weights_does_not_retrace_in_bfloat16(tiny_vgg):
    t = _transfer(tiny_vgg, precision="bfloat16")
    t.step()
    for alpha, beta in [(1.0, 1.0), (5e3, 0.5)]:
        t.config = t.config.replace(alpha=alpha, beta=beta)
        t.step()
    assert t._step.experimental_get_tracing_count() == 1


# --- time to quality -----------------------------------------------------------------------

@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_lbfgs_reduces_the_loss_and_keeps_pixels_in_range(tiny_vgg, precision):
    t = _transfer(tiny_vgg, precision=precision, optimizer="lbfgs", init="noise", alpha=1.0, beta=1.0)
    from nst_lab.engine.lbfgs import run_lbfgs

    seen = []
    run_lbfgs(t, 8, on_iteration=seen.append)
    assert seen == list(range(t.steps_done)) and 4 <= t.steps_done <= 8
    assert t.history["total"][-1] < 0.5 * t.history["total"][0]
    image = t.image()
    assert image.min() >= 0.0 and image.max() <= 1.0


def test_lbfgs_stops_at_the_target_loss(tiny_vgg):
    from nst_lab.engine.lbfgs import run_lbfgs

    t = _transfer(tiny_vgg, optimizer="lbfgs", init="noise", alpha=1.0, beta=1.0)
    probe = _transfer(tiny_vgg, optimizer="lbfgs", init="noise", alpha=1.0, beta=1.0)
    run_lbfgs(probe, 6)
    target = probe.history["total"][2]
    assert run_lbfgs(t, 50, stop_below=target) == "reached the target loss"
    assert t.history["total"][-1] <= target and t.steps_done <= 4


def test_coarse_to_fine_starts_lower_than_plain_noise(tiny_vgg):
    from nst_lab.engine.scales import scale_sizes
    from nst_lab.engine.transfer import initial_image

    assert scale_sizes(400, 300, 3) == [(100, 75), (200, 150), (400, 300)]
    assert scale_sizes(64, 64, 4) == [(32, 32), (64, 64)]  # never below VGG19's 32 px
    from nst_lab.engine.bench import bench_images

    content, style = bench_images(64)  # the bundled cat and swirls: real structure to find
    config = StyleConfig(size=64, steps=6, weights="random", scales=2, init="noise", precision="float32")
    network = Network(tiny_vgg, TINY)
    warm = prepare_transfer(content, style, config, network=network)  # starts from the coarse level
    start = warm.start_image
    assert start.shape == (1, 64, 64, 3)
    assert not np.allclose(start, initial_image(content, "noise", config.noise_max, config.seed))
    plain = prepare_transfer(content, style, config.replace(scales=1), network=network)
    assert warm.step()[0] < plain.step()[0]


def test_stylize_with_lbfgs_and_scales_records_precision(tiny_vgg, tmp_path):
    content, style = _images(side=64)
    config = StyleConfig(size=64, steps=3, save_every=0, weights="random", precision="auto",
                         optimizer="lbfgs", scales=2)
    t = prepare_transfer(content, style, config, network=Network(tiny_vgg, TINY))
    result = stylize(None, None, out_dir=tmp_path, progress=False, transfer=t)
    assert result.status == "finished" and result.steps_done == 3
    record = json.loads((result.run_dir / "run.json").read_text())
    assert record["precision"] == t.precision.label
    assert record["precision"] in ("bfloat16 (auto)", "float16 (auto)", "float32 (auto)")
    assert record["conv_path"] == t.conv_path.label and record["conv_path"].split()[0] in ("keras", "flipped")
    assert record["config"]["optimizer"] == "lbfgs"


# --- memory --------------------------------------------------------------------------------

def test_activation_count_matches_vgg19(vgg_random):
    from nst_lab.vgg import get_layer_outputs

    model, _ = vgg_random
    names = [layer.name for layer in model.layers if "conv" in layer.name or "pool" in layer.name]
    names = names[: names.index("block5_conv4") + 1]
    outputs = get_layer_outputs(model, [(n, 1) for n in names])(tf.zeros((1, 64, 96, 3)))
    assert activation_elements(64, 96) == sum(int(np.prod(o.shape)) for o in outputs)


def test_memory_guard_refuses_an_impossible_size_and_passes_1024():
    assert check_fits(1024, 1024, "bfloat16", available=24 * GIB) < 8 * GIB
    with pytest.raises(MemoryEstimateError) as caught:
        check_fits(4096, 4096, "float32", available=24 * GIB)
    message = str(caught.value)
    assert "4096x4096" in message and "24 GiB" in message and "set size to" in message  # a field, not a flag
    assert caught.value.fields == ("size",)
    side = int(message.split("set size to ")[1].split()[0])
    assert step_bytes(side, side) <= 24 * GIB < step_bytes(side + 64, side + 64)


def test_peak_rss_reads_this_process_high_water_mark(tmp_path):
    from nst_lab.engine.memory import peak_rss_bytes

    status = tmp_path / "status"
    status.write_text("Name:\tpython\nVmPeak:\t 9000000 kB\nVmHWM:\t  2048 kB\nVmRSS:\t 1024 kB\n")
    assert peak_rss_bytes(status) == 2048 * 1024  # VmHWM, not VmPeak (virtual size)
    assert 100 * 2**20 < peak_rss_bytes() < 64 * GIB  # this pytest process, with TensorFlow loaded


def test_cli_refuses_a_size_that_cannot_fit(monkeypatch, capsys, tmp_path):
    from nst_lab.cli import main
    from nst_lab.engine import memory

    monkeypatch.setattr(memory, "total_memory_bytes", lambda *_: 2 * GIB)
    code = main(["stylize", "--size", "1024", "--square", "--steps", "1", "--weights", "random", "-o", str(tmp_path)])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and err[-1].startswith("error: a 1024x1024 image needs about")
    assert "--size" in err[-1] and not list(tmp_path.iterdir())  # refused before any run folder


def test_cli_rejects_bad_speed_options(capsys):
    from nst_lab.cli import main

    for argv, text in [(["--precision", "fp8"], "invalid choice: 'fp8'"),
                       (["--optimizer", "sgd"], "invalid choice: 'sgd'"),
                       (["--scales", "9"], "scales must be at least 1 and at most 4, got 9")]:
        assert main(["stylize", *argv]) == 2
        assert text in capsys.readouterr().err


# --- learning-rate schedule ----------------------------------------------------------------

def _cosine(k, n, first, last):
    """The schedule re-derived: first at k = 0, last at k = n - 1, half-cosine in between."""
    return last + (first - last) * 0.5 * (1 + np.cos(np.pi * min(k, n - 1) / (n - 1)))


def test_cosine_schedule_decays_adam_rate_step_by_step(tiny_vgg):
    t = _transfer(tiny_vgg, steps=6, learning_rate=0.08, lr_schedule="cosine", final_learning_rate=0.002)
    seen = []
    for _ in range(8):  # two past the end: the rate stays at the final one
        seen.append(float(t.optimizer.learning_rate))  # the rate the next step uses
        t.step()
    np.testing.assert_allclose(seen, [_cosine(k, 6, 0.08, 0.002) for k in range(8)], rtol=1e-5)
    assert seen[0] == pytest.approx(0.08) and seen[5] == pytest.approx(0.002)
    assert t._step.experimental_get_tracing_count() == 1  # the rate changes inside the graph


def test_cosine_schedule_moves_pixels_by_the_first_rate(tiny_vgg):
    """Adam's first step is lr * g / (|g| + eps): no pixel moves more than the rate, and
    pixels away from 0 and 1 with a clear gradient move by the rate itself."""
    for schedule, rate in [("constant", 0.03), ("cosine", 0.08)]:
        # Large alpha and beta make |g| >> Keras's eps, which Adam's first step would feel.
        t = _transfer(tiny_vgg, init="content", learning_rate=rate, lr_schedule=schedule, steps=50,
                      alpha=1e6, beta=1e6)
        before = t.generated_image.numpy()
        t.step()
        moved = np.abs(t.generated_image.numpy() - before)
        inside = (before > 0.1) & (before < 0.9)
        np.testing.assert_allclose(moved[inside].max(), rate, rtol=1e-3)
        assert moved.max() <= rate * (1 + 1e-5)


def test_constant_schedule_keeps_the_seed_rate(tiny_vgg):
    t = _transfer(tiny_vgg, steps=3)
    for _ in range(3):
        t.step()
    assert float(t.optimizer.learning_rate) == pytest.approx(0.03)


@pytest.mark.parametrize("changes, text", [
    (dict(lr_schedule="linear"), "lr_schedule 'linear' is not one of constant, cosine"),
    (dict(lr_schedule="cosine", final_learning_rate=0.5), "final_learning_rate (0.5) is above learning_rate"),
    (dict(lr_schedule="cosine", optimizer="lbfgs"), "lr_schedule cosine is for Adam"),
    (dict(final_learning_rate=0.0), "final_learning_rate must be greater than 0"),
])
def test_bad_schedules_are_refused(changes, text):
    with pytest.raises(ConfigError, match=re.escape(text)):
        StyleConfig(**changes)


def test_fast_preset_from_the_cli(capsys):
    from nst_lab.cli import build_parser, main
    from nst_lab.cli.stylize import config_from
    from nst_lab.config import FAST, SEED

    config = config_from(build_parser().parse_args(["stylize", "--preset", "fast"]))
    # L-BFGS coarse to fine at the seed's size, costs and weights (README, "Time to the seed's loss")
    assert (config.optimizer, config.scales, config.steps) == ("lbfgs", 3, 80) and config == FAST
    assert config.replace(optimizer="adam", scales=1, steps=1001, save_every=SEED.save_every) == SEED
    seed = config_from(build_parser().parse_args(["stylize", "--lr-schedule", "cosine", "--final-lr", "0.001"]))
    assert (seed.lr_schedule, seed.learning_rate, seed.final_learning_rate) == ("cosine", 0.03, 0.001)
    assert main(["stylize", "--lr-schedule", "cosine", "--lr", "0.08", "--final-lr", "0.5"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    # the library names the fields; the CLI prints them as its flags
    assert len(err) == 1 and err[0].startswith("error: --final-lr (0.5) is above --lr")
    assert "final_learning_rate" not in err[0]
    assert main(["stylize", "--final-lr", "0.001"]) == 2  # the seed's constant rate has no final rate
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--final-lr only applies to the cosine schedule" in err[0]
    assert main(["stylize", "--preset", "fast", "--final-lr", "0.001"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == ["error: --final-lr only applies to the cosine schedule: add --lr-schedule cosine"]


def test_fast_preset_runs_coarse_to_fine_with_progress_and_says_so(tmp_path, capsys):
    """The coarse levels run inside prepare_transfer: each gets a bar, and the finished line counts their time."""
    import json

    from nst_lab.cli import main

    assert main(["stylize", "--preset", "fast", "--size", "64", "--square", "--steps", "2", "--weights", "random",
                 "--features", "vgg19", "-o", str(tmp_path)]) == 0
    out, err = capsys.readouterr()
    assert "coarse level 32x32" in err and "coarse level 16x16" not in err  # 16 px is below VGG's minimum
    assert "2 steps in" in out and "at full size, after" in out and "s of set-up and coarse levels" in out
    run = json.loads(next(tmp_path.glob("run-*/run.json")).read_text())
    assert (run["config"]["optimizer"], run["config"]["scales"], run["steps_done"]) == ("lbfgs", 3, 2)


def test_coarse_levels_run_their_own_schedule(tiny_vgg, monkeypatch):
    """Each coarse level has a fresh optimizer, so its schedule runs down to the final rate."""
    from nst_lab.engine import scales
    from nst_lab.engine.bench import bench_images

    rates = []
    real = scales.run_steps

    def spy(transfer, steps, *args, **kwargs):
        real(transfer, steps, *args, **kwargs)
        rates.append((transfer.config.steps, float(transfer.optimizer.learning_rate)))

    monkeypatch.setattr(scales, "run_steps", spy)
    content, style = bench_images(64)
    config = StyleConfig(size=64, steps=4, weights="random", scales=2, lr_schedule="cosine",
                         learning_rate=0.05, final_learning_rate=0.001)
    prepare_transfer(content, style, config, network=Network(tiny_vgg, TINY))  # runs the coarse level
    assert rates == [(4, pytest.approx(0.001))]  # the level ended at the final rate


# --- the benchmark -------------------------------------------------------------------------

@pytest.mark.slow
def test_bench_smoke(capsys):
    from nst_lab.cli import main

    assert main(["bench", "--size", "32", "--steps", "5", "--warmup", "1", "--no-memory"]) == 0
    out = capsys.readouterr().out
    rows = [line for line in out.splitlines() if line.startswith("| ") and "---" not in line][1:]
    assert [row.split("|")[1].strip() for row in rows] == [
        "seed train_step as written (float32)", "nst_lab float32", "nst_lab auto"]
    for row in rows:
        cells = [c.strip() for c in row.split("|")[1:-1]]
        assert float(cells[2]) > 0 and float(cells[3]) > 0 and np.isfinite(float(cells[7].split()[0]))
        assert float(cells[5].rstrip("x")) > 0  # vs the machine's limit
    assert "machine limit: " in out and "GFLOP/s of forward convolution" in out
    assert "- nst_lab float32: precision float32; convolutions " in out  # what ran, and why
    parity = float(out.split("steps: ")[1].split("%")[0])
    assert 0 <= parity < 10  # a broken auto path (wrong gradient scale, NaN) lands far outside


@pytest.mark.slow
def test_time_to_quality_smoke(capsys):
    """A 3-step reference at 32 px: the fast preset's L-BFGS and plain L-BFGS both reach it in a few iterations."""
    from nst_lab.cli import main
    from nst_lab.engine.bench import QUALITY_METHODS

    assert main(["bench", "--size", "32", "--steps", "5", "--warmup", "1", "--no-memory", "--quality",
                 "--quality-size", "32", "--reference-steps", "3", "--quality-methods", "fast,float32-lbfgs"]) == 0
    out = capsys.readouterr().out.split("| method (32x32)")[1]
    rows = [[c.strip() for c in line.split("|")[1:-1]] for line in out.splitlines()[2:] if line.startswith("| ")]
    assert [row[0] for row in rows] == ["seed loop, Adam float32 (reference)", QUALITY_METHODS["fast"][0],
                                       QUALITY_METHODS["float32-lbfgs"][0]]
    target = float(rows[0][4])
    for row in rows[1:]:
        assert "not reached" not in row[4] and float(row[4]) <= target
        assert 1 <= int(row[1]) <= 10


def test_quality_methods_are_checked(capsys):
    from nst_lab.cli import main

    assert main(["bench", "--quality", "--quality-methods", "fast,warp"]) == 2
    captured = capsys.readouterr()
    err = captured.err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --quality-methods: unknown warp;")
    assert "give a comma-separated list of auto-adam, float32-cosine, cosine, float32-lbfgs, fast" in err[0]
    assert captured.out == ""  # refused before any timing
    assert main(["bench", "--quality", "--quality-methods", ","]) == 2
    assert "names no method" in capsys.readouterr().err


def test_seed_step_as_written_scores_the_sliced_layers(vgg_random):
    """The baseline keeps the seed's [1:] slice: block2_conv1 .. block5_conv4 get the weights."""
    from nst_lab.config import CONTENT_LAYER
    from nst_lab.costs import compute_content_cost, compute_layer_style_cost
    from nst_lab.engine.bench import seed_step
    from nst_lab.vgg import get_layer_outputs

    model, _ = vgg_random
    content, style = _images(side=32)
    outputs = get_layer_outputs(model, STYLE_LAYERS + CONTENT_LAYER)
    a_S, a_G = outputs(style), outputs(content)  # G starts as the content image
    sliced = sum(w * compute_layer_style_cost(s, g) for (_, w), s, g in zip(STYLE_LAYERS, a_S[1:], a_G[1:]))
    expected = 100 * compute_content_cost(outputs(content), a_G) + 10 * sliced
    step, image = seed_step(model, content, style)
    np.testing.assert_allclose(float(step()), float(expected), rtol=1e-4)
    assert not np.allclose(float(expected), 10 * float(compute_style_cost(a_S, a_G)), rtol=1e-3)
    assert float(tf.reduce_max(tf.abs(image - content))) > 0  # it updated G
