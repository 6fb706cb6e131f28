"""Helpers shared by the pixel-model tests (tests/test_pixel_rnn.py, tests/test_pixel_cnn.py)."""

import keras
import numpy as np
import pytest
from keras import ops


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


def log_softmax(x):
    x = np.asarray(x, np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def gradient(fn, x):
    """d fn(x) / d x for a scalar fn of one array, on the TensorFlow or the JAX backend."""
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        x = tf.constant(x)
        with tf.GradientTape() as tape:
            tape.watch(x)
            y = fn(x)
        return tape.gradient(y, x).numpy()
    if backend == "jax":
        import jax

        return np.asarray(jax.grad(fn)(ops.convert_to_tensor(x)))
    pytest.skip(f"no gradients on backend {backend}")


def jacobian_rows(fn, x, seed=0):
    """rows[i] = d (sum_v r_iv fn(x)[b, i, v]) / d x[b] for every position i and row b.

    r is random: a random projection of a Jacobian row is exactly 0 where the row is 0 and,
    almost surely, non-zero where it is not. All N rows come from one backward pass: x is
    repeated N times along the batch and copy i is projected at position i only (the model
    treats batch rows independently). x (batch, ...), fn(x) (batch, N, V);
    returns (N, batch, ...).
    """
    batch = x.shape[0]
    n, v = numpy(fn(ops.convert_to_tensor(x[:1]))).shape[1:]
    r = np.random.default_rng(seed).normal(size=(n, v)).astype(np.float32)
    weights = np.repeat(np.eye(n, dtype=np.float32)[:, None, :, None] * r[None, None], batch,
                        axis=1).reshape(n * batch, n, v)  # copy i, row b: r at position i
    tiled = np.concatenate([x] * n)  # (N * batch, ...)
    grads = gradient(lambda t: ops.sum(fn(t) * weights), tiled)
    return grads.reshape(n, batch, *x.shape[1:])
