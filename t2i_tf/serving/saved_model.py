"""A DRAW-family model as a TensorFlow SavedModel for TF Serving: a tf.Module with explicit
signatures, the caption tokenisation and the prior noise inside the graph.

Caption models (alignDRAW, noalignDRAW) get three signatures:
  serving_default  captions  string (n,)      one caption per row
                   num_samples int32 ()       images per caption; default 1
                   seed        int32 ()       default 0
  from_ids         ids  int32 (n, L), mask bool (n, L) (right-padded, as the model takes
                   them), num_samples, seed as above
both returning
  images     uint8 (n * num_samples, H, W)   round(255 * sigmoid(c_T)), the Bernoulli means
  attention  float32 (n * num_samples, T, L) the word weights alpha_t (zeros without align)
with row i * num_samples + j holding sample j of caption i, and
  drawing          captions, num_samples, seed as serving_default,
                   temperature float32 ()     scale of the prior's noise; default 1
  returning every step t = 1..T of the drawing (what the web page shows):
  canvases_png string (n * num_samples,)     a PNG of the T canvases round(255 *
                                              sigmoid(c_t)) stacked top to bottom (T H x W)
  windows    float32 (n * num_samples, T, 4)  the write window of step t: centre x, y (0-indexed
                                              pixels), width (N-1) delta, filter sigma (write_box)
  attention  float32 (n * num_samples, T, L) as above
A prior model (DRAW) gets serving_default(num_samples, seed) -> images (num_samples, H, W)
and drawing(num_samples, seed, temperature) -> canvases_png and windows. A model without
attention (draw_mnist_noattn) writes the whole canvas: its drawing has no windows.
At temperature 1 the drawing's last canvas is serving_default's image for the same seed.

Tokenisation in the graph is the one the model was trained with (its text.json:
t2i_tf.data.graph_tokenizer runs captioned MNIST's lower-cased whitespace split, or COCO's
lower-cased nltk Treebank tokens with colour words dropped if training dropped them, as
TensorFlow string ops), each token looked up in the model's vocabulary, unknown tokens (and
the literal "<pad>") to <unk>, padded to the longest caption of the batch. A caption with no token, an id outside the vocabulary or num_samples < 1 is refused
(InvalidArgumentError). The export also writes the vocabulary to
assets.extra/vocabulary.json (VOCABULARY_FILE), where t2i_tf.serve reads it to refuse a
caption with no known word, as `sample` does (caption_input.caption_problem), and the
tokenisation to assets.extra/text.json (TEXT_FILE), whose tokeniser the server checks with.

The noise. Sample j of every caption draws eps_j = tf.random.stateless_normal((T, z_dim),
seed=[seed, j], alg="philox"): a pure function of (seed, j), independent of the other rows
of the batch, so a caption with a seed draws the same images on every call, alone or among
other captions (up to float rounding between batch shapes: a pixel may differ by one).
`prior_noise` computes it, eagerly or in the graph; drawing multiplies it by the
temperature (z_t = mu_t + temperature sigma_t eps_t, as t2i_tf.sampling does). `reference_outputs`
is the in-process equivalent of a serving call: the same noise, handed to the Keras model's own
`generate` on whichever backend Keras runs (numpy tensors in and out), then rounded the
same way; its images match the SavedModel's up to float rounding (off by one in a few
pixels). It does not reproduce `t2i_tf.sample`, whose noise comes from keras.random.normal.

Export runs the Keras model on the TensorFlow backend (the weights are backend-neutral .npz,
so a model trained on JAX exports the same way). By default the model part of the graph is
marked for XLA (jit_compile): TensorFlow compiles it on the first call of each input shape,
and the official TF Serving runs it only with --xla_cpu_compilation_enabled=true (on CPU);
export with jit_compile=False for a graph that needs no XLA, several times slower on CPU
(one full-size alignDRAW caption: about 8 ms with XLA, 45-75 ms without, on the 2-core CPU
under load).
"""

import json
import os
import shutil
import tempfile

import numpy as np
import tensorflow as tf

from t2i_tf.data import caption_text, graph_tokenizer
from t2i_tf.models import registry
from t2i_tf.serving.common import (DRAWING, FROM_IDS, SERVING_DEFAULT, encode_captions,
                                   film_strips, id_checks, next_power_of_two,
                                   tracked_variables)

