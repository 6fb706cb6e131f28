"""How this CPU trains the two DRAW paper models fastest: the layouts and XLA options side by side.

  python benchmarks/draw_layout.py --rounds=2 --json_out=docs/results/draw_layout.json

Each layout runs benchmarks/speed.py (JAX, float32, batch 100, Keras fit on a fixed batch,
compiled; `--timed_steps` steps timed `--repeats` times, median) in fresh processes pinned
with taskset:
  two_cores          draw_mnist in one process on both cores (XLA's threaded Eigen)
  one_core           draw_mnist alone in one process on one core (XLA single-threaded)
  two_processes      draw_mnist on core 0 and draw_mnist_noattn on core 1, at the same time
  two_cores_thunk_off  two_cores with XLA_FLAGS=--xla_cpu_use_thunk_runtime=false
  one_core_unroll2   one_core with the T-step scan unrolled by 2 (t2i_tf.layers.scan.UNROLL)
  one_core_unroll4   ... by 4
`--rounds` passes over the layouts, alternating their order, so that a slow period of the
machine does not fall on one layout only. Prints one JSON line per layout run and a summary
(images/s per model and in total, median over rounds); the load average before each run is
in its line. Numbers are measurements, not assertions; docs/TRAINING.md lists them.
"""

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SINGLE = "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"

# name: [(flagfile, cores, XLA_FLAGS, scan unroll), ...] (processes that run at once)
LAYOUTS = {
    "two_cores": [("draw_mnist", "0,1", "", 1)],
    "one_core": [("draw_mnist", "0", SINGLE, 1)],
    "two_processes": [("draw_mnist", "0", SINGLE, 1), ("draw_mnist_noattn", "1", SINGLE, 1)],
    "two_cores_thunk_off": [("draw_mnist", "0,1", "--xla_cpu_use_thunk_runtime=false", 1)],
    "one_core_unroll2": [("draw_mnist", "0", SINGLE, 2)],
    "one_core_unroll4": [("draw_mnist", "0", SINGLE, 4)],
}


def run_layout(name, timed_steps, repeats):
    procs = []
    load = open("/proc/loadavg").read().split()[:3]
    for flagfile, cores, xla, unroll in LAYOUTS[name]:
        env = {**os.environ, "KERAS_BACKEND": "jax", "JAX_PLATFORMS": "cpu", "XLA_FLAGS": xla}
        command = ["taskset", "-c", cores, sys.executable, "benchmarks/speed.py",
                   f"--flagfile=flags/{flagfile}", "--sample_batch=0",
                   f"--timed_steps={timed_steps}", f"--repeats={repeats}",
                   f"--scan_unroll={unroll}", "--peak_n=1024"]
        procs.append((flagfile, subprocess.Popen(command, cwd=ROOT, env=env, text=True,
                                                 stdout=subprocess.PIPE,
                                                 stderr=subprocess.PIPE)))
    results = {}
    for flagfile, proc in procs:
        out, err = proc.communicate()
        if proc.returncode:
            raise SystemExit(f"error: {name} ({flagfile}) failed: {err.strip().splitlines()[-1]}")
        results[flagfile] = json.loads(out.strip().splitlines()[-1])
    line = {"layout": name, "loadavg_before": load,
            "images_per_s": {f: r["train_images_per_s_median"] for f, r in results.items()},
            "runs": {f: r["train_images_per_s_runs"] for f, r in results.items()},
            "cpu_s_per_step": {f: r["train_cpu_s_per_step_median"] for f, r in results.items()}}
    print(json.dumps(line), flush=True)
    return line


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--timed_steps", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--layouts", default=",".join(LAYOUTS))
    parser.add_argument("--json_out", default="")
    args = parser.parse_args()
    names = [n for n in args.layouts.split(",") if n]
    unknown = sorted(set(names) - set(LAYOUTS))
    if unknown:
        raise SystemExit(f"error: unknown layouts {unknown}; known: {sorted(LAYOUTS)}")
    lines = []
    for r in range(args.rounds):
        for name in (names if r % 2 == 0 else names[::-1]):
            lines.append(run_layout(name, args.timed_steps, args.repeats))
    summary = {}
    for name in names:
        mine = [line["images_per_s"] for line in lines if line["layout"] == name]
        per_model = {f: round(statistics.median(m[f] for m in mine), 1) for f in mine[0]}
        summary[name] = {"images_per_s": per_model,
                         "total_images_per_s": round(sum(per_model.values()), 1)}
    result = {"benchmark": "benchmarks/draw_layout.py", "date": time.strftime("%Y-%m-%d"),
              "machine": f"{platform.machine()}, {os.cpu_count()} cores "
                         f"({platform.processor() or 'CPU'}), Python {platform.python_version()}",
              "rounds": args.rounds, "timed_steps": args.timed_steps, "repeats": args.repeats,
              "batch_size": 100, "summary": summary, "runs": lines}
    print(json.dumps(summary))
    if args.json_out:
        with open(args.json_out, "w") as f:
            json.dump(result, f, indent=1)


if __name__ == "__main__":
    main()
