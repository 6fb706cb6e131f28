"""Training and sampling speed of a flagfile's model on this machine, one backend per run.

  KERAS_BACKEND=jax python benchmarks/speed.py --flagfile=flags/draw_mnist
  KERAS_BACKEND=tensorflow python benchmarks/speed.py --flagfile=flags/draw_mnist

  KERAS_BACKEND=jax python benchmarks/speed.py --flagfile=flags/mnist_captions_pixelrnn \
      --sample_batch=0          # a pixel model's training; its generation: pixel_speed.py

Training: `--repeats` timed runs of `--timed_steps` optimizer steps each (Keras fit on a
fixed in-memory batch stream, compiled, after a warm-up run that includes compilation);
reports the median images/s and seconds per step (pixel models: teacher forcing on random
32x32 images). Sampling: the compiled prior sampler drawing `--sample_batch` images, median
latency over `--repeats` calls (0: not measured). Peak resident memory of the process, and
/proc/loadavg at the end: on a shared CPU the process's CPU seconds per step (all threads)
show the cost that the wall time mixes with the other processes' share.
FLOPs per training image: counted from the training step's jaxpr (benchmarks/flops.py; on the
TensorFlow backend in a JAX subprocess, the count being the same model's); the device's
peak: the median of `--repeats` compiled float32 matmuls of side `--peak_n`; achieved
FLOP/s = images/s x FLOPs per image, and its share of that peak.
--strategy (as train's) runs the timed training under a distribution strategy, such as
data_parallel over XLA_FLAGS=--xla_force_host_platform_device_count=2 CPU devices;
--nojit_compile (as train's) times TensorFlow's plain graph instead of XLA. fit() reads the
batches as training does (Distribution.batches: on TensorFlow a tf.data pipeline without
autotuning, whose thread had rounded every fit() up to 10.2, 20.5, 41 s...; docs/RESULTS.md).
Prints one JSON line. Numbers are measurements, not assertions; docs/RESULTS.md lists them.
"""

import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from t2i_tf import train  # noqa: E402  (defines the model flags read from the flagfile)

FLAGS = flags.FLAGS
flags.DEFINE_integer("timed_steps", 10, "Training steps per timed run.")
flags.DEFINE_integer("repeats", 5, "Timed runs; the median is reported.")
flags.DEFINE_integer("sample_batch", 100, "Images per sampling call.")
flags.DEFINE_integer("peak_n", 2048, "Side of the square float32 matmul that measures the peak.")
flags.DEFINE_integer("scan_unroll", 1, "Unroll factor of the models' scans (t2i_tf.layers.scan).")
flags.DEFINE_bool("flops_only", False, "Print only the FLOP count (JAX backend) and exit.")


def flops_per_image(model, batch):
    """{matmul, elementwise, total} FLOPs of one training step per image."""
    import keras

    if keras.backend.backend() != "jax":  # count the same model traced by JAX
        env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu"}
        out = subprocess.run([sys.executable, os.path.abspath(__file__), *sys.argv[1:],
                              "--flops_only"], env=env, capture_output=True, text=True,
                             check=True)
        return json.loads(out.stdout.strip().splitlines()[-1])
    from benchmarks import flops

    counts = flops.training_flops(model, batch)
    if counts["unbounded_loops"]:
        raise RuntimeError("the training step has a while loop of unknown length: "
                           "its FLOPs would be undercounted")
    per = {k: counts[k] / FLAGS.batch_size for k in ("matmul", "elementwise")}
    return {**per, "total": per["matmul"] + per["elementwise"]}


def model_and_batch():
    """The flagfile's model, built, and one random batch of what fit() feeds it."""
    import keras
    import numpy as np

    from t2i_tf.data import captioned_mnist
    from t2i_tf.models import registry

    keras.utils.set_random_seed(0)
    rng = np.random.default_rng(0)
    pixel = registry.spec(FLAGS.model).pixel
    if pixel or FLAGS.model == "align_draw":
        vocab = captioned_mnist.VOCABULARY
        ids = rng.integers(2, len(vocab), (FLAGS.batch_size, captioned_mnist.CAPTION_LENGTH))
        batch = {"ids": ids.astype(np.int32), "mask": np.ones(ids.shape, bool)}
    if pixel:
        levels = 2 if FLAGS.data.endswith("_binary") else 256
        batch["images"] = rng.integers(0, levels, (FLAGS.batch_size, 32, 32)).astype(np.uint8)
        model = registry.build(FLAGS.model, train.model_config((32, 32), len(vocab), levels))
    elif FLAGS.model == "align_draw":
        shape = (60, 60)
        batch["images"] = (rng.random((FLAGS.batch_size, *shape)) < 0.05).astype(np.float32)
        model = registry.build(FLAGS.model, train.model_config(shape, len(vocab)))
    else:
        batch = (rng.random((FLAGS.batch_size, 28, 28)) < 0.13).astype(np.float32)
        model = registry.build(FLAGS.model, train.model_config((28, 28)))
    return model, batch


