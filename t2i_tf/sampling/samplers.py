"""Compiled samplers: one call runs the whole T-step generation loop on the device.

A DRAW model's `generate`, or a pixel model's loop over `next_pixel` (generate_pixels), is
traced once per batch shape (t2i_tf.jit); nothing loops in Python per step.
"""

import keras
import numpy as np

from t2i_tf import jit
from t2i_tf.sampling import step_samplers


METHODS = ("greedy", "sample", "beam")


def generate_pixels(model, ids, mask, method="greedy", beam_width=1, temperature=1.0,
                    seed=None, noise=None, live_width=None):
    """Images for captions from a pixel model (AlignPixelRNN, AlignPixelCNN): the whole loop
    over the N pixels in one keras.ops.fori_loop of t2i_tf.sampling.step_samplers, over
    the model's `next_pixel` from its `generation_state`.

    Args:
      model: a built pixel model (t2i_tf/models/autoregressive.py).
      ids, mask: (batch, L) word ids and bool mask of the captions.
      method: "greedy", "sample" (ancestral, at `temperature`) or "beam" (beam search of
        `beam_width`, scoring beams by summed log-probability).
      seed: int or SeedGenerator for "sample"; None uses the model's seed_generator.
      noise: optional (N, batch) uniforms for "sample", instead of drawing from seed.
      live_width: optional int tensor <= beam_width for "beam": search that width in
        beam_width slots (step_samplers.beam_search), one program for every width.

    Returns dict: images (batch, H, W) int32, log_prob (batch,) float32, the summed model
    log-probability of each image (temperature 1).
    Compile it (t2i_tf.jit.compile_method) with method, beam_width and temperature bound
    as Python values.
    """
    if method not in METHODS:
        raise ValueError(f"unknown method {method!r}; known: {METHODS}")
    state = model.generation_state(ids, mask)
    length, start = model.num_pixels, model.start_token
    if method == "greedy":
        tokens, score = step_samplers.greedy(model.next_pixel, state, length, start)
    elif method == "sample":
        seed = model.seed_generator if seed is None else seed
        tokens, score = step_samplers.ancestral(model.next_pixel, state, length, start, seed,
                                                temperature, noise)
    else:
        tokens, score = step_samplers.beam_search(model.next_pixel, state, length, start,
                                                  beam_width, live_width=live_width)
    return {"images": keras.ops.reshape(tokens, (-1, *model.image_shape)), "log_prob": score}


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
    generate_pixels over the model's next_pixel, compiled once per batch shape, the loop over
    the pixels inside.

    Args:
      model: a built pixel model (`num_pixels`, `generation_state`, `next_pixel`).
      method: "greedy", "sample" (ancestral at `temperature`) or "beam" (of `beam_width`).

    Calling it with (ids (n, L) int, mask (n, L) bool, seed) returns numpy arrays: images
    (n, H, W) int32 pixel values in [0, V) and log_prob (n,), each image's summed model
    log-probability. For "sample" the uniforms come from numpy's Generator seeded with
    `seed` and enter the compiled function as an input, so a new seed does not recompile;
    `noise` (N, n) given to the call replaces them (t2i_tf.serving.pixel_saved_model.pixel_noise gives
    the uniforms of a SavedModel's seed).
    """

    def __init__(self, model, method="greedy", beam_width=1, temperature=1.0):
        self.model = model
        self.method = method
        if method == "sample":
            def generate(ids, mask, noise):
                return generate_pixels(model, ids, mask, "sample", temperature=temperature,
                                       noise=noise)
        else:
            def generate(ids, mask):
                return generate_pixels(model, ids, mask, method, beam_width=beam_width)
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
