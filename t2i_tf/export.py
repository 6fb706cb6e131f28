"""Exports a model as a TensorFlow SavedModel in TF Serving's versioned layout.

  python -m t2i_tf.export --model=aligndraw_mnist_captions --export_dir=exported/aligndraw
  python -m t2i_tf.export --model=alignpixelrnn_mnist_captions --export_dir=exported/pixelrnn
  saved_model_cli show --all --dir exported/aligndraw/1

writes DIR/VERSION/saved_model.pb and variables/ (signatures: t2i_tf/serving/saved_model.py for
DRAW and alignDRAW, t2i_tf/serving/pixel_saved_model.py for alignPixelRNN and alignPixelCNN,
whose greedy, sampling and beam search run inside the graph), the captions tokenised in the
graph as the model's training captions were,
written under a temporary name and renamed into place; an existing version is refused.
The export runs on the TensorFlow backend whichever backend trained the model (weights are
backend-neutral): KERAS_BACKEND unset means tensorflow here; another value is refused.
Serve it with `python -m t2i_tf.serve --export_dir=DIR`, or with the official TF Serving:
  tensorflow_model_server --rest_api_port=8501 --model_name=aligndraw \
      --model_base_path=$PWD/exported/aligndraw --xla_cpu_compilation_enabled=true
(that flag because the model runs under XLA; export with --nojit_compile to do without).
"""

import os

_BACKEND_ASKED = os.environ.get("KERAS_BACKEND") or None
if _BACKEND_ASKED is None:
    os.environ["KERAS_BACKEND"] = "tensorflow"  # before anything imports keras

from absl import flags  # noqa: E402

from t2i_tf import cli  # noqa: E402

FLAGS = flags.FLAGS
cli.define_model_flag()
flags.DEFINE_string("export_dir", None, "Base folder; the SavedModel goes to DIR/VERSION.")
flags.DEFINE_integer("version", 1, "Version number (TF Serving serves the highest).")
flags.DEFINE_bool("jit_compile", True, "Run the model under XLA (several times faster on "
                  "CPU; the official TF Serving then needs --xla_cpu_compilation_enabled=true); "
                  "--nojit_compile exports a plain graph that any TF Serving runs.")
flags.mark_flags_as_required(["model", "export_dir"])
flags.register_validator("version", lambda v: v > 0, message="must be positive")


def main(argv):
    del argv
    if _BACKEND_ASKED not in (None, "tensorflow"):
        raise cli.UsageError(f"export writes a TensorFlow SavedModel and runs on the tensorflow "
                             f"backend, but KERAS_BACKEND={_BACKEND_ASKED}; unset it (weights "
                             f"trained on any backend export the same)")
    import keras

    if keras.backend.backend() != "tensorflow":
        raise cli.UsageError(f"keras runs on {keras.backend.backend()}, not tensorflow")
    from t2i_tf.serving import saved_model
    from t2i_tf.training import checkpoint

    target = os.path.join(FLAGS.export_dir, str(FLAGS.version))
    if os.path.exists(target):
        raise cli.UsageError(f"{target} exists; pick another --version or remove it")
    model = checkpoint.load_model(FLAGS.model)
    vocabulary = (checkpoint.load_vocabulary(FLAGS.model)
                  if saved_model.is_caption_model(model) else None)
    text = checkpoint.load_text(FLAGS.model)  # the graph tokenises captions the same way
    try:
        path = saved_model.export(model, target, vocabulary, jit_compile=FLAGS.jit_compile,
                                  text=text)
    except ValueError as e:  # a model without serving signatures
        raise cli.UsageError(f"{FLAGS.model}: {e}") from None
    print(path)


def run():
    """`t2i-export`, the same as `python -m t2i_tf.export`."""
    cli.run(main)


if __name__ == "__main__":
    run()
