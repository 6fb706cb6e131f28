"""Draws images from a trained model.

  python -m t2i_tf.sample --num_samples=64 --out=samples          # DRAW, models/draw_mnist
  python -m t2i_tf.sample --caption="the digit 3 is at the top of the digit 1 ." \
      --num_samples=16 --out=samples       # alignDRAW, models/aligndraw_mnist_captions
  python -m t2i_tf.sample --captions_file=docs/captions_mnist_seen.txt --model=DIR
  python -m t2i_tf.sample --model=DIR --caption="the digit 3 is at the top of the digit 1 ." \
      --beam=4                             # a pixel model (align_pixel_rnn, align_pixel_cnn)
  python -m t2i_tf.sample --beam=4         # alignpixelrnn_mnist_captions, that caption

Captions are tokenised as the model's training captions were (its text.json: nltk
Treebank tokens for COCO models, colour words dropped for a grayscale COCO model; captioned
MNIST's whitespace split otherwise). Each caption is checked on its own: a bad one (empty, over the length limit, not UTF-8, no
known word) is reported on stderr as `error: LABEL: ...` and the others are still drawn;
the exit status is non-zero only when nothing could be drawn.

DRAW models draw from the prior at --temperature (default DRAW_TEMPERATURE, 0.5: z_t =
mu_t + 0.5 sigma_t eps_t; --temperature=1 samples the model's own prior) and write
samples.png (final canvases: Bernoulli means, as in DRAW Fig. 6; one row per caption for
caption models), steps.png (canvases every few steps, Fig. 7) and
drawing.gif (the drawing sequence with each write window boxed in red, Figs. 1 and 10);
caption models add attention.png (words x steps, alignDRAW Fig. 6) and attention.txt (words
by weight).

Pixel models draw every caption in one compiled loop over the pixels
(t2i_tf.sampling.samplers.PixelCaptionSampler): --method=sample (the default: ancestral sampling at
--temperature, --num_samples images per caption), greedy, or beam (--beam=N, which implies
it: beam search of width N). Greedy and beam search are deterministic, so they draw one
image per caption. They write samples.png (one row per caption, the caption on the left;
pixel values v shown as v / (V - 1)) and scores.txt (per caption, log p(x | y) in nats of
each image drawn, the model's exact summed log-probability). They have no drawing sequence
and their samplers return no attention weights, so no steps.png, drawing.gif or attention.
"""

import importlib.util
import os
import sys

# One call draws one batch, so compiling the sampler costs more than it saves for DRAW:
# unless KERAS_BACKEND says otherwise, sample runs on Keras's NumPy backend (no TensorFlow
# import, no tracing, no XLA). tests/test_backends.py holds it to the TensorFlow backend's
# numbers. A pixel model's loop has one step per pixel (1,024 at 32x32), each of them a
# dozen eager NumPy calls; compiled by JAX the loop runs several times faster, compilation
# included (the paper-size alignPixelRNN, one caption, beam 4: 87-96 s on NumPy against
# 10-18 s on JAX, on the 2-core CPU while it also trained two models). So when the user set
# no KERAS_BACKEND and the model's config.json (read with json, before Keras is imported:
# the backend is fixed at import) names a pixel model, sample picks jax if it is installed.
# The NumPy backend still runs the pixel samplers, only slower: KERAS_BACKEND=numpy.
_USER_BACKEND = os.environ.get("KERAS_BACKEND")
os.environ.setdefault("KERAS_BACKEND", "numpy")

from absl import flags  # noqa: E402

from t2i_tf import cli  # noqa: E402
from t2i_tf.models import registry  # noqa: E402  (plain Python: no Keras yet)

FLAGS = flags.FLAGS
# sample's prior temperature for DRAW models: the shipped alignDRAW's samples at 0.5 are
# right in 95% of seen and 59% of held-out scenes against 83% and 46% at 1 (docs/RESULTS.md,
# "Samples at a lower prior temperature"), and still vary in place and style.
DRAW_TEMPERATURE = 0.5
MAX_TEMPERATURE = 10.0  # beyond it the prior's noise swamps the model (and overflows)
MAX_IMAGES = 10000  # images per call, all captions together
cli.define_model_flag(more="default aligndraw_mnist_captions with captions, draw_mnist "
                      "without, alignpixelrnn_mnist_captions with --beam or --method.")