# Beside the SavedModel, in the folder that SavedModel keeps for files the graph does not
# load: what a client needs to show the model (the web page reads it; model_info).
MODEL_INFO = os.path.join("assets.extra", "t2i_tf_model.json")

VOCABULARY_FILE = os.path.join("assets.extra", "vocabulary.json")  # in a version folder
TEXT_FILE = os.path.join("assets.extra", "text.json")  # the CaptionText, in a version folder

_NUM_SAMPLES = tf.TensorSpec((), tf.int32, name="num_samples")
_SEED = tf.TensorSpec((), tf.int32, name="seed")
_TEMPERATURE = tf.TensorSpec((), tf.float32, name="temperature")


def prior_noise(steps, z_dim, num_rows, num_samples, seed):
    """eps (T, num_rows * num_samples, z_dim): row r * num_samples + j is eps_j for every r.

    eps_j = tf.random.stateless_normal((T, z_dim), seed=[seed, j], alg="philox"). Works
    eagerly (returns a tf.Tensor; .numpy() it) and inside a tf.function.
    """
    seed = tf.cast(seed, tf.int32)

    def one(j):
        return tf.random.stateless_normal((steps, z_dim), seed=tf.stack([seed, j]),
                                          alg="philox")

    per_sample = tf.map_fn(one, tf.range(num_samples, dtype=tf.int32),
                           fn_output_signature=tf.float32)  # (k, T, z)
    rows = tf.tile(per_sample[None], [num_rows, 1, 1, 1])  # (n, k, T, z)
    rows = tf.reshape(rows, (-1, steps, z_dim))  # (n k, T, z)
    return tf.transpose(rows, (1, 0, 2))  # (T, n k, z)


def to_uint8(canvas):
    """Bernoulli means in [0, 1] -> uint8 round(255 p), half to even (as numpy rounds)."""
    return tf.cast(tf.round(tf.clip_by_value(canvas, 0.0, 1.0) * 255.0), tf.uint8)


def is_caption_model(model):
    return registry.spec_of(model).captioned


class _Generator(tf.Module):
    """The model's generation for the serving signatures: the final canvas and the word
    weights, or (for the drawing signature) every step's canvas, write window and weights.

    With jit_compile the model runs under XLA, which compiles once per input shape; the
    rows are then padded up to a power of two and the words up to a power of two of at
    least MIN_LENGTH (padding is masked, padded rows are dropped), so a server sees a
    handful of shapes (row_buckets x length_buckets), not one per batch size and caption
    length, and can compile them all before it serves (t2i_tf.serving.rest_server.warm_up).
    """

    MIN_LENGTH = 8

    def __init__(self, model, jit_compile, name=None):
        super().__init__(name=name)
        self.jit_compile = jit_compile
        self.captions = is_caption_model(model)
        self.write_n = model.cell.write_n if model.cell.attention else None
        if self.captions:
            def final(ids, mask, eps):
                out = model.generate(ids, mask, eps)
                return out["canvases"][-1], out["alpha"]

            def steps(ids, mask, eps):
                out = model.generate(ids, mask, eps)
                return out["canvases"], out["windows"], out["alpha"]
        else:
            def final(eps):
                return model.generate(eps)["canvases"][-1], None

            def steps(eps):
                out = model.generate(eps)
                return out["canvases"], out["windows"], None
        self._final = tf.function(final, jit_compile=jit_compile)
        self._steps = tf.function(steps, jit_compile=jit_compile)

    def _padded(self, eps, ids, mask):
        """(rows, words, the model's arguments padded to the compiled shapes)."""
        rows = tf.shape(eps)[1]
        if self.jit_compile:
            eps = tf.pad(eps, [[0, 0], [0, next_power_of_two(rows) - rows], [0, 0]])
        if not self.captions:
            return rows, None, (eps,)
        length = tf.shape(ids)[1]
        if self.jit_compile:
            bucket = next_power_of_two(tf.maximum(length, self.MIN_LENGTH))
            padding = [[0, tf.shape(eps)[1] - rows], [0, bucket - length]]
            ids, mask = tf.pad(ids, padding), tf.pad(mask, padding)
        return rows, length, (ids, mask, eps)

    def __call__(self, eps, ids=None, mask=None):
        """eps (T, rows, z); ids, mask (rows, L) for caption models. Returns a dict of
        images uint8 (rows, H, W) and, for caption models, attention (rows, T, L)."""
        rows, length, args = self._padded(eps, ids, mask)
        canvas, alpha = self._final(*args)
        out = {"images": to_uint8(canvas[:rows])}
        if self.captions:
            out["attention"] = tf.transpose(alpha[:, :rows, :length], (1, 0, 2))
        return out

    def drawing(self, eps, ids=None, mask=None):
        """As __call__, every step: canvases_png string (rows,) (see film_strips), windows
        float32 (rows, T, 4) (models with attention; see write_box) and attention
        (rows, T, L)."""
        rows, length, args = self._padded(eps, ids, mask)
        canvases, windows, alpha = self._steps(*args)  # (T, rows', ...)
        out = {"canvases_png": film_strips(to_uint8(canvases[:, :rows]))}
        if self.write_n is not None:
            out["windows"] = tf.transpose(write_box(windows[:, :rows], self.write_n), (1, 0, 2))
        if self.captions:
            out["attention"] = tf.transpose(alpha[:, :rows, :length], (1, 0, 2))
        return out


