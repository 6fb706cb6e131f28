"""A training run killed at random instants (kill -9 and Ctrl-C), resumed each time with the
same command, ends with the weights of the run that was never interrupted, and its
metrics.jsonl agrees with its checkpoint. Uses flags/smoke (a tiny DRAW) on the JAX backend.
"""

import json
import os
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest

from t2i_tf.training import checkpoint

from test_binaries import run
from test_summaries import ROOT

STEPS = 6
# A checkpoint after every step (the wall-clock rule), so that kills land in writes too.
FLAGS = ("--flagfile=flags/smoke", f"--train_steps={STEPS}", "--checkpoint_minutes=1e-6")
# The kill test's runs compile afresh (not from the suite's compilation cache, see
# conftest.py), so that each run, the timed reference included, spends as long starting.
UNCACHED = {"JAX_ENABLE_COMPILATION_CACHE": "false"}


def weights(folder):
    with np.load(os.path.join(folder, "checkpoint.npz")) as data:
        return {k: data[k] for k in data.files if not k.startswith("record/")}


def assert_same_state(folder, reference):
    got = weights(folder)
    assert sorted(got) == sorted(reference)
    different = [k for k in got if not np.array_equal(got[k], reference[k])]
    assert not different, different


def assert_consistent(folder):
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        steps = [json.loads(line)["step"] for line in f]
    assert steps == sorted(set(steps)) and steps[-1] == STEPS, steps
    assert not [n for n in os.listdir(folder) if n.startswith(".tmp-")]


@pytest.fixture(scope="module")
def reference(tmp_path_factory):
    """The uninterrupted run's final state (checkpoints only at the chunk ends) and its wall
    time in seconds."""
    folder = str(tmp_path_factory.mktemp("uninterrupted"))
    began = time.monotonic()
    result = run("t2i_tf.train", "--flagfile=flags/smoke", f"--train_steps={STEPS}",
                 "--checkpoint_minutes=0", f"--workdir={folder}", backend="jax", env=UNCACHED)
    assert result.returncode == 0, result.stderr[-3000:]
    return weights(folder), time.monotonic() - began


def start(folder):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3",
           "KERAS_BACKEND": "jax", **UNCACHED}
    return subprocess.Popen([sys.executable, "-m", "t2i_tf.train", *FLAGS, f"--workdir={folder}"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def test_kill_anywhere_resumes_to_the_uninterrupted_weights(reference, tmp_path):
    reference, seconds = reference
    folder = str(tmp_path / "killed")
    rng = np.random.default_rng(0)
    kills = 0
    # Kills spread over start-up, compilation, steps and writes: a fraction of the
    # uninterrupted run's time (a run that writes after every step is not faster).
    for delay in rng.uniform(0.1, 0.8, size=4) * seconds:
        proc = start(folder)
        try:
            proc.wait(timeout=delay)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            kills += 1
        else:
            break  # it finished before its kill
    assert kills >= 2
    result = run("t2i_tf.train", *FLAGS, f"--workdir={folder}", backend="jax")
    assert result.returncode == 0, result.stderr[-3000:]
    assert_same_state(folder, reference)
    assert_consistent(folder)


class _Interrupt(keras.callbacks.Callback):
    """Sends this process SIGINT (Ctrl-C) at the end of step `at`."""

    def __init__(self, at):
        super().__init__()
        self.at = at
        self.steps = 0

    def on_train_batch_end(self, batch, logs=None):
        self.steps += 1
        if self.steps == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def _train_in_process(folder, callbacks=()):
    from t2i_tf.data import datasets
    from t2i_tf.models import registry
    from t2i_tf.training import loop

    keras.utils.set_random_seed(0)
    data = datasets.make_data("binarized_mnist", None, 0)
    config = dict(image_shape=(28, 28), steps=4, enc_units=32, dec_units=32, z_dim=8,
                  read_n=2, write_n=3, attention=True, seed=0)
    model = registry.build("draw", config)
    return loop.train(model, data, folder, loop.make_optimizer("adam", 1e-3, 10.0),
                          batch_size=20, train_steps=STEPS, steps_per_epoch=STEPS,
                          valid_images=40, callbacks=callbacks)


def test_ctrl_c_mid_chunk_resumes_bit_identically(tmp_path):
    uninterrupted = str(tmp_path / "uninterrupted")
    _train_in_process(uninterrupted)
    folder = str(tmp_path / "interrupted")
    with pytest.raises(KeyboardInterrupt):
        _train_in_process(folder, callbacks=[_Interrupt(at=2)])  # inside the 6-step chunk
    assert 0 < checkpoint.checkpoint_record(folder)["step"] < STEPS  # stopped mid-chunk
    _train_in_process(folder)
    assert_same_state(folder, weights(uninterrupted))
    assert_consistent(folder)