flags.DEFINE_multi_string("caption", [], "Caption(s) to draw (caption models); repeatable.")
flags.DEFINE_string("captions_file", None, "A file of captions, one per line.")
flags.DEFINE_integer("num_samples", 64, "Images to draw (per caption for caption models).")
flags.DEFINE_integer("seed", 0, "Seed of the prior samples (pixel models: of --method=sample).")
flags.DEFINE_string("out", "samples", "Output folder (created if missing).")
flags.DEFINE_integer("scale", 4, "Pixel magnification of the pictures.")
flags.DEFINE_float("temperature", None, "DRAW models: scale of the prior's noise, z = mu + T "
                   "sigma eps (1: the model's own prior, as the papers sampled and evaluate "
                   "scores; lower: closer to its mean, cleaner and truer to the caption, less "
                   f"varied; 0: the mean itself); default {DRAW_TEMPERATURE:g}. Pixel models, "
                   "--method=sample: the softmax temperature (> 0); default 1.")
# The pixel models.
flags.DEFINE_enum("method", None, ["greedy", "sample", "beam"],
                  "Pixel models: how each pixel is chosen; default sample, or beam with --beam.")
flags.DEFINE_integer("beam", 0, "Pixel models: beam search of this width (implies "
                     "--method=beam); 0: no beam search.")
flags.register_validator("num_samples", lambda v: 0 < v <= 10000, message="must be in 1..10000")
flags.register_validator("scale", lambda v: 0 < v <= 16, message="must be in 1..16")
flags.register_validator("beam", lambda v: 0 <= v <= 256, message="must be in 0..256")
flags.register_validator("temperature", lambda v: v is None or 0 <= v <= MAX_TEMPERATURE,
                         message=f"must be a number in 0..{MAX_TEMPERATURE:g}")

DEFAULT_MODEL = "draw_mnist"
DEFAULT_CAPTION_MODEL = "aligndraw_mnist_captions"
DEFAULT_PIXEL_MODEL = "alignpixelrnn_mnist_captions"  # --beam or --method without --model
DEFAULT_CAPTION = "the digit 3 is at the top of the digit 1 ."  # a pixel model without one


def _pick_backend(model_name):
    """Sets KERAS_BACKEND=jax for a pixel model if the user chose no backend, Keras is not
    imported yet and JAX is installed (see the comment at the top)."""
    if _USER_BACKEND or "keras" in sys.modules or importlib.util.find_spec("jax") is None:
        return
    from t2i_tf.training import checkpoint  # json and numpy only until a model is loaded

    try:
        name, _ = checkpoint.read_config(checkpoint.resolve(model_name))
    except checkpoint.CheckpointError:
        return  # load_model says what is wrong
    if name in registry.MODELS and registry.MODELS[name].pixel:
        os.environ["KERAS_BACKEND"] = "jax"


def _pixel_method():
    """(method, beam width) from --method and --beam; bad combinations end in one line."""
    method = FLAGS.method or ("beam" if FLAGS.beam else "sample")
    if FLAGS.beam and method != "beam":
        raise cli.UsageError(f"--beam={FLAGS.beam} is beam search; drop --method={method} "
                             "or --beam")
    if method == "beam" and not FLAGS.beam:
        raise cli.UsageError("--method=beam needs its width: --beam=N")
    return method, max(FLAGS.beam, 1)


def _draw_temperature():
    return DRAW_TEMPERATURE if FLAGS.temperature is None else FLAGS.temperature


def _pixel_temperature():
    return 1.0 if FLAGS.temperature is None else FLAGS.temperature


def _warn_unused_flags(method):
    if method != "sample" and FLAGS["temperature"].present:
        print(f"warning: --temperature applies to --method=sample, not {method}",
              file=sys.stderr)
    if method != "sample" and FLAGS["num_samples"].present and FLAGS.num_samples > 1:
        print(f"warning: --method={method} is deterministic: one image per caption",
              file=sys.stderr)


