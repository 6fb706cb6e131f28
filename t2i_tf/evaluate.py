"""Scores a trained model: `python -m t2i_tf.evaluate --model=models/draw_mnist --split=test`.

Prints a Markdown table and, as its last line, one JSON object with every figure:
the negative variational bound (the DRAW paper's column) and an importance-sampled
estimate of -log p(x) with K samples, both in nats per image.
"""

import json
import time

from absl import flags

from t2i_tf import cli

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "draw_mnist", "A model folder, or the name of one under models/.")
flags.DEFINE_enum("split", "test", ["train", "valid", "test"], "Split to score.")
flags.DEFINE_enum("data", "binarized_mnist", ["binarized_mnist", "mnist"], "Data set.")
flags.DEFINE_string("data_dir", None, "Data folder; default $T2I_DATA_DIR or ../shared/data.")
flags.DEFINE_integer("iw_samples", 50, "K for the importance-sampled -log p(x); 0 skips it.")
flags.DEFINE_integer("max_images", 0, "Score only the first N images of the split (0: all).")
flags.DEFINE_integer("batch_size", 100, "Images per batch.")
flags.DEFINE_integer("seed", 0, "Seed of the noise.")
flags.DEFINE_string("json_out", None, "Also write the JSON object to this file.")
flags.register_validator("iw_samples", lambda v: v >= 0, message="must be >= 0")
flags.register_validator("max_images", lambda v: v >= 0, message="must be >= 0")
flags.register_validator("batch_size", lambda v: v > 0, message="must be positive")


def main(argv):
    del argv
    import keras

    from t2i_tf import checkpoint
    from t2i_tf.data import datasets
    from t2i_tf.metrics import likelihood

    model = checkpoint.load_model(FLAGS.model)
    images = datasets.load_images(FLAGS.data, FLAGS.split, FLAGS.data_dir)
    if FLAGS.max_images:
        images = images[:FLAGS.max_images]
    start = time.time()
    elbo = likelihood.negative_elbo(model, images, FLAGS.batch_size, FLAGS.seed)
    result = {
        "model": FLAGS.model,
        "data": FLAGS.data,
        "split": FLAGS.split,
        "images": len(images),
        "backend": keras.backend.backend(),
        "neg_elbo_nats": elbo["total"][0],
        "neg_elbo_sem": elbo["total"][1],
        "reconstruction_nats": elbo["reconstruction"][0],
        "kl_nats": elbo["kl"][0],
    }
    rows = [("negative ELBO (L^x + L^z)", *elbo["total"]),
            ("  reconstruction L^x", *elbo["reconstruction"]),
            ("  latent L^z", *elbo["kl"])]
    if FLAGS.iw_samples:
        nll = likelihood.importance_sampled_nll(model, images, FLAGS.iw_samples,
                                                FLAGS.batch_size, FLAGS.seed)
        result.update(iw_nll_nats=nll[0], iw_nll_sem=nll[1], iw_samples=FLAGS.iw_samples)
        rows.append((f"-log p(x), importance-sampled, K={FLAGS.iw_samples}", *nll))
    result["seconds"] = round(time.time() - start, 1)

    print(f"{FLAGS.model} on {FLAGS.data} {FLAGS.split} ({len(images)} images), nats per image\n")
    print("| metric | value | standard error |\n| --- | ---: | ---: |")
    for name, mean, sem in rows:
        print(f"| {name} | {mean:.2f} | {sem:.2f} |")
    line = json.dumps(result)
    if FLAGS.json_out:
        with open(FLAGS.json_out, "w") as f:
            f.write(line + "\n")
    print(line)


if __name__ == "__main__":
    cli.run(main)
