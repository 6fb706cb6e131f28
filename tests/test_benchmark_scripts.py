"""benchmarks/speed.py, benchmarks/profile_step.py, benchmarks/tf_fit_idle.py and
benchmarks/pixel_memory.py run end to end on the smoke flagfiles and print the JSON lines
their docs describe (the figures themselves are measurements, not asserted)."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def run(script, *args, backend="jax"):
    env = {**os.environ, "KERAS_BACKEND": backend, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", script),
                             "--flagfile=flags/smoke", *args], cwd=ROOT, env=env,
                            capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return json.loads(result.stdout.strip().splitlines()[-1])


def test_speed_reports_rates_flops_and_share_of_peak():
    out = run("speed.py", "--repeats=1", "--timed_steps=1", "--sample_batch=2", "--peak_n=64")
    assert out["model"] == "draw" and out["strategy"] == "none" and out["replicas"] == 1
    assert out["train_images_per_s_median"] > 0 and out["sample_ms_median"] > 0
    assert out["train_flops_per_image"] >= out["train_matmul_flops_per_image"] > 0
    achieved = out["train_images_per_s_median"] * out["train_flops_per_image"] / 1e9
    assert out["achieved_gflops_per_s"] == pytest.approx(achieved, rel=0.05, abs=0.01)
    assert out["share_of_peak"] == pytest.approx(
        out["achieved_gflops_per_s"] / out["peak_gflops_per_s"], rel=0.05, abs=1e-3)


def test_profile_step_attributes_the_step_to_forward_and_backward():
    out = run("profile_step.py", "--repeats=1", "--profile_steps=1", "--top=3")
    assert out["model"] == "draw" and out["step_s_median"] > 0 and out["forward_s_median"] > 0
    assert out["forward_matmul_ms"] > 0 and out["backward_matmul_ms"] > 0
    assert 0 < out["matmul_share"] <= 1


def test_tf_fit_idle_times_fit_and_the_direct_train_function():
    out = run("tf_fit_idle.py", "--fit_steps=1,2", "--direct_steps=2", "--nojit_compile",
              backend="tensorflow")
    assert out["jit_compile"] is False and out["batch_size"] == 20
    fits, quiet = out["fit_wall_cpu_s_by_steps"], out["fit_without_autotune_wall_cpu_s_by_steps"]
    assert set(fits) == set(quiet) == {"1", "2"}
    assert len(out["direct_step_wall_cpu_s"]) == 2
    for wall, cpu in [*fits.values(), *quiet.values(), *out["direct_step_wall_cpu_s"]]:
        assert wall > 0 and cpu > 0


def test_pixel_memory_reports_xlas_account_of_the_gradient():
    env = {**os.environ, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([sys.executable, os.path.join(ROOT, "benchmarks", "pixel_memory.py"),
                             "--flagfile=flags/smoke_pixelrnn", "--parts=compiled",
                             "--lengths=4,8"], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = [json.loads(line) for line in result.stdout.strip().splitlines()]
    assert [r["caption_length"] for r in rows] == [4, 8]
    for row in rows:
        assert row["model"] == "align_pixel_rnn" and row["batch_size"] == 8
        assert row["temp_mb"] > 0 and row["argument_mb"] > 0
