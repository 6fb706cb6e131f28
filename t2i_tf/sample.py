"""Draws images from a trained model:
`python -m t2i_tf.sample --model=models/draw_mnist --num_samples=64 --out=samples/`.

Writes samples.png (the final canvases, Bernoulli means as in DRAW Fig. 6), steps.png (a
few samples at every few steps, Fig. 7) and drawing.gif (the whole drawing sequence with
each write window boxed in red, Figs. 1 and 10), and prints their paths.
"""

import os

from absl import flags

from t2i_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "draw_mnist", "A model folder, or the name of one under models/.")
flags.DEFINE_integer("num_samples", 64, "How many images to draw.")
flags.DEFINE_integer("seed", 0, "Seed of the prior samples.")
flags.DEFINE_string("out", "samples", "Output folder (created if missing).")
flags.DEFINE_integer("scale", 4, "Pixel magnification of the pictures.")
flags.register_validator("num_samples", lambda v: 0 < v <= 10000, message="must be in 1..10000")
flags.register_validator("scale", lambda v: 0 < v <= 16, message="must be in 1..16")


def _check_writable(folder):
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as e:
        raise cli.UsageError(f"cannot create output folder {folder}: {e.strerror}") from None
    if not os.access(folder, os.W_OK):
        raise cli.UsageError(f"output folder {folder} is not writable")


def main(argv):
    del argv
    import numpy as np

    from t2i_tf import checkpoint, sampling, visualize

    _check_writable(FLAGS.out)  # before the slow part
    model = checkpoint.load_model(FLAGS.model)
    out = sampling.PriorSampler(model)(FLAGS.num_samples, seed=FLAGS.seed)
    canvases, windows = out["canvases"], out["windows"]
    write_n = model.cell.write_n if model.cell.attention else None

    paths = {name: os.path.join(FLAGS.out, name)
             for name in ("samples.png", "steps.png", "drawing.gif")}
    visualize.save_png(paths["samples.png"], visualize.grid(canvases[-1], scale=FLAGS.scale))
    few = min(8, FLAGS.num_samples)
    ticks = np.linspace(0, model.steps - 1, min(model.steps, 16)).round().astype(int)
    sequence = canvases[ticks, :few].transpose(1, 0, 2, 3).reshape(-1, *canvases.shape[2:])
    visualize.save_png(paths["steps.png"],
                       visualize.grid(sequence, columns=len(ticks), scale=FLAGS.scale))
    frames = visualize.drawing_frames(canvases, windows if write_n else None, write_n,
                                      scale=FLAGS.scale)
    visualize.save_gif(paths["drawing.gif"], frames)
    for path in paths.values():
        print(path)


if __name__ == "__main__":
    cli.run(main)
