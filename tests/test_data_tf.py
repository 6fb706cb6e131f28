"""Tests of t2i_tf.data.tf_data and the local TFDS builders (on tiny fake data folders)."""

import gzip
import os

import numpy as np
import pytest
import tensorflow as tf

from t2i_tf.data.locate import DataError
from t2i_tf.data.mnist import load_binarized_mnist, load_mnist
from t2i_tf.data.tf_data import make_dataset
from t2i_tf.data.tfds_binarized_mnist import load_tfds

# ---------------------------------------------------------------- make_dataset


def batches(ds):
    return [b.numpy() for b in ds]


def test_make_dataset_shapes_and_order():
    images = np.arange(10 * 28 * 28, dtype=np.uint8).reshape(10, 28, 28) % 2
    ds = make_dataset(images, batch_size=4, shuffle=False)
    assert ds.element_spec.shape.as_list() == [4, 28, 28]
    assert ds.element_spec.dtype == tf.float32
    assert ds.options().autotune.enabled is False  # tf_data.without_autotune
    out = batches(ds)
    assert len(out) == 2  # remainder dropped
    np.testing.assert_array_equal(np.concatenate(out), images[:8].astype(np.float32))

    out = batches(make_dataset(images, batch_size=4, shuffle=False, drop_remainder=False))
    assert [len(b) for b in out] == [4, 4, 2]


def test_make_dataset_other_shapes_and_repeat():
    images = np.zeros((5, 3, 2, 1), dtype=np.float64)
    ds = make_dataset(images, batch_size=2, repeat=True)
    assert ds.element_spec.shape.as_list() == [2, 3, 2, 1]
    assert len(batches(ds.take(7))) == 7  # more than one epoch


def test_make_dataset_shuffle_is_seeded():
    images = np.arange(20, dtype=np.float32).reshape(20, 1, 1) * np.ones((1, 2, 2))

    def order(seed):
        ds = make_dataset(images, batch_size=20, seed=seed, repeat=True)
        return [b[:, 0, 0].tolist() for b in batches(ds.take(2))]

    first = order(3)
    assert first == order(3)
    assert first != order(4)
    assert first[0] != first[1]  # reshuffled each epoch
    assert sorted(first[0]) == list(range(20))


def test_make_dataset_bad_arguments():
    with pytest.raises(ValueError):
        make_dataset(np.zeros((3, 28, 28)), batch_size=4)
    with pytest.raises(ValueError):
        make_dataset(np.zeros((0, 28, 28)), batch_size=1)


# ---------------------------------------------------------------- TFDS builders


def _write(path, data):
    with (gzip.open if path.endswith(".gz") else open)(path, "wb") as f:
        f.write(data)


def fake_data_dir(root):
    """Tiny binarized MNIST (3/2/2 rows) and MNIST (4/3 images) files under ``root``."""
    rng = np.random.default_rng(0)
    os.makedirs(root / "binarized_mnist")
    for split, n, ext in (("train", 3, ".gz"), ("valid", 2, ""), ("test", 2, ".gz")):
        text = "".join(" ".join(map(str, r)) + "\n" for r in rng.integers(0, 2, (n, 784)))
        _write(str(root / "binarized_mnist" / f"binarized_mnist_{split}.amat{ext}"), text.encode())
    os.makedirs(root / "mnist")
    for prefix, n in (("train", 4), ("t10k", 3)):
        images = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
        header = np.array([2051, n, 28, 28], ">u4").tobytes()
        _write(str(root / "mnist" / f"{prefix}-images-idx3-ubyte.gz"), header + images.tobytes())
        labels = rng.integers(0, 10, n, dtype=np.uint8)
        header = np.array([2049, n], ">u4").tobytes()
        _write(str(root / "mnist" / f"{prefix}-labels-idx1-ubyte"), header + labels.tobytes())
    return root


@pytest.fixture(scope="module")
def fake_dirs(tmp_path_factory):
    root = tmp_path_factory.mktemp("t2i")
    return str(fake_data_dir(root / "data")), str(root / "tfds")


def test_tfds_binarized_mnist(fake_dirs):
    data_dir, tfds_dir = fake_dirs
    for tfds_split, split in (("train", "train"), ("validation", "valid"), ("test", "test")):
        ds = load_tfds(data_dir, tfds_split, tfds_dir, strict=False)
        assert ds.element_spec["image"].shape.as_list() == [28, 28, 1]
        assert ds.element_spec["image"].dtype == tf.uint8
        got = np.stack([e["image"].numpy() for e in ds])[..., 0]
        np.testing.assert_array_equal(got, load_binarized_mnist(data_dir, split, strict=False))
    ds = load_tfds(data_dir, "train[1:]", tfds_dir, strict=False)  # reuses the build
    assert len(list(ds)) == 2


def test_tfds_mnist(fake_dirs):
    data_dir, tfds_dir = fake_dirs
    ds = load_tfds(data_dir, "test", tfds_dir, dataset="mnist", strict=False)
    images, labels = load_mnist(data_dir, "test", strict=False)
    examples = list(ds)
    np.testing.assert_array_equal(np.stack([e["image"] for e in examples])[..., 0], images)
    assert [int(e["label"]) for e in examples] == labels.tolist()


def test_tfds_errors(fake_dirs, tmp_path):
    data_dir, _ = fake_dirs
    with pytest.raises(DataError, match="has 3 rows, expected 50000"):
        load_tfds(data_dir, "train", str(tmp_path / "tfds"))  # strict by default
    with pytest.raises(DataError, match="does not exist"):
        load_tfds(str(tmp_path / "nowhere"), "train", str(tmp_path / "tfds"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="is empty"):
        load_tfds(str(tmp_path / "empty"), "train", str(tmp_path / "tfds"))
    with pytest.raises(ValueError, match="unknown dataset"):
        load_tfds(data_dir, "train", str(tmp_path / "tfds"), dataset="cifar")