def write_box(windows, n):
    """(..., 5) windows (g_X, g_Y, delta, sigma^2, gamma) of an N x N filter grid ->
    (..., 4) = (x, y, width, sigma) in pixels: the grid's centre (column x and row y,
    0-indexed as in t2i_tf.visualize.window_box), the span (N - 1) delta of its outermost
    filter centres, and the filters' standard deviation."""
    gx, gy, delta, sigma2 = windows[..., 0], windows[..., 1], windows[..., 2], windows[..., 3]
    return tf.stack([gx - 1.0, gy - 1.0, (n - 1) * delta, tf.sqrt(sigma2)], axis=-1)


def _assert_positive_samples(num_samples):
    check = tf.debugging.assert_positive(num_samples, message="num_samples must be >= 1")
    with tf.control_dependencies([check]):
        return tf.identity(num_samples)


def _scale_noise(eps, temperature):
    """eps * temperature: z_t = mu_t + temperature sigma_t eps_t (t2i_tf.sampling.samplers'
    temperature); refuses a negative or non-finite temperature."""
    ok = tf.math.logical_and(tf.math.is_finite(temperature), temperature >= 0.0)
    check = tf.debugging.Assert(ok, ["temperature must be a finite number >= 0"])
    with tf.control_dependencies([check]):
        return eps * temperature


class CaptionServingModule(tf.Module):
    """The serving signatures of an alignDRAW-family model (see the module docstring).

    Args:
      model: a built AlignDraw on the TensorFlow backend.
      vocabulary: its t2i_tf.data.vocabulary.Vocabulary.
      jit_compile: run the model under XLA (see _Generator).
      text: its t2i_tf.data.caption_text.CaptionText (how its captions were tokenised).
    """

    def __init__(self, model, vocabulary, jit_compile=True, text=caption_text.WHITESPACE,
                 name=None):
        super().__init__(name=name)
        self.model = model
        self.model_variables = tracked_variables(model)
        self.caption_ids = graph_tokenizer.CaptionIds(vocabulary, text)
        self.generator = _Generator(model, jit_compile)
        one, zero, unit = tf.constant(1), tf.constant(0), tf.constant(1.0)  # the defaults
        captions_spec = tf.TensorSpec((None,), tf.string, name="captions")

        @tf.function(input_signature=[captions_spec, _NUM_SAMPLES, _SEED])
        def serving_default(captions, num_samples=one, seed=zero):
            ids, mask = self.tokenize(captions)
            return self.generator(*self._inputs(ids, mask, num_samples, seed))

        @tf.function(input_signature=[tf.TensorSpec((None, None), tf.int32, name="ids"),
                                      tf.TensorSpec((None, None), tf.bool, name="mask"),
                                      _NUM_SAMPLES, _SEED])
        def from_ids(ids, mask, num_samples=one, seed=zero):
            return self.generator(*self._inputs(ids, mask, num_samples, seed))

        @tf.function(input_signature=[captions_spec, _NUM_SAMPLES, _SEED, _TEMPERATURE])
        def drawing(captions, num_samples=one, seed=zero, temperature=unit):
            ids, mask = self.tokenize(captions)
            eps, ids, mask = self._inputs(ids, mask, num_samples, seed)
            return self.generator.drawing(_scale_noise(eps, temperature), ids, mask)

        self.serving_default = serving_default
        self.from_ids = from_ids
        self.drawing = drawing

    def signatures(self):
        return {SERVING_DEFAULT: self.serving_default, FROM_IDS: self.from_ids,
                DRAWING: self.drawing}

    def tokenize(self, captions):
        """captions (n,) -> ids int32 (n, L), mask bool (n, L), L the longest caption."""
        return self.caption_ids(captions)

    def _inputs(self, ids, mask, num_samples, seed):
        """Checks ids and mask; returns (eps (T, n k, z), ids and mask repeated (n k, L))."""
        with tf.control_dependencies(id_checks(ids, mask, self.model.encoder.vocab_size)):
            num_samples = _assert_positive_samples(num_samples)
        model = self.model
        eps = prior_noise(model.steps, model.z_dim, tf.shape(ids)[0], num_samples, seed)
        return (eps, tf.repeat(ids, num_samples, axis=0),
                tf.repeat(mask, num_samples, axis=0))


