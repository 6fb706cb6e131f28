"""What the caption-conditioned pixel models share (AlignPixelRNN, AlignPixelCNN): the exact
negative log-likelihood, training with Keras fit, and generation through the samplers of
t2i_tf.pixel_sampling.

Pixels are read in raster order (row by row, top to bottom), so an image (batch, H, W) of
integer values in [0, V) is the sequence x_1 .. x_N, N = H W, and (alignPixelRNN eq. 5)

  -log p(x | y) = -sum_j log softmax(logits_j)[x_j]      in nats per image.

A subclass provides
  logits(images, ids, mask) -> (batch, N, V), the teacher-forced logits of every pixel;
  logits_from_lang(images, h_lang, word_mask) -> the same, given the caption memory;
  logits_from_one_hot(one_hot (batch, H, W, V) float, ids, mask) -> the same numbers,
    differentiable in the pixel values (the causality tests take gradients through it);
  attention_weights(images, ids, mask) -> (batch, N, L) float32, the weights over the words
    with which each pixel was drawn (the attention report, t2i_tf/metrics/attention_report.py);
  generation_state(ids, mask) -> the state before pixel 1, a nest of (batch, ...) tensors;
  next_pixel(state, token (batch,), position) -> (logits (batch, V), new_state), the
    step_fn of t2i_tf.pixel_sampling, fed the start token V at position 0.
"""

import math

import keras
from keras import ops

from t2i_tf import distribute, pixel_sampling

METHODS = ("greedy", "sample", "beam")


class AutoregressiveModel(keras.Model):
    """Base of the pixel models: call() returns {"nll": (batch,)}, the loss is its mean,
    and bits per dimension are reported beside it.

    Args:
      image_shape: (H, W).
      levels: V, the number of pixel values (256 for 8-bit, 2 for binary images).
      seed: seed of the default generator of `generate(method="sample")`.
    """

    def __init__(self, image_shape=(32, 32), levels=256, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.levels = levels
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        self.bits_tracker = keras.metrics.Mean(name="bits_per_dim")

    @property
    def num_pixels(self):
        return self.image_shape[0] * self.image_shape[1]

    @property
    def start_token(self):
        """The token fed at position 0: V, one past the pixel values."""
        return self.levels

    def tokens(self, images):
        """(batch, H, W) integer images (uint8 or int) -> (batch, N) int32, raster order."""
        return ops.reshape(ops.cast(images, "int32"), (-1, self.num_pixels))

    def nll(self, images, ids, mask, training=False):
        """-log p(x | y) per image in nats (exact): (batch,) float32. training reaches the
        decoder (Keras's fit runs `call` through stateless_call, which sets no call context
        for the layers inside)."""
        return nll_from_logits(self.logits(images, ids, mask, training=training),
                               self.tokens(images))

    def nll_from_lang(self, images, h_lang, word_mask):
        """-log p(x | caption memory) per image in nats: `nll` with the caption encoder's
        output given, h_lang (batch, L, m) and word_mask (batch, L); retrieval scores images
        under the mean sentence this way (t2i_tf/metrics/retrieval.py)."""
        return nll_from_logits(self.logits_from_lang(images, h_lang, word_mask),
                               self.tokens(images))

    def call(self, inputs, training=False):
        mask = ops.cast(inputs["mask"], "bool")  # uint8 under tf.distribute
        return {"nll": self.nll(inputs["images"], inputs["ids"], mask, training=training)}

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return distribute.replica_mean(y_pred["nll"])  # scaled under tf.distribute

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        logs = super().compute_metrics(x, y, y_pred, sample_weight)
        self.bits_tracker.update_state(y_pred["nll"] / (self.num_pixels * math.log(2.0)))
        return {**logs, "bits_per_dim": self.bits_tracker.result()}

    def generate(self, ids, mask, method="greedy", beam_width=1, temperature=1.0, seed=None,
                 noise=None, live_width=None):
        """Images for captions, the whole loop over the N pixels in one keras.ops.fori_loop.

        Args:
          ids, mask: (batch, L) word ids and bool mask of the captions.
          method: "greedy", "sample" (ancestral, at `temperature`) or "beam" (beam search of
            `beam_width`, scoring beams by summed log-probability).
          seed: int or SeedGenerator for "sample"; None uses the model's generator.
          noise: optional (N, batch) uniforms for "sample", instead of drawing from seed.
          live_width: optional int tensor <= beam_width for "beam": search that width in
            beam_width slots (pixel_sampling.beam_search), one program for every width.

        Returns dict: images (batch, H, W) int32, log_prob (batch,) float32, the summed model
        log-probability of each image (temperature 1).
        Compile it (t2i_tf.jit.compile_method) with method, beam_width and temperature bound
        as Python values.
        """
        if method not in METHODS:
            raise ValueError(f"unknown method {method!r}; known: {METHODS}")
        state = self.generation_state(ids, mask)
        length, start = self.num_pixels, self.start_token
        if method == "greedy":
            tokens, score = pixel_sampling.greedy(self.next_pixel, state, length, start)
        elif method == "sample":
            seed = self.seed_generator if seed is None else seed
            tokens, score = pixel_sampling.ancestral(self.next_pixel, state, length, start,
                                                     seed, temperature, noise)
        else:
            tokens, score = pixel_sampling.beam_search(self.next_pixel, state, length, start,
                                                       beam_width, live_width=live_width)
        return {"images": ops.reshape(tokens, (-1, *self.image_shape)), "log_prob": score}

    def get_config(self):
        return {**super().get_config(), "image_shape": self.image_shape,
                "levels": self.levels, "seed": self.seed}


def nll_from_logits(logits, tokens):
    """-sum_j log softmax(logits_j)[x_j]: (batch, N, V), (batch, N) int -> (batch,) float32."""
    log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)
    picked = ops.take_along_axis(log_probs, ops.cast(tokens, "int32")[:, :, None], axis=-1)
    return -ops.sum(picked[:, :, 0], axis=-1)
