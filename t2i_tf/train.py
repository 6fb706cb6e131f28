"""Trains a model: `python -m t2i_tf.train --flagfile=flags/draw_mnist --workdir=DIR`.

Models and their data: draw on binarized_mnist or mnist, align_draw on captioned_mnist or
coco_32_rgb (COCO, RGB 32x32; flags/coco_aligndraw), align_pixel_rnn and align_pixel_cnn on
captioned_mnist_32 (8-bit) or captioned_mnist_32_binary (flags/mnist_captions_pixelrnn,
flags/smoke_pixelrnn) or coco_32 (COCO, grayscale 32x32, colour words dropped;
flags/coco_pixelrnn); another pair ends in one line. COCO is read from COCO's own layout under
--data_dir (t2i_tf/data/coco.py): train{2014|2017} trains, the first val images validate.

The backend is Keras's: KERAS_BACKEND=jax (the faster one on CPU and the one for GPU
machines without TensorFlow) or tensorflow (the default). The pixel models train on jax when
KERAS_BACKEND is unset and JAX is installed (and the strategy is not a TensorFlow one): their
backward pass through 1,024 pixel steps peaks at 1,793 MiB at the paper's sizes on JAX
against 9,624 MiB on TensorFlow, whose while loop keeps every step's intermediates
(docs/PIXEL_MODELS.md, "The COCO commands on a CPU"). Interrupt with Ctrl-C and run the
same command again to resume.

Several devices: --strategy=mirrored (TensorFlow, the local GPUs), --strategy=multi_worker
(TensorFlow, one process per machine, the cluster in TF_CONFIG; every worker runs the same
command with the same --workdir on a shared file system, the chief writes), or
--strategy=data_parallel (JAX, the local devices; one process per machine when
KERAS_DISTRIBUTION_JOB_ADDRESSES, _NUM_PROCESSES and _PROCESS_ID are set, process 0 writes).
Every model trains under every strategy. --batch_size is the global batch.
"""

from absl import flags

from t2i_tf import cli
from t2i_tf.data import catalog
from t2i_tf.models import registry

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "draw", list(registry.MODELS), "Model in t2i_tf.models.registry.")
flags.DEFINE_enum("data", "binarized_mnist", list(catalog.DATA),
                  "Data set; captioned_mnist and coco_32_rgb go with align_draw, "
                  "captioned_mnist_32 (8-bit, 256 levels), captioned_mnist_32_binary (2 "
                  "levels) and coco_32 (8-bit grayscale COCO) with the pixel models.")
cli.define_data_dir_flag("For COCO: the COCO folder (annotations/, train2014/ ...) or its "
                         "parent.")
# COCO's captions.
flags.DEFINE_integer("min_word_count", 5, "COCO: words seen fewer times in the training "
                     "captions become <unk>.")
flags.DEFINE_bool("keep_colour_words", False, "coco_32: keep the colour words that "
                  "alignPixelRNN removes from the captions of its grayscale images.")
flags.DEFINE_string("workdir", None, "Folder for checkpoints, logs and samples (required). "
                    "A new folder, or one that holds this run's checkpoint (it resumes).")
flags.DEFINE_string("init_from", None, "A model folder or shipped name to start a new "
                    "--workdir from: its whole training state if it ships checkpoint.npz "
                    "(the run goes on), else its weights with a fresh optimizer.")
flags.DEFINE_bool("overwrite", False, "Train in a --workdir that holds a model without a "
                  "training checkpoint, or in a shipped model's folder, replacing it.")
# The DRAW cell (draw, align_draw).
flags.DEFINE_integer("glimpses", 64, "T, the number of DRAW steps.")
flags.DEFINE_integer("enc_units", 256, "Encoder (inference) LSTM units.")
flags.DEFINE_integer("dec_units", 256, "Decoder (generative) LSTM units.")
flags.DEFINE_integer("z_dim", 100, "Size of z_t.")
flags.DEFINE_integer("read_n", 2, "Read patch side N.")
flags.DEFINE_integer("write_n", 5, "Write patch side N.")
flags.DEFINE_bool("attention", True, "Gaussian attention; --noattention reads/writes whole images.")
# The caption side (align_draw and the pixel models).
flags.DEFINE_integer("embed_dim", 128, "Word embedding size.")
flags.DEFINE_integer("lang_units", 128, "Caption LSTM units per direction.")
flags.DEFINE_integer("align_units", 512, "Alignment size l (eq. 7); 0 gives noalignDRAW.")
flags.DEFINE_float("init_stddev", 0.0, "If > 0, draw every weight from N(0, s^2).")
# align_draw options beyond the paper (docs/HELD_OUT.md).
flags.DEFINE_enum("align_score", "bahdanau", ["bahdanau", "luong"], "align_draw: the word "
                  "alignment's score, additive (eq. 7) or Luong's multiplicative one.")
