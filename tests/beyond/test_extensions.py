"""Issue 7: colour preservation, style blending, total variation, style scale and guided Grams.

Everything runs at 32-64 px on the tiny VGG19 look-alike (random weights), so each test takes
well under a few seconds. Expected values come from definitions written out here (the NTSC
matrix, sample means and covariances, hand-computed sums), never from the code under test.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import tensorflow as tf

import nst_lab.engine.transfer
from nst_lab import cli
from nst_lab.beyond.color import (
    luminance_image,
    match_color_histogram,
    match_luminance,
    restore_chroma,
    rgb_to_yiq,
    yiq_to_rgb,
)
from nst_lab.beyond.extensions import blend_weights, style_shape, uses_extensions
from nst_lab.beyond.guided import (
    MaskError,
    layer_masks,
    layer_style_cost_normalized,
    load_mask,
    mask_labels,
    normalized_gram,
)
from nst_lab.config import SEED, ConfigError, StyleConfig
from nst_lab.costs import compute_layer_style_cost, compute_total_variation_cost
from nst_lab.engine.runs import stylize
from nst_lab.engine.step import weighted_cost
from nst_lab.engine.transfer import Network, prepare_transfer
from nst_lab.errors import ImageLoadError
from nst_lab.vgg import WeightsInfo, build_tiny_vgg

UNKNOWN = WeightsInfo("unknown", "passed in by the test")


def build(content, styles, cfg, vgg, mask=None):
    """A run on ``vgg`` (the extended cost when an option, several styles or a mask asks for it)."""
    return prepare_transfer(content, styles, cfg, network=Network(vgg, UNKNOWN), mask=mask)

# The NTSC definition, written out independently of nst_lab.color.
NTSC = np.array([[0.299, 0.587, 0.114], [0.596, -0.274, -0.322], [0.211, -0.523, 0.312]])


def chroma(rgb: np.ndarray) -> np.ndarray:
    """I and Q of each pixel, (..., 2)."""
    return (np.asarray(rgb, np.float64) @ NTSC.T)[..., 1:]


@pytest.fixture(scope="module")
def vgg():
    return build_tiny_vgg(seed=0)


@pytest.fixture
def rng():
    return np.random.default_rng(7)


def config(**changes) -> StyleConfig:
    # float32: the default precision is now "auto" (bfloat16 on CPUs with AMX/AVX512-BF16)
    return StyleConfig(size=48, weights="random", save_every=0, precision="float32").replace(**changes)


def image(rng, size=48, low=0.0, high=1.0) -> np.ndarray:
    return rng.uniform(low, high, (1, size, size, 3)).astype(np.float32)


def flat(rgb, size=48) -> np.ndarray:
    return np.broadcast_to(np.array(rgb, np.float32), (1, size, size, 3)).copy()


# ---------------------------------------------------------------- settings


def test_defaults_keep_the_seed_preset():
    assert (SEED.preserve_color, SEED.style_blend, SEED.tv_weight, SEED.style_scale, SEED.mask) == (
        "none", None, 0.0, 1.0, None)
    assert not uses_extensions(SEED, "style.jpg")


@pytest.mark.parametrize("change", [dict(preserve_color="luminance"), dict(style_blend=(1.0,)),
                                    dict(tv_weight=0.1), dict(style_scale=0.5), dict(mask="m.png")])
def test_each_option_switches_to_the_extended_cost(change):
    assert uses_extensions(SEED.replace(**change), "style.jpg")


@pytest.mark.parametrize("change, message", [
    (dict(preserve_color="colour"), "preserve_color 'colour' is not one of none, luminance, histogram"),
    (dict(tv_weight=-1.0), "tv_weight must be 0 or more, got -1.0"),
    (dict(tv_weight=float("nan")), "tv_weight must be a finite number"),
    (dict(style_scale=0.0), "style_scale must be greater than 0"),
    (dict(style_scale=20.0), "style_scale must be between 0.1 and 8.0, got 20.0"),
    (dict(style_blend=()), "style_blend is empty"),
    (dict(style_blend=(0.5, -0.5)), "each style_blend weight must be 0 or more"),
    (dict(style_blend=(0.0, 0.0)), "must not all be 0"),
    (dict(style_blend="0.7,0.3"), "style_blend must be a tuple of weights"),
    (dict(mask=""), "mask must be the path of a label image"),
])
def test_bad_settings_name_the_setting_and_value(change, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        SEED.replace(**change)


# ---------------------------------------------------------------- colour


def test_yiq_round_trip_and_grey_has_no_chroma(rng):
    pixels = rng.uniform(size=(10, 3))
    np.testing.assert_allclose(yiq_to_rgb(rgb_to_yiq(pixels)), pixels, atol=1e-12)
    np.testing.assert_allclose(rgb_to_yiq(pixels), pixels @ NTSC.T, atol=1e-12)
    grey = np.full((4, 3), 0.3)
    np.testing.assert_allclose(rgb_to_yiq(grey), [[0.3, 0, 0]] * 4, atol=1e-12)


def naive_restore(generated, content):
    """A plausible wrong version: swap Y, convert back, clip R, G, B one by one."""
    yiq = chroma(content)
    y = (np.asarray(generated, np.float64) @ NTSC.T)[..., :1]
    return np.clip(np.concatenate([y, yiq], axis=-1) @ np.linalg.inv(NTSC).T, 0, 1)


@pytest.mark.parametrize("restore, keeps", [(restore_chroma, True), (naive_restore, False)])
def test_restore_chroma_keeps_the_content_chroma_even_out_of_gamut(rng, restore, keeps):
    content = image(rng, 32)
    content[0, :8] = [0.95, 0.05, 0.05]  # saturated red: a bright luminance pushes it out of gamut
    generated = luminance_image(image(rng, 32))  # any luminance, 0 .. 1
    result = restore(generated, content)
    assert result.min() >= 0.0 and result.max() <= 1.0
    error = np.abs(chroma(result) - chroma(content)).max()
    assert (error < 1e-5) == keeps, error


def test_restore_chroma_takes_the_generated_luminance_where_it_fits(rng):
    content = image(rng, 32, 0.4, 0.6)  # muted colours: any luminance near theirs fits
    generated = luminance_image(image(rng, 32, 0.4, 0.6))
    result = restore_chroma(generated, content)
    np.testing.assert_allclose(result @ NTSC[0], generated[..., 0], atol=1e-5)


def test_luminance_mode_runs_on_grey_and_returns_the_content_chroma(rng, vgg):
    content, style = image(rng), image(rng)
    transfer = build(content, style, config(preserve_color="luminance", init="noisy"), vgg)
    for _ in range(3):
        transfer.step()
    result = transfer.image()
    assert np.abs(chroma(result) - chroma(content)).max() < 1e-5
    assert np.abs(result - content).max() > 1e-3  # the luminance did change


def test_luminance_mode_cost_sees_only_the_luminance_of_g(rng, vgg):
    content = image(rng)
    transfer = build(content, image(rng), config(preserve_color="luminance"), vgg)
    style_seen = transfer.objective.style_images[0]
    np.testing.assert_allclose(style_seen[..., 0], style_seen[..., 1], atol=1e-6)  # grey style
    assert abs(style_seen[..., 0].mean() - (content @ NTSC[0]).mean()) < 0.02  # content's brightness
    g = image(rng, low=0.2, high=0.8)
    yiq = g.astype(np.float64) @ NTSC.T
    yiq[..., 1:] += rng.uniform(-0.05, 0.05, yiq[..., 1:].shape)  # new chroma, same luminance
    shifted = (yiq @ np.linalg.inv(NTSC).T).astype(np.float32)
    costs = [weighted_cost(transfer.objective.parts(tf.constant(x)), 100.0, 10.0) for x in (g, shifted)]
    assert float(costs[0]) == pytest.approx(float(costs[1]), rel=1e-5)


def test_match_luminance_gives_the_content_mean_and_spread(rng):
    content, style = image(rng, 32, 0.3, 0.7), image(rng, 32, 0.45, 0.55)
    grey = match_luminance(style, content)
    y_content, y_grey = content @ NTSC[0], grey[..., 0]
    assert abs(y_grey.mean() - y_content.mean()) < 1e-5
    assert abs(y_grey.std() - y_content.std()) < 1e-5


def channel_std_match(style, content):
    """A plausible wrong version: match each channel's mean and std, ignoring correlations."""
    s, c = style.reshape(-1, 3), content.reshape(-1, 3)
    return ((s - s.mean(0)) / s.std(0) * c.std(0) + c.mean(0)).reshape(style.shape)


