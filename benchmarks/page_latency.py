"""Latency of the web page's request: one drawing (the SavedModel's drawing signature) of
--num_samples samples of one caption, sent alone, on loopback.

  # start a server on a free port for the run (stopped after), pinned to core 1
  nice -n 2 taskset -c 1 python benchmarks/page_latency.py --export_dir=exported/aligndraw_mnist_captions
  # or against a running server
  python benchmarks/page_latency.py --url=http://127.0.0.1:8501/v1/models/aligndraw

Sends --warmup_requests first (not counted), then --requests one at a time, each with a new
seed, and times each from sending to the last byte of the answer (what the page waits for
before it decodes the PNGs). Prints one JSON line: the median, min, p90 and max in ms, the
answer's size, and the machine's load average before and after, since other work on the
machine moves the figures. Numbers are measurements, not assertions (the page's goal for
8 samples of alignDRAW on the 2-core CPU: a median of at most 300 ms).
"""

import json
import os
import platform
import signal
import statistics
import sys
import time
import urllib.request

from absl import app, flags

# serve_load's --url, --export_dir, --caption, --num_samples and --warmup_requests serve here
# too (its other flags are unused); the page's defaults replace its own.
from serve_load import percentile, served_url

FLAGS = flags.FLAGS
FLAGS.set_default("num_samples", 8)
FLAGS.set_default("warmup_requests", 3)
flags.DEFINE_float("temperature", 0.5, "The prior's temperature (the page's default).")
flags.DEFINE_integer("requests", 20, "Timed requests.")
flags.register_validator("requests", lambda v: v > 0, message="must be positive")


def drawing_request(url, seed, has_captions):
    """(seconds to the answer's last byte, answer bytes) of one drawing request."""
    instance = {"num_samples": FLAGS.num_samples, "seed": seed,
                "temperature": FLAGS.temperature}
    if has_captions:
        instance["captions"] = FLAGS.caption
    body = json.dumps({"signature_name": "drawing", "instances": [instance]}).encode()
    request = urllib.request.Request(url + ":predict", data=body,
                                     headers={"Content-Type": "application/json"})
    start = time.perf_counter()
    with urllib.request.urlopen(request, timeout=600) as answer:
        data = answer.read()
    elapsed = time.perf_counter() - start
    if "predictions" not in json.loads(data):
        sys.exit(f"error: unexpected answer {data[:200]!r}")
    return elapsed, len(data)


def measure(url):
    with urllib.request.urlopen(url + "/metadata", timeout=60) as answer:
        signatures = json.load(answer)["metadata"]["signature_def"]["signature_def"]
    if "drawing" not in signatures:
        sys.exit("error: the model has no drawing signature")
    has_captions = "captions" in signatures["drawing"]["inputs"]
    for i in range(FLAGS.warmup_requests):
        drawing_request(url, -1 - i, has_captions)
    loadavg = [os.getloadavg()]
    timed = [drawing_request(url, i, has_captions) for i in range(FLAGS.requests)]
    loadavg.append(os.getloadavg())
    return [t for t, _ in timed], timed[-1][1], loadavg


def main(argv):
    del argv
    server, url = served_url()
    try:
        latencies, size, loadavg = measure(url.rstrip("/"))
    finally:
        if server is not None:
            server.send_signal(signal.SIGINT)
            server.wait(timeout=120)
    print(json.dumps({
        "benchmark": "page_latency", "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
        "url": url, "num_samples": FLAGS.num_samples, "temperature": FLAGS.temperature,
        "caption_words": len(FLAGS.caption.split()), "requests": len(latencies),
        "latency_ms_median": round(1000 * statistics.median(latencies), 1),
        "latency_ms_min": percentile(latencies, 0), "latency_ms_p90": percentile(latencies, 90),
        "latency_ms_max": percentile(latencies, 100), "answer_bytes": size,
        "loadavg_before": [round(v, 2) for v in loadavg[0]],
        "loadavg_after": [round(v, 2) for v in loadavg[1]],
        "affinity": sorted(os.sched_getaffinity(0)),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
    }))


if __name__ == "__main__":
    app.run(main)
