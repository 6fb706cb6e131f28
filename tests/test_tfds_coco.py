"""The tensorflow-datasets builder over the local COCO subset gives the reader's examples."""

import os

import numpy as np
import pytest

from t2i_tf.data import coco
from t2i_tf.data.locate import DataError, default_data_dir

COCO = os.path.join(default_data_dir(), "coco")
tfds_coco = pytest.importorskip("t2i_tf.data.tfds_coco")  # tfds 4.9 needs importlib_resources
pytestmark = pytest.mark.skipif(not os.path.isdir(COCO), reason="no COCO subset")


def test_builder_gives_the_readers_examples(tmp_path):
    for split, ours in (("validation", "valid"), ("train", "train")):
        examples = list(tfds_coco.load_tfds(COCO, split, tmp_path).as_numpy_iterator())
        rgb = coco.load_split(COCO, ours)
        gray = coco.load_split(COCO, ours, grayscale=True)
        assert len(examples) == len(rgb["images"])
        np.testing.assert_array_equal(np.stack([e["image"] for e in examples]), rgb["images"])
        np.testing.assert_array_equal(np.stack([e["image_gray"][..., 0] for e in examples]),
                                      gray["images"])
        assert [e["image_id"] for e in examples] == rgb["image_ids"].tolist()
        assert [[c.decode() for c in e["captions"]] for e in examples] == rgb["captions"]


def test_missing_folder_is_one_line(tmp_path):
    with pytest.raises(DataError, match="no COCO layout"):
        tfds_coco.load_tfds(tmp_path, "train", tmp_path / "tfds")