@pytest.mark.parametrize("match, right", [
    (lambda s, c: match_color_histogram(s, c, clip=False), True), (channel_std_match, False)])
def test_histogram_matching_gives_the_content_mean_and_covariance(rng, match, right):
    base = rng.uniform(0.2, 0.8, (1, 40, 40, 1))
    content = np.concatenate([base, 0.6 * base + 0.1, 1.0 - base * 0.5], axis=-1)  # correlated
    content += rng.normal(0, 0.03, content.shape)
    style = image(rng, 24)  # another size, independent channels
    matched = match(style, content).reshape(-1, 3).astype(np.float64)
    pixels = content.reshape(-1, 3)
    mean_ok = np.allclose(matched.mean(0), pixels.mean(0), atol=1e-5)
    cov_ok = np.allclose(np.cov(matched, rowvar=False, bias=True), np.cov(pixels, rowvar=False, bias=True),
                         atol=1e-5)
    assert mean_ok and cov_ok == right


def test_histogram_mode_recolours_the_style_and_stays_in_range(rng, vgg):
    content = flat([0.8, 0.3, 0.2]) + image(rng) * 0.1
    transfer = build(content, image(rng), config(preserve_color="histogram"), vgg)
    style = transfer.objective.style_images[0]
    assert style.min() >= 0 and style.max() <= 1
    np.testing.assert_allclose(style.reshape(-1, 3).mean(0), content.reshape(-1, 3).mean(0), atol=0.02)


