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
      temperature: scale of the prior's noise, z_t = mu_t + temperature sigma_t eps_t: 1
        samples the model's own prior, below 1 draws closer to its mean (0: the mean).

    Calling it with (num_samples, seed) returns numpy arrays: canvases (T, n, B, A) of
    Bernoulli means sigmoid(c_t) and windows (T, n, 5) = (g_X, g_Y, delta, sigma^2, gamma).
    """

    def __init__(self, model, temperature=1.0):
        self.model = model
        self.temperature = temperature
        self._generate = jit.compile_method(model, model.generate)

    def __call__(self, num_samples, seed=0):
        shape = (self.model.steps, num_samples, self.model.z_dim)
        eps = self.temperature * keras.random.normal(shape, seed=seed)
        return {k: keras.ops.convert_to_numpy(v) for k, v in self._generate(eps).items()}


class CaptionSampler:
    """Draws images for captions from an alignDRAW-family model.

    temperature scales the prior's noise as PriorSampler's does. Calling it with
    (ids (n, L) int, mask (n, L) bool, seed) returns numpy arrays: canvases (T, n, B, A),
    windows (T, n, 5) and alpha (T, n, L), the word weights.
    """

    def __init__(self, model, temperature=1.0):
        self.model = model
        self.temperature = temperature
        self._generate = jit.compile_method(model, model.generate)

    def __call__(self, ids, mask, seed=0):
        shape = (self.model.steps, len(ids), self.model.z_dim)
        eps = self.temperature * keras.random.normal(shape, seed=seed)
        out = self._generate(np.asarray(ids, np.int32), np.asarray(mask, bool), eps)
        return {k: keras.ops.convert_to_numpy(v) for k, v in out.items()}


class PixelCaptionSampler:
    """Draws images for captions from a pixel model (AlignPixelRNN, AlignPixelCNN): the
    model's `generate`, compiled once per batch shape, the loop over the pixels inside.

    Args:
      model: a built model with `num_pixels` and `generate(ids, mask, method, ...)`.
      method: "greedy", "sample" (ancestral at `temperature`) or "beam" (of `beam_width`).

    Calling it with (ids (n, L) int, mask (n, L) bool, seed) returns numpy arrays: images
    (n, H, W) int32 pixel values in [0, V) and log_prob (n,), each image's summed model
    log-probability. For "sample" the uniforms come from numpy's Generator seeded with
    `seed` and enter the compiled function as an input, so a new seed does not recompile;
    `noise` (N, n) given to the call replaces them (t2i_tf.pixel_serving.pixel_noise gives
    the uniforms of a SavedModel's seed).
    """

    def __init__(self, model, method="greedy", beam_width=1, temperature=1.0):
        self.model = model
        self.method = method
        if method == "sample":
            def generate(ids, mask, noise):
                return model.generate(ids, mask, "sample", temperature=temperature, noise=noise)
        else:
            def generate(ids, mask):
                return model.generate(ids, mask, method, beam_width=beam_width)
        self._generate = jit.compile_method(model, generate)

    def __call__(self, ids, mask, seed=0, noise=None):
        args = [np.asarray(ids, np.int32), np.asarray(mask, bool)]
        if self.method == "sample" and noise is not None:
            args.append(np.asarray(noise, np.float32))
        elif self.method == "sample":
            shape = (self.model.num_pixels, len(args[0]))
            args.append(np.random.default_rng(seed).random(shape, dtype=np.float32))
        out = self._generate(*args)
        return {k: keras.ops.convert_to_numpy(v) for k, v in out.items()}


def unit_images(images, levels):
    """A pixel model's images, integers in [0, levels), as float32 intensities in [0, 1]:
    images / (levels - 1), what the picture writers and SSIM take."""
    return np.asarray(images, np.float32) / float(levels - 1)
