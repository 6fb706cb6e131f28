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


def generate(model, x, *args, **kwargs):
    """t2i_tf.sampling.samplers.generate_pixels for the captions of x (dict with ids, mask)."""
    from t2i_tf.sampling import samplers

    return samplers.generate_pixels(model, x["ids"], x["mask"], *args, **kwargs)


# What both tiny pixel models share: V, and three captions of 5, 3 and 1 words.
LEVELS = 7
LENGTHS = np.array([5, 3, 1])


def tiny_model(cls, config, weights_seed=0, **overrides):
    """cls(**config, **overrides), built, every weight drawn from N(0, 0.5^2)."""
    model = cls(**{**config, **overrides})
    model.build()
    rng = np.random.default_rng(weights_seed)
    for v in model.weights:
        v.assign(rng.normal(0, 0.5, v.shape).astype(np.float32))
    return model


def random_batch(shape, seed=0, levels=LEVELS):
    """Three images of `shape` with random pixel values and captions of LENGTHS words."""
    rng = np.random.default_rng(seed)
    return {
        "images": rng.integers(0, levels, (3, *shape)).astype(np.uint8),
        "ids": rng.integers(2, 11, (3, 5)).astype(np.int32),
        "mask": np.arange(5)[None, :] < LENGTHS[:, None],
    }
