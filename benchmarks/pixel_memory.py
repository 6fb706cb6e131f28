"""Memory of training a pixel model (alignPixelRNN, alignPixelCNN), two ways:

  KERAS_BACKEND=jax python benchmarks/pixel_memory.py --flagfile=flags/coco_pixelrnn \
      --parts=compiled,train --data_dir=../shared/data --train_steps=3

compiled: XLA's own account of the JAX training gradient (jax.jit(...).lower().compile()
          .memory_analysis()) at the flagfile's sizes and batch, for each caption length of
          --lengths: arguments (weights and batch), outputs (gradients) and temporaries (what
          the backward pass keeps, the per-pixel activations of the decoder above all).
          Nothing runs; random weights.
train:    the flagfile's own command, `python -m t2i_tf.train --flagfile=F` with
          --train_steps, a fresh workdir and the data under --data_dir, in a child process
          whose peak resident memory (getrusage's ru_maxrss) and wall time are reported, with
          the seconds per step the run prints (its metrics.jsonl's wall_s over its steps,
          compilation included).

Prints one JSON line per part, with /proc/loadavg (the CPU may be shared). Numbers are
measurements, not assertions; docs/PIXEL_MODELS.md and the flagfiles quote them.
"""

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import app, flags  # noqa: E402

from t2i_tf import train  # noqa: E402,F401  (defines the model flags read from the flagfile)

FLAGS = flags.FLAGS
flags.DEFINE_list("parts", ["compiled"], "compiled, train (see the docstring).")
flags.DEFINE_list("lengths", ["8", "16"], "Caption lengths (words) for `compiled`.")
flags.DEFINE_integer("bench_steps", 3, "Training steps of `train`.")
flags.DEFINE_string("bench_data_dir", None, "--data_dir of the training run.")


def _loadavg():
    with open("/proc/loadavg") as f:
        return " ".join(f.read().split()[:3])


def _mb(n):
    return round(n / 2 ** 20, 1)


def compiled_memory(flagfile, lengths):
    """XLA's memory analysis of the JAX training gradient, one dict per caption length."""
    import jax
    import keras
    import numpy as np

    from t2i_tf.models import registry

    if keras.backend.backend() != "jax":
        raise SystemExit("--parts=compiled needs KERAS_BACKEND=jax")
    levels = 2 if "binary" in FLAGS.data else 256
    config = train.model_config((32, 32), 1000, levels)
    model = registry.build(FLAGS.model, config)
    batch = FLAGS.batch_size
    trainable = [v.value for v in model.trainable_variables]
    other = [v.value for v in model.non_trainable_variables]

    def loss(trainable, other, x):
        out, _ = model.stateless_call(trainable, other, x, training=True)
        return out["nll"].mean()

    rows = []
    for length in lengths:
        x = {"images": np.zeros((batch, 32, 32), np.uint8),
             "ids": np.ones((batch, length), np.int32), "mask": np.ones((batch, length), bool)}
        start = time.perf_counter()
        analysis = jax.jit(jax.grad(loss)).lower(trainable, other, x).compile().memory_analysis()
        rows.append({"part": "compiled", "flagfile": flagfile, "model": FLAGS.model,
                     "batch_size": batch, "caption_length": length,
                     "argument_mb": _mb(analysis.argument_size_in_bytes),
                     "output_mb": _mb(analysis.output_size_in_bytes),
                     "temp_mb": _mb(analysis.temp_size_in_bytes),
                     "compile_s": round(time.perf_counter() - start, 1)})
    return rows


def train_memory(flagfile, steps, data_dir):
    """Peak RSS and time of `train --flagfile` for `steps` steps in a child process."""
    with tempfile.TemporaryDirectory(prefix="pixel_memory-") as workdir:
        command = [sys.executable, "-m", "t2i_tf.train", f"--flagfile={flagfile}",
                   f"--workdir={workdir}", f"--train_steps={steps}",
                   f"--steps_per_epoch={steps}"]
        if data_dir:
            command.append(f"--data_dir={data_dir}")
        env = {**os.environ, "PYTHONPATH": ROOT}
        start = time.perf_counter()
        result = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True)
        wall = time.perf_counter() - start
        if result.returncode != 0:
            raise SystemExit(f"train failed: {result.stderr[-2000:]}")
        with open(os.path.join(workdir, "metrics.jsonl")) as f:
            record = json.loads(f.read().splitlines()[-1])
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB, the largest child
    return {"part": "train", "flagfile": flagfile, "backend": os.environ.get("KERAS_BACKEND"),
            "steps": steps, "peak_rss_mb": round(peak / 1024), "wall_s": round(wall, 1),
            "train_wall_s_in_run": record.get("wall_s"),
            "command": " ".join(["python"] + command[1:4] + command[5:])}


def main(argv):
    del argv
    flagfile = next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--flagfile=")),
                    None)
    rows = []
    if "compiled" in FLAGS.parts:
        rows += compiled_memory(flagfile, [int(n) for n in FLAGS.lengths])
    if "train" in FLAGS.parts:
        rows.append(train_memory(flagfile, FLAGS.bench_steps, FLAGS.bench_data_dir))
    for row in rows:
        print(json.dumps({**row, "loadavg": _loadavg(),
                          "date": time.strftime("%Y-%m-%d", time.gmtime())}))


if __name__ == "__main__":
    app.run(main)
