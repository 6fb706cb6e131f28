"""Draws images from a trained model.

  python -m t2i_tf.sample --model=draw_mnist --num_samples=64 --out=samples
  python -m t2i_tf.sample --model=DIR --caption="the digit 3 is at the top of the digit 1 ." \
      --num_samples=8 --out=samples

Writes samples.png (final canvases: Bernoulli means, as in DRAW Fig. 6; one row per caption
for caption models), steps.png (canvases every few steps, Fig. 7) and drawing.gif (the
drawing sequence with each write window boxed in red, Figs. 1 and 10); caption models add
attention.png (words x steps, alignDRAW Fig. 6) and attention.txt (words by weight).
"""

import os
import sys

from absl import flags

from t2i_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "draw_mnist", "A model folder, or the name of one under models/.")
flags.DEFINE_multi_string("caption", [], "Caption(s) to draw (caption models); repeatable.")
flags.DEFINE_integer("num_samples", 64, "Images to draw (per caption for caption models).")
flags.DEFINE_integer("seed", 0, "Seed of the prior samples.")
flags.DEFINE_string("out", "samples", "Output folder (created if missing).")
flags.DEFINE_integer("scale", 4, "Pixel magnification of the pictures.")
flags.register_validator("num_samples", lambda v: 0 < v <= 10000, message="must be in 1..10000")
flags.register_validator("scale", lambda v: 0 < v <= 16, message="must be in 1..16")

MAX_CAPTION_WORDS = 64


def _check_writable(folder):
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise cli.UsageError(f"cannot create output folder {folder}: {e.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise cli.UsageError(f"output folder {folder} is not writable")


def _encode_captions(vocabulary, captions):
    """Token ids and mask for the captions; unknown words become <unk>, with a warning."""
    tokenized = [caption.lower().split() for caption in captions]
    for caption, tokens in zip(captions, tokenized):
        if not tokens:
            raise cli.UsageError("an empty --caption has nothing to draw")
        if len(tokens) > MAX_CAPTION_WORDS:
            raise cli.UsageError(f"caption of {len(tokens)} words is over the limit of "
                                 f"{MAX_CAPTION_WORDS}: {caption[:60]!r}...")
        unknown = sorted({t for t in tokens if t not in vocabulary})
        if unknown:
            print(f"warning: words not in the vocabulary, drawn as <unk>: {' '.join(unknown)}",
                  file=sys.stderr)
    ids, mask = vocabulary.pad_batch([vocabulary.encode(t) for t in tokenized])
    return tokenized, ids, mask


def _write_pictures(out, model, canvases, windows, columns, scale):
    import numpy as np

    from t2i_tf import visualize

    write_n = model.cell.write_n if model.cell.attention else None
    paths = {name: os.path.join(out, name) for name in ("samples.png", "steps.png", "drawing.gif")}
    visualize.save_png(paths["samples.png"], visualize.grid(canvases[-1], columns, scale=scale))
    few = min(8, canvases.shape[1])
    ticks = np.linspace(0, model.steps - 1, min(model.steps, 16)).round().astype(int)
    sequence = canvases[ticks, :few].transpose(1, 0, 2, 3).reshape(-1, *canvases.shape[2:])
    visualize.save_png(paths["steps.png"], visualize.grid(sequence, len(ticks), scale=scale))
    frames = visualize.drawing_frames(canvases, windows if write_n else None, write_n,
                                      columns=columns, scale=scale)
    visualize.save_gif(paths["drawing.gif"], frames)
    return list(paths.values())


def main(argv):
    del argv
    import numpy as np

    from t2i_tf import checkpoint, sampling, visualize

    _check_writable(FLAGS.out)  # before the slow part
    model = checkpoint.load_model(FLAGS.model)
    n = FLAGS.num_samples
    if not hasattr(model, "encode_caption"):
        if FLAGS.caption:
            raise cli.UsageError(f"{FLAGS.model} is not a caption model; drop --caption")
        out = sampling.PriorSampler(model)(n, seed=FLAGS.seed)
        paths = _write_pictures(FLAGS.out, model, out["canvases"], out["windows"], None,
                                FLAGS.scale)
    else:
        if not FLAGS.caption:
            raise cli.UsageError("this model draws captions: pass --caption=\"...\"")
        vocabulary = checkpoint.load_vocabulary(FLAGS.model)
        tokens, ids, mask = _encode_captions(vocabulary, FLAGS.caption)
        out = sampling.CaptionSampler(model)(np.repeat(ids, n, 0), np.repeat(mask, n, 0),
                                             seed=FLAGS.seed)
        paths = _write_pictures(FLAGS.out, model, out["canvases"], out["windows"], n,
                                FLAGS.scale)
        alpha = out["alpha"].reshape(model.steps, len(tokens), n, -1).mean(axis=2)  # (T, c, L)
        maps, lines = [], []
        for c, words in enumerate(tokens):
            weights = alpha[:, c, :len(words)]  # (T, words)
            maps.append(visualize.attention_map(weights.T, words))
            order = np.argsort(-weights.mean(axis=0), kind="stable")
            lines.append(" ".join(f"{words[k]}:{weights.mean(axis=0)[k]:.3f}" for k in order))
        paths.append(os.path.join(FLAGS.out, "attention.png"))
        visualize.save_png(paths[-1], visualize.stack(maps))
        paths.append(os.path.join(FLAGS.out, "attention.txt"))
        with open(paths[-1], "w") as f:
            f.writelines(f"{caption}\n  {line}\n" for caption, line in zip(FLAGS.caption, lines))
    for path in paths:
        print(path)


if __name__ == "__main__":
    cli.run(main)
