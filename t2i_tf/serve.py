"""Serves an exported model over TF Serving's REST API.

  python -m t2i_tf.export --model=aligndraw_mnist_captions --export_dir=exported/aligndraw
  python -m t2i_tf.serve --export_dir=exported/aligndraw --port=8501
  curl -d '{"instances": [{"captions": "the digit 3 is at the top of the digit 1 .",
            "seed": 7}]}' localhost:8501/v1/models/aligndraw:predict

  # or in one command: export a shipped model to a temporary folder, then serve it
  python -m t2i_tf.serve --model=aligndraw_mnist_captions

Serves the highest version under --export_dir, loaded with TensorFlow's SavedModel loader
(t2i_tf/serving/rest_server.py), and a web page at / where one types a caption and watches the model
draw it step by step (t2i_tf/serving/web_page.py, docs/PAGE.md); compiles every batch and
caption-length bucket that --max_batch and --max_words admit (--warmup), prints its address
when ready and stops cleanly on SIGINT or SIGTERM (exit status 0). docs/SERVING.md describes
the requests, the error contract and the flags. --port=0 takes a free port (the printed
address names it). --model=NAME exports the model with `python -m t2i_tf.export` into a new
temporary folder (under $TMPDIR, else /tmp), serves it as NAME and removes the folder when
the server stops.

Serving an export needs TensorFlow and aiohttp, not Keras or the model code (--model runs
the exporter in a child process). An expected failure (no export under --export_dir, a model
that cannot be exported, a port in use) ends in one `error: ...` line and exit status 1.
"""

import asyncio
import os
import sys
import tempfile
import time

from absl import flags

from t2i_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("export_dir", None, "The export's base folder (holding 1/, 2/, ...).")
flags.DEFINE_string("model", None, "Instead of --export_dir: a shipped model's name (or a model "
                    "folder), exported at start-up into a new temporary folder under $TMPDIR "
                    "(else /tmp) that is removed when the server stops.")
flags.DEFINE_string("model_name", None, "Name in the URLs; default the folder's name.")
flags.DEFINE_string("host", "127.0.0.1", "Address to listen on (0.0.0.0 for every interface).")
flags.DEFINE_integer("port", 8501, "Port (TF Serving's REST port is 8501); 0 for a free one.")
flags.DEFINE_integer("max_batch", 64, "Most images (captions x num_samples) per request.")
flags.DEFINE_integer("max_caption_chars", 1000, "Most characters per caption.")
flags.DEFINE_integer("max_words", 64, "Most words per caption (and columns of ids).")
flags.DEFINE_integer("max_request_bytes", 1 << 20, "Largest request body.")
flags.DEFINE_integer("max_queue", 32, "Most predict requests waiting or running at once; "
                     "the next is answered 429.")
flags.DEFINE_float("request_timeout_s", 30.0, "A predict request not answered within this "
                   "(waiting for the model included) is answered 503.")
flags.DEFINE_float("body_timeout_s", 10.0, "A request body not received within this is "
                   "answered 408.")
flags.DEFINE_bool("warmup", True, "Compile every batch and caption-length bucket before "
                  "listening, so that no request waits for XLA to compile.")
flags.mark_flags_as_mutual_exclusive(["export_dir", "model"], required=True)
# The batch and caption-length buckets (log2 of each) are compiled at start-up: bounded.
for _name, _most in (("max_batch", 4096), ("max_words", 1024), ("max_caption_chars", 1 << 20),
                     ("max_request_bytes", 1 << 30), ("max_queue", 1 << 20)):
    flags.register_validator(_name, lambda v, most=_most: 0 < v <= most,
                             message=f"must be in 1..{_most}")
for _name in ("request_timeout_s", "body_timeout_s"):
    flags.register_validator(_name, lambda v: 0 < v <= 86400,
                             message="must be a positive number of seconds, at most 86400")
flags.register_validator("port", lambda v: 0 <= v < 65536, message="must be in 0..65535")


def main(argv):
    del argv
    if FLAGS.export_dir is not None:
        serve(FLAGS.export_dir)
        return
    from t2i_tf.serving import web_page

    name = os.path.basename(os.path.normpath(FLAGS.model))
    with tempfile.TemporaryDirectory(prefix="t2i_tf-serve-") as folder:
        export_dir = os.path.join(folder, name)
        print(f"exporting {FLAGS.model} to {export_dir}", flush=True)
        try:
            web_page.export_model(FLAGS.model, export_dir)
        except web_page.ExportError as e:
            raise cli.UsageError(str(e)) from None
        serve(export_dir)


def serve(export_dir):
    from t2i_tf.serving import rest_server, web_page

    try:
        model = rest_server.ServedModel(export_dir)
    except rest_server.ServingError as e:
        raise cli.UsageError(str(e)) from None
    limits = rest_server.Limits(FLAGS.max_batch, FLAGS.max_caption_chars, FLAGS.max_words)
    if FLAGS.warmup:
        start = time.monotonic()
        calls = model.warm_up(limits)
        web_page.warm_up(model, min(web_page.DEFAULT_SAMPLES, FLAGS.max_batch))
        print(f"compiled {calls} batch and caption-length buckets in "
              f"{time.monotonic() - start:.0f} s", file=sys.stderr, flush=True)
    name = FLAGS.model_name or os.path.basename(os.path.normpath(os.path.abspath(export_dir)))
    admission = rest_server.Admission(FLAGS.max_queue, FLAGS.request_timeout_s,
                                      FLAGS.body_timeout_s)
    application = rest_server.make_app(model, name, limits, FLAGS.max_request_bytes,
                                       admission)
    web_page.add_routes(application, model, name,
                        os.path.join(export_dir, str(model.version)))

    def ready(address):
        print(f"serving {name} version {model.version} "
              f"({', '.join(sorted(model.signatures))}) at {address}/v1/models/{name}",
              flush=True)
        print(f"the page: {address}/", flush=True)

    asyncio.run(rest_server.serve(application, FLAGS.host, FLAGS.port, ready))  # OSError: port
    print("stopped", flush=True)


def run():
    """`t2i-serve`, the same as `python -m t2i_tf.serve`."""
    cli.run(main)


if __name__ == "__main__":
    run()
