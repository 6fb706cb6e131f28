"""Where the time of one training step goes: forward against backward, matmuls against the
rest, per compiled XLA operation (JAX backend).

  KERAS_BACKEND=jax XLA_FLAGS="--xla_cpu_multi_thread_eigen=false" taskset -c 0 \
      python benchmarks/profile_step.py --flagfile=flags/mnist_captions_aligndraw

The loss of the flagfile's model (random data of the model's shape, --batch_size rows) is
compiled twice with jax.jit: the loss alone (forward) and jax.value_and_grad of it (one
training step less the optimizer's update). Both are timed (median of --repeats). Then
--profile_steps runs of the step are traced with jax.profiler; every XLA operation's time
is summed and attributed through the compiled HLO's op_name metadata to a phase (forward:
`jvp(...)`, backward: `transpose(jvp(...))`, other: outside both, such as buffers set up
before the loops) and a kind (matmul: dot and the XLA CPU's library-fused dots; the rest:
element-wise, copies, slices, reductions). Prints the --top costliest operations and, last,
one JSON line with the totals.
"""

import collections
import glob
import gzip
import json
import os
import re
import statistics
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from benchmarks import flops, speed  # noqa: E402  (speed defines the flagfile's model flags)

FLAGS = flags.FLAGS
flags.DEFINE_integer("profile_steps", 2, "Traced runs of the training step.")
flags.DEFINE_integer("top", 25, "Costliest operations printed.")

_NAME = re.compile(r"\s*(?:ROOT )?%?([\w.\-]+) = (\S+) ")
_OP_NAME = re.compile(r'op_name="([^"]+)"')


def hlo_metadata(hlo_text):
    """{instruction name: (result shape, op_name metadata)} of compiled HLO text."""
    out = {}
    for line in hlo_text.splitlines():
        m = _NAME.match(line)
        if m:
            op = _OP_NAME.search(line)
            out[m.group(1)] = (m.group(2), op.group(1) if op else "")
    return out


def classify(name, op_name):
    """(phase, kind) of one XLA operation; see the module docstring."""
    phase = ("backward" if "transpose(" in op_name else
             "forward" if "jvp(" in op_name else "other")
    kind = "matmul" if name.startswith(("dot", "ynn_fusion", "convolution")) else "rest"
    return phase, kind


def op_times(trace_dir, names, runs):
    """{operation name: milliseconds per run} from a perfetto trace of `runs` runs."""
    path = glob.glob(os.path.join(trace_dir, "**", "perfetto_trace.json.gz"), recursive=True)
    events = json.load(gzip.open(path[0]))
    events = events["traceEvents"] if isinstance(events, dict) else events
    total = collections.Counter()
    for e in events:
        if e.get("ph") == "X" and e.get("name") in names:
            total[e["name"]] += e.get("dur", 0) / 1e3 / runs
    return total


def main(argv):
    del argv
    import jax
    import keras

    if keras.backend.backend() != "jax":
        raise SystemExit("profile_step.py: set KERAS_BACKEND=jax")
    model, batch = speed.model_and_batch()
    model(batch)
    loss, args = flops.stateless_loss(model, batch)
    forward = jax.jit(loss)
    step = jax.jit(jax.value_and_grad(loss))

    def timed(fn):
        jax.block_until_ready(fn(*args))
        runs = []
        for _ in range(FLAGS.repeats):
            start = time.perf_counter()
            jax.block_until_ready(fn(*args))
            runs.append(time.perf_counter() - start)
        return statistics.median(runs)

    forward_s, step_s = timed(forward), timed(step)
    metadata = hlo_metadata(step.lower(*args).compile().as_text())
    with tempfile.TemporaryDirectory() as trace_dir:
        jax.profiler.start_trace(trace_dir, create_perfetto_trace=True)
        for _ in range(FLAGS.profile_steps):
            jax.block_until_ready(step(*args))
        jax.profiler.stop_trace()
        times = op_times(trace_dir, metadata, FLAGS.profile_steps)

    totals = collections.Counter()
    rows = []
    for name, ms in times.items():
        shape, op_name = metadata[name]
        phase, kind = classify(name, op_name)
        totals[f"{phase}_{kind}_ms"] += ms
        rows.append((ms, name, shape, op_name))
    rows.sort(reverse=True)
    print(f"{'ms/step':>8}  {'operation':30} {'result':32} op_name")
    for ms, name, shape, op_name in rows[:FLAGS.top]:
        print(f"{ms:8.1f}  {name[:30]:30} {shape[:32]:32} {op_name[-80:]}")
    traced = sum(totals.values())
    print(json.dumps({
        "flagfile": next((a.split("=", 1)[1] for a in sys.argv if a.startswith("--flagfile")),
                         None),
        "model": FLAGS.model,
        "batch_size": FLAGS.batch_size,
        "forward_s_median": round(forward_s, 4),
        "step_s_median": round(step_s, 4),
        "backward_over_forward": round((step_s - forward_s) / forward_s, 2),
        "traced_ms_per_step": round(traced, 1),
        **{k: round(v, 1) for k, v in sorted(totals.items())},
        "matmul_share": round(sum(v for k, v in totals.items() if "_matmul_" in k) / traced, 3),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "loadavg": open("/proc/loadavg").read().split()[:3],
        "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
    }))


if __name__ == "__main__":
    app.run(main)
