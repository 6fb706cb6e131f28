"""Loss trajectories of a few training steps under each strategy, for tests/test_distribute.py.

Runs in a fresh process, because the devices must be set up before the backend starts:
  KERAS_BACKEND=tensorflow python tests/distributed_runs.py draw,align_draw none mirrored
  KERAS_BACKEND=jax XLA_FLAGS=--xla_force_host_platform_device_count=2 \
      python tests/distributed_runs.py draw none data_parallel
or in each process of a cluster (TF_CONFIG for multi_worker, KERAS_DISTRIBUTION_* for
data_parallel across JAX processes; tests/test_distribute.py starts them):
  python tests/distributed_runs.py draw,align_draw,align_pixel_rnn none multi_worker
On TensorFlow without TF_CONFIG the CPU is split into two logical devices first. For each
model named (draw and align_draw at the flags/smoke and flags/smoke_aligndraw sizes,
align_pixel_rnn on 8x8 images of 16 levels) and each strategy, it trains the same initial
weights on the same global batches with plain SGD, the gradient clipped to norm 1 per
variable (which bites on a few variables of each model), one step per epoch, compiled
alike (without XLA if any strategy runs without: TensorFlow's XLA draws other random
numbers for the same seed), and prints one JSON line
{"MODEL STRATEGY": {"replicas": n, "loss": [loss of step 1, 2, ...], "weights": [each
trainable variable's final values, flattened]}}.
SGD makes the trajectory depend on the gradient's scale, which Adam and RMSprop would hide.
"""

import json
import os
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
DEVICES = 2
STEPS = 3
GLOBAL_BATCH = 8
CONFIGS = {
    "draw": dict(image_shape=(28, 28), steps=4, enc_units=32, dec_units=32, z_dim=8, read_n=2,
                 write_n=3, seed=0),
    "align_draw": dict(image_shape=(60, 60), steps=3, enc_units=16, dec_units=16, z_dim=4,
                       read_n=3, write_n=3, vocab_size=24, embed_dim=8, lang_units=8,
                       align_units=16, seed=0),
    "align_pixel_rnn": dict(image_shape=(8, 8), levels=16, vocab_size=24, embed_dim=8,
                            lang_units=8, units=16, pixel_embed_dim=4, seed=0),
}
# alignDRAW's 60x60 canvas starts at p = 0.5 everywhere, so its loss (about 3600 ln 2) moves
# slowly: at 4e-3 a step moved it by 0.02-0.09 nats, near the tolerance's 0.05 (a CI run failed on
# that margin); at 1e-1 by 0.3-0.9.
LEARNING_RATE = {"draw": 1e-3, "align_draw": 1e-1, "align_pixel_rnn": 1e-2}
# Each variable's gradient clipped to this norm; their first-step norms span 0.1-3.8 (DRAW),
# 0-2.8 (alignDRAW), 0-2.3 (alignPixelRNN), so it bites on a few variables of each.
CLIPNORM = 1.0


def split_cpu():
    """Two logical CPUs for MirroredStrategy (a worker of a multi-worker run keeps one)."""
    if os.environ.get("KERAS_BACKEND") == "tensorflow" and "TF_CONFIG" not in os.environ:
        import tensorflow as tf

        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(
            cpu, [tf.config.LogicalDeviceConfiguration() for _ in range(DEVICES)])


def batches(name, rng):
    """STEPS global batches: binary images (a pixel model's: integers below its levels), and
    for the caption models captions of 3 to 9 words."""
    import numpy as np

    config = CONFIGS[name]
    shape = config["image_shape"]
    if "levels" in config:
        images = rng.integers(0, config["levels"], (STEPS, GLOBAL_BATCH, *shape)).astype("uint8")
    else:
        images = (rng.random((STEPS, GLOBAL_BATCH, *shape)) < 0.2).astype(np.float32)
    if name == "draw":
        return [(x,) for x in images]
    ids = rng.integers(2, CONFIGS[name]["vocab_size"], (STEPS, GLOBAL_BATCH, 9)).astype("int32")
    mask = np.arange(9) < rng.integers(3, 10, (STEPS, GLOBAL_BATCH, 1))
    return [({"images": x, "ids": i * m, "mask": m},) for x, i, m in zip(images, ids, mask)]


def trajectory(name, distribution, initial_weights, data, jit_compile, train=True):
    """(initial weights, the run's record); the record is None if not train."""
    import keras

    from t2i_tf.models import registry

    with distribution.scope():
        model = registry.build(name, CONFIGS[name])
        if initial_weights is not None:
            model.set_weights(initial_weights)
        weights = model.get_weights()
        if not train:
            return weights, None
        distribution.jit_compile = jit_compile
        distribution.compile(model, keras.optimizers.SGD(LEARNING_RATE[name],
                                                         clipnorm=CLIPNORM))
        stream = distribution.batches(lambda: (batch for batch in data))
        history = model.fit(stream, steps_per_epoch=1, epochs=STEPS, verbose=0)
    final = [keras.ops.convert_to_numpy(v).ravel().tolist() for v in model.trainable_weights]
    return weights, {"replicas": distribution.num_replicas,
                     "loss": [float(v) for v in history.history["loss"]],
                     "weights": final}


def main(models, strategies):
    split_cpu()
    sys.path.insert(0, ROOT)
    import keras
    import numpy as np

    from t2i_tf.training import distribute

    distributions = {s: distribute.make(s) for s in strategies}  # before any computation
    keras.utils.set_random_seed(0)  # the same initial weights in every process
    # One compile setting for all: TensorFlow draws other random numbers under XLA.
    jit_compile = all(d.jit_compile for d in distributions.values())
    # In a cluster the chief alone trains the one-process runs; the others build their
    # models only, for the initial weights.
    chief = all(d.is_chief for d in distributions.values())
    out = {}
    for name in models:
        data = batches(name, np.random.default_rng(0))
        weights = None  # the first run's initial weights start every run
        for strategy, distribution in distributions.items():
            train = chief or distribution.processes > 1
            weights, record = trajectory(name, distribution, weights, data, jit_compile, train)
            if record is not None:
                out[f"{name} {strategy}"] = record
    print(json.dumps(out))


if __name__ == "__main__":
    main(sys.argv[1].split(","), sys.argv[2:])