# ---------------------------------------------------------------- blending


def test_blend_weights_one_zero_equal_a_single_style_run(rng, vgg):
    content, style_a, style_b = image(rng), image(rng), image(rng)
    cfg = config(init="noisy")
    single = build(content, style_a, cfg, vgg)
    blended = build(content, [style_a, style_b], cfg.replace(style_blend=(1.0, 0.0)), vgg)
    for _ in range(4):
        np.testing.assert_allclose(blended.step(), single.step(), rtol=1e-4)
    np.testing.assert_allclose(blended.image(), single.image(), atol=1e-4)


def test_blend_is_the_weighted_sum_of_single_style_costs(rng, vgg):
    content, style_a, style_b = image(rng), image(rng), image(rng)
    cfg = config()
    single = [build(content, s, cfg, vgg).step()[2] for s in (style_a, style_b)]
    blended = build(content, [style_a, style_b], cfg.replace(style_blend=(7.0, 3.0)), vgg)
    assert blended.step()[2] == pytest.approx(0.7 * single[0] + 0.3 * single[1], rel=1e-4)


def test_blend_weights_are_normalised_and_counted():
    assert blend_weights((2.0, 6.0), 2) == [0.25, 0.75]
    assert blend_weights(None, 4) == [0.25] * 4
    with pytest.raises(ConfigError, match=r"style_blend has 3 weight\(s\) but 2 style image\(s\)"):
        blend_weights((1.0, 1.0, 1.0), 2)


# ---------------------------------------------------------------- total variation


def test_total_variation_by_hand():
    values = np.array([[0.0, 1.0], [0.5, 0.25]], np.float32)  # one channel, copied to three
    img = tf.constant(np.repeat(values[None, ..., None], 3, axis=-1))
    # down: (0.5-0)^2 + (0.25-1)^2 = 0.8125; right: (1-0)^2 + (0.25-0.5)^2 = 1.0625; x3 channels, a plain sum
    assert float(compute_total_variation_cost(img)) == pytest.approx(3 * (0.8125 + 1.0625))
    assert float(compute_total_variation_cost(tf.constant(flat([0.3, 0.6, 0.9])))) == 0.0


def test_the_tv_term_of_the_engine_is_the_graded_cost_times_its_weight(rng, vgg):
    content = image(rng)
    transfer = build(content, image(rng), config(tv_weight=0.25), vgg)
    _, _, extra = transfer.objective.parts(tf.constant(content))
    assert float(extra) == pytest.approx(0.25 * float(compute_total_variation_cost(tf.constant(content))), rel=1e-5)


