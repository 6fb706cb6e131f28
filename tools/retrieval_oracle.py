"""How high can retrieval go on captioned MNIST? R@K of a ranker that knows every image's
scene (t2i_tf.metrics.retrieval.content_oracle) on the shortlists that the evaluation uses,
and on shortlists built in another feature space.

  python tools/retrieval_oracle.py [--splits=test,generalization] [--queries=300,0]
                                   [--features=pixels,digit_cnn]

A shortlist holds the true image and its 99 nearest neighbours in a feature space; many of
them show the same scene (the same digits in the same relation: captioned_mnist.scene),
which the caption describes as well as it describes the true image. The oracle ranks those
first, in a random order; no model that reads only the caption content can expect more.

Feature spaces (t2i_tf.metrics.shortlist_features): `pixels`, the DRAW models' 60x60
canvases, as `evaluate --metrics=retrieval` builds them; `digit_cnn`, the last
fully-connected layer of a small CNN that this tool first trains to read which digits a
canvas holds (--cnn_epochs of --cnn_examples fresh training canvases; 4.1 minutes an epoch
on one shared core), the kind of feature space the papers' shortlists came from. A pixel
model's shortlists, from its 32x32 images, differ: `evaluate --metrics=retrieval` reports
the ceiling of any model's own shortlists (retrieval.scenes in its JSON). Writes
docs/results/retrieval_oracle.json (with its command, machine and date), which
tools/make_results.py sets beside the models in the retrieval table.
"""

import datetime
import json
import os
import platform
import shlex
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import flags  # noqa: E402

from t2i_tf import cli  # noqa: E402

FLAGS = flags.FLAGS
cli.define_data_dir_flag()
flags.DEFINE_list("splits", ["test", "generalization"], "captioned_mnist splits.")
flags.DEFINE_list("queries", ["300", "0"], "First N captions scored (0: all), as evaluate's "
                  "--max_queries; one row per value and split.")
flags.DEFINE_integer("candidates", 100, "Shortlist size, as evaluate's --retrieval_candidates.")
flags.DEFINE_integer("seed", 0, "Tie-break seed of the shortlists, as evaluate's --seed; "
                     "also the CNN's seed.")
flags.DEFINE_list("features", ["pixels"], "Feature spaces of the shortlists: pixels, digit_cnn.")
flags.DEFINE_integer("cnn_epochs", 3, "digit_cnn: training epochs.")
flags.DEFINE_integer("cnn_examples", 10000, "digit_cnn: fresh training canvases per epoch.")
flags.DEFINE_string("out", os.path.join(ROOT, "docs", "results", "retrieval_oracle.json"),
                    "The JSON file to write.")


def main(argv):
    del argv
    from t2i_tf.data import captioned_mnist
    from t2i_tf.metrics import retrieval, shortlist_features

    unknown_space = set(FLAGS.features) - set(shortlist_features.FEATURE_SPACES)
    if unknown_space or not FLAGS.features:
        raise cli.UsageError(f"--features: unknown feature space "
                             f"{', '.join(sorted(unknown_space)) or '(none given)'} (spaces: "
                             f"{', '.join(shortlist_features.FEATURE_SPACES)})")
    if FLAGS.cnn_epochs < 1 or FLAGS.cnn_examples < 1:
        raise cli.UsageError("--cnn_epochs and --cnn_examples must be >= 1")
    unknown = set(FLAGS.splits) - set(captioned_mnist.SPLITS)
    if unknown:
        raise cli.UsageError(f"--splits: unknown split {', '.join(sorted(unknown))} (splits: "
                             f"{', '.join(captioned_mnist.SPLITS)})")
    try:
        queries = [int(q) for q in FLAGS.queries]
    except ValueError:
        raise cli.UsageError(f"--queries: whole numbers, got {','.join(FLAGS.queries)}")
    if any(q < 0 for q in queries) or FLAGS.candidates < 1:
        raise cli.UsageError("--queries must be >= 0 and --candidates >= 1")
    start, rows, cnn = time.time(), [], None
    if "digit_cnn" in FLAGS.features:
        classifier, feature_model, info = shortlist_features.train_digit_cnn(
            FLAGS.data_dir, FLAGS.cnn_epochs, FLAGS.cnn_examples, seed=FLAGS.seed)
        valid = captioned_mnist.load_split("valid", FLAGS.data_dir)
        info["valid_digit_sets_right"] = shortlist_features.digit_set_accuracy(
            classifier, valid["images"], valid["captions"])
        info["train_s"] = round(time.time() - start, 1)
        cnn = {"model": feature_model, "info": info}
        print(f"digit_cnn: {info['epochs']} epochs of {info['examples_per_epoch']:,} canvases "
              f"in {info['train_s'] / 60:.1f} min; digit sets read right on valid: "
              f"{info['valid_digit_sets_right']:.1f}%", flush=True)
    for split in FLAGS.splits:
        data = captioned_mnist.load_split(split, FLAGS.data_dir)
        n = len(data["images"])
        keys = captioned_mnist.scene_keys(data["captions"])
        wanted = [min(q or n, n) for q in queries]
        for space in FLAGS.features:
            features = (data["images"] if space == "pixels" else
                        cnn["model"].predict(data["images"], batch_size=500, verbose=0))
            shortlist = retrieval.shortlists(features, min(FLAGS.candidates, n), FLAGS.seed,
                                             queries=max(wanted))
            for q in wanted:
                rows.append({"split": split, "features": space, "images": n, "queries": q,
                             "scenes": int(keys.max()) + 1,
                             **retrieval.content_oracle(shortlist[:q], keys)})
                r = rows[-1]
                print(f"{split} ({q:,} of {n:,}), {space}: R@1/5/10/50 " + " / ".join(
                    f"{r[f'r@{k}']:.1f}" for k in retrieval.KS) + f", Med r "
                    f"{r['median_rank']:g}, {r['mean_equals']:.1f} images of the true scene "
                    "per shortlist", flush=True)
    result = {"rows": rows, "num_candidates": FLAGS.candidates,
              **({"digit_cnn": cnn["info"]} if cnn else {}),
              "command": " ".join(["python tools/retrieval_oracle.py",
                                   *map(shlex.quote, sys.argv[1:])]),
              "wall_s": round(time.time() - start, 1),
              "machine": f"{platform.machine()}, {os.cpu_count()} CPU cores, Python "
                         f"{platform.python_version()}",
              "date": datetime.date.today().isoformat()}
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    with open(FLAGS.out + ".tmp", "w") as f:
        f.write(json.dumps(result, indent=1) + "\n")
    os.replace(FLAGS.out + ".tmp", FLAGS.out)
    print(FLAGS.out)


if __name__ == "__main__":
    cli.run(main)