flags.DEFINE_bool("write_context", False, "align_draw: the write reads the aligned words s_t "
                  "beside h_gen_t.")
flags.DEFINE_bool("memory_embedding", False, "align_draw: the alignment's memory holds each "
                  "word's embedding beside its BiLSTM state.")
flags.DEFINE_float("word_dropout", 0.0, "captioned_mnist: probability that a training "
                   "caption's word becomes <unk>.")
flags.DEFINE_integer("corner_shift", 0, "captioned_mnist: a corner digit's box moves up to "
                     "this many pixels inwards in training (0..2 keeps the caption true).")
# The pixel models (align_pixel_rnn's decoder LSTM has --dec_units units).
flags.DEFINE_integer("pixel_embed_dim", 64, "Embedding size of a pixel value.")
flags.DEFINE_float("state_grad_clip", 0.0, "align_pixel_rnn: if > 0, clip the gradient flowing "
                   "back into the decoder's h and c at every pixel to +-this (0: none).")
flags.DEFINE_integer("filters", 64, "align_pixel_cnn: channels of every gated layer.")
flags.DEFINE_integer("num_layers", 8, "align_pixel_cnn: gated layers.")
flags.DEFINE_integer("kernel_size", 5, "align_pixel_cnn: odd kernel side of the gated layers.")
# Optimisation.
flags.DEFINE_enum("optimizer", "adam", ["adam", "rmsprop"], "Optimizer.")
flags.DEFINE_integer("batch_size", 100, "Batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Learning rate.")
flags.DEFINE_integer("learning_rate_drop_step", 0, "If > 0, use --late_learning_rate from here.")
flags.DEFINE_float("late_learning_rate", 1e-4, "Learning rate after the drop step.")
flags.DEFINE_float("clipnorm", 10.0, "Gradient norm clipping.")
flags.DEFINE_integer("train_steps", 100000, "Total optimizer steps.")
flags.DEFINE_integer("steps_per_epoch", 500, "Steps between validation and checkpoints.")
flags.DEFINE_integer("valid_images", 1000, "Validation images scored after each epoch.")
flags.DEFINE_float("max_wall_minutes", None, "Stop (with a checkpoint) after this long.")
flags.DEFINE_float("checkpoint_minutes", 10.0, "Also checkpoint (and validate) after this "
                   "much wall time since the last checkpoint; 0: every --steps_per_epoch "
                   "steps only.")
flags.DEFINE_integer("seed", 0, "Seed of initialisation, noise and batch order.")
flags.DEFINE_enum("strategy", "none", ["none", "mirrored", "multi_worker", "data_parallel"],
                  "Distribution over devices: mirrored and multi_worker (TF_CONFIG) on the "
                  "TensorFlow backend, data_parallel on JAX (t2i_tf/training/distribute.py).")
flags.DEFINE_bool("jit_compile", True, "TensorFlow backend: compile the training step with "
                  "XLA. On one CPU core --nojit_compile measured 1.4-1.6x faster; on two, "
                  "faster for DRAW and slower for alignDRAW (docs/RESULTS.md, Speed). JAX "
                  "always compiles; tf.distribute never does.")

for _name in ("glimpses", "enc_units", "dec_units", "z_dim", "read_n", "write_n", "batch_size",
              "train_steps", "steps_per_epoch", "valid_images", "embed_dim", "lang_units",
              "pixel_embed_dim", "filters", "num_layers", "min_word_count"):
    flags.register_validator(_name, lambda v: v > 0, message="must be positive")
flags.register_validator("checkpoint_minutes", lambda v: v >= 0 and v < float("inf"),
                         message="must be a finite number of minutes, 0 or more")
flags.register_validator("kernel_size", lambda v: v > 0 and v % 2 == 1,
                         message="must be odd and positive")
flags.register_validator("word_dropout", lambda v: 0 <= v < 1, message="must be in [0, 1)")
flags.register_validator("corner_shift", lambda v: 0 <= v <= 2,
                         message="must be 0, 1 or 2 (a corner box stays in its quadrant)")
ALIGN_DRAW_OPTIONS = registry.ALIGN_DRAW_OPTIONS
AUGMENTATIONS = {"word_dropout": 0.0, "corner_shift": 0}


def check_model_data(model, data):
    """Raises cli.UsageError (one line) if `model` does not train on `data`."""
    trains_on = registry.spec(model).data
    if data not in trains_on:
        allowed = " or ".join(f"--data={d}" for d in trains_on)
        raise cli.UsageError(f"--model={model} trains on {allowed}, not --data={data}")


