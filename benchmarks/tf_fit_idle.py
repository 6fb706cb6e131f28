"""Where the TensorFlow backend's training time goes: Keras fit() against the train function
called directly, wall and CPU seconds side by side (docs/RESULTS.md, Speed).

  KERAS_BACKEND=tensorflow taskset -c 0 python benchmarks/tf_fit_idle.py \
      --flagfile=flags/draw_mnist [--nojit_compile]

fit(): one call per entry of --fit_steps on a repeated in-memory tf.data batch, with
tf.data's autotuning (the default) and without it (t2i_tf.data.tf_data.without_autotune,
what training feeds); direct: the function fit() itself runs (model.make_train_function())
called --direct_steps times. With autotuning each fit() call ends when the autotuning
thread's period does (10.2, 20.5, 41.0 s, ... from the call's start): that is the idle.
Takes speed.py's flags (the flagfile's model and batch). Prints one JSON line.
"""

import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from absl import app, flags  # noqa: E402

import speed  # noqa: E402  (its flags: the flagfile's model, --batch_size, --jit_compile)

flags.DEFINE_list("fit_steps", ["1", "3", "6", "12"], "Steps of each timed fit() call.")
flags.DEFINE_integer("direct_steps", 6, "Timed direct calls of the train function.")
FLAGS = flags.FLAGS


def _timed(fn):
    wall, cpu = time.perf_counter(), time.process_time()
    fn()
    return round(time.perf_counter() - wall, 3), round(time.process_time() - cpu, 3)


def main(argv):
    del argv
    import keras
    import tensorflow as tf

    from t2i_tf.data import tf_data
    from t2i_tf.training import loop

    if keras.backend.backend() != "tensorflow":
        raise app.UsageError("tf_fit_idle.py measures the TensorFlow backend: "
                             "set KERAS_BACKEND=tensorflow")
    model, batch = speed.model_and_batch()
    model.compile(optimizer=loop.make_optimizer(FLAGS.optimizer, FLAGS.learning_rate,
                                                    FLAGS.clipnorm),
                  jit_compile=FLAGS.jit_compile)
    data = tf.data.Dataset.from_tensors((batch,)).repeat()
    quiet = tf_data.without_autotune(data)
    model.fit(data, steps_per_epoch=2, epochs=1, verbose=0)  # compiles
    fits = {n: _timed(lambda: model.fit(data, steps_per_epoch=n, epochs=1, verbose=0))
            for n in map(int, FLAGS.fit_steps)}
    quiet_fits = {n: _timed(lambda: model.fit(quiet, steps_per_epoch=n, epochs=1, verbose=0))
                  for n in map(int, FLAGS.fit_steps)}
    train_function, iterator = model.make_train_function(), iter(data)
    direct = [_timed(lambda: float(train_function(iterator)["loss"]))
              for _ in range(FLAGS.direct_steps)]
    print(json.dumps({
        "flagfile": next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--flagfile")), None),
        "jit_compile": FLAGS.jit_compile, "batch_size": FLAGS.batch_size,
        "fit_wall_cpu_s_by_steps": {str(n): v for n, v in fits.items()},
        "fit_without_autotune_wall_cpu_s_by_steps": {str(n): v for n, v in quiet_fits.items()},
        "direct_step_wall_cpu_s": direct,
        "affinity_cores": len(os.sched_getaffinity(0)),
    }))


if __name__ == "__main__":
    app.run(main)
