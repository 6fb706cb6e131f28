"""Downloads a dataset into the data folder, checked against its published checksums.

  python -m t2i_tf.data.download --dataset=mnist
  python -m t2i_tf.data.download --dataset=binarized_mnist --data_dir=~/t2i_data
  python -m t2i_tf.data.download --dataset=coco_captions --base_url=https://mirror.example/coco/

Datasets and hosts: t2i_tf/data/sources.py; what goes where: docs/DATA.md. The folder is
--data_dir, else $T2I_DATA_DIR, else ../shared/data beside the checkout (where the readers
look too). Files already there and passing their check are not fetched again; an
interrupted download resumes; a corrupt or truncated file, or no network, ends in one
`error: ...` line and exit status 1, leaving at most a NAME.part behind.
"""

import os

from absl import flags

from t2i_tf import cli

FLAGS = flags.FLAGS
_DATASETS = ("mnist", "binarized_mnist", "fashion_mnist", "coco_captions")
flags.DEFINE_enum("dataset", None, _DATASETS, "The dataset to download.")
flags.DEFINE_string("data_dir", None, "The data folder (its dataset subfolder is written); "
                    "default $T2I_DATA_DIR, else ../shared/data beside the checkout.")
flags.DEFINE_string("base_url", None, "Fetch the files from this URL (a mirror holding the "
                    "same file names; file:// works) instead of the dataset's own host.")
flags.DEFINE_alias("mirror", "base_url")


def _data_dir():
    from t2i_tf.data import locate

    if FLAGS.data_dir:
        return os.path.expanduser(FLAGS.data_dir)
    folder = locate.default_data_dir()
    package_root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(
        locate.__file__))))
    in_checkout = os.path.exists(os.path.join(package_root, "pyproject.toml"))
    if os.environ.get(locate.ENV_VAR) or os.path.isdir(folder) or in_checkout:
        return folder
    raise cli.UsageError(f"no data folder: pass --data_dir=DIR or set {locate.ENV_VAR} "
                         "(the binaries read the data from there too)")


def main(argv):
    del argv
    from t2i_tf.data import fetch, sources

    folder = fetch.download(sources.DATASETS[FLAGS.dataset], _data_dir(), FLAGS.base_url,
                            log=lambda line: print(line, flush=True))
    print(f"{FLAGS.dataset} is in {os.path.abspath(folder)}")


def run():
    """`t2i-download`, the same as `python -m t2i_tf.data.download`."""
    flags.mark_flag_as_required("dataset")
    cli.run(main)


if __name__ == "__main__":
    run()
