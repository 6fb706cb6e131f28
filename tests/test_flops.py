"""benchmarks/flops.py: the jaxpr FLOP counter against counts worked out from the shapes,
and the peak measurement's bookkeeping. Pure JAX functions: no Keras backend needed."""

import statistics

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks import flops

BATCH, UNITS, LENGTH = 8, 64, 10


def recurrent(w, x):
    """LENGTH steps of c <- tanh(c @ w): one (BATCH, UNITS) x (UNITS, UNITS) matmul each."""

    def body(c, _):
        return jnp.tanh(c @ w), None

    c, _ = jax.lax.scan(body, x, None, length=LENGTH)
    return c.sum()


def args():
    rng = np.random.default_rng(0)
    return (jnp.asarray(rng.standard_normal((UNITS, UNITS)), jnp.float32),
            jnp.asarray(rng.standard_normal((BATCH, UNITS)), jnp.float32))


def test_scan_body_counts_once_per_step():
    counts = flops.count_jaxpr(jax.make_jaxpr(recurrent)(*args()))
    assert counts["matmul"] == LENGTH * 2 * BATCH * UNITS * UNITS
    # tanh per step, and the final sum's input
    assert counts["elementwise"] == LENGTH * BATCH * UNITS + BATCH * UNITS
    assert counts["unbounded_loops"] == 0


def test_gradient_costs_two_more_matmuls_per_matmul():
    # d/dw and d/dc of c @ w are one matmul each: forward + backward = 3 x forward.
    forward = flops.count_jaxpr(jax.make_jaxpr(recurrent)(*args()))["matmul"]
    step = flops.count_jaxpr(jax.make_jaxpr(jax.value_and_grad(recurrent))(*args()))["matmul"]
    assert step == 3 * forward


def test_convolution_counts_every_tap():
    images = jnp.ones((2, 10, 10, 4))
    kernel = jnp.ones((3, 3, 4, 5))  # HWIO

    def conv(images, kernel):
        return jax.lax.conv_general_dilated(images, kernel, (1, 1), "SAME",
                                            dimension_numbers=("NHWC", "HWIO", "NHWC"))

    counts = flops.count_jaxpr(jax.make_jaxpr(conv)(images, kernel))
    assert counts["matmul"] == 2 * (2 * 10 * 10 * 5) * (4 * 3 * 3)


def test_cond_counts_the_dearer_branch_and_while_is_flagged():
    w, x = args()

    def branchy(w, x, flag):
        y = jax.lax.cond(flag, lambda: x @ w @ w, lambda: x @ w)
        return jax.lax.while_loop(lambda c: c[1] < 3, lambda c: (c[0] @ w, c[1] + 1), (y, 0))

    counts = flops.count_jaxpr(jax.make_jaxpr(branchy)(w, x, True))
    one = 2 * BATCH * UNITS * UNITS
    assert counts["matmul"] == 2 * one + one  # the two-matmul branch, the loop body once
    assert counts["unbounded_loops"] == 1


def test_measure_peak_reports_the_median_of_its_runs():
    peak = flops.measure_peak(n=64, repeats=3)
    assert len(peak["runs"]) == 3 and all(r > 0 for r in peak["runs"])
    assert peak["peak_flops_per_s"] == statistics.median(peak["runs"])
