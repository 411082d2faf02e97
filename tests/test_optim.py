"""The hand-written Adam follows the seed's equations and matches tf.keras Adam."""

from __future__ import annotations

from dataclasses import dataclass, field

import keras
import numpy as np
import tensorflow as tf

from nst_lab.optim import adam_update


@dataclass
class HandAdam:  # the hand-written update behind Keras' optimizer interface, for this test
    """A minimal optimizer around ``adam_update`` with Keras' ``apply_gradients`` interface.

    It lets the training loop run on the hand-written update instead of
    ``tf.keras.optimizers.Adam``; both give the same trajectory to float32 precision.
    """

    learning_rate: float = 0.001
    beta1: float = 0.9
    beta2: float = 0.999
    epsilon: float = 1e-8
    _slots: dict[int, tuple[tf.Variable, tf.Variable]] = field(default_factory=dict, repr=False)
    _step: tf.Variable | None = field(default=None, repr=False)

    def apply_gradients(self, grads_and_vars: list[tuple[tf.Tensor, tf.Variable]]) -> None:
        if self._step is None:
            self._step = tf.Variable(0, dtype=tf.int64, trainable=False)
        self._step.assign_add(1)
        for grad, var in grads_and_vars:
            key = id(var)
            if key not in self._slots:
                self._slots[key] = (
                    tf.Variable(tf.zeros_like(var), trainable=False),
                    tf.Variable(tf.zeros_like(var), trainable=False),
                )
            m, v = self._slots[key]
            new_theta, new_m, new_v = adam_update(
                var, grad, m, v, self._step, self.learning_rate, self.beta1, self.beta2, self.epsilon
            )
            m.assign(new_m)
            v.assign(new_v)
            var.assign(new_theta)



def _problem():
    r = np.random.RandomState(3)
    A = tf.constant(r.normal(size=(8, 5)).astype(np.float32))
    b = tf.constant(r.normal(size=(8,)).astype(np.float32))
    start = r.normal(size=(5,)).astype(np.float32)
    return A, b, start


def _loss(A, b, x):
    return tf.reduce_sum(tf.square(tf.linalg.matvec(A, x) - b))


def test_hand_adam_matches_keras_over_100_steps():
    A, b, start = _problem()
    ours, theirs = tf.Variable(start), tf.Variable(start)
    hand = HandAdam(learning_rate=0.01, epsilon=1e-7)
    keras_adam = keras.optimizers.Adam(learning_rate=0.01, epsilon=1e-7)
    for _ in range(100):
        for var, opt in ((ours, hand), (theirs, keras_adam)):
            with tf.GradientTape() as tape:
                loss = _loss(A, b, var)
            opt.apply_gradients([(tape.gradient(loss, var), var)])
        np.testing.assert_allclose(ours.numpy(), theirs.numpy(), rtol=2e-5, atol=2e-6)
    assert float(_loss(A, b, ours)) < 0.5 * float(_loss(A, b, tf.constant(start)))


def test_one_step_by_hand():
    """First step from zero moments: m_hat = g, v_hat = g^2, so theta moves by lr*g/(|g|+eps)."""
    theta, g = tf.constant([1.0, -2.0]), tf.constant([0.5, -4.0])
    new, m, v = adam_update(theta, g, tf.zeros(2), tf.zeros(2), 1, learning_rate=0.1, epsilon=0.0)
    np.testing.assert_allclose(new.numpy(), [0.9, -1.9], rtol=1e-6)
    np.testing.assert_allclose(m.numpy(), [0.05, -0.4], rtol=1e-6)
    np.testing.assert_allclose(v.numpy(), [0.00025, 0.016], rtol=1e-5)


def test_adam_update_is_differentiable_free_of_python_state_and_traces():
    args = (tf.ones(3), tf.fill([3], 0.2), tf.zeros(3), tf.zeros(3), tf.constant(4))
    eager = adam_update(*args)
    traced = tf.function(adam_update)(*args)
    for a, b in zip(eager, traced):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
