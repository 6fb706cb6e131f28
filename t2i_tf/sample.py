"""Draws images from a trained model.

  python -m t2i_tf.sample --num_samples=64 --out=samples          # DRAW, models/draw_mnist
  python -m t2i_tf.sample --caption="the digit 3 is at the top of the digit 1 ." \
      --num_samples=16 --out=samples       # alignDRAW, models/aligndraw_mnist_captions
  python -m t2i_tf.sample --captions_file=docs/captions_mnist_seen.txt --model=DIR

Each caption is checked on its own: a bad one (empty, over the length limit, not UTF-8, no
known word) is reported on stderr as `error: LABEL: ...` and the others are still drawn;
the exit status is non-zero only when nothing could be drawn.

Writes samples.png (final canvases: Bernoulli means, as in DRAW Fig. 6; one row per caption
for caption models), steps.png (canvases every few steps, Fig. 7) and drawing.gif (the
drawing sequence with each write window boxed in red, Figs. 1 and 10); caption models add
attention.png (words x steps, alignDRAW Fig. 6) and attention.txt (words by weight).
"""

import os
import sys

# One call draws one batch, so compiling the sampler costs more than it saves: unless
# KERAS_BACKEND says otherwise, sample runs on Keras's NumPy backend (no TensorFlow import,
# no tracing, no XLA). tests/test_backends.py holds it to the TensorFlow backend's numbers.
os.environ.setdefault("KERAS_BACKEND", "numpy")

from absl import flags  # noqa: E402

from t2i_tf import cli  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", None, "A model folder, or the name of one under models/; "
                    "default aligndraw_mnist_captions with captions, draw_mnist without.")
flags.DEFINE_multi_string("caption", [], "Caption(s) to draw (caption models); repeatable.")
flags.DEFINE_string("captions_file", None, "A file of captions, one per line.")
flags.DEFINE_integer("num_samples", 64, "Images to draw (per caption for caption models).")
flags.DEFINE_integer("seed", 0, "Seed of the prior samples.")
flags.DEFINE_string("out", "samples", "Output folder (created if missing).")
flags.DEFINE_integer("scale", 4, "Pixel magnification of the pictures.")
flags.register_validator("num_samples", lambda v: 0 < v <= 10000, message="must be in 1..10000")
flags.register_validator("scale", lambda v: 0 < v <= 16, message="must be in 1..16")

DEFAULT_MODEL = "draw_mnist"
DEFAULT_CAPTION_MODEL = "aligndraw_mnist_captions"


def _check_writable(folder):
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise cli.UsageError(f"cannot create output folder {folder}: {e.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise cli.UsageError(f"output folder {folder} is not writable")


def _write_pictures(out, model, canvases, windows, columns, scale, labels=None):
    import numpy as np

    from t2i_tf import visualize

    write_n = model.cell.write_n if model.cell.attention else None
    paths = {name: os.path.join(out, name) for name in ("samples.png", "steps.png", "drawing.gif")}
    final = visualize.grid(canvases[-1], columns, scale=scale)
    if labels:  # one row per caption: write it on the left
        final = visualize.label_rows(final, labels, (canvases.shape[2] + 1) * scale, scale)
    visualize.save_png(paths["samples.png"], final)
    few = min(8, canvases.shape[1])
    ticks = np.linspace(0, model.steps - 1, min(model.steps, 16)).round().astype(int)
    sequence = canvases[ticks, :few].transpose(1, 0, 2, 3).reshape(-1, *canvases.shape[2:])
    visualize.save_png(paths["steps.png"], visualize.grid(sequence, len(ticks), scale=scale))
    frames = visualize.drawing_frames(canvases, windows if write_n else None, write_n,
                                      columns=columns, scale=scale)
    visualize.save_gif(paths["drawing.gif"], frames)
    return list(paths.values())


def _draw_captions(model, model_name, out):
    """Caption branch of main; returns the written paths."""
    import numpy as np

    from t2i_tf import checkpoint, sampling, visualize
    from t2i_tf.data import caption_input

    labelled = [(f"--caption {i + 1}", c) for i, c in enumerate(FLAGS.caption)]
    problems = []
    if FLAGS.captions_file:
        from_file, problems = caption_input.read_captions_file(FLAGS.captions_file)
        labelled += from_file
    vocabulary = checkpoint.load_vocabulary(model_name)
    kept, ids, mask, bad, warnings = caption_input.encode(vocabulary, labelled)
    for line in warnings:
        print(f"warning: {line}", file=sys.stderr)
    for line in problems + bad:
        print(f"error: {line}", file=sys.stderr)
    if not kept:
        raise cli.UsageError("no caption could be drawn")
    n = FLAGS.num_samples
    result = sampling.CaptionSampler(model)(np.repeat(ids, n, 0), np.repeat(mask, n, 0),
                                            seed=FLAGS.seed)
    paths = _write_pictures(out, model, result["canvases"], result["windows"], n, FLAGS.scale,
                            labels=[caption for _, caption, _ in kept])
    alpha = result["alpha"].reshape(model.steps, len(kept), n, -1).mean(axis=2)  # (T, c, L)
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


def main(argv):
    del argv
    from t2i_tf import checkpoint, sampling

    has_captions = bool(FLAGS.caption or FLAGS.captions_file)
    model_name = FLAGS.model or (DEFAULT_CAPTION_MODEL if has_captions else DEFAULT_MODEL)
    _check_writable(FLAGS.out)  # before the slow part
    model = checkpoint.load_model(model_name)
    if not hasattr(model, "encode_caption"):
        if has_captions:
            raise cli.UsageError(f"{model_name} is not a caption model; drop the captions")
        out = sampling.PriorSampler(model)(FLAGS.num_samples, seed=FLAGS.seed)
        paths = _write_pictures(FLAGS.out, model, out["canvases"], out["windows"], None,
                                FLAGS.scale)
    elif not has_captions:
        raise cli.UsageError("this model draws captions: pass --caption=\"...\" or "
                             "--captions_file")
    else:
        paths = _draw_captions(model, model_name, FLAGS.out)
    for path in paths:
        print(path)


if __name__ == "__main__":
    cli.run(main)
