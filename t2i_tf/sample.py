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

FLAGS = flags.FLAGS
# sample's prior temperature for DRAW models: the shipped alignDRAW's samples at 0.5 are
# right in 95% of seen and 59% of held-out scenes against 83% and 46% at 1 (docs/RESULTS.md,
# "Samples at a lower prior temperature"), and still vary in place and style.
DRAW_TEMPERATURE = 0.5
MAX_TEMPERATURE = 10.0  # beyond it the prior's noise swamps the model (and overflows)
MAX_IMAGES = 10000  # images per call, all captions together
CHUNK = 128  # DRAW images per sampler call: memory stays bounded
SHOWN = 16  # samples per caption (64 without captions) in steps.png and drawing.gif
PICTURE_COLUMNS = 64  # samples per caption in samples.png (all of them in samples.npz)
MAX_PICTURE_SIDE = 8192  # pixels: samples.png's scale is lowered to stay within it
flags.DEFINE_string("model", None, "A model folder, or the name of one under models/; "
                    "default aligndraw_mnist_captions with captions, draw_mnist without, "
                    "alignpixelrnn_mnist_captions with --beam or --method.")
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
PIXEL_MODELS = ("align_pixel_rnn", "align_pixel_cnn")  # registry names


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
    if name in PIXEL_MODELS:
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


def _draw_chunked(draw, rows, shown):
    """Runs draw(start, stop, seed) -> a DRAW sampler's output over `rows` images in
    compiled calls of at most CHUNK images, so that memory stays bounded whatever
    --num_samples is. Returns the final canvases of every row (rows, H, W), the sampler's
    whole output for the rows in `shown` (sorted), and its windows and word weights (small)
    for every row. One call draws exactly what an unchunked call would; later chunks take
    seeds derived from (--seed, chunk).

    Raises RunError, before anything is written, if a canvas is not finite."""
    import numpy as np

    finals, kept, whole = [], [], {}
    shown = np.asarray(shown)
    for i, start in enumerate(range(0, rows, CHUNK)):
        stop = min(start + CHUNK, rows)
        seed = FLAGS.seed if i == 0 else int(np.random.SeedSequence([FLAGS.seed, i])
                                             .generate_state(1)[0] >> 1)
        out = draw(start, stop, seed)
        if not np.all(np.isfinite(out["canvases"][-1])):
            raise cli.RunError(f"the model drew non-finite canvases at --temperature="
                               f"{_draw_temperature():g}; nothing was written: try a lower one")
        finals.append(np.array(out["canvases"][-1]))  # a copy: a view would keep every step
        here = shown[(shown >= start) & (shown < stop)] - start
        kept.append(out["canvases"][:, here])
        for key in ("windows", "alpha"):
            if key in out:
                whole.setdefault(key, []).append(out[key])
    whole = {k: np.concatenate(v, axis=1) for k, v in whole.items()}
    return np.concatenate(finals), np.concatenate(kept, axis=1), whole


