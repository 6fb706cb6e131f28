"""Generation speed of a pixel model (alignPixelRNN, alignPixelCNN) on this machine, with
random weights (speed does not depend on them), one backend per run:

  KERAS_BACKEND=jax python benchmarks/pixel_speed.py --flagfile=flags/mnist_captions_pixelrnn

Times, each the median of `--repeats` calls after a first call reported apart (it traces and
compiles):
  beam:   one caption, beam search of width `--beam` (t2i_tf.sampling.samplers.PixelCaptionSampler);
  greedy: one caption, greedy, the same compiled loop with one row;
  sample: `--sample_batch` captions, ancestral sampling at temperature 1;
  naive:  the loop that issue 5 and STYLE.md say not to write, a Python loop calling the
          model once per pixel: a compiled teacher-forced forward over the whole canvas
          (the pixels not drawn yet are 0; causality makes them irrelevant), its logits at
          the current pixel read back to NumPy and the argmax written into the canvas
          (greedy, one caption). Only the first `--naive_pixels` pixels are timed: every
          call does the same work (a fixed-shape forward over all N pixels), so the time per
          image is the median time per call times N, an extrapolation. This is the generous
          form of the naive loop (compiled once, no Keras predict() overhead); a forward over
          only the prefix x_<j would average N/2 pixels a call instead of N, at the cost of a
          recompile per length, so the ratio to such a loop would be about half.
Ratios: naive time per image over the compiled greedy and beam times.

Prints one JSON line, with /proc/loadavg before and after (the CPU may be shared). Numbers
are measurements, not assertions; docs/RESULTS.md lists them.
"""

import json
import os
import platform
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from t2i_tf import train  # noqa: E402  (defines the model flags read from the flagfile)

FLAGS = flags.FLAGS
flags.DEFINE_integer("repeats", 5, "Timed calls per measurement; the median is reported.")
flags.DEFINE_integer("beam", 4, "Beam width of the one-caption beam search.")
flags.DEFINE_integer("sample_batch", 64, "Captions drawn at once by ancestral sampling.")
flags.DEFINE_integer("naive_pixels", 64, "Pixels timed in the naive loop (then extrapolated).")
flags.DEFINE_list("parts", ["beam", "greedy", "sample", "naive"], "Measurements to run.")


def _loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _timed(fn, repeats):
    """(first call's wall seconds, [(wall, CPU) seconds of each of `repeats` later calls]).

    CPU seconds are the process's (all its threads): on a shared CPU they show what the
    call costs, when the wall time also counts the time other processes held the cores."""
    start = time.perf_counter()
    fn(0)
    first = time.perf_counter() - start
    runs = []
    for i in range(repeats):
        start, cpu = time.perf_counter(), time.process_time()
        fn(i + 1)
        runs.append((time.perf_counter() - start, time.process_time() - cpu))
    return first, runs


def main(argv):
    del argv
    import keras
    import numpy as np

    from t2i_tf import jit
    from t2i_tf.data import captioned_mnist
    from t2i_tf.models import registry
    from t2i_tf.sampling import samplers

    keras.utils.set_random_seed(0)
    vocab, length = captioned_mnist.VOCABULARY, captioned_mnist.CAPTION_LENGTH
    levels = 2 if FLAGS.data.endswith("_binary") else 256
    model = registry.build(FLAGS.model, train.model_config((32, 32), len(vocab), levels))
    rng = np.random.default_rng(0)
    ids = rng.integers(2, len(vocab), (max(FLAGS.sample_batch, 1), length)).astype(np.int32)
    mask = np.ones(ids.shape, bool)
    result = {"benchmark": "pixel_speed", "model": FLAGS.model,
              "flagfile": next((a.split("=", 1)[1] for a in sys.argv
                                if a.startswith("--flagfile")), None),
              "backend": keras.backend.backend(), "levels": levels,
              "parameters": model.count_params(), "repeats": FLAGS.repeats,
              "loadavg_before": _loadavg()}

    def record(name, fn, repeats=FLAGS.repeats):
        first, runs = _timed(fn, repeats)
        walls, cpus = zip(*runs)
        result[f"{name}_first_call_s"] = round(first, 2)
        result[f"{name}_s_median"] = round(statistics.median(walls), 3)
        result[f"{name}_s_runs"] = [round(r, 3) for r in walls]
        result[f"{name}_cpu_s_median"] = round(statistics.median(cpus), 3)

    if "beam" in FLAGS.parts:
        beam = samplers.PixelCaptionSampler(model, "beam", beam_width=FLAGS.beam)
        result["beam_width"] = FLAGS.beam
        record("beam", lambda seed: beam(ids[:1], mask[:1]))
    if "greedy" in FLAGS.parts:
        greedy = samplers.PixelCaptionSampler(model, "greedy")
        record("greedy", lambda seed: greedy(ids[:1], mask[:1]))
    if "sample" in FLAGS.parts:
        sample = samplers.PixelCaptionSampler(model, "sample")
        result["sample_batch"] = FLAGS.sample_batch
        record("sample", lambda seed: sample(ids, mask, seed=seed))
    if "naive" in FLAGS.parts:
        forward = jit.compile_method(model, model.logits)
        height, width = model.image_shape
        n = min(FLAGS.naive_pixels, height * width)

        canvas = np.zeros((1, height, width), np.int32)

        def pixel(j):
            logits = keras.ops.convert_to_numpy(forward(canvas, ids[:1], mask[:1]))
            canvas[0, j // width, j % width] = np.argmax(logits[0, j])

        first, calls = _timed(pixel, n)  # the first call compiles
        walls, cpus = (statistics.median(v) for v in zip(*calls))
        result.update(naive_first_call_s=round(first, 2), naive_pixels_timed=n,
                      naive_s_per_call_median=round(walls, 4),
                      naive_s_per_image_extrapolated=round(walls * height * width, 1),
                      naive_cpu_s_per_image_extrapolated=round(cpus * height * width, 1))
        for name in ("greedy", "beam"):
            if f"{name}_s_median" in result:
                result[f"naive_over_{name}"] = round(
                    walls * height * width / result[f"{name}_s_median"], 1)
                result[f"naive_over_{name}_cpu"] = round(
                    cpus * height * width / result[f"{name}_cpu_s_median"], 1)
    result.update(
        loadavg_after=_loadavg(), date=time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        machine=f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}")
    print(json.dumps(result))


if __name__ == "__main__":
    app.run(main)