def test_the_documented_weight_at_400_px_equals_the_old_mean_based_weight(rng):
    """README and --tv-weight: the old cost was the sum / (H W), so weight 10 then is 10 / 400**2 now."""
    img = tf.constant(image(rng, 400))
    old_mean_based = float(compute_total_variation_cost(img)) / (400 * 400)
    assert 6.25e-5 * float(compute_total_variation_cost(img)) == pytest.approx(10 * old_mean_based, rel=1e-6)


def test_tv_weight_lowers_the_total_variation_of_the_result(rng, vgg):
    content, style = image(rng), image(rng)
    results = {}
    for weight in (0.0, 1.0 / 48**2):  # 1 on the old scale (the sum / (H W)) at 48 px
        transfer = build(content, style, config(init="noisy", tv_weight=weight), vgg)
        for _ in range(8):
            transfer.step()
        results[weight] = float(compute_total_variation_cost(tf.constant(transfer.image())))
    assert results[1.0 / 48**2] < 0.8 * results[0.0], results


# ---------------------------------------------------------------- style scale


def test_normalised_cost_equals_the_seed_cost_at_equal_sizes(rng):
    a_S, a_G = (tf.constant(rng.normal(size=(1, 6, 5, 4)), tf.float32) for _ in range(2))
    ours = layer_style_cost_normalized(normalized_gram(a_S), normalized_gram(a_G))
    assert float(ours) == pytest.approx(float(compute_layer_style_cost(a_S, a_G)), rel=1e-5)


def test_normalised_gram_does_not_depend_on_image_size(rng):
    a = rng.normal(size=(1, 4, 4, 3)).astype(np.float32)
    tiled = np.tile(a, (1, 2, 3, 1))  # the same texture over 6x the area
    gram, gram_tiled = normalized_gram(tf.constant(a)), normalized_gram(tf.constant(tiled))
    np.testing.assert_allclose(gram_tiled, gram, rtol=1e-5)
    features = a.reshape(-1, 3)
    np.testing.assert_allclose(gram, features.T @ features / 16, rtol=1e-5)


def test_style_scale_resizes_the_style_image(rng, vgg):
    transfer = build(image(rng, 64), image(rng, 80), config(size=64, style_scale=0.5), vgg)
    assert transfer.objective.style_images[0].shape == (1, 32, 32, 3)
    assert np.isfinite(transfer.step()).all()
    assert style_shape((60, 90), 1.5) == (90, 135)
    with pytest.raises(ConfigError, match="style_scale 0.25 makes the style image 16x16 px, below the 32"):
        style_shape((64, 64), 0.25)


# ---------------------------------------------------------------- guided Grams and masks


def test_guided_gram_averages_over_its_region_only(rng):
    a = rng.normal(size=(1, 5, 6, 3)).astype(np.float32)
    region = np.zeros((5, 6), np.float32)
    region[1:4, 2:5] = 1.0
    inside = a[0][region > 0]  # (9, 3)
    expected = sum(np.outer(f, f) for f in inside) / len(inside)
    np.testing.assert_allclose(normalized_gram(tf.constant(a), tf.constant(region)), expected, rtol=1e-5)
    changed = a.copy()
    changed[0][region == 0] = rng.normal(size=(int((region == 0).sum()), 3)) * 10
    guided = normalized_gram(tf.constant(changed), tf.constant(region))
    np.testing.assert_allclose(guided, expected, rtol=1e-5)


def test_guided_cost_has_no_gradient_outside_its_region(rng):
    a_G = tf.Variable(rng.normal(size=(1, 6, 6, 4)).astype(np.float32))
    gram_S = normalized_gram(tf.constant(rng.normal(size=(1, 8, 8, 4)).astype(np.float32)))
    region = np.zeros((6, 6), np.float32)
    region[:, :3] = 1.0
    with tf.GradientTape() as tape:
        cost = layer_style_cost_normalized(gram_S, normalized_gram(a_G, tf.constant(region)))
    grad = tape.gradient(cost, a_G).numpy()[0]
    assert np.abs(grad[region == 0]).max() == 0.0
    assert np.abs(grad[region == 1]).max() > 0.0


