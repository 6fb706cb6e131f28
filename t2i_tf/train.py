"""Trains a model: `python -m t2i_tf.train --flagfile=flags/draw_mnist --workdir=DIR`.

The backend is Keras's: KERAS_BACKEND=jax (the faster one on CPU and the one for GPU
machines without TensorFlow) or tensorflow (the default). Interrupt with Ctrl-C and run the
same command again to resume.
"""

from absl import flags

from t2i_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "draw", ["draw", "align_draw"], "Model in t2i_tf.models.registry.")
flags.DEFINE_enum("data", "binarized_mnist", ["binarized_mnist", "mnist", "captioned_mnist"],
                  "Data set; captioned_mnist goes with align_draw.")
flags.DEFINE_string("data_dir", None, "Data folder; default $T2I_DATA_DIR or ../shared/data.")
flags.DEFINE_string("workdir", None, "Folder for checkpoints, logs and samples (required).")
# The DRAW cell (both models).
flags.DEFINE_integer("glimpses", 64, "T, the number of DRAW steps.")
flags.DEFINE_integer("enc_units", 256, "Encoder (inference) LSTM units.")
flags.DEFINE_integer("dec_units", 256, "Decoder (generative) LSTM units.")
flags.DEFINE_integer("z_dim", 100, "Size of z_t.")
flags.DEFINE_integer("read_n", 2, "Read patch side N.")
flags.DEFINE_integer("write_n", 5, "Write patch side N.")
flags.DEFINE_bool("attention", True, "Gaussian attention; --noattention reads/writes whole images.")
# The caption side (align_draw).
flags.DEFINE_integer("embed_dim", 128, "Word embedding size.")
flags.DEFINE_integer("lang_units", 128, "Caption LSTM units per direction.")
flags.DEFINE_integer("align_units", 512, "Alignment size l (eq. 7); 0 gives noalignDRAW.")
flags.DEFINE_float("init_stddev", 0.0, "If > 0, draw every weight from N(0, s^2).")
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
flags.DEFINE_integer("seed", 0, "Seed of initialisation, noise and batch order.")

for _name in ("glimpses", "enc_units", "dec_units", "z_dim", "read_n", "write_n", "batch_size",
              "train_steps", "steps_per_epoch", "valid_images", "embed_dim", "lang_units"):
    flags.register_validator(_name, lambda v: v > 0, message="must be positive")
flags.register_multi_flags_validator(
    ["model", "data"], lambda f: (f["model"] == "align_draw") == (f["data"] == "captioned_mnist"),
    message="--model=align_draw trains on --data=captioned_mnist, and only it does")


def model_config(image_shape, vocab_size=None):
    """The model's constructor arguments, from the flags."""
    config = dict(image_shape=tuple(image_shape), steps=FLAGS.glimpses,
                  enc_units=FLAGS.enc_units, dec_units=FLAGS.dec_units, z_dim=FLAGS.z_dim,
                  read_n=FLAGS.read_n, write_n=FLAGS.write_n, attention=FLAGS.attention,
                  seed=FLAGS.seed)
    if FLAGS.model == "align_draw":
        config.update(vocab_size=vocab_size, embed_dim=FLAGS.embed_dim,
                      lang_units=FLAGS.lang_units, align_units=FLAGS.align_units,
                      init_stddev=FLAGS.init_stddev or None)
    return config


def main(argv):
    del argv
    import keras

    from t2i_tf import training
    from t2i_tf.data import datasets
    from t2i_tf.models import registry

    keras.utils.set_random_seed(FLAGS.seed)
    data = datasets.make_data(FLAGS.data, FLAGS.data_dir, FLAGS.seed)
    vocab_size = len(data.vocabulary) if data.captioned else None
    model = registry.build(FLAGS.model, model_config(data.image_shape, vocab_size))
    print(f"{FLAGS.model}: {model.count_params():,} parameters, backend "
          f"{keras.backend.backend()}")
    optimizer = training.make_optimizer(FLAGS.optimizer, FLAGS.learning_rate, FLAGS.clipnorm,
                                        FLAGS.late_learning_rate, FLAGS.learning_rate_drop_step)
    budget = None if FLAGS.max_wall_minutes is None else 60.0 * FLAGS.max_wall_minutes
    training.train(model, data, FLAGS.workdir, optimizer, batch_size=FLAGS.batch_size,
                   train_steps=FLAGS.train_steps, steps_per_epoch=FLAGS.steps_per_epoch,
                   valid_images=FLAGS.valid_images, max_wall_seconds=budget, seed=FLAGS.seed)


if __name__ == "__main__":
    flags.mark_flag_as_required("workdir")  # here, so benchmarks can import the flags
    cli.run(main)
