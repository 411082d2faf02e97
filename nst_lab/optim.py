"""Adam by hand, following the seed report section 6 (Kingma & Ba, 2014).

Lesson: notebooks/04_adam.ipynb
"""

from __future__ import annotations

import tensorflow as tf


# GRADED FUNCTION: adam_update
def adam_update(
    theta: tf.Tensor,
    grad: tf.Tensor,
    m: tf.Tensor,
    v: tf.Tensor,
    t: int | tf.Tensor,
    learning_rate: float = 0.001,
    beta1: float = 0.9,
    beta2: float = 0.999,
    epsilon: float = 1e-8,
) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """One Adam step on the parameters ``theta``.

    m_t = beta1 m_{t-1} + (1 - beta1) g_t;  v_t = beta2 v_{t-1} + (1 - beta2) g_t^2
    m_hat = m_t / (1 - beta1^t);  v_hat = v_t / (1 - beta2^t)
    theta_{t+1} = theta_t - learning_rate * m_hat / (sqrt(v_hat) + epsilon)

    Args:
        theta: parameters, any shape S, float32.
        grad: gradient of the cost with respect to theta, shape S.
        m: first-moment estimate from the previous step (zeros at the start), shape S.
        v: second-moment estimate from the previous step (zeros at the start), shape S.
        t: step number, starting at 1 for the first update.
        learning_rate, beta1, beta2, epsilon: Adam's hyperparameters.

    Returns:
        (theta, m, v): the updated parameters and moment estimates, each of shape S.

    Lesson: notebooks/04_adam.ipynb
    """
    t = tf.cast(t, theta.dtype)
    m = beta1 * m + (1.0 - beta1) * grad
    v = beta2 * v + (1.0 - beta2) * tf.square(grad)
    m_hat = m / (1.0 - tf.pow(beta1, t))
    v_hat = v / (1.0 - tf.pow(beta2, t))
    theta = theta - learning_rate * m_hat / (tf.sqrt(v_hat) + epsilon)
    return theta, m, v