def test_masks_paint_each_region_toward_its_own_style(vgg):
    red, blue = flat([0.9, 0.1, 0.1]), flat([0.1, 0.1, 0.9])
    labels = np.zeros((48, 48), int)
    labels[:, 24:] = 1  # left half: style 0 (red), right half: style 1 (blue)
    cfg = config(alpha=0.0, beta=1.0, learning_rate=0.05)
    transfer = build(flat([0.5, 0.5, 0.5]), [red, blue], cfg, vgg, mask=labels)
    for _ in range(20):
        transfer.step()
    left, right = transfer.image()[0, :, :20].mean((0, 1)), transfer.image()[0, :, 28:].mean((0, 1))
    assert left[0] - left[2] > 0.2, left  # redder than blue
    assert right[2] - right[0] > 0.2, right  # bluer than red


def test_a_mask_giving_every_pixel_to_one_style_equals_a_one_style_run(rng, vgg):
    content, style_a, style_b = image(rng), image(rng), image(rng)
    cfg = config(init="noisy")
    single = build(content, style_a, cfg, vgg)
    masked = build(content, [style_a, style_b], cfg, vgg, mask=np.zeros((48, 48), int))
    for _ in range(3):
        np.testing.assert_allclose(masked.step(), single.step(), rtol=1e-4)


def test_mask_labels_order_regions_from_dark_to_light(rng):
    grey = np.zeros((30, 30, 3))
    grey[:10] = 0.8  # lightest: third style
    grey[10:20] = 0.0  # darkest: first style
    grey[20:] = 0.4
    expected = np.repeat([2, 0, 1], 10)[:, None] * np.ones((1, 30), int)
    np.testing.assert_array_equal(mask_labels(grey, 3), expected)
    noisy = np.clip(grey + rng.normal(0, 0.02, grey.shape), 0, 1)  # JPEG-like noise everywhere
    np.testing.assert_array_equal(mask_labels(noisy, 3), expected)
    colours = np.zeros((4, 4, 3))
    colours[:, :2] = [1.0, 1.0, 0.0]  # yellow is lighter than blue: second style
    colours[:, 2:] = [0.0, 0.0, 1.0]
    np.testing.assert_array_equal(mask_labels(colours, 2)[0], [1, 1, 0, 0])


def test_mask_with_too_few_colours_says_so():
    with pytest.raises(MaskError, match=r"the mask has 1 colour\(s\) but 2 style images were given"):
        mask_labels(np.zeros((8, 8, 3)), 2)


