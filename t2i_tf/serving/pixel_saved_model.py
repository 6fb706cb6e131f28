"""A caption-conditioned pixel model (alignPixelRNN, alignPixelCNN) as a TensorFlow SavedModel
for TF Serving: the caption tokenisation, the random numbers and the whole loop over the
pixels inside the graph, compiled (one XLA program per method and shape, not one call per
pixel).

Signatures (t2i_tf/serving/saved_model.py's request format, with the generation method added):
  serving_default  captions    string (n,)      one caption per row
                   method      string ()        "greedy", "sample" or "beam"; default "sample"
                   num_samples int32 ()         images per caption; default 1
                   seed        int32 ()         default 0 (sample)
                   temperature float32 ()       the softmax temperature, > 0; default 1 (sample)
                   beam_width  int32 ()         1 .. max_beam_width; default 4 (beam)
  from_ids         ids int32 (n, L), mask bool (n, L) (right-padded), and the scalars above
both returning
  images     uint8 (n * num_samples, H, W)   round(255 x / (V - 1)), x the pixel values
                                              in [0, V) (x itself for 8-bit models)
  log_prob   float32 (n * num_samples,)       log p(x | y) in nats, summed over the N = H W
                                              pixels, at temperature 1
  attention  float32 (n * num_samples, N, L)  the word weights alpha_j with which pixel j
                                              was drawn, raster order
with row i * num_samples + j holding sample j of caption i, and
  drawing          captions and the scalars as serving_default, returning what the web page
                   shows as the image fills row by row (t2i_tf/serving/web_page.py):
  image_png  string (n * num_samples,)       a PNG of each image (H x W grey, the images'
                                              pixels: lossless)
  attention  float32 (n * num_samples, H, L)  the word weights of each image row: alpha_j
                                              averaged over the row's W pixels
  log_prob   float32 (n * num_samples,)       as above
(saved_model.py's drawing gives the DRAW family's T steps; a pixel model's steps are its H
image rows). Greedy and beam are
deterministic: their num_samples rows of a caption are one image repeated. Captions are
tokenised as in training (t2i_tf.data.graph_tokenizer); a caption with no token, an id
outside the vocabulary, num_samples < 1, an unknown method, a temperature that is not a
positive finite number or a beam_width outside 1 .. max_beam_width is refused
(InvalidArgumentError; t2i_tf.serve answers 400).

The random numbers. Sample j of every caption draws its pixels with the uniforms
u_j = tf.random.stateless_uniform((N,), seed=[seed, j], alg="philox") (`pixel_noise`), by
inverse CDF (t2i_tf.sampling.step_samplers.ancestral): a pure function of (seed, j), so a caption
with a seed draws the same images alone or among other captions. `reference_outputs` is
the in-process equivalent of a call: the model's own sampler (t2i_tf.sampling.samplers.
PixelCaptionSampler, on whichever backend Keras runs) fed the same uniforms; `python -m
t2i_tf.sample` draws its uniforms from numpy instead, so its --method=sample images differ
from the served ones for the same --seed, while greedy and beam (no randomness) agree.

Compiled shapes. As for the DRAW family, the rows of a call are padded to a power of two
and the words to a power of two, here of at least 16 (padding is masked, padded rows
dropped): a caption of up to 16 words, nearly every MNIST and COCO caption, takes one shape,
and a server with the default limits (64 images, 64 words) compiles 7 x 3 of them.
Beam search of width w runs in the slots of the next power of two up to max_beam_width,
with the slots from w on kept at score -inf (step_samplers.beam_search's live_width): its
images and scores are those of a search of width w, and widths 1 .. max_beam_width need
log2(max_beam_width) + 1 programs. Each method is its own compiled function, compiled on
its first call of a shape (`python -m t2i_tf.serve` compiles the default method's shapes
before it listens).
"""

import tensorflow as tf

from t2i_tf.data import caption_text, graph_tokenizer
from t2i_tf.sampling import samplers
from t2i_tf.sampling.samplers import METHODS
from t2i_tf.serving import common

DEFAULT_METHOD = "sample"
DEFAULT_BEAM_WIDTH = 4
MAX_BEAM_WIDTH = 16