def model_config(image_shape, vocab_size=None, levels=256):
    """The model's constructor arguments, from the flags (levels: the pixel models' V)."""
    return registry.spec(FLAGS.model).config_from_flags(FLAGS, image_shape, vocab_size, levels)


def _changed(defaults):
    """{flag: value} of the flags among `defaults` set to something else."""
    return {k: FLAGS[k].value for k, v in defaults.items() if FLAGS[k].value != v}


def check_options(model, data):
    """Raises cli.UsageError (one line) for an option that the model or data lacks."""
    if model != "align_draw" and _changed(ALIGN_DRAW_OPTIONS):
        raise cli.UsageError(f"--{', --'.join(_changed(ALIGN_DRAW_OPTIONS))}: "
                             "options of --model=align_draw")
    if data != "captioned_mnist" and _changed(AUGMENTATIONS):
        raise cli.UsageError(f"--{', --'.join(_changed(AUGMENTATIONS))}: "
                             "augmentations of --data=captioned_mnist")


def _pick_backend():
    """KERAS_BACKEND=jax for a pixel model when the user set none, Keras is not imported
    yet, JAX is installed and the strategy runs on any backend (see the module docstring)."""
    import importlib.util
    import os
    import sys

    if (not registry.spec(FLAGS.model).pixel or os.environ.get("KERAS_BACKEND")
            or "keras" in sys.modules or importlib.util.find_spec("jax") is None
            or FLAGS.strategy not in ("none", "data_parallel")):  # (distribute imports Keras)
        return
    os.environ["KERAS_BACKEND"] = "jax"
    print("note: training the pixel model on jax (KERAS_BACKEND=tensorflow to override)")


def main(argv):
    del argv
    check_model_data(FLAGS.model, FLAGS.data)  # before the slow imports
    check_options(FLAGS.model, FLAGS.data)
    _pick_backend()
    from t2i_tf.training import checkpoint

    note, init_weights = checkpoint.prepare_workdir(FLAGS.workdir, FLAGS.init_from,
                                                    FLAGS.overwrite)
    if note:
        print(note)
    import keras

    from t2i_tf.data import datasets
    from t2i_tf.training import distribute, loop

    try:  # first: MultiWorkerMirroredStrategy must exist before TensorFlow runs an op
        distribution = distribute.make(FLAGS.strategy, FLAGS.jit_compile)
        distribution.check_batch_size(FLAGS.batch_size, FLAGS.valid_images)
        if distribution.processes > 1 and FLAGS.max_wall_minutes is not None:
            raise distribute.StrategyError(
                f"--max_wall_minutes does not combine with --strategy={FLAGS.strategy} over "
                f"{distribution.processes} processes (they would stop at different steps)")
    except distribute.StrategyError as e:
        raise cli.UsageError(str(e)) from None
    keras.utils.set_random_seed(FLAGS.seed)
    coco = (dict(min_word_count=FLAGS.min_word_count, keep_colour_words=FLAGS.keep_colour_words,
                 valid_examples=FLAGS.valid_images) if catalog.DATA[FLAGS.data].coco else {})
    data = datasets.make_data(FLAGS.data, FLAGS.data_dir, FLAGS.seed,
                              augment=_changed(AUGMENTATIONS), **coco)
    vocab_size = len(data.vocabulary) if data.captioned else None
    levels = getattr(data, "levels", None)  # the pixel data's V
    with distribution.scope():
        model = registry.build(FLAGS.model, model_config(data.image_shape, vocab_size, levels))
        print(f"{FLAGS.model}: {model.count_params():,} parameters, backend "
              f"{keras.backend.backend()}, strategy {FLAGS.strategy} over "
              f"{distribution.num_replicas} replica(s)"
              + ("" if distribution.jit_compile else ", no XLA"))
        optimizer = loop.make_optimizer(FLAGS.optimizer, FLAGS.learning_rate,
                                            FLAGS.clipnorm, FLAGS.late_learning_rate,
                                            FLAGS.learning_rate_drop_step)
        budget = None if FLAGS.max_wall_minutes is None else 60.0 * FLAGS.max_wall_minutes
        loop.train(model, data, FLAGS.workdir, optimizer, batch_size=FLAGS.batch_size,
                       train_steps=FLAGS.train_steps, steps_per_epoch=FLAGS.steps_per_epoch,
                       valid_images=FLAGS.valid_images, max_wall_seconds=budget,
                       seed=FLAGS.seed, distribution=distribution,
                       checkpoint_minutes=FLAGS.checkpoint_minutes or None,
                       init_weights=init_weights)


def run():
    """`t2i-train`, the same as `python -m t2i_tf.train`."""
    flags.mark_flag_as_required("workdir")  # here, so benchmarks can import the flags
    cli.run(main)


if __name__ == "__main__":
    run()
