"""Figures added for the course notebooks: the unrolled Gram picture and optimizer paths."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from nst_lab.plots import optimizer_paths, unrolled_activations  # noqa: E402
from nst_lab.toy_optim import optimize_path, rosenbrock  # noqa: E402


def test_unrolled_activations_shows_a_and_its_gram():
    rng = np.random.RandomState(0)
    a = rng.rand(1, 3, 4, 5).astype(np.float32)  # (1, n_H, n_W, n_C)
    fig = unrolled_activations(a, channels=5)
    A = np.array([[a[0, h, w, c] for h in range(3) for w in range(4)] for c in range(5)])  # by hand
    shown_A = fig.axes[1].images[0].get_array()
    shown_G = fig.axes[2].images[0].get_array()
    np.testing.assert_allclose(shown_A, A, rtol=1e-6)
    np.testing.assert_allclose(shown_G, A @ A.T, rtol=1e-5)
    plt.close(fig)


def test_optimizer_paths_draws_one_line_per_path():
    paths = {"sgd": optimize_path("sgd", 20), "adam": optimize_path("adam", 20)}
    fig = optimizer_paths(paths, rosenbrock)
    labels = [line.get_label() for line in fig.axes[0].get_lines()]
    assert "sgd (20 steps)" in labels and "adam (20 steps)" in labels
    plt.close(fig)


def test_final_figure_needs_the_runs_weights_and_its_parts_add_up_to_the_total():
    """Notebook 05's figure once said alpha=1, beta=1 for an alpha 100 / beta 10 run: the weights are required now."""
    import pytest

    from nst_lab.plots import final_figure

    losses = {"total": [40.0, 23.0], "content": [0.0, 0.1], "style": [4.0, 1.3]}  # 100 Jc + 10 Js
    with pytest.raises(TypeError, match="alpha"):
        final_figure(np.zeros((1, 8, 8, 3)), losses)  # type: ignore[call-arg]
    fig = final_figure(np.zeros((1, 8, 8, 3)), losses, alpha=100, beta=10)
    lines = {line.get_label(): np.asarray(line.get_ydata(), float) for line in fig.axes[1].get_lines()}
    legend = [text.get_text() for text in fig.axes[1].get_legend().get_texts()]
    assert "alpha * J_content (alpha=100)" in legend and "beta * J_style (beta=10)" in legend
    parts = lines["alpha * J_content (alpha=100)"][1:] + lines["beta * J_style (beta=10)"][1:]
    np.testing.assert_allclose(parts, lines["total J"][1:])
    plt.close(fig)


def test_the_race_histories_of_adam_and_lbfgs_start_at_the_same_cost():
    """Entry k is J after k updates for both optimizers (07's race once shifted L-BFGS by one iteration)."""
    from nst_lab.config import StyleConfig
    from nst_lab.engine import Network, prepare_transfer
    from nst_lab.engine.scales import cost_after_updates
    from nst_lab.vgg import WeightsInfo, build_tiny_vgg

    rng = np.random.default_rng(3)
    content, style = (rng.uniform(0, 1, (1, 40, 40, 3)).astype(np.float32) for _ in range(2))
    network = Network(build_tiny_vgg(seed=0), WeightsInfo("random", "tiny", ""))
    config = StyleConfig(size=40, weights="random", save_every=0, precision="float32", init="content")
    histories = {}
    for optimizer in ("adam", "lbfgs"):
        transfer = prepare_transfer(content, style, config.replace(optimizer=optimizer), network=network)
        histories[optimizer] = cost_after_updates(transfer, 4)
    adam, lbfgs = histories["adam"], histories["lbfgs"]
    assert len(adam) == 5 and 2 <= len(lbfgs) <= 5
    np.testing.assert_allclose(lbfgs[0], adam[0], rtol=1e-5)  # the same start image, the same J
    assert lbfgs[1] < lbfgs[0]  # entry 1 is after one iteration (a line search only lowers J), not the start again


def test_course_images_keep_the_photos_proportions_as_the_cli_does():
    """The 451x300 cat is not squashed to a square: the notebooks size images as prepare_transfer does."""
    from nst_lab.config import StyleConfig
    from nst_lab.engine import Network, prepare_transfer
    from nst_lab.images import DATA_DIR
    from nst_lab.notebook import course_images
    from nst_lab.vgg import WeightsInfo, build_tiny_vgg

    cat, swirls = DATA_DIR / "content" / "chelsea.jpg", DATA_DIR / "style" / "swirls.jpg"
    content, style = course_images(cat, swirls, 64)
    assert tuple(content.shape) == tuple(style.shape) == (1, 43, 64, 3)  # 300/451 * 64 = 42.6
    run = prepare_transfer(cat, swirls, StyleConfig(size=64, weights="random", save_every=0, precision="float32"),
                           network=Network(build_tiny_vgg(seed=0), WeightsInfo("random", "tiny", "")))
    np.testing.assert_allclose(np.asarray(content), np.asarray(run.content_image), atol=1e-6)
    np.testing.assert_allclose(np.asarray(style), np.asarray(run.style_images[0]), atol=1e-6)


def test_question_adam_double_weights_is_keyed_to_what_the_trained_network_measures(vgg16_trained):
    """04 Q2: doubling alpha and beta changes Adam's first pixel moves by < 0.001 lr on trained features."""
    import tensorflow as tf

    from nst_lab.config import STYLE_LAYERS
    from nst_lab.costs import compute_content_cost, compute_style_cost
    from nst_lab.exercises.questions import QUESTIONS
    from nst_lab.images import DATA_DIR
    from nst_lab.notebook import course_images
    from nst_lab.vgg import get_layer_outputs

    vgg, _ = vgg16_trained  # ImageNet VGG16, the course's network offline
    content, style = course_images(DATA_DIR / "content" / "chelsea.jpg", DATA_DIR / "style" / "swirls.jpg", 200)
    outputs = get_layer_outputs(vgg, STYLE_LAYERS + [("block5_conv3", 1)])
    a_C, a_S = outputs(content), outputs(style)

    def moves(scale):
        G = tf.Variable(content)
        with tf.GradientTape() as tape:
            a_G = outputs(G)
            J = 100 * scale * compute_content_cost(a_C, a_G) + 10 * scale * compute_style_cost(a_S, a_G)
        tf.keras.optimizers.Adam(learning_rate=0.03).apply_gradients([(tape.gradient(J, G), G)])
        return np.percentile(np.abs(G.numpy() - content.numpy()) / 0.03, (10, 50))

    seed, doubled = moves(1.0), moves(2.0)
    assert np.all(np.abs(doubled - seed) < 1e-3) and np.all(seed > 0.99)  # option (c)
    assert QUESTIONS["adam_double_weights"].judge("c").passed
    assert not QUESTIONS["adam_double_weights"].judge("d").passed
