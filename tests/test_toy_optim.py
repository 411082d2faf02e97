"""The four toy optimizers of notebook 04 and the Rosenbrock test function."""

from __future__ import annotations

import numpy as np
import pytest

from nst_lab.toy_optim import (
    LEARNING_RATES,
    LR_GRID,
    METHODS,
    START,
    final_value,
    optimize_path,
    rosenbrock,
    rosenbrock_grad,
    sweep_learning_rates,
)


def test_rosenbrock_minimum_and_a_hand_value():
    assert rosenbrock(1.0, 1.0) == 0.0
    assert rosenbrock(0.0, 0.0) == 1.0  # (1 - 0)^2 + 100 (0 - 0)^2
    assert rosenbrock(-1.0, 2.0) == pytest.approx(4.0 + 100.0)


@pytest.mark.parametrize("point", [(-1.5, 1.5), (0.3, -0.7), (1.2, 1.1)])
def test_gradient_matches_finite_differences(point):
    p, h = np.array(point), 1e-6
    numeric = [(rosenbrock(*(p + h * e)) - rosenbrock(*(p - h * e))) / (2 * h) for e in np.eye(2)]
    np.testing.assert_allclose(rosenbrock_grad(p), numeric, rtol=1e-6)


def test_path_shape_and_start():
    path = optimize_path("adam", steps=7)
    assert path.shape == (8, 2)
    np.testing.assert_array_equal(path[0], START)


def test_one_sgd_step_is_minus_lr_times_gradient():
    path = optimize_path("sgd", steps=1, learning_rate=1e-3)
    np.testing.assert_allclose(path[1], np.array(START) - 1e-3 * rosenbrock_grad(np.array(START)))


def test_first_adam_step_moves_each_coordinate_by_the_learning_rate():
    step = optimize_path("adam", steps=1, learning_rate=0.05)[1] - np.array(START)
    np.testing.assert_allclose(np.abs(step), [0.05, 0.05], rtol=1e-6)


def test_momentum_with_beta_zero_is_sgd():
    np.testing.assert_allclose(optimize_path("momentum", 50, beta1=0.0, learning_rate=1e-3),
                               optimize_path("sgd", 50, learning_rate=1e-3))


def test_adam_ignores_the_scale_of_the_cost_and_sgd_does_not():
    np.testing.assert_allclose(optimize_path("adam", 300, scale=100.0), optimize_path("adam", 300), atol=1e-6)
    assert len(optimize_path("sgd", 300, scale=100.0)) < 301  # diverged and stopped early


@pytest.mark.parametrize("method", METHODS)
def test_every_method_descends_at_its_rate(method):
    path = optimize_path(method, 2000)
    assert np.all(np.isfinite(path)) and len(path) == 2001
    assert rosenbrock(*path[-1]) < 0.01 * rosenbrock(*START)


def test_learning_rates_are_the_best_of_the_grid():
    for method in METHODS:
        finals = sweep_learning_rates(method, LR_GRID, 2000)
        assert LEARNING_RATES[method] == LR_GRID[int(np.argmin(finals))], method


def test_final_value_is_inf_for_a_diverged_path():
    assert final_value(optimize_path("sgd", 100, learning_rate=0.1), 100) == float("inf")


def test_unknown_method_names_the_choices():
    with pytest.raises(ValueError, match="'newton' is not one of sgd, momentum, rmsprop, adam"):
        optimize_path("newton")