def _check_writable(folder):
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise cli.UsageError(f"cannot create output folder {folder}: {e.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise cli.UsageError(f"output folder {folder} is not writable")


def _check_total(images):
    if images > MAX_IMAGES:
        raise cli.UsageError(f"{images:,} images asked for (captions x --num_samples); at most "
                             f"{MAX_IMAGES:,} per call")


def _read_captions(model_name):
    """(kept [(label, caption, tokens)], ids, mask) of --caption and --captions_file; bad
    captions are reported on stderr, and none at all ends the binary."""
    from t2i_tf.data import caption_input
    from t2i_tf.training import checkpoint

    labelled = [(f"--caption {i + 1}", c) for i, c in enumerate(FLAGS.caption)]
    problems = []
    if FLAGS.captions_file:
        from_file, problems = caption_input.read_captions_file(FLAGS.captions_file)
        labelled += from_file
    vocabulary = checkpoint.load_vocabulary(model_name)
    text = checkpoint.load_text(model_name)  # the tokenisation the model was trained with
    if text.drop_colours:
        print("note: this model was trained without colour words; they are dropped from "
              "the captions", file=sys.stderr)
    kept, ids, mask, bad, warnings = caption_input.encode(vocabulary, labelled, text.tokenize)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    reported = problems + bad
    if not kept and len(reported) == 1:  # one reason says it all: no verdict line after it
        raise cli.UsageError(reported[0])
    for line in reported:
        print(f"error: {line}", file=sys.stderr)
    if not kept:
        raise cli.UsageError("no caption could be drawn")
    return kept, ids, mask


def main(argv):
    del argv
    has_captions = bool(FLAGS.caption or FLAGS.captions_file)
    model_name = FLAGS.model or (DEFAULT_CAPTION_MODEL if has_captions else DEFAULT_MODEL)
    if not FLAGS.model and (FLAGS.method or FLAGS.beam):  # only pixel models take these
        model_name, used = DEFAULT_PIXEL_MODEL, f"--model={DEFAULT_PIXEL_MODEL}"
        if not has_captions:
            FLAGS.caption, has_captions = [DEFAULT_CAPTION], True
            used += f' --caption="{DEFAULT_CAPTION}"'
        print(f"note: drawing with {used} (the defaults for --beam and --method)",
              file=sys.stderr)
    _check_writable(FLAGS.out)  # before the slow part
    if FLAGS.method or FLAGS.beam:
        _pixel_method()  # a bad --method/--beam pair ends here, before the slow part
    _pick_backend(model_name)  # before Keras is imported
    import numpy as np

    # Keras's NumPy sigmoid is 1 / (1 + exp(-x)): exp overflows to inf where a canvas is far
    # below 0 and the result, 0, is right; the RuntimeWarning it prints is noise to a user.
    np.seterr(over="ignore")
    from t2i_tf.sampling import drawing
    from t2i_tf.training import checkpoint

    model = checkpoint.load_model(model_name)
    spec = registry.spec_of(model)
    if not spec.pixel and (FLAGS.method or FLAGS.beam):
        raise cli.UsageError(f"--method and --beam are for the pixel models; "
                             f"{model_name} is a {spec.name} model")
    if spec.pixel and _pixel_temperature() == 0:
        raise cli.UsageError("--temperature=0: a pixel model's softmax temperature must "
                             "be positive (--method=greedy takes the likeliest pixels)")
    if spec.captioned and not has_captions:
        raise cli.UsageError("this model draws captions: pass --caption=\"...\" or "
                             "--captions_file")
    if not spec.captioned and has_captions:
        raise cli.UsageError(f"{model_name} is not a caption model; drop the captions")
    if spec.pixel:
        method, width = _pixel_method()
        _warn_unused_flags(method)
        kept, ids, mask = _read_captions(model_name)
        _check_total(len(kept) * (FLAGS.num_samples if method == "sample" else 1))
        paths = drawing.draw_pixel_captions(model, FLAGS.out, kept, ids, mask, method, width,
                                            FLAGS.num_samples, FLAGS.seed,
                                            _pixel_temperature(), FLAGS.scale)
    elif spec.captioned:
        kept, ids, mask = _read_captions(model_name)
        _check_total(len(kept) * FLAGS.num_samples)
        paths = drawing.draw_captions(model, FLAGS.out, kept, ids, mask, FLAGS.num_samples,
                                      FLAGS.seed, _draw_temperature(), FLAGS.scale)
    else:
        paths = drawing.draw_prior(model, FLAGS.out, FLAGS.num_samples, FLAGS.seed,
                                   _draw_temperature(), FLAGS.scale)
    for path in paths:
        print(path)


def run():
    """`t2i-sample`, the same as `python -m t2i_tf.sample`."""
    cli.run(main)


if __name__ == "__main__":
    run()
