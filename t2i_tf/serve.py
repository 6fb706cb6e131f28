"""Serves an exported model over TF Serving's REST API.

  python -m t2i_tf.export --model=aligndraw_mnist_captions --export_dir=exported/aligndraw
  python -m t2i_tf.serve --export_dir=exported/aligndraw --port=8501
  curl -d '{"instances": [{"captions": "the digit 3 is at the top of the digit 1 .",
            "seed": 7}]}' localhost:8501/v1/models/aligndraw:predict

  # or in one command: export a shipped model to a temporary folder, then serve it
  python -m t2i_tf.serve --model=aligndraw_mnist_captions

Serves the highest version under --export_dir, loaded with TensorFlow's SavedModel loader
(t2i_tf/rest_server.py), and a web page at / where one types a caption and watches the model
draw it step by step (t2i_tf/web_page.py, docs/PAGE.md); prints its address when ready and
stops cleanly on SIGINT or SIGTERM (exit status 0). --port=0 takes a free port (the printed
address names it). --model=NAME exports the model with `python -m t2i_tf.export` into a new
temporary folder (under $TMPDIR, else /tmp), serves it as NAME and removes the folder when
the server stops.

Serving an export needs TensorFlow and aiohttp, not Keras or the model code (--model runs
the exporter in a child process). An expected failure (no export under --export_dir, a model
that cannot be exported, a port in use) ends in one `error: ...` line and exit status 1.
"""

import asyncio
import os
import tempfile

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
flags.DEFINE_bool("warmup", True, "Run the model on small inputs before listening, so the "
                  "first requests do not wait for XLA to compile.")
flags.mark_flags_as_mutual_exclusive(["export_dir", "model"], required=True)
for _name in ("max_batch", "max_caption_chars", "max_words", "max_request_bytes"):
    flags.register_validator(_name, lambda v: v > 0, message="must be positive")
flags.register_validator("port", lambda v: 0 <= v < 65536, message="must be in 0..65535")


def main(argv):
    del argv
    if FLAGS.export_dir is not None:
        serve(FLAGS.export_dir)
        return
    from t2i_tf import web_page

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
    from t2i_tf import rest_server, web_page

    try:
        model = rest_server.ServedModel(export_dir)
    except rest_server.ServingError as e:
        raise cli.UsageError(str(e)) from None
    if FLAGS.warmup:
        model.warm_up()
        web_page.warm_up(model, min(web_page.DEFAULT_SAMPLES, FLAGS.max_batch))
    name = FLAGS.model_name or os.path.basename(os.path.normpath(os.path.abspath(export_dir)))
    limits = rest_server.Limits(FLAGS.max_batch, FLAGS.max_caption_chars, FLAGS.max_words)
    application = rest_server.make_app(model, name, limits, FLAGS.max_request_bytes)
    web_page.add_routes(application, model, name,
                        os.path.join(export_dir, str(model.version)))

    def ready(address):
        print(f"the page: {address}/", flush=True)
        print(f"serving {name} version {model.version} "
              f"({', '.join(sorted(model.signatures))}) at {address}/v1/models/{name}",
              flush=True)

    asyncio.run(rest_server.serve(application, FLAGS.host, FLAGS.port, ready))  # OSError: port
    print("stopped", flush=True)


if __name__ == "__main__":
    cli.run(main)