class PriorServingModule(tf.Module):
    """The serving signature of a DRAW model: serving_default(num_samples, seed) -> images.

    Args: model (a built Draw on the TensorFlow backend), jit_compile as above.
    """

    def __init__(self, model, jit_compile=True, name=None):
        super().__init__(name=name)
        self.model = model
        self.model_variables = tracked_variables(model)
        self.generator = _Generator(model, jit_compile)
        one, zero, unit = tf.constant(1), tf.constant(0), tf.constant(1.0)

        def noise(num_samples, seed):
            num_samples = _assert_positive_samples(num_samples)
            return prior_noise(model.steps, model.z_dim, 1, num_samples, seed)

        @tf.function(input_signature=[_NUM_SAMPLES, _SEED])
        def serving_default(num_samples=one, seed=zero):
            return self.generator(noise(num_samples, seed))

        @tf.function(input_signature=[_NUM_SAMPLES, _SEED, _TEMPERATURE])
        def drawing(num_samples=one, seed=zero, temperature=unit):
            return self.generator.drawing(_scale_noise(noise(num_samples, seed), temperature))

        self.serving_default = serving_default
        self.drawing = drawing

    def signatures(self):
        return {SERVING_DEFAULT: self.serving_default, DRAWING: self.drawing}


def serving_module(model, vocabulary=None, jit_compile=True, text=caption_text.WHITESPACE):
    """The tf.Module to save for `model` (a caption model needs its vocabulary; `text` is
    how its captions were tokenised). The pixel models' module is
    t2i_tf.serving.pixel_saved_model.PixelServingModule.

    Raises:
      ValueError: a model that is neither of the DRAW family nor a pixel model, or a
        caption model without its vocabulary.
    """
    name = getattr(model, "registry_name", type(model).__name__)
    if name not in registry.MODELS:
        raise ValueError(f"export has no serving signatures for {name} models")
    pixel = registry.spec(name).pixel
    if not is_caption_model(model):
        return PriorServingModule(model, jit_compile)
    if vocabulary is None:
        raise ValueError("a caption model needs its vocabulary")
    if pixel:
        from t2i_tf.serving import pixel_saved_model

        return pixel_saved_model.PixelServingModule(model, vocabulary, jit_compile, text)
    return CaptionServingModule(model, vocabulary, jit_compile, text)