_SCALARS = [tf.TensorSpec((), tf.string, name="method"),
            tf.TensorSpec((), tf.int32, name="num_samples"),
            tf.TensorSpec((), tf.int32, name="seed"),
            tf.TensorSpec((), tf.float32, name="temperature"),
            tf.TensorSpec((), tf.int32, name="beam_width")]


def pixel_noise(num_pixels, num_rows, num_samples, seed):
    """Uniforms (N, num_rows * num_samples): column r * num_samples + j is u_j for every r,
    u_j = tf.random.stateless_uniform((N,), seed=[seed, j], alg="philox"). Works eagerly
    (a tf.Tensor; .numpy() it) and inside a tf.function."""
    seed = tf.cast(seed, tf.int32)

    def one(j):
        return tf.random.stateless_uniform((num_pixels,), seed=tf.stack([seed, j]),
                                           alg="philox")

    per_sample = tf.map_fn(one, tf.range(num_samples, dtype=tf.int32),
                           fn_output_signature=tf.float32)  # (k, N)
    return tf.transpose(tf.tile(per_sample, [num_rows, 1]))  # (N, n k)


def beam_widths(max_beam_width):
    """The slot counts compiled for beam search: 1, 2, 4, ... up to max_beam_width."""
    widths = [1]
    while widths[-1] < max_beam_width:
        widths.append(min(2 * widths[-1], max_beam_width))
    return widths


class _PixelGenerator(tf.Module):
    """The model's generation methods and attention as compiled functions on padded shapes
    (rows to a power of two, words to a power of two >= MIN_LENGTH; see the module
    docstring). Each returns pixels int32 (rows, H, W), log_prob (rows,) and attention
    (rows, N, L) of the real rows and words."""

    MIN_LENGTH = 16

    def __init__(self, model, jit_compile, max_beam_width, name=None):
        super().__init__(name=name)
        self.jit_compile = jit_compile
        self.widths = beam_widths(max_beam_width)

        def compiled(fn):
            return tf.function(fn, jit_compile=jit_compile)

        generate = samplers.generate_pixels
        self._greedy = compiled(lambda ids, mask: generate(model, ids, mask, "greedy"))
        self._sample = compiled(lambda ids, mask, noise, temperature: generate(
            model, ids, mask, "sample", temperature=temperature, noise=noise))
        self._beams = [compiled(lambda ids, mask, live, k=k: generate(
            model, ids, mask, "beam", beam_width=k, live_width=live)) for k in self.widths]
        self._attention = compiled(model.attention_weights)

    def _pad(self, ids, mask, noise=None):
        """(rows, length, ids, mask, noise) padded to the compiled shapes."""
        rows, length = tf.shape(ids)[0], tf.shape(ids)[1]
        if self.jit_compile:
            extra = common.next_power_of_two(rows) - rows
            bucket = common.next_power_of_two(tf.maximum(length, self.MIN_LENGTH))
            padding = [[0, extra], [0, bucket - length]]
            ids, mask = tf.pad(ids, padding), tf.pad(mask, padding)
            if noise is not None:
                noise = tf.pad(noise, [[0, 0], [0, extra]], constant_values=0.5)
        return rows, length, ids, mask, noise

    def _finish(self, out, rows, length, ids, mask):
        pixels = out["images"]
        attention = self._attention(pixels, ids, mask)  # (rows', N, L')
        return pixels[:rows], out["log_prob"][:rows], attention[:rows, :, :length]

    def greedy(self, ids, mask):
        rows, length, ids, mask, _ = self._pad(ids, mask)
        return self._finish(self._greedy(ids, mask), rows, length, ids, mask)

    def sample(self, ids, mask, noise, temperature):
        rows, length, ids, mask, noise = self._pad(ids, mask, noise)
        return self._finish(self._sample(ids, mask, noise, temperature), rows, length, ids,
                            mask)

    def beam(self, ids, mask, width):
        """Beam search of `width` (a scalar tensor in 1 .. max_beam_width)."""
        rows, length, ids, mask, _ = self._pad(ids, mask)
        slots = tf.reduce_sum(tf.cast(tf.constant(self.widths) < width, tf.int32))
        branches = [lambda k=k: self._beams[k](ids, mask, width)
                    for k in range(len(self.widths))]
        out = tf.switch_case(slots, branches)
        return self._finish(out, rows, length, ids, mask)


