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
