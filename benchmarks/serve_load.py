"""Load test of the REST server: concurrent clients on loopback, bounded in time and count.

  # against a running server
  python benchmarks/serve_load.py --url=http://127.0.0.1:8501/v1/models/aligndraw
  # or start one on a free port for the run, and stop it after
  python benchmarks/serve_load.py --export_dir=exported/aligndraw --clients=8 --duration_s=30

Each client sends one predict request at a time (row format, one caption, --num_samples
images, a new seed per request) until --duration_s has passed or --max_requests have been
sent in all. After --warmup_requests (not counted), prints one JSON line: throughput
(answered requests per second), latency percentiles in ms, the counts of 2xx, 4xx, 5xx
answers and of failed connections, and the machine's load average (1, 5 and 15 minutes)
before the timed part and after it, since other work on the machine moves the figures.
Numbers are measurements, not assertions; the issue's target for alignDRAW on the 2-core
CPU is >= 50 requests/s, p99 < 200 ms, no 5xx.
"""

import asyncio
import json
import os
import platform
import select
import signal
import subprocess
import sys
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FLAGS = flags.FLAGS
flags.DEFINE_string("url", None, "The model's URL, http://HOST:PORT/v1/models/NAME.")
flags.DEFINE_string("export_dir", None, "Instead of --url: serve this export for the run.")
flags.DEFINE_integer("clients", 8, "Concurrent clients.")
flags.DEFINE_float("duration_s", 10.0, "Stop sending after this long.")
flags.DEFINE_integer("max_requests", 1000, "Stop after this many requests in all.")
flags.DEFINE_integer("warmup_requests", 5, "Requests sent first, one at a time, not counted.")
flags.DEFINE_string("caption", "the digit 3 is at the top of the digit 1 .", "The caption "
                    "(left out for a model without captions).")
flags.DEFINE_integer("num_samples", 1, "Images per request.")
flags.register_validator("clients", lambda v: v > 0, message="must be positive")
flags.register_validator("max_requests", lambda v: v > 0, message="must be positive")


def start_server(export_dir):
    """Starts t2i_tf.serve on a free loopback port; returns (process, model URL)."""
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "t2i_tf.serve", f"--export_dir={export_dir}",
                             "--port=0"], cwd=ROOT, env=env, stdout=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stdout], [], [], 1.0)[0]:
            line = proc.stdout.readline()
            if line.startswith("serving "):
                return proc, line.split(" at ")[1].strip()
    proc.kill()
    sys.exit("error: the server did not start")


def served_url():
    """(server process or None, the model's URL): --url, or a server started on --export_dir."""
    if (FLAGS.url is None) == (FLAGS.export_dir is None):
        sys.exit("error: pass one of --url and --export_dir")
    return (None, FLAGS.url) if FLAGS.url else start_server(FLAGS.export_dir)


def body(index, has_captions):
    instance = {"num_samples": FLAGS.num_samples, "seed": index}
    if has_captions:
        instance["captions"] = FLAGS.caption
    return json.dumps({"instances": [instance]}).encode()


async def load(url):
    import aiohttp

    predict = url + ":predict"
    headers = {"Content-Type": "application/json"}
    connector = aiohttp.TCPConnector(limit=FLAGS.clients)
    async with aiohttp.ClientSession(connector=connector) as session:
        async with session.get(url + "/metadata") as answer:
            metadata = await answer.json()
        inputs = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"][
            "inputs"]
        has_captions = "captions" in inputs
        for i in range(FLAGS.warmup_requests):
            async with session.post(predict, data=body(-1 - i, has_captions),
                                    headers=headers) as answer:
                await answer.read()

        loadavg = [os.getloadavg()]
        counts = {"2xx": 0, "4xx": 0, "5xx": 0, "failed": 0}
        latencies = []
        sent = 0
        start = time.perf_counter()
        deadline = start + FLAGS.duration_s

        async def client():
            nonlocal sent
            while time.perf_counter() < deadline and sent < FLAGS.max_requests:
                index = sent
                sent += 1
                t0 = time.perf_counter()
                try:
                    async with session.post(predict, data=body(index, has_captions),
                                            headers=headers) as answer:
                        await answer.read()
                        status = answer.status
                except aiohttp.ClientError:
                    counts["failed"] += 1
                    continue
                latencies.append(time.perf_counter() - t0)
                counts[f"{status // 100}xx" if status // 100 in (2, 4, 5) else "failed"] += 1

        await asyncio.gather(*(client() for _ in range(FLAGS.clients)))
        elapsed = time.perf_counter() - start
        loadavg.append(os.getloadavg())
    return counts, latencies, elapsed, loadavg


def percentile(values, q):
    ordered = sorted(values)
    if not ordered:
        return None
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return round(1000 * ordered[k], 1)


def main(argv):
    del argv
    server, url = served_url()
    try:
        counts, latencies, elapsed, loadavg = asyncio.run(load(url.rstrip("/")))
    finally:
        server_exit = None
        if server is not None:
            server.send_signal(signal.SIGINT)
            server_exit = server.wait(timeout=120)
    answered = counts["2xx"] + counts["4xx"] + counts["5xx"]
    print(json.dumps({
        "benchmark": "serve_load", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "url": url, "clients": FLAGS.clients, "num_samples": FLAGS.num_samples,
        "duration_s": round(elapsed, 2), "requests": answered + counts["failed"],
        "throughput_rps": round(answered / elapsed, 1) if elapsed else None,
        "latency_ms_p50": percentile(latencies, 50), "latency_ms_p90": percentile(latencies, 90),
        "latency_ms_p99": percentile(latencies, 99), "latency_ms_max": percentile(latencies, 100),
        "status_2xx": counts["2xx"], "status_4xx": counts["4xx"], "status_5xx": counts["5xx"],
        "failed_connections": counts["failed"], "server_exit_status": server_exit,
        "loadavg_before": [round(v, 2) for v in loadavg[0]],
        "loadavg_after": [round(v, 2) for v in loadavg[1]],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
    }))


if __name__ == "__main__":
    app.run(main)