def _check_scalars(method, num_samples, temperature, beam_width, max_beam_width):
    """The assertions on a call's scalars; returns the index of `method` in METHODS."""
    known = tf.equal(tf.constant(METHODS), method)
    checks = [
        tf.debugging.Assert(tf.reduce_any(known),
                            [f"method must be one of {', '.join(METHODS)}"]),
        tf.debugging.assert_positive(num_samples, message="num_samples must be >= 1"),
        tf.debugging.Assert(tf.logical_and(tf.math.is_finite(temperature), temperature > 0.0),
                            ["temperature must be a finite number > 0"]),
        tf.debugging.Assert(tf.logical_and(beam_width >= 1, beam_width <= max_beam_width),
                            [f"beam_width must be in 1..{max_beam_width}"]),
    ]
    with tf.control_dependencies(checks):
        return tf.identity(tf.argmax(tf.cast(known, tf.int32), output_type=tf.int32))


def to_uint8(pixels, levels):
    """Pixel values in [0, V) -> uint8 intensities round(255 x / (V - 1))."""
    return tf.cast(tf.round(tf.cast(pixels, tf.float32) * (255.0 / (levels - 1))), tf.uint8)


class PixelServingModule(tf.Module):
    """The serving signatures of a pixel model (see the module docstring).

    Args:
      model: a built AlignPixelRNN or AlignPixelCNN on the TensorFlow backend.
      vocabulary: its t2i_tf.data.vocabulary.Vocabulary.
      jit_compile: run the generation under XLA (see _PixelGenerator).
      text: its CaptionText, how its training captions were tokenised.
      max_beam_width: the widest beam search served.
    """

    def __init__(self, model, vocabulary, jit_compile=True, text=caption_text.WHITESPACE,
                 max_beam_width=MAX_BEAM_WIDTH, name=None):
        super().__init__(name=name)
        self.model = model
        self.model_variables = common.tracked_variables(model)
        self.max_beam_width = max_beam_width
        self.caption_ids = graph_tokenizer.CaptionIds(vocabulary, text)
        self.generator = _PixelGenerator(model, jit_compile, max_beam_width)
        defaults = (tf.constant(DEFAULT_METHOD), tf.constant(1), tf.constant(0),
                    tf.constant(1.0), tf.constant(DEFAULT_BEAM_WIDTH))

        @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="captions"),
                                      *_SCALARS])
        def serving_default(captions, method=defaults[0], num_samples=defaults[1],
                            seed=defaults[2], temperature=defaults[3],
                            beam_width=defaults[4]):
            ids, mask = self.caption_ids(captions)
            return self.generate(ids, mask, method, num_samples, seed, temperature,
                                 beam_width)

        @tf.function(input_signature=[tf.TensorSpec((None, None), tf.int32, name="ids"),
                                      tf.TensorSpec((None, None), tf.bool, name="mask"),
                                      *_SCALARS])
        def from_ids(ids, mask, method=defaults[0], num_samples=defaults[1],
                     seed=defaults[2], temperature=defaults[3], beam_width=defaults[4]):
            return self.generate(ids, mask, method, num_samples, seed, temperature,
                                 beam_width)

        @tf.function(input_signature=[tf.TensorSpec((None,), tf.string, name="captions"),
                                      *_SCALARS])
        def drawing(captions, method=defaults[0], num_samples=defaults[1], seed=defaults[2],
                    temperature=defaults[3], beam_width=defaults[4]):
            ids, mask = self.caption_ids(captions)
            out = self.generate(ids, mask, method, num_samples, seed, temperature, beam_width)
            return {"image_png": common.film_strips(out["images"][None]),
                    "attention": row_attention(out["attention"], model.image_shape),
                    "log_prob": out["log_prob"]}

        self.serving_default = serving_default
        self.from_ids = from_ids
        self.drawing = drawing

    def signatures(self):
        return {common.SERVING_DEFAULT: self.serving_default,
                common.FROM_IDS: self.from_ids, common.DRAWING: self.drawing}

    def generate(self, ids, mask, method, num_samples, seed, temperature, beam_width):
        """The signatures' body: checks, then the chosen method; a dict of the outputs."""
        checks = common.id_checks(ids, mask, self.model.encoder.vocab_size)
        with tf.control_dependencies(checks):
            index = _check_scalars(method, num_samples, temperature, beam_width,
                                   self.max_beam_width)
        generator = self.generator

        def repeated(out):  # greedy and beam: one image per caption, num_samples copies
            return tuple(tf.repeat(x, num_samples, axis=0) for x in out)

        def sample():
            noise = pixel_noise(self.model.num_pixels, tf.shape(ids)[0], num_samples, seed)
            return generator.sample(tf.repeat(ids, num_samples, axis=0),
                                    tf.repeat(mask, num_samples, axis=0), noise, temperature)

        branches = {"greedy": lambda: repeated(generator.greedy(ids, mask)),
                    "sample": sample,
                    "beam": lambda: repeated(generator.beam(ids, mask, beam_width))}
        pixels, log_prob, attention = tf.switch_case(index, [branches[m] for m in METHODS])
        return {"images": to_uint8(pixels, self.model.levels), "log_prob": log_prob,
                "attention": attention}


