"""Training and sampling speed of a flagfile's model on this machine, one backend per run.

  KERAS_BACKEND=jax python benchmarks/speed.py --flagfile=flags/draw_mnist
  KERAS_BACKEND=tensorflow python benchmarks/speed.py --flagfile=flags/draw_mnist

Training: `--repeats` timed runs of `--timed_steps` optimizer steps each (Keras fit on a
fixed in-memory batch stream, compiled, after a warm-up run that includes compilation);
reports the median images/s. Sampling: the compiled prior sampler drawing `--sample_batch`
images, median latency over `--repeats` calls. Peak resident memory of the process.
Prints one JSON line. Numbers are measurements, not assertions; docs/RESULTS.md lists them.
"""

import json
import os
import platform
import resource
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from t2i_tf import train  # noqa: E402  (defines the model flags read from the flagfile)

FLAGS = flags.FLAGS
flags.DEFINE_integer("timed_steps", 10, "Training steps per timed run.")
flags.DEFINE_integer("repeats", 5, "Timed runs; the median is reported.")
flags.DEFINE_integer("sample_batch", 100, "Images per sampling call.")


def main(argv):
    del argv
    import keras
    import numpy as np

    from t2i_tf import sampling, training
    from t2i_tf.models import registry

    from t2i_tf.data import captioned_mnist

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    if FLAGS.model == "align_draw":
        shape, vocab = (60, 60), captioned_mnist.VOCABULARY
        ids = rng.integers(2, len(vocab), (FLAGS.batch_size, captioned_mnist.CAPTION_LENGTH))
        batch = {"images": (rng.random((FLAGS.batch_size, *shape)) < 0.05).astype(np.float32),
                 "ids": ids.astype(np.int32), "mask": np.ones(ids.shape, bool)}
        model = registry.build(FLAGS.model, train.model_config(shape, len(vocab)))
    else:
        batch = (rng.random((FLAGS.batch_size, 28, 28)) < 0.13).astype(np.float32)
        model = registry.build(FLAGS.model, train.model_config((28, 28)))
    model.compile(optimizer=training.make_optimizer(FLAGS.optimizer, FLAGS.learning_rate,
                                                    FLAGS.clipnorm), jit_compile=True)

    def stream():
        while True:
            yield (batch,)

    start = time.perf_counter()
    model.fit(stream(), steps_per_epoch=2, epochs=1, verbose=0)
    compile_s = time.perf_counter() - start
    rates = []
    for _ in range(FLAGS.repeats):
        start = time.perf_counter()
        model.fit(stream(), steps_per_epoch=FLAGS.timed_steps, epochs=1, verbose=0)
        rates.append(FLAGS.timed_steps * FLAGS.batch_size / (time.perf_counter() - start))

    if FLAGS.model == "align_draw":
        sampler = sampling.CaptionSampler(model)
        n = FLAGS.sample_batch
        ids = np.resize(batch["ids"], (n, batch["ids"].shape[1]))
        draw = lambda seed: sampler(ids, np.ones(ids.shape, bool), seed=seed)
    else:
        sampler = sampling.PriorSampler(model)
        draw = lambda seed: sampler(FLAGS.sample_batch, seed=seed)
    draw(0)  # compile
    latencies = []
    for i in range(FLAGS.repeats):
        start = time.perf_counter()
        draw(i)
        latencies.append(1e3 * (time.perf_counter() - start))

    print(json.dumps({
        "flagfile": next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--flagfile")), None),
        "backend": keras.backend.backend(),
        "batch_size": FLAGS.batch_size,
        "train_images_per_s_median": round(statistics.median(rates), 1),
        "train_images_per_s_runs": [round(r, 1) for r in rates],
        "first_fit_s_incl_compile": round(compile_s, 1),
        "sample_batch": FLAGS.sample_batch,
        "sample_ms_median": round(statistics.median(latencies), 1),
        "sample_ms_runs": [round(v, 1) for v in latencies],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
    }))


if __name__ == "__main__":
    app.run(main)
