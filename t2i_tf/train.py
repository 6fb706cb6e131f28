"""Trains a model: `python -m t2i_tf.train --flagfile=flags/draw_mnist`.

The backend is Keras's: KERAS_BACKEND=jax (the faster one on CPU and the one for GPU
machines without TensorFlow) or tensorflow (the default). Interrupt with Ctrl-C and run the
same command again to resume.
"""

from absl import app, flags

from t2i_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_enum("model", "draw", ["draw"], "Model name in t2i_tf.models.registry.")
flags.DEFINE_enum("data", "binarized_mnist", ["binarized_mnist", "mnist"], "Data set.")
flags.DEFINE_string("data_dir", None, "Data folder; default $T2I_DATA_DIR or ../shared/data.")
flags.DEFINE_string("workdir", None, "Folder for checkpoints, logs and samples (required).")
flags.DEFINE_integer("glimpses", 64, "T, the number of DRAW steps.")
flags.DEFINE_integer("enc_units", 256, "Encoder LSTM units.")
flags.DEFINE_integer("dec_units", 256, "Decoder LSTM units.")
flags.DEFINE_integer("z_dim", 100, "Size of z_t.")
flags.DEFINE_integer("read_n", 2, "Read patch side N.")
flags.DEFINE_integer("write_n", 5, "Write patch side N.")
flags.DEFINE_bool("attention", True, "Gaussian attention; --noattention reads/writes whole images.")
flags.DEFINE_integer("batch_size", 100, "Batch size.")
flags.DEFINE_float("learning_rate", 1e-3, "Adam learning rate.")
flags.DEFINE_float("clipnorm", 10.0, "Gradient norm clipping.")
flags.DEFINE_integer("train_steps", 100000, "Total optimizer steps.")
flags.DEFINE_integer("steps_per_epoch", 500, "Steps between validation and checkpoints.")
flags.DEFINE_integer("valid_images", 1000, "Validation images scored after each epoch.")
flags.DEFINE_float("max_wall_minutes", None, "Stop (with a checkpoint) after this long.")
flags.DEFINE_integer("seed", 0, "Seed of initialisation, noise and batch order.")
for _name in ("glimpses", "enc_units", "dec_units", "z_dim", "read_n", "write_n", "batch_size",
              "train_steps", "steps_per_epoch", "valid_images"):
    flags.register_validator(_name, lambda v: v > 0, message="must be positive")


def model_config():
    """The model's constructor arguments, from the flags."""
    return dict(image_shape=(28, 28), steps=FLAGS.glimpses, enc_units=FLAGS.enc_units,
                dec_units=FLAGS.dec_units, z_dim=FLAGS.z_dim, read_n=FLAGS.read_n,
                write_n=FLAGS.write_n, attention=FLAGS.attention, seed=FLAGS.seed)


def main(argv):
    del argv
    import keras

    from t2i_tf import training
    from t2i_tf.models import registry

    keras.utils.set_random_seed(FLAGS.seed)
    model = registry.build(FLAGS.model, model_config())
    print(f"{FLAGS.model}: {model.count_params():,} parameters, backend "
          f"{keras.backend.backend()}")
    budget = None if FLAGS.max_wall_minutes is None else 60.0 * FLAGS.max_wall_minutes
    training.train(model, FLAGS.data, FLAGS.data_dir, FLAGS.workdir,
                   batch_size=FLAGS.batch_size, learning_rate=FLAGS.learning_rate,
                   clipnorm=FLAGS.clipnorm, train_steps=FLAGS.train_steps,
                   steps_per_epoch=FLAGS.steps_per_epoch, valid_images=FLAGS.valid_images,
                   max_wall_seconds=budget, seed=FLAGS.seed)


if __name__ == "__main__":
    flags.mark_flag_as_required("workdir")  # here, so benchmarks can import the flags
    cli.run(main)