def export(model, version_dir, vocabulary=None, jit_compile=True, text=caption_text.WHITESPACE):
    """Writes the SavedModel of `model` to version_dir (e.g. DIR/1, TF Serving's layout).

    The SavedModel is written beside it under a temporary name and renamed into place, so
    a server that polls DIR never sees half a version. Returns version_dir.

    Raises:
      FileExistsError: version_dir exists.
    """
    version_dir = os.path.abspath(version_dir)
    if os.path.exists(version_dir):
        raise FileExistsError(f"{version_dir} exists; export to a new version")
    parent = os.path.dirname(version_dir)
    os.makedirs(parent, exist_ok=True)
    module = serving_module(model, vocabulary, jit_compile, text)
    # A dot-name: TF Serving only loads versions whose folder name is a number.
    tmp = tempfile.mkdtemp(dir=parent, prefix=".tmp-export-")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)  # mkdtemp makes 0700 folders; a server may run as another user
    try:
        tf.saved_model.save(module, tmp, signatures=module.signatures())
        if vocabulary is not None:
            os.makedirs(os.path.join(tmp, os.path.dirname(VOCABULARY_FILE)), exist_ok=True)
            with open(os.path.join(tmp, VOCABULARY_FILE), "w") as f:
                f.write(vocabulary.to_json())
            with open(os.path.join(tmp, TEXT_FILE), "w") as f:
                f.write(text.to_json())
        os.makedirs(os.path.join(tmp, os.path.dirname(MODEL_INFO)), exist_ok=True)
        with open(os.path.join(tmp, MODEL_INFO), "w") as f:
            json.dump(model_info(model, vocabulary), f, indent=1)
        os.replace(tmp, version_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return version_dir


def model_info(model, vocabulary=None):
    """What export writes to VERSION/assets.extra/t2i_tf_model.json: the model's registry
    name, steps T, image_shape, write_n (None without attention) and vocabulary (its tokens
    in id order, None for a prior model); a pixel model's (t2i_tf.serving.pixel_saved_model.model_info)
    has steps and write_n None and adds levels and the generation methods."""
    if registry.spec_of(model).pixel:
        from t2i_tf.serving import pixel_saved_model

        return pixel_saved_model.model_info(model, vocabulary)
    attention = model.cell.attention
    return {"model": getattr(model, "registry_name", type(model).__name__),
            "steps": int(model.steps), "image_shape": list(model.image_shape),
            "write_n": int(model.cell.write_n) if attention else None,
            "vocabulary": list(vocabulary.tokens) if vocabulary is not None else None}


def _reference_generate(model, seed, num_samples, captions, vocabulary, ids, mask,
                        temperature=1.0):
    """The model's generate (numpy, time-major) on a serving call's noise."""
    from keras import ops

    rows = 1
    if is_caption_model(model):
        if captions is not None:
            ids, mask = encode_captions(vocabulary, captions)
        ids, mask = np.asarray(ids, np.int32), np.asarray(mask, bool)
        rows = len(ids)
    eps = temperature * prior_noise(model.steps, model.z_dim, rows, num_samples, seed).numpy()
    if not is_caption_model(model):
        out = model.generate(eps)
    else:
        out = model.generate(np.repeat(ids, num_samples, 0), np.repeat(mask, num_samples, 0),
                             eps)
    return {k: ops.convert_to_numpy(v) for k, v in out.items()}


def reference_outputs(model, seed, num_samples=1, captions=None, vocabulary=None, ids=None,
                      mask=None):
    """What a serving call returns, computed in process with the Keras model.

    Works on any Keras backend. Pass captions (with the vocabulary) or ids and mask for a
    caption model, neither for a prior model. Returns numpy images uint8 (rows, H, W) and,
    for caption models, attention float32 (rows, T, L).
    """
    out = _reference_generate(model, seed, num_samples, captions, vocabulary, ids, mask)
    answer = {"images": _round(out["canvases"][-1])}
    if "alpha" in out:
        answer["attention"] = out["alpha"].transpose(1, 0, 2)
    return answer


def reference_drawing(model, seed, num_samples=1, temperature=1.0, captions=None,
                      vocabulary=None):
    """What the drawing signature returns, computed in process with the Keras model, in
    numpy: canvases uint8 (rows, T, H, W) (the PNGs' pixels), windows (rows, T, 4) for
    models with attention, attention (rows, T, L) for caption models."""
    from t2i_tf import visualize

    out = _reference_generate(model, seed, num_samples, captions, vocabulary, None, None,
                              temperature)
    answer = {"canvases": _round(np.swapaxes(out["canvases"], 0, 1))}
    if model.cell.attention:
        n = model.cell.write_n
        windows = np.swapaxes(out["windows"], 0, 1)  # (rows, T, 5)
        left, top, right, bottom = visualize.window_box(np.moveaxis(windows, -1, 0), n)
        answer["windows"] = np.stack([(left + right) / 2, (top + bottom) / 2, right - left,
                                      np.sqrt(windows[..., 3])], -1)
    if "alpha" in out:
        answer["attention"] = out["alpha"].transpose(1, 0, 2)
    return answer


def _round(canvas):
    return np.round(np.clip(canvas, 0.0, 1.0) * 255.0).astype(np.uint8)