def test_mask_of_another_size_is_resized_and_downsampled_per_layer(tmp_path, vgg):
    from PIL import Image

    picture = np.zeros((20, 30, 3), np.uint8)
    picture[:, 15:] = 255
    Image.fromarray(picture).save(tmp_path / "mask.png")
    maps = load_mask(tmp_path / "mask.png", 2, (48, 64))
    assert maps.shape == (48, 64, 2)
    np.testing.assert_allclose(maps.sum(-1), 1.0, atol=1e-6)
    assert maps[:, :30, 0].min() > 0.99 and maps[:, 34:, 1].min() > 0.99
    grids = [tf.zeros((1, 48 // 2**k, 64 // 2**k, 4)) for k in range(4)]
    for grid, small in zip(grids, layer_masks(maps, grids), strict=True):
        assert tuple(small.shape) == (2, *grid.shape[1:3])
        np.testing.assert_allclose(tf.reduce_mean(small, axis=[1, 2]), [0.5, 0.5], atol=0.03)


def test_missing_mask_file_is_one_clear_error(rng, vgg, tmp_path):
    with pytest.raises(ImageLoadError, match="no such file"):
        build(image(rng), [image(rng), image(rng)], config(mask=str(tmp_path / "none.png")), vgg)


# ---------------------------------------------------------------- run folder and CLI


@pytest.fixture
def tiny_net(monkeypatch):
    """Make prepare_transfer load the tiny VGG instead of building full VGG19."""
    info = WeightsInfo("random", "tiny test net", "RANDOM tiny test weights")
    monkeypatch.setattr(nst_lab.engine.transfer, "load_vgg19", lambda weights, seed: (build_tiny_vgg(0), info))


def test_stylize_takes_a_list_of_styles_and_records_the_options(rng, tmp_path, tiny_net):
    cfg = config(steps=2, style_blend=(0.7, 0.3), tv_weight=0.5, preserve_color="luminance")
    content = image(rng)
    result = stylize(content, [image(rng), image(rng)], cfg, out_dir=tmp_path, progress=False)
    assert result.status == "finished" and result.steps_done == 2
    assert np.abs(chroma(result.image) - chroma(content)).max() < 1e-5
    record = json.loads((result.run_dir / "run.json").read_text())["config"]
    options = (record["style_blend"], record["tv_weight"], record["preserve_color"])
    assert options == ([0.7, 0.3], 0.5, "luminance")


def test_cli_runs_with_every_option(tmp_path, capsys, tiny_net):
    from PIL import Image

    Image.fromarray(np.repeat(np.arange(40, dtype=np.uint8)[None] * 6, 40, 0)).save(tmp_path / "m.png")
    data = "data/content/chelsea.jpg", "data/style/swirls.jpg", "data/style/waves.jpg"
    code = cli.main(["stylize", *data, "--style-blend", "0.7,0.3", "--preserve-color", "histogram",
                     "--tv-weight", "0.1", "--style-scale", "1.5", "--mask", str(tmp_path / "m.png"),
                     "--size", "48", "--steps", "2", "--weights", "random", "--quiet", "-o", str(tmp_path)])
    assert code == 0, capsys.readouterr().err
    assert (tmp_path / "run-001" / "final.png").exists()


def test_cli_mask_with_too_few_colours_exits_2_with_one_line(tmp_path, capsys, tiny_net):
    from PIL import Image

    Image.new("RGB", (40, 40), (90, 90, 90)).save(tmp_path / "grey.png")
    data = "data/content/chelsea.jpg", "data/style/swirls.jpg", "data/style/waves.jpg"
    code = cli.main(["stylize", *data, "--mask", str(tmp_path / "grey.png"), "--size", "48",
                     "--steps", "1", "--weights", "random", "-o", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2
    assert err == ["error: the mask has 1 colour(s) but 2 style images were given: paint one colour "
                   "or grey level per style (darkest = first style)"]
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize("arguments, message", [
    (["c.jpg", "s1.jpg", "s2.jpg", "--style-blend", "0.7,0.2,0.1"],
     "error: --style-blend has 3 weight(s) but 2 style image(s) were given"),
    (["c.jpg", "s.jpg", "--style-blend", "0.7,0.3"],
     "error: --style-blend has 2 weight(s) but 1 style image(s)"),
    (["c.jpg", "s.jpg", "--style-blend", "0.7;0.3"],
     "error: argument --style-blend: '0.7;0.3' is not a comma"),
    (["c.jpg", "s1.jpg", "s2.jpg", "--mask", "no/such/mask.png"],
     "error: --mask no/such/mask.png: no such file"),
    (["c.jpg", "s.jpg", "--preserve-color", "hue"],
     "error: argument --preserve-color: invalid choice: 'hue'"),
    (["c.jpg", "s.jpg", "--tv-weight", "-2"], "error: --tv-weight must be 0 or more, got -2.0"),  # field -> flag
])
def test_cli_bad_beyond_options_exit_2_with_one_line(arguments, message, capsys, tmp_path):
    code = cli.main(["stylize", *arguments, "-o", str(tmp_path / "runs")])
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith(message) and err.count("\n") == 1, err
    assert not (tmp_path / "runs").exists()


def test_scales_with_an_extension_is_refused_not_ignored(tmp_path, capsys):
    from nst_lab.cli import main

    code = main(["stylize", "--size", "48", "--steps", "1", "--weights", "random", "--quiet",
                 "--scales", "2", "--tv-weight", "1", "-o", str(tmp_path / "runs")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and "--scales > 1 works only with the plain seed cost" in err[-1]
    assert "set --scales to 1" in err[-1] and "--tv-weight" in err[-1]  # the fields it names, as flags
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())
