"""Compiled samplers: one call runs the whole T-step generation loop on the device.

The model's `generate` is traced once per batch shape, with jax.jit on the JAX backend and
tf.function(jit_compile=True) on TensorFlow; nothing loops in Python per step.
"""

import keras
import numpy as np


class PriorSampler:
    """Draws images from a DRAW-family model's prior.

    Args:
      model: a built model with `steps`, `z_dim` and `generate(eps)`.

    Calling it with (num_samples, seed) returns numpy arrays: canvases (T, n, B, A) of
    Bernoulli means sigmoid(c_t) and windows (T, n, 5) = (g_X, g_Y, delta, sigma^2, gamma).
    """

    def __init__(self, model):
        self.model = model
        backend = keras.backend.backend()
        if backend == "jax":
            import jax

            def generate(weights, eps):
                mapping = list(zip(model.weights, weights))
                with keras.StatelessScope(state_mapping=mapping):
                    return model.generate(eps)

            jitted = jax.jit(generate)
            self._generate = lambda eps: jitted([v.value for v in model.weights], eps)
        elif backend == "tensorflow":
            import tensorflow as tf

            self._generate = tf.function(model.generate, jit_compile=True)
        else:
            self._generate = model.generate

    def __call__(self, num_samples, seed=0):
        shape = (self.model.steps, num_samples, self.model.z_dim)
        eps = keras.random.normal(shape, seed=seed)
        out = self._generate(eps)
        return {k: np.asarray(keras.ops.convert_to_numpy(v)) for k, v in out.items()}