def _run(distribution):
    import keras
    import numpy as np

    from t2i_tf.layers import scan
    from t2i_tf.models import registry
    from t2i_tf.sampling import samplers
    from t2i_tf.training import loop

    scan.UNROLL = FLAGS.scan_unroll

    pixel = registry.spec(FLAGS.model).pixel
    captioned = pixel or FLAGS.model == "align_draw"
    model, batch = model_and_batch()
    if FLAGS.flops_only:
        print(json.dumps(flops_per_image(model, batch)))
        return
    distribution.compile(model, loop.make_optimizer(FLAGS.optimizer, FLAGS.learning_rate,
                                                    FLAGS.clipnorm))

    def stream():
        while True:
            yield (batch,)

    # fit() reads what training's fit() reads (t2i_tf.training.distribute.Distribution.batches).
    start = time.perf_counter()
    model.fit(distribution.batches(stream), steps_per_epoch=2, epochs=1, verbose=0)
    compile_s = time.perf_counter() - start
    rates, cpu_per_step = [], []
    for _ in range(FLAGS.repeats):
        start, cpu = time.perf_counter(), time.process_time()
        model.fit(distribution.batches(stream), steps_per_epoch=FLAGS.timed_steps, epochs=1,
                  verbose=0)
        rates.append(FLAGS.timed_steps * FLAGS.batch_size / (time.perf_counter() - start))
        cpu_per_step.append((time.process_time() - cpu) / FLAGS.timed_steps)

    if captioned:
        sampler = (samplers.PixelCaptionSampler(model, "sample") if pixel
                   else samplers.CaptionSampler(model))
        n = FLAGS.sample_batch
        ids = np.resize(batch["ids"], (n, batch["ids"].shape[1]))
        draw = lambda seed: sampler(ids, np.ones(ids.shape, bool), seed=seed)
    else:
        sampler = samplers.PriorSampler(model)
        draw = lambda seed: sampler(FLAGS.sample_batch, seed=seed)
    latencies = []
    if FLAGS.sample_batch:
        draw(0)  # compile
    for i in range(FLAGS.repeats if FLAGS.sample_batch else 0):
        start = time.perf_counter()
        draw(i)
        latencies.append(1e3 * (time.perf_counter() - start))

    from benchmarks import flops

    counted = flops_per_image(model, batch)
    peak = flops.measure_peak(FLAGS.peak_n, FLAGS.repeats)
    achieved = statistics.median(rates) * counted["total"]
    print(json.dumps({
        "flagfile": next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--flagfile")), None),
        "model": FLAGS.model,
        "backend": keras.backend.backend(),
        "batch_size": FLAGS.batch_size,
        "strategy": FLAGS.strategy,
        "replicas": distribution.num_replicas,
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "jit_compile": distribution.jit_compile,
        "scan_unroll": FLAGS.scan_unroll,
        "train_images_per_s_median": round(statistics.median(rates), 1),
        "train_images_per_s_runs": [round(r, 1) for r in rates],
        "train_s_per_step_median": round(FLAGS.batch_size / statistics.median(rates), 3),
        "train_cpu_s_per_step_median": round(statistics.median(cpu_per_step), 3),
        "first_fit_s_incl_compile": round(compile_s, 1),
        "sample_batch": FLAGS.sample_batch,
        "sample_ms_median": round(statistics.median(latencies), 1) if latencies else None,
        "sample_ms_runs": [round(v, 1) for v in latencies],
        "peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024),
        "train_flops_per_image": round(counted["total"]),
        "train_matmul_flops_per_image": round(counted["matmul"]),
        "flops_counted_by": "jaxpr of the training step (benchmarks/flops.py)",
        "peak_gflops_per_s": round(peak["peak_flops_per_s"] / 1e9, 2),
        "peak_gflops_per_s_runs": [round(r / 1e9, 2) for r in peak["runs"]],
        "peak_matmul_n": peak["n"],
        "achieved_gflops_per_s": round(achieved / 1e9, 2),
        "share_of_peak": round(achieved / peak["peak_flops_per_s"], 4),
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
    }))


def main(argv):
    del argv
    from t2i_tf.training import distribute

    distribution = distribute.make(FLAGS.strategy, FLAGS.jit_compile)
    with distribution.scope():
        _run(distribution)


if __name__ == "__main__":
    app.run(main)
