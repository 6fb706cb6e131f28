"""TensorFlow-Datasets builders over the local MNIST files (no network).

``BinarizedMnistLocal`` ("binarized_mnist_local") and ``MnistLocal`` ("mnist_local")
read the files through ``t2i_tf.data.mnist`` from ``dl_manager.manual_dir``, which
must be the data folder (the parent of ``binarized_mnist/`` and ``mnist/``).
``load_tfds`` builds one of them once (reused afterwards) and returns a split.

Examples keep the order of the files (``disable_shuffling``), so ``test[:n]`` is the
first n rows. Binarized images are uint8 0/1 (not 0/255), shaped (28, 28, 1), as in TFDS's own
``binarized_mnist``; MNIST images are uint8 0..255 with an int64 ``label``.
"""

from __future__ import annotations

import os

import numpy as np
import tensorflow as tf
import tensorflow_datasets as tfds

from t2i_tf.data.locate import DataError, resolve_data_dir
from t2i_tf.data.mnist import load_binarized_mnist, load_mnist

_INSTRUCTIONS = """\
Set manual_dir to the t2i_tf data folder (default ../shared/data next to the
checkout, or $T2I_DATA_DIR), which holds {files}.
"""
_CITATION = """\
@inproceedings{salakhutdinov2008quantitative,
  title={On the quantitative analysis of deep belief networks},
  author={Salakhutdinov, Ruslan and Murray, Iain},
  booktitle={ICML}, year={2008}}
"""


class _LocalBuilder(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """Shared constructor: ``strict=False`` accepts non-standard example counts (tests)."""

    def __init__(self, *, strict: bool = True, **kwargs):
        self._strict = strict
        super().__init__(**kwargs)
        self._original_state["strict"] = strict  # survives pickling


class BinarizedMnistLocal(_LocalBuilder):
    """Fixed binarized MNIST (Larochelle & Murray): 50000 / 10000 / 10000 images."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Built from the local binarized_mnist_*.amat[.gz] files."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS.format(
        files="binarized_mnist/binarized_mnist_{train,valid,test}.amat[.gz]"
    )
    SPLITS = {"train": "train", "validation": "valid", "test": "test"}  # tfds -> file

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="Binarized MNIST with pixel values 0/1 stored as uint8.",
            features=tfds.features.FeaturesDict(
                {"image": tfds.features.Image(shape=(28, 28, 1))}
            ),
            citation=_CITATION,
            disable_shuffling=True,  # keep the file order
        )

    def _split_generators(self, dl_manager):
        folder = os.fspath(dl_manager.manual_dir)
        return {
            name: self._generate_examples(load_binarized_mnist(folder, split, self._strict))
            for name, split in self.SPLITS.items()
        }

    def _generate_examples(self, images: np.ndarray):
        images = images.astype(np.uint8)[..., None]
        for i, image in enumerate(images):
            yield i, {"image": image}


class MnistLocal(_LocalBuilder):
    """MNIST from the local IDX files: 60000 train / 10000 test, labels 0..9."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Built from the local mnist/*-ubyte[.gz] IDX files."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = _INSTRUCTIONS.format(
        files="mnist/{train,t10k}-{images-idx3,labels-idx1}-ubyte[.gz]"
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="MNIST handwritten digits, uint8 0..255.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(28, 28, 1)),
                    "label": tfds.features.ClassLabel(num_classes=10),
                }
            ),
            supervised_keys=("image", "label"),
            disable_shuffling=True,  # keep the file order
        )

    def _split_generators(self, dl_manager):
        folder = os.fspath(dl_manager.manual_dir)
        return {
            split: self._generate_examples(*load_mnist(folder, split, self._strict))
            for split in ("train", "test")
        }

    def _generate_examples(self, images: np.ndarray, labels: np.ndarray):
        for i, (image, label) in enumerate(zip(images[..., None], labels)):
            yield i, {"image": image, "label": int(label)}


BUILDERS = {"binarized_mnist": BinarizedMnistLocal, "mnist": MnistLocal}


def load_tfds(
    data_dir: str | os.PathLike | None,
    split: str,
    tfds_dir: str | os.PathLike,
    dataset: str = "binarized_mnist",
    strict: bool = True,
) -> tf.data.Dataset:
    """Builds (first call only) a local TFDS dataset and returns ``split`` of it.

    Args:
      data_dir: t2i_tf data folder (``None``: ``default_data_dir()``); used as manual_dir.
      split: a TFDS split spec, e.g. ``"train"``, ``"validation"``, ``"test[:100]"``.
      tfds_dir: where TFDS writes the prepared TFRecords (reused if already built).
      dataset: ``"binarized_mnist"`` or ``"mnist"``.
      strict: check the standard example counts while building.

    Returns:
      the dataset of feature dicts (``{"image": uint8 (28, 28, 1)}`` [+ ``"label"``]).

    Raises:
      DataError: a data file is missing or malformed.
    """
    if dataset not in BUILDERS:
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {sorted(BUILDERS)}")
    manual_dir = resolve_data_dir(data_dir)
    if not os.listdir(manual_dir):  # TFDS would raise a multi-line AssertionError
        raise DataError(f"data folder {os.path.abspath(manual_dir)} is empty")
    builder = BUILDERS[dataset](data_dir=os.fspath(tfds_dir), strict=strict)
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=manual_dir)
    )
    return builder.as_dataset(split=split)
