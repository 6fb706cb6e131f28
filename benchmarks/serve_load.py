"""Load test of the REST server: concurrent clients on loopback, bounded in time and count.

  # against a running server
  python benchmarks/serve_load.py --url=http://127.0.0.1:8501/v1/models/aligndraw
  # or start one on a free port for the run, and stop it after
  python benchmarks/serve_load.py --export_dir=exported/aligndraw --clients=8 --duration_s=30

  # bad traffic mixed in, server pinned to core 1 (docs/SERVING.md has the figures)
  taskset -c 1 python benchmarks/serve_load.py --export_dir=exported/aligndraw --clients=16 \
      --bad_fraction=0.25 --server_cpus=1

Each client sends one predict request at a time (row format, one caption, --num_samples
images, a new seed per request) until --duration_s has passed or --max_requests have been
sent in all. With --bad_fraction, that share of the requests is bad, in turn: malformed
JSON, a version of 5,000 digits, an unknown model, a body over the size limit, a caption
of unknown words, a stalled upload (headers and part of the body, then nothing: answered
408 after the server's --body_timeout_s, awaited in the background) and a client that hangs
up mid-body. After --warmup_requests (not counted), prints one JSON line: throughput of the
good requests (answered per second), their latency percentiles in ms, the counts of 2xx,
4xx, 5xx answers (bad ones apart) and of failed connections, and the machine's load average
(1, 5 and 15 minutes) before the timed part and after it, since other work on the machine
moves the figures. Numbers are measurements, not assertions; the issue's target for
alignDRAW on the 2-core CPU is >= 50 requests/s, p99 < 200 ms, no 5xx.
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
flags.DEFINE_float("bad_fraction", 0.0, "Share of the requests that are bad (see above).")
flags.DEFINE_string("server_cpus", None, "With --export_dir: run the server under "
                    "`taskset -c CPUS` (e.g. 1).")
flags.DEFINE_float("body_timeout_s", 2.0, "With --export_dir: the server's --body_timeout_s.")
flags.register_validator("clients", lambda v: v > 0, message="must be positive")
flags.register_validator("max_requests", lambda v: v > 0, message="must be positive")


def start_server(export_dir):
    """Starts t2i_tf.serve on a free loopback port; returns (process, model URL)."""
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    pin = ["taskset", "-c", FLAGS.server_cpus] if FLAGS.server_cpus else []
    proc = subprocess.Popen([*pin, sys.executable, "-m", "t2i_tf.serve",
                             f"--export_dir={export_dir}", "--port=0",
                             f"--body_timeout_s={FLAGS.body_timeout_s}"],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                            text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and proc.poll() is None:
        if select.select([proc.stdout], [], [], 1.0)[0]:
            line = proc.stdout.readline()
            if line.startswith("serving "):
                return proc, line.split(" at ")[1].strip()
    proc.kill()
    sys.exit("error: the server did not start")


BAD = [  # (path suffix, body) of the bad requests; None: a raw-socket one
    (":predict", b'{"instances": ['),
    ("/versions/" + "9" * 5000 + ":predict", b'{"instances": ["the digit 3"]}'),
    ("_unknown:predict", b'{"instances": ["the digit 3"]}'),
    (":predict", json.dumps({"instances": ["x" * (2 << 20)]}).encode()),
    (":predict", b'{"instances": ["zebras and giraffes"]}'),
    ("stall", None),
    ("hang_up", None),
]


def is_bad(index):
    """Whether request `index` is a bad one: --bad_fraction of them, spread evenly."""
    f = FLAGS.bad_fraction
    return f > 0 and int((index + 1) * f) > int(index * f)


async def raw_predict(url, stall):
    """A predict request over a bare socket that sends 10 of the 100 body bytes it
    announces, then waits for the answer (stall) or hangs up. The status, or None."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1] + ":predict"
    reader, writer = await asyncio.open_connection(host, int(port))
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: 100\r\n\r\n"
                 '{"instance'.encode())
    await writer.drain()
    try:
        if stall:
            line = await asyncio.wait_for(reader.readline(), 120)
            return int(line.split()[1]) if line else None
    finally:
        writer.close()
    return None


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
        bad_counts = {"2xx": 0, "4xx": 0, "5xx": 0, "failed": 0, "hung_up": 0}
        latencies = []
        stalled = []
        sent = 0
        start = time.perf_counter()
        deadline = start + FLAGS.duration_s

        async def bad(index):
            suffix, data = BAD[index % len(BAD)]
            try:
                if data is None:
                    status = await raw_predict(url, suffix == "stall")
                    if status is None:
                        bad_counts["hung_up"] += 1
                        return
                else:
                    async with session.post(url + suffix, data=data,
                                            headers=headers) as answer:
                        await answer.read()
                        status = answer.status
            except (aiohttp.ClientError, OSError):
                bad_counts["failed"] += 1
                return
            bad_counts[f"{status // 100}xx" if status // 100 in (2, 4, 5) else "failed"] += 1

        async def client():
            nonlocal sent
            while time.perf_counter() < deadline and sent < FLAGS.max_requests:
                index = sent
                sent += 1
                if is_bad(index):
                    if BAD[index % len(BAD)][0] == "stall":  # do not hold the client
                        stalled.append(asyncio.create_task(bad(index)))
                    else:
                        await bad(index)
                    continue
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
        await asyncio.gather(*stalled)
    return counts, bad_counts, latencies, elapsed, loadavg


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
        counts, bad_counts, latencies, elapsed, loadavg = asyncio.run(load(url.rstrip("/")))
    finally:
        server_exit = None
        if server is not None:
            server.send_signal(signal.SIGINT)
            server_exit = server.wait(timeout=120)
    answered = counts["2xx"] + counts["4xx"] + counts["5xx"]
    print(json.dumps({
        "benchmark": "serve_load", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "url": url, "clients": FLAGS.clients, "num_samples": FLAGS.num_samples,
        "bad_fraction": FLAGS.bad_fraction, "server_cpus": FLAGS.server_cpus,
        "duration_s": round(elapsed, 2), "requests": answered + counts["failed"],
        "throughput_rps": round(answered / elapsed, 1) if elapsed else None,
        "latency_ms_p50": percentile(latencies, 50), "latency_ms_p90": percentile(latencies, 90),
        "latency_ms_p99": percentile(latencies, 99), "latency_ms_max": percentile(latencies, 100),
        "status_2xx": counts["2xx"], "status_4xx": counts["4xx"], "status_5xx": counts["5xx"],
        "failed_connections": counts["failed"], "bad_requests": bad_counts,
        "server_exit_status": server_exit,
        "loadavg_before": [round(v, 2) for v in loadavg[0]],
        "loadavg_after": [round(v, 2) for v in loadavg[1]],
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
    }))


if __name__ == "__main__":
    app.run(main)