def _picture_scale(count, columns, side):
    """--scale, lowered (and said) if samples.png would be wider or taller than
    MAX_PICTURE_SIDE pixels."""
    import math

    columns = columns or int(math.ceil(math.sqrt(count)))
    longest = max(columns, math.ceil(count / columns)) * (side + 1)
    scale = max(1, min(FLAGS.scale, MAX_PICTURE_SIDE // longest))
    if scale < FLAGS.scale:
        print(f"note: samples.png drawn at --scale={scale} to stay within "
              f"{MAX_PICTURE_SIDE} pixels", file=sys.stderr)
    return scale


def _write_pictures(out, model, final, canvases, windows, columns=None, shown_columns=None,
                    labels=None):
    """samples.png of the final canvases (n, H, W) in rows of `columns` (one per caption
    with labels); steps.png and drawing.gif of the drawing sequence `canvases` (T, k, H, W)
    with its `windows` (T, k, 5) in rows of `shown_columns`, k <= n."""
    import numpy as np

    from t2i_tf import visualize

    write_n = model.cell.write_n if model.cell.attention else None
    paths = {name: os.path.join(out, name) for name in ("samples.png", "steps.png", "drawing.gif")}
    scale = _picture_scale(len(final), columns, final.shape[1])
    picture = visualize.grid(final, columns, scale=scale)
    if labels:  # one row per caption: write it on the left
        picture = visualize.label_rows(picture, labels, (final.shape[1] + 1) * scale, scale)
    visualize.save_png(paths["samples.png"], picture)
    scale = FLAGS.scale
    few = min(8, canvases.shape[1])
    ticks = np.linspace(0, model.steps - 1, min(model.steps, 16)).round().astype(int)
    sequence = np.swapaxes(canvases[ticks, :few], 0, 1).reshape(-1, *canvases.shape[2:])
    visualize.save_png(paths["steps.png"], visualize.grid(sequence, len(ticks), scale=scale))
    frames = visualize.drawing_frames(canvases, windows if write_n else None, write_n,
                                      columns=shown_columns, scale=scale)
    visualize.save_gif(paths["drawing.gif"], frames)
    return list(paths.values())


def _draw_captions(model, model_name, out):
    """Caption branch of main; returns the written paths."""
    import numpy as np

    from t2i_tf import visualize
    from t2i_tf.sampling import samplers

    kept, ids, mask = _read_captions(model_name)
    n = FLAGS.num_samples
    _check_total(len(kept) * n)
    ids, mask = np.repeat(ids, n, 0), np.repeat(mask, n, 0)
    sampler = samplers.CaptionSampler(model, _draw_temperature())
    shown = [c * n + k for c in range(len(kept)) for k in range(min(n, SHOWN))]
    final, canvases, whole = _draw_chunked(
        lambda start, stop, seed: sampler(ids[start:stop], mask[start:stop], seed=seed),
        len(ids), shown)
    columns = min(n, PICTURE_COLUMNS)
    paths = _write_pictures(out, model,
                            final.reshape(len(kept), n, *final.shape[1:])[:, :columns]
                            .reshape(-1, *final.shape[1:]),
                            canvases, whole["windows"][:, shown], columns, min(n, SHOWN),
                            labels=[caption for _, caption, _ in kept])
    if n > columns:  # every sample, as numbers
        paths.append(os.path.join(out, "samples.npz"))
        np.savez_compressed(paths[-1], canvases=final.reshape(len(kept), n, *final.shape[1:]),
                            captions=np.array([caption for _, caption, _ in kept]))
        print(f"note: samples.png shows the first {columns} samples of each caption; "
              f"samples.npz holds all {n}", file=sys.stderr)
    alpha = whole["alpha"].reshape(model.steps, len(kept), n, -1).mean(axis=2)  # (T, c, L)
    maps, lines = [], []
    for c, (_, caption, words) in enumerate(kept):
        weights = alpha[:, c, :len(words)]  # (T, words)
        maps.append(visualize.attention_map(weights.T, words))
        mean = weights.mean(axis=0)
        order = np.argsort(-mean, kind="stable")
        lines.append(f"{caption}\n  " + " ".join(f"{words[k]}:{mean[k]:.3f}" for k in order))
    paths.append(os.path.join(out, "attention.png"))
    visualize.save_png(paths[-1], visualize.stack(maps))
    paths.append(os.path.join(out, "attention.txt"))
    with open(paths[-1], "w") as f:
        f.write("\n".join(lines) + "\n")
    return paths


def _check_total(images):
    if images > MAX_IMAGES:
        raise cli.UsageError(f"{images:,} images asked for (captions x --num_samples); at most "
                             f"{MAX_IMAGES:,} per call")


def _read_captions(model_name):
    """(kept [(label, caption, tokens)], ids, mask) of --caption and --captions_file; bad
    captions are reported on stderr, and none at all ends the binary."""
    from t2i_tf.training import checkpoint
    from t2i_tf.data import caption_input

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
    for line in problems + bad:
        print(f"error: {line}", file=sys.stderr)
    if not kept:
        raise cli.UsageError("no caption could be drawn")
    return kept, ids, mask


def _draw_pixel_captions(model, model_name, out):
    """Pixel-model branch of main: samples.png and scores.txt; returns the written paths."""
    import numpy as np

    from t2i_tf import visualize
    from t2i_tf.sampling import samplers

    method, width = _pixel_method()
    _warn_unused_flags(method)
    kept, ids, mask = _read_captions(model_name)
    n = FLAGS.num_samples if method == "sample" else 1  # greedy and beam are deterministic
    _check_total(len(kept) * n)
    sampler = samplers.PixelCaptionSampler(model, method, beam_width=width,
                                           temperature=_pixel_temperature())
    result = sampler(np.repeat(ids, n, 0), np.repeat(mask, n, 0), seed=FLAGS.seed)
    images = samplers.unit_images(result["images"], model.levels)  # (captions n, H, W)
    scale = _picture_scale(len(images), n, images.shape[1])
    picture = visualize.grid(images, n, scale=scale)
    picture = visualize.label_rows(picture, [caption for _, caption, _ in kept],
                                   (images.shape[1] + 1) * scale, scale)
    paths = [os.path.join(out, "samples.png"), os.path.join(out, "scores.txt")]
    visualize.save_png(paths[0], picture)
    log_prob = result["log_prob"].reshape(len(kept), n)
    how = f"beam search of width {width}" if method == "beam" else method
    if method == "sample":
        how += f" at temperature {_pixel_temperature():g}"
    lines = [f"# caption<TAB>log p(x | y) in nats of each image drawn ({how}; summed over "
             f"the {model.num_pixels} pixels)"]
    for (_, caption, _), row in zip(kept, log_prob):
        lines.append(" ".join(caption.split()) + "\t" + " ".join(f"{v:.3f}" for v in row))
    with open(paths[1], "w") as f:
        f.write("\n".join(lines) + "\n")
    return paths


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
    from t2i_tf.training import checkpoint
    from t2i_tf.sampling import samplers

    model = checkpoint.load_model(model_name)
    pixel = hasattr(model, "next_pixel")
    if not pixel and (FLAGS.method or FLAGS.beam):
        raise cli.UsageError(f"--method and --beam are for the pixel models; "
                             f"{model_name} is a {model.registry_name} model")
    if pixel:
        if _pixel_temperature() == 0:
            raise cli.UsageError("--temperature=0: a pixel model's softmax temperature must "
                                 "be positive (--method=greedy takes the likeliest pixels)")
        if not has_captions:
            raise cli.UsageError("this model draws captions: pass --caption=\"...\" or "
                                 "--captions_file")
        paths = _draw_pixel_captions(model, model_name, FLAGS.out)
    elif not hasattr(model, "encode_caption"):
        if has_captions:
            raise cli.UsageError(f"{model_name} is not a caption model; drop the captions")
        sampler = samplers.PriorSampler(model, _draw_temperature())
        shown = list(range(min(FLAGS.num_samples, 4 * SHOWN)))
        final, canvases, whole = _draw_chunked(
            lambda start, stop, seed: sampler(stop - start, seed=seed), FLAGS.num_samples,
            shown)
        paths = _write_pictures(FLAGS.out, model, final, canvases, whole["windows"][:, shown])
    elif not has_captions:
        raise cli.UsageError("this model draws captions: pass --caption=\"...\" or "
                             "--captions_file")
    else:
        paths = _draw_captions(model, model_name, FLAGS.out)
    for path in paths:
        print(path)


def run():
    """`t2i-sample`, the same as `python -m t2i_tf.sample`."""
    cli.run(main)


if __name__ == "__main__":
    run()
