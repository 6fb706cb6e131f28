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
flags.DEFINE_enum("split", "test", ["train", "valid", "test", "generalization"],
                  "Split to score (generalization: captioned MNIST's held-out combinations).")
flags.DEFINE_enum("data", None, ["binarized_mnist", "mnist", "captioned_mnist"],
                  "Data set; default binarized_mnist, or captioned_mnist for caption models.")
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
    captioned = hasattr(model, "encode_caption")
    data_name = FLAGS.data or ("captioned_mnist" if captioned else "binarized_mnist")
    if captioned != (data_name == "captioned_mnist"):
        raise cli.UsageError(f"{FLAGS.model} cannot be scored on {data_name}")
    if captioned:
        from t2i_tf.data import captioned_mnist

        split = captioned_mnist.load_split(FLAGS.split, FLAGS.data_dir, FLAGS.max_images or None)
        data = {k: split[k] for k in ("images", "ids", "mask")}
        images = data["images"]
    else:
        if FLAGS.split == "generalization":
            raise cli.UsageError("the generalization split belongs to captioned_mnist")
        images = datasets.load_images(data_name, FLAGS.split, FLAGS.data_dir)
        if FLAGS.max_images:
            images = images[:FLAGS.max_images]
        data = images
    start = time.time()
    elbo = likelihood.negative_elbo(model, data, FLAGS.batch_size, FLAGS.seed)
    result = {
        "model": FLAGS.model,
        "data": data_name,
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
        nll = likelihood.importance_sampled_nll(model, data, FLAGS.iw_samples,
                                                FLAGS.batch_size, FLAGS.seed)
        result.update(iw_nll_nats=nll[0], iw_nll_sem=nll[1], iw_samples=FLAGS.iw_samples)
        rows.append((f"-log p(x), importance-sampled, K={FLAGS.iw_samples}", *nll))
    result["seconds"] = round(time.time() - start, 1)

    print(f"{FLAGS.model} on {data_name} {FLAGS.split} ({len(images)} images), nats per image\n")
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
