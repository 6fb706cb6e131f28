"""Wall time of the whole `sample` command, as a user runs it: a fresh process that imports
Keras, loads the shipped model, draws and writes samples.png, steps.png, drawing.gif,
attention.png and attention.txt.

  python benchmarks/sample_cli.py                       # the default backend of sample
  python benchmarks/sample_cli.py --backend=tensorflow  # or jax

Runs the command `--repeats` times after one untimed warm-up run (which fills the OS file
cache) and prints one JSON line with the median. A measurement, not an assertion.
"""

import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
FLAGS = flags.FLAGS
flags.DEFINE_string("caption", "the digit 7 is at the bottom left of the image .",
                    "The caption to draw.")
flags.DEFINE_integer("num_samples", 16, "Samples per caption.")
flags.DEFINE_string("model", None, "Model to sample from; default: sample's own default.")
flags.DEFINE_string("backend", None, "KERAS_BACKEND for the command; default: left unset.")
flags.DEFINE_integer("repeats", 5, "Timed runs; the median is reported.")


def main(argv):
    del argv
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    env["PYTHONPATH"] = ROOT
    if FLAGS.backend:
        env["KERAS_BACKEND"] = FLAGS.backend
    walls = []
    with tempfile.TemporaryDirectory() as out:
        command = [sys.executable, "-m", "t2i_tf.sample", f"--caption={FLAGS.caption}",
                   f"--num_samples={FLAGS.num_samples}", f"--out={out}"]
        if FLAGS.model:
            command.append(f"--model={FLAGS.model}")
        for i in range(FLAGS.repeats + 1):
            start = time.perf_counter()
            subprocess.run(command, cwd=ROOT, env=env, check=True, capture_output=True)
            if i:
                walls.append(time.perf_counter() - start)
    print(json.dumps({
        "benchmark": "sample_cli", "caption": FLAGS.caption, "num_samples": FLAGS.num_samples,
        "model": FLAGS.model or "default", "backend": FLAGS.backend or "default (numpy)",
        "wall_s_median": round(statistics.median(walls), 2),
        "wall_s_runs": [round(w, 2) for w in walls],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
    }))


if __name__ == "__main__":
    app.run(main)
