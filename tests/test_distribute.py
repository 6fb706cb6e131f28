"""Distributed training (t2i_tf/training/distribute.py) on this CPU, each run in fresh processes:
  - MirroredStrategy over two logical CPU devices follows the one-device loss trajectory of
    DRAW and alignDRAW (same initial weights, global batches and seed);
  - keras.distribution.DataParallel over two virtual JAX CPU devices does the same for DRAW;
  - two `train --strategy=multi_worker` processes on loopback train together, and only the
    chief writes: one checkpoint, one metrics line per chunk, one events file;
  - a strategy on the wrong backend is one error line;
  - XLA follows --[no]jit_compile, and is off under tf.distribute.
The trajectories come from tests/distributed_runs.py, which trains with plain SGD so that a
wrongly scaled gradient shows in the losses as well as a wrongly scaled loss.
"""

import glob
import json
import os
import socket
import subprocess
import sys

import numpy as np
import pytest

from test_binaries import ROOT, assert_one_line_error, records, run

# Relative tolerance on each step's loss. The replicas sum partial gradients in another
# order than one device does, so float32 rounding differs: measured 1.1e-7 (TensorFlow,
# mirrored) and 2e-7 (JAX) relative over the steps. A loss not divided by the number of
# replicas would be off by 100%; different noise or batches per replica move the loss by
# about as much as one step to the next does, which is checked to exceed the tolerance.
RTOL = 1e-5


def trajectories(backend, *strategies, models="draw,align_draw", env=None):
    full_env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3",
                "PYTHONPATH": ROOT, **(env or {})}
    result = subprocess.run(
        [sys.executable, os.path.join(ROOT, "tests", "distributed_runs.py"), models,
         *strategies], env=full_env, capture_output=True, text=True, timeout=1500)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def assert_same_trajectory(out, model, strategy):
    one, several = out[f"{model} none"], out[f"{model} {strategy}"]
    assert several["replicas"] == 2 and one["replicas"] == 1
    np.testing.assert_allclose(several["loss"], one["loss"], rtol=RTOL)
    # Steps differ by more than the tolerance, so other noise or batches would show.
    assert np.abs(np.diff(one["loss"])).max() > 2 * RTOL * np.abs(one["loss"]).max()


@pytest.fixture(scope="module")
def mirrored():
    return trajectories("tensorflow", "none", "mirrored")


@pytest.mark.parametrize("model", ["draw", "align_draw"])
def test_mirrored_two_cpus_match_one_device(mirrored, model):
    assert_same_trajectory(mirrored, model, "mirrored")


def test_jax_data_parallel_two_devices_match_one_device():
    out = trajectories("jax", "none", "data_parallel", models="draw",
                       env={"XLA_FLAGS": "--xla_force_host_platform_device_count=2",
                            "JAX_PLATFORMS": "cpu"})
    assert_same_trajectory(out, "draw", "data_parallel")


def free_ports(n):
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def test_multi_worker_on_loopback_writes_one_checkpoint(tmp_path):
    workdir = str(tmp_path / "run")
    cluster = {"worker": [f"127.0.0.1:{p}" for p in free_ports(2)]}
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3",
           "KERAS_BACKEND": "tensorflow"}
    workers = []
    for index in range(2):
        env["TF_CONFIG"] = json.dumps({"cluster": cluster,
                                       "task": {"type": "worker", "index": index}})
        workers.append(subprocess.Popen(
            [sys.executable, "-m", "t2i_tf.train", "--flagfile=flags/smoke",
             f"--workdir={workdir}", "--strategy=multi_worker", "--train_steps=2"],
            cwd=ROOT, env=dict(env), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True))
    try:
        outputs = [w.communicate(timeout=1500) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    for w, (_, err) in zip(workers, outputs):
        assert w.returncode == 0, err[-3000:]
    assert all("over 2 replica(s)" in out for out, _ in outputs)
    assert sorted(os.listdir(workdir)) == ["checkpoint.npz", "config.json", "logs", "metrics.jsonl",
                                           "samples", "weights.npz"]
    assert [r["step"] for r in records(workdir)] == [2]  # the chief's line only
    assert len(glob.glob(os.path.join(workdir, "logs", "events.out.tfevents.*"))) == 1
    assert len(glob.glob(os.path.join(workdir, "samples", "*.png"))) == 1


def test_strategy_on_the_wrong_backend_is_one_error_line(tmp_path):
    result = run("t2i_tf.train", "--flagfile=flags/smoke", f"--workdir={tmp_path}",
                 "--strategy=mirrored", backend="jax")
    assert_one_line_error(result, "--strategy=mirrored", "tensorflow backend")


@pytest.mark.parametrize("name", ["none", "mirrored"])
def test_xla_is_off_under_tf_distribute_or_when_asked(name):
    """distribute.make holds the one XLA rule train and benchmarks/speed.py share (TensorFlow
    backend here): XLA unless the user says --nojit_compile; never under tf.distribute."""
    from t2i_tf.training import distribute

    assert distribute.make(name).jit_compile is (name == "none")
    assert distribute.make(name, jit_compile=False).jit_compile is False
