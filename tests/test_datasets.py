"""The training data streams: exact resumption, epochs, and the data-set names."""

import itertools

import numpy as np
import pytest

from t2i_tf.data import datasets


def take(stream, n):
    return list(itertools.islice(stream, n))


def test_batch_stream_resumes_exactly():
    images = np.arange(23, dtype=np.float32)[:, None, None] * np.ones((1, 2, 2), np.float32)
    full = take(datasets.batch_stream(images, 5, seed=3), 12)
    resumed = take(datasets.batch_stream(images, 5, seed=3, start_step=7), 5)
    for a, b in zip(full[7:], resumed):
        np.testing.assert_array_equal(a[0], b[0])


def test_batch_stream_epochs_are_permutations():
    images = np.arange(20, dtype=np.float32)[:, None, None]
    batches = take(datasets.batch_stream(images, 5, seed=0), 8)  # two epochs of 4 batches
    first = np.concatenate([b[0].ravel() for b in batches[:4]])
    second = np.concatenate([b[0].ravel() for b in batches[4:]])
    assert sorted(first) == sorted(second) == list(range(20))
    assert not np.array_equal(first, second)  # a fresh order each epoch


def test_batch_stream_rejects_oversized_batches():
    with pytest.raises(ValueError, match="exceeds"):
        next(datasets.batch_stream(np.zeros((3, 2, 2)), 4, seed=0))


def test_load_images_splits_and_range():
    valid = datasets.load_images("binarized_mnist", "valid")
    assert valid.shape == (10000, 28, 28) and valid.dtype == np.float32
    assert set(np.unique(valid)) == {0.0, 1.0}
    grey = datasets.load_images("mnist", "valid")  # the last 10,000 training images
    assert grey.shape == (10000, 28, 28) and 0.0 <= grey.min() and grey.max() <= 1.0
    with pytest.raises(ValueError, match="unknown data set"):
        datasets.load_images("svhn", "train")


def test_captioned_stream_is_fresh_each_epoch_and_resumes():
    data = datasets.CaptionedMnistData(seed=1, examples_per_epoch=40, valid_examples=10)
    full = take(data.train_batches(10, seed=None), 9)  # epochs of 4 batches
    resumed = take(data.train_batches(10, seed=None, start_step=5), 4)
    for a, b in zip(full[5:], resumed):
        for key in ("images", "ids", "mask"):
            np.testing.assert_array_equal(a[0][key], b[0][key])
    assert not np.array_equal(full[0][0]["images"], full[4][0]["images"])
    assert set(full[0][0]) == {"images", "ids", "mask"}
    assert full[0][0]["images"].shape == (10, 60, 60) and full[0][0]["ids"].shape == (10, 12)
    assert data.validation(3)["images"].shape == (3, 60, 60)
