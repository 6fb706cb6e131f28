"""Compiled samplers: one call runs the whole T-step generation loop on the device.

The model's `generate` is traced once per batch shape (t2i_tf.jit); nothing loops in Python
per step.
"""

import keras
import numpy as np

from t2i_tf import jit


class PriorSampler:
    """Draws images from a DRAW-family model's prior.

    Args:
      model: a built model with `steps`, `z_dim` and `generate(eps)`.

    Calling it with (num_samples, seed) returns numpy arrays: canvases (T, n, B, A) of
    Bernoulli means sigmoid(c_t) and windows (T, n, 5) = (g_X, g_Y, delta, sigma^2, gamma).
    """

    def __init__(self, model):
        self.model = model
        self._generate = jit.compile_method(model, model.generate)

    def __call__(self, num_samples, seed=0):
        shape = (self.model.steps, num_samples, self.model.z_dim)
        eps = keras.random.normal(shape, seed=seed)
        return {k: keras.ops.convert_to_numpy(v) for k, v in self._generate(eps).items()}


class CaptionSampler:
    """Draws images for captions from an alignDRAW-family model.

    Calling it with (ids (n, L) int, mask (n, L) bool, seed) returns numpy arrays:
    canvases (T, n, B, A), windows (T, n, 5) and alpha (T, n, L), the word weights.
    """

    def __init__(self, model):
        self.model = model
        self._generate = jit.compile_method(model, model.generate)

    def __call__(self, ids, mask, seed=0):
        shape = (self.model.steps, len(ids), self.model.z_dim)
        eps = keras.random.normal(shape, seed=seed)
        out = self._generate(np.asarray(ids, np.int32), np.asarray(mask, bool), eps)
        return {k: keras.ops.convert_to_numpy(v) for k, v in out.items()}
