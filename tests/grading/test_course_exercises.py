"""The exercises that make students think: total variation, preprocessing, the loop, questions.

Each check passes the reference and rejects each realistic mistake by name (wrong implementations
written here, parametrised); the grader gives the solution notebooks full marks and released stubs 0.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import tensorflow as tf

from nst_lab.checks import run_check
from nst_lab.costs import compute_total_variation_cost
from nst_lab.train import run_style_transfer
from nst_lab.vgg import preprocess_for_vgg19

REPO = Path(__file__).resolve().parents[2]
MEAN = tf.constant([103.939, 116.779, 123.68])


def _verdicts(name: str, fn: Any) -> list:
    return run_check(name, fn)


def _all_pass(name: str, fn: Any) -> None:
    failed = [r.message for r in _verdicts(name, fn) if not r.passed]
    assert not failed, failed


def _rejected_with(name: str, fn: Any, phrase: str) -> None:
    results = _verdicts(name, fn)
    assert not any(r.passed for r in results), [r.got for r in results]
    assert all(phrase in r.message for r in results), [r.message for r in results]


# ----------------------------------------------------------------- total variation
def tv_vertical(x):
    return tf.reduce_sum(tf.square(x[:, 1:] - x[:, :-1]))


def tv_abs(x):
    return tf.reduce_sum(tf.abs(x[:, 1:] - x[:, :-1])) + tf.reduce_sum(tf.abs(x[:, :, 1:] - x[:, :, :-1]))


def tv_mean(x):
    return tf.reduce_mean(tf.square(x[:, 1:] - x[:, :-1])) + tf.reduce_mean(tf.square(x[:, :, 1:] - x[:, :, :-1]))


def tv_roll(x):
    return (tf.reduce_sum(tf.square(tf.roll(x, -1, axis=1) - x))
            + tf.reduce_sum(tf.square(tf.roll(x, -1, axis=2) - x)))


def tv_per_pixel(x):
    return compute_total_variation_cost(x) / float(x.shape[1] * x.shape[2])


def tv_numpy(x):
    return tf.constant(float(compute_total_variation_cost(x).numpy()))  # right value, no gradient


def test_the_total_variation_reference_passes():
    _all_pass("compute_total_variation_cost", compute_total_variation_cost)


@pytest.mark.parametrize("wrong,phrase", [
    (tv_vertical, "only the vertical neighbours"),
    (tv_abs, "absolute differences"),
    (tv_mean, "you took the mean"),
    (tv_roll, "tf.roll wraps around"),
    (tv_per_pixel, "you divided by H*W"),
    (tv_numpy, "no gradient flows"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_each_total_variation_mistake_is_rejected_and_named(wrong, phrase):
    _rejected_with("compute_total_variation_cost", wrong, phrase)


# ----------------------------------------------------------------- preprocessing
def pre_no_scale(x):
    return x[..., ::-1] - MEAN


def pre_no_flip(x):
    return x * 255.0 - MEAN


def pre_rgb_means(x):
    return x[..., ::-1] * 255.0 - MEAN[::-1]


def pre_divide(x):
    return x[..., ::-1] / 255.0 - MEAN


def pre_std(x):
    return (x[..., ::-1] * 255.0 - MEAN) / (255.0 * tf.constant([0.225, 0.224, 0.229]))


def test_the_preprocessing_reference_passes_and_equals_keras():
    import keras

    _all_pass("preprocess_for_vgg19", preprocess_for_vgg19)
    x = np.random.RandomState(3).uniform(size=(1, 5, 7, 3)).astype(np.float32)
    np.testing.assert_allclose(preprocess_for_vgg19(tf.constant(x)).numpy(),
                               keras.applications.vgg19.preprocess_input(x * 255.0), atol=1e-4)


@pytest.mark.parametrize("wrong,phrase", [
    (pre_no_scale, "not scaled to [0, 255]"),
    (pre_no_flip, "not flipped from RGB to BGR"),
    (pre_rgb_means, "the means are in RGB order"),
    (pre_divide, "you divided by 255"),
    (pre_std, "standard deviation"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_each_preprocessing_mistake_is_rejected_and_named(wrong, phrase):
    _rejected_with("preprocess_for_vgg19", wrong, phrase)


# ----------------------------------------------------------------- the loop
def loop_one_too_many(image, step, steps, every):
    history, snapshots = [], {}
    for i in range(steps + 1):
        history.append(float(step(image)))
        if i % every == 0:
            snapshots[i] = image.numpy()
    return history, snapshots


def loop_reference_not_copy(image, step, steps, every):
    history, snapshots = [], {}
    for i in range(steps):
        history.append(float(step(image)))
        if i % every == 0:
            snapshots[i] = image  # the Variable itself
    return history, snapshots


def loop_tensors(image, step, steps, every):
    history, snapshots = [], {}
    for i in range(steps):
        history.append(step(image))
        if i % every == 0:
            snapshots[i] = image.numpy()
    return history, snapshots


def loop_from_one(image, step, steps, every):
    history, snapshots = [], {}
    for i in range(steps):
        history.append(float(step(image)))
        if (i + 1) % every == 0:
            snapshots[i] = image.numpy()
    return history, snapshots


def loop_snapshot_before(image, step, steps, every):
    history, snapshots = [], {}
    for i in range(steps):
        if i % every == 0:
            snapshots[i] = image.numpy()
        history.append(float(step(image)))
    return history, snapshots


def test_the_loop_reference_passes():
    _all_pass("run_style_transfer", run_style_transfer)


@pytest.mark.parametrize("wrong,phrase", [
    (loop_one_too_many, "range(steps + 1) runs one step too many"),
    (loop_reference_not_copy, "you stored the Variable itself"),
    (loop_tensors, "the history holds tensors"),
    (loop_from_one, "you counted steps from 1"),
    (loop_snapshot_before, "shows the image before that step"),
], ids=lambda v: getattr(v, "__name__", ""))
def test_each_loop_mistake_is_rejected_and_named(wrong, phrase):
    _rejected_with("run_style_transfer", wrong, phrase)


def test_a_loop_that_raises_or_returns_something_else_fails_with_a_reason():
    def raises(image, step, steps, every):
        raise NotImplementedError("run_style_transfer: replace this line with your code")

    _rejected_with("run_style_transfer", raises, "NotImplementedError")
    _rejected_with("run_style_transfer", lambda image, step, steps, every: [1.0] * steps,
                   "return (history, snapshots)")


# ----------------------------------------------------------------- the notebooks' checks and the engine
@pytest.mark.parametrize("name,fn", [("compute_total_variation_cost", compute_total_variation_cost),
                                     ("preprocess_for_vgg19", preprocess_for_vgg19),
                                     ("run_style_transfer", run_style_transfer)])
def test_the_notebook_check_prints_all_tests_passed(name, fn, capsys):
    import nst_lab.checks as checks

    getattr(checks, f"check_{name}")(fn)
    first, *values = capsys.readouterr().out.splitlines()
    assert first == "All tests passed" and len(values) == 2 and all(v.startswith("  - ") for v in values)


def test_the_engine_preprocesses_with_the_graded_function():
    """FeatureExtractor(preprocess="caffe") is preprocess_for_vgg19 followed by the network."""
    from nst_lab.vgg import FeatureExtractor, build_tiny_vgg

    vgg = build_tiny_vgg(seed=0)
    x = tf.constant(np.random.RandomState(4).uniform(size=(1, 32, 32, 3)).astype(np.float32))
    caffe = FeatureExtractor(vgg, ["block1_conv1"], preprocess="caffe")(x)[0]
    plain = FeatureExtractor(vgg, ["block1_conv1"])(preprocess_for_vgg19(x))[0]
    np.testing.assert_allclose(caffe.numpy(), plain.numpy(), rtol=1e-5)


# ----------------------------------------------------------------- grading through the CLI
needs_bwrap = pytest.mark.skipif(shutil.which("bwrap") is None, reason="needs bubblewrap")


@pytest.mark.slow
@needs_bwrap
def test_grading_the_new_exercises_gives_solutions_full_marks_and_stubs_zero(tmp_path: Path) -> None:
    from nst_lab.cli import main
    from nst_lab.grading.grade import ALL_POINTS
    from nst_lab.grading.release import read_manifest

    manifest = read_manifest(REPO / "notebooks" / "release.json")
    stems = ["01_vgg19", "05_style_transfer", "07_beyond"]
    paths = [REPO / "notebooks" / "solutions" / f"{s}.ipynb" for s in stems]
    paths += [REPO / "notebooks" / f"{s}.ipynb" for s in stems]
    assert main(["grade", *map(str, paths), "-o", str(tmp_path / "out"), "--seed", "4242", "--workers", "2",
                 "--quiet", "--course", str(REPO / "notebooks" / "release.json")]) == 0
    rows = {r["path"]: r for r in json.loads((tmp_path / "out" / "grades.json").read_text())["submissions"]}
    for stem in stems:
        maximum = sum(ALL_POINTS[n] for n in manifest[stem])
        assert {"preprocess_for_vgg19", "run_style_transfer", "compute_total_variation_cost"} & set(manifest[stem])
        solved = rows[str(REPO / "notebooks" / "solutions" / f"{stem}.ipynb")]
        mine = {n: solved["exercises"][n] for n in manifest[stem]}
        assert all(ex["points"] == ex["max"] for ex in mine.values()), mine
        assert sum(ex["points"] for ex in mine.values()) == maximum
        stub = rows[str(REPO / "notebooks" / f"{stem}.ipynb")]
        assert all(stub["exercises"][n]["points"] == 0 for n in manifest[stem]), stub["exercises"]
