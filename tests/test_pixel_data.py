"""Tests of t2i_tf.data.pixel_data: 32x32 8-bit and binary images for the pixel models.

Most tests use synthetic canvases; the last two read the real MNIST files (skipped when the
data folder is absent)."""

import os

import numpy as np
import pytest

from t2i_tf.data import captioned_mnist as cm
from t2i_tf.data import datasets, locate, pixel_data


def fake_canvases(n=6, seed=0):
    """Captioned-MNIST canvases (n, 60, 60) in [0, 1] pasted from random fake digits."""
    rng = np.random.default_rng(seed)
    digits = rng.integers(0, 256, (20, 28, 28)).astype(np.uint8)
    labels = np.arange(20) % 10
    canvases, _ = cm.generate(digits, labels, n, rng, "exclude")
    return canvases


def test_downsample_shapes_dtypes_and_range():
    canvases = fake_canvases()
    images = pixel_data.downsample(canvases)
    assert images.shape == (6, 32, 32) and images.dtype == np.uint8
    assert images.max() > 0  # the digits survive
    # uint8 input gives the same as float input on the 0..255 scale
    as_uint8 = np.rint(canvases * 255).astype(np.uint8)
    np.testing.assert_array_equal(pixel_data.downsample(as_uint8), images)
    assert pixel_data.downsample(canvases, size=16).shape == (6, 16, 16)


@pytest.mark.parametrize("value", [0.0, 1.0, 0.5, 37 / 255])
def test_constant_image_stays_constant(value):
    images = pixel_data.downsample(np.full((2, 60, 60), value, np.float32))
    np.testing.assert_array_equal(images, np.full((2, 32, 32), round(value * 255), np.uint8))


def test_area_interpolation_is_the_block_mean_at_an_integer_factor():
    rng = np.random.default_rng(1)
    x = rng.random((3, 64, 64)).astype(np.float32)
    expected = np.rint(255 * x.reshape(3, 32, 2, 32, 2).astype(np.float64).mean(axis=(2, 4)))
    np.testing.assert_allclose(pixel_data.downsample(x).astype(float), expected, atol=1)
    assert np.mean(pixel_data.downsample(x) == expected) > 0.99


def test_binary_variant():
    images = np.array([[[0, 127, 128, 255]]], np.uint8)
    np.testing.assert_array_equal(pixel_data.binarize(images), [[[0, 0, 1, 1]]])
    binary = pixel_data.to_pixels(fake_canvases(), binary=True)
    assert binary.shape == (6, 32, 32) and binary.dtype == np.uint8
    assert set(np.unique(binary)) <= {0, 1} and binary.max() == 1
    assert pixel_data.levels(True) == 2 and pixel_data.levels(False) == 256


def _data_dir_or_skip():
    folder = locate.default_data_dir()
    if not os.path.isdir(os.path.join(folder, "mnist")):
        pytest.skip("no MNIST data folder")
    return folder


def test_real_split():
    data_dir = _data_dir_or_skip()
    data = pixel_data.load_captioned_mnist("valid", data_dir, num_examples=8)
    assert data["images"].shape == (8, 32, 32) and data["images"].dtype == np.uint8
    assert data["images"].max() > 128 and data["images"].min() == 0
    assert data["ids"].shape == (8, cm.CAPTION_LENGTH) and data["mask"].dtype == bool
    assert len(data["captions"]) == 8
    binary = pixel_data.load_captioned_mnist("valid", data_dir, num_examples=8, binary=True)
    np.testing.assert_array_equal(binary["images"], pixel_data.binarize(data["images"]))


def test_training_stream():
    data_dir = _data_dir_or_skip()
    data = datasets.CaptionedMnistPixelData(data_dir, seed=0, examples_per_epoch=8,
                                              valid_examples=4)
    assert data.image_shape == (32, 32) and data.levels == 256 and data.captioned
    (first,) = next(data.train_batches(4, seed=0))
    assert first["images"].shape == (4, 32, 32) and first["images"].dtype == np.uint8
    assert data.validation(4)["images"].shape == (4, 32, 32)
