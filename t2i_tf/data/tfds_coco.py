"""A TensorFlow-Datasets builder over a local COCO folder in COCO's own layout (no network).

``CocoCaptions32Local`` ("coco_captions32_local") reads ``dl_manager.manual_dir``, the COCO
folder (annotations/, train2014/ or train2017/, ...), through ``t2i_tf.data.coco``, so its
examples are the reader's: one per image, in the JSON's order (``disable_shuffling``, keyed
by the position in the reader's list), the
image resized to 32x32 with cv2.INTER_AREA, RGB uint8 (32, 32, 3) and grayscale uint8
(32, 32, 1), with the first five captions as a sequence of strings (tokenise them with
``t2i_tf.data.caption_text``: the vocabulary belongs to the model, not to the data). Splits:
train (train2014, or train2017 when 2014 is absent) and validation (val of the same year).
``load_tfds`` builds it once (reused afterwards) and returns a split.
"""

from __future__ import annotations

import os

import tensorflow as tf
import tensorflow_datasets as tfds

from t2i_tf.data import coco

_CITATION = """\
@inproceedings{lin2014microsoft,
  title={Microsoft COCO: Common objects in context},
  author={Lin, Tsung-Yi and others}, booktitle={ECCV}, year={2014}}
"""


class CocoCaptions32Local(tfds.core.GeneratorBasedBuilder, skip_registration=True):
    """COCO captions with 32x32 images from the local files."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "Built from the local COCO captions JSON and images."}
    MANUAL_DOWNLOAD_INSTRUCTIONS = """\
Set manual_dir to a COCO folder in COCO's layout: annotations/captions_{train,val}2014.json
(or 2017) and the image folders train2014/, val2014/ (or 2017) beside annotations/.
"""
    SPLITS = {"train": "train", "validation": "valid"}  # tfds -> t2i_tf.data.coco

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="COCO images squashed to 32x32 (RGB and grayscale) with their first "
                        "five captions.",
            features=tfds.features.FeaturesDict({
                "image": tfds.features.Image(shape=(coco.SIZE, coco.SIZE, 3)),
                "image_gray": tfds.features.Image(shape=(coco.SIZE, coco.SIZE, 1)),
                "image_id": tf.int64,
                "captions": tfds.features.Sequence(tfds.features.Text()),
            }),
            citation=_CITATION,
            disable_shuffling=True,  # keep the JSON's order, as the reader does
        )

    def _split_generators(self, dl_manager):
        folder = os.fspath(dl_manager.manual_dir)
        return {name: self._generate_examples(folder, split)
                for name, split in self.SPLITS.items()}

    def _generate_examples(self, folder, split):
        rgb = coco.load_split(folder, split)
        gray = coco.load_split(folder, split, grayscale=True)
        for i, image_id in enumerate(rgb["image_ids"]):
            yield i, {"image": rgb["images"][i],
                                  "image_gray": gray["images"][i][..., None],
                                  "image_id": int(image_id), "captions": rgb["captions"][i]}


def load_tfds(data_dir, split, tfds_dir):
    """Builds the dataset (first call only) from the COCO folder and returns `split`.

    Args:
      data_dir: the COCO folder or a data folder holding coco/ (None: the default one).
      split: a TFDS split spec: "train", "validation", "validation[:10]", ...
      tfds_dir: where TFDS writes the prepared records (reused if already built).

    Raises:
      DataError: the COCO layout is missing or malformed (one line).
    """
    root = coco.find_root(data_dir)
    coco.find_year(root)  # a one-line error before TFDS's multi-line ones
    builder = CocoCaptions32Local(data_dir=os.fspath(tfds_dir))
    builder.download_and_prepare(
        download_config=tfds.download.DownloadConfig(manual_dir=os.path.abspath(root)))
    return builder.as_dataset(split=split)
