"""Distributed training (t2i_tf/training/distribute.py) on this CPU, each run in fresh processes:
  - MirroredStrategy over two logical CPU devices follows the one-device trajectory (losses
    and final weights) of DRAW and alignDRAW (same initial weights, global batches and seed);
  - keras.distribution.DataParallel over two virtual JAX CPU devices does the same for DRAW;
  - MultiWorkerMirroredStrategy over two worker processes on loopback (one CPU device each)
    does the same for DRAW, alignDRAW and alignPixelRNN;
  - keras.distribution.DataParallel over two JAX processes on loopback does the same for
    DRAW and alignPixelRNN;
  - two `train` processes on loopback (--strategy=multi_worker for alignDRAW and the pixel
    model, data_parallel across JAX processes for DRAW) train together, and only the chief
    writes: one checkpoint, one metrics line per chunk, one events file;
  - a strategy on the wrong backend is one error line;
  - XLA follows --[no]jit_compile, and is off under tf.distribute.
The trajectories come from tests/distributed_runs.py, which trains with plain SGD so that a
wrongly scaled gradient shows in the losses as well as a wrongly scaled loss, and clips the
gradient where it is largest: replicas that clipped their own shares before summing them
(Keras 3.15's way) moved the losses by up to 7.8e-5 and the weights by up to 0.13 (mirrored,
measured), far outside the tolerance.
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
    # The final weights (of magnitude up to about 1) within RTOL, absolutely: measured up to
    # 2.5e-6 (alignDRAW, mirrored).
    assert len(several["weights"]) == len(one["weights"])
    for got, want in zip(several["weights"], one["weights"]):
        np.testing.assert_allclose(got, want, rtol=0, atol=RTOL)


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


def tf_config(index, addresses):
    """The environment of TensorFlow worker `index` of a cluster at `addresses`."""
    return {"KERAS_BACKEND": "tensorflow", "TF_CONFIG": json.dumps(
        {"cluster": {"worker": addresses}, "task": {"type": "worker", "index": index}})}


def jax_processes(index, addresses):
    """The environment of JAX process `index` of those at `addresses` (Keras's variables)."""
    return {"KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu",
            "KERAS_DISTRIBUTION_JOB_ADDRESSES": ",".join(addresses),
            "KERAS_DISTRIBUTION_NUM_PROCESSES": str(len(addresses)),
            "KERAS_DISTRIBUTION_PROCESS_ID": str(index)}


def run_workers(command, folder, cluster_env, workers=2):
    """Runs `command` in `workers` processes of one cluster on loopback, process i with
    cluster_env(i, addresses), and returns each one's stdout; their output goes to files in
    `folder` (a pipe left unread could stall a worker, and with it the cluster)."""
    addresses = [f"127.0.0.1:{p}" for p in free_ports(workers)]
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    os.makedirs(folder, exist_ok=True)
    processes, logs = [], []
    for index in range(workers):
        out = open(os.path.join(folder, f"worker{index}.out"), "w+")
        err = open(os.path.join(folder, f"worker{index}.err"), "w+")
        logs.append((out, err))
        processes.append(subprocess.Popen(
            command, cwd=ROOT, env={**env, **cluster_env(index, addresses)}, stdout=out,
            stderr=err, text=True))
    try:
        for p in processes:
            p.wait(timeout=1500)
    finally:
        for p in processes:
            if p.poll() is None:
                p.kill()
    outputs = []
    for p, (out, err) in zip(processes, logs):
        out.seek(0)
        err.seek(0)
        assert p.returncode == 0, err.read()[-3000:]
        outputs.append(out.read())
        out.close()
        err.close()
    return outputs


def worker_trajectories(models, strategy, cluster_env, folder):
    """Each worker's trajectories: one process alone ("none"), then all together."""
    outputs = run_workers([sys.executable, os.path.join("tests", "distributed_runs.py"),
                           models, "none", strategy], folder, cluster_env)
    return [json.loads(out.strip().splitlines()[-1]) for out in outputs]


@pytest.fixture(scope="module")
def multi_worker(tmp_path_factory):
    return worker_trajectories("draw,align_draw,align_pixel_rnn", "multi_worker", tf_config,
                               str(tmp_path_factory.mktemp("workers")))


@pytest.mark.parametrize("model", ["draw", "align_draw", "align_pixel_rnn"])
def test_multi_worker_on_loopback_matches_one_process(multi_worker, model):
    chief, other = multi_worker
    assert_same_trajectory(chief, model, "multi_worker")
    assert other[f"{model} multi_worker"] == chief[f"{model} multi_worker"]  # in step


@pytest.mark.parametrize("flagfile, strategy, cluster_env", [
    ("smoke_aligndraw", "multi_worker", tf_config),
    ("smoke_pixelrnn", "multi_worker", tf_config),
    ("smoke", "data_parallel", jax_processes)])  # (DRAW: twice as fast, and it traces too)
def test_processes_on_loopback_write_one_checkpoint(tmp_path, flagfile, strategy, cluster_env):
    workdir = str(tmp_path / "run")
    outputs = run_workers([sys.executable, "-m", "t2i_tf.train", f"--flagfile=flags/{flagfile}",
                           f"--workdir={workdir}", f"--strategy={strategy}",
                           "--train_steps=2", "--steps_per_epoch=2"], str(tmp_path / "logs"),
                          cluster_env)
    assert all("over 2 replica(s)" in out for out in outputs)
    captioned = ["vocabulary.json"] if flagfile != "smoke" else []
    assert sorted(os.listdir(workdir)) == sorted(
        ["checkpoint.npz", "config.json", "logs", "metrics.jsonl", "samples", "weights.npz",
         *captioned])
    assert [r["step"] for r in records(workdir)] == [2]  # the chief's line only
    assert len(glob.glob(os.path.join(workdir, "logs", "events.out.tfevents.*"))) == 1
    assert len(glob.glob(os.path.join(workdir, "samples", "*.png"))) == 1
    assert "finished" in outputs[0] and "finished" not in outputs[1]  # the chief's line only


def test_jax_data_parallel_two_processes_match_one_process(tmp_path):
    """keras.distribution.initialize joins two JAX CPU processes on loopback (gloo); each feeds
    its half of every global batch."""
    out, other = worker_trajectories("draw,align_pixel_rnn", "data_parallel", jax_processes,
                                     str(tmp_path))
    for model in ("draw", "align_pixel_rnn"):
        assert_same_trajectory(out, model, "data_parallel")
        assert other[f"{model} data_parallel"] == out[f"{model} data_parallel"]


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


@pytest.mark.parametrize("batch_size, valid_images, refusal", [
    (100, 1000, None), (100, 1050, None),
    (100, 1051, "--valid_images=1051 leaves a last validation batch of 51 images"),
    (99, 0, "--batch_size=99 does not split evenly across the 2 replicas")])
def test_batches_that_do_not_split_across_processes_are_refused(batch_size, valid_images,
                                                                refusal):
    from t2i_tf.training import distribute

    two = distribute.Distribution("data_parallel", num_replicas=2, processes=2, process=1)
    if refusal is None:
        two.check_batch_size(batch_size, valid_images)
        return
    with pytest.raises(distribute.StrategyError, match=refusal):
        two.check_batch_size(batch_size, valid_images)
    distribute.Distribution("none").check_batch_size(100, valid_images)  # one process: any