def row_attention(attention, image_shape):
    """Per-pixel word weights (rows, N, L), raster order -> (rows, H, L): the mean over each
    image row's W pixels."""
    height, width = image_shape
    rows = tf.reshape(attention, [tf.shape(attention)[0], height, width, tf.shape(attention)[2]])
    return tf.reduce_mean(rows, axis=2)


def model_info(model, vocabulary=None, max_beam_width=MAX_BEAM_WIDTH):
    """assets.extra/t2i_tf_model.json of a pixel model (saved_model.model_info's keys,
    steps and write_n None, plus levels, methods and max_beam_width)."""
    return {"model": getattr(model, "registry_name", type(model).__name__), "steps": None,
            "image_shape": list(model.image_shape), "write_n": None,
            "vocabulary": list(vocabulary.tokens) if vocabulary is not None else None,
            "levels": int(model.levels), "methods": list(METHODS),
            "max_beam_width": int(max_beam_width)}


def reference_outputs(model, vocabulary, captions, method=DEFAULT_METHOD, num_samples=1,
                      seed=0, temperature=1.0, beam_width=DEFAULT_BEAM_WIDTH,
                      text=caption_text.WHITESPACE):
    """What serving_default returns, computed in process: the model's sampler
    (t2i_tf.sampling.samplers.PixelCaptionSampler, on any Keras backend) on the same tokens and, for
    "sample", the same uniforms (pixel_noise). Returns numpy images uint8 (rows, H, W),
    log_prob (rows,) and attention (rows, N, L)."""
    import numpy as np
    from keras import ops

    from t2i_tf import jit

    ids, mask = common.encode_captions(vocabulary, captions, text)
    ids, mask = np.asarray(ids, np.int32), np.asarray(mask, bool)
    sampler = samplers.PixelCaptionSampler(model, method, beam_width, temperature)
    if method == "sample":
        ids, mask = np.repeat(ids, num_samples, 0), np.repeat(mask, num_samples, 0)
        noise = pixel_noise(model.num_pixels, len(captions), num_samples, seed).numpy()
        out = sampler(ids, mask, noise=noise)
    else:
        out = {k: np.repeat(v, num_samples, 0) for k, v in sampler(ids, mask).items()}
        ids, mask = np.repeat(ids, num_samples, 0), np.repeat(mask, num_samples, 0)
    pixels = out["images"]
    attention = jit.compile_method(model, model.attention_weights)(pixels, ids, mask)
    scale = 255.0 / (model.levels - 1)
    return {"images": np.round(pixels * scale).astype(np.uint8), "log_prob": out["log_prob"],
            "attention": ops.convert_to_numpy(attention)}
