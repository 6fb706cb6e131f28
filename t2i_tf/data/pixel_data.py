"""Images for the pixel models (alignPixelRNN §5.1): captioned-MNIST canvases downsampled to
32x32 grayscale 8-bit, and a binary variant for a 2-way softmax.

The paper rescales its images to 32x32 with OpenCV; area interpolation (cv2.INTER_AREA, the
mean over each output pixel's footprint) is the resampling that does not alias when
shrinking. The same `downsample` serves any float or uint8 image set, COCO's grayscale
images included. numpy in, numpy out.
"""

import cv2
import numpy as np

from t2i_tf.data import captioned_mnist

SIZE = 32


def downsample(images, size=SIZE):
    """(n, h, w) images, float in [0, 1] or uint8 in 0..255 -> (n, size, size) uint8.

    Each image is resized with cv2.INTER_AREA in float32 on the 0..255 scale, then rounded
    to the nearest integer.
    """
    images = np.asarray(images)
    scale = 1.0 if images.dtype == np.uint8 else 255.0
    out = np.empty((len(images), size, size), np.uint8)
    for i, image in enumerate(images):
        resized = cv2.resize(image.astype(np.float32) * scale, (size, size),
                             interpolation=cv2.INTER_AREA)
        out[i] = np.clip(np.rint(resized), 0, 255).astype(np.uint8)
    return out


def binarize(images):
    """uint8 images 0..255 -> uint8 {0, 1}: 1 where the intensity is above 0.5 (value >= 128)."""
    return (np.asarray(images) >= 128).astype(np.uint8)


def to_pixels(canvases, size=SIZE, binary=False):
    """Canvases in [0, 1] -> the pixel models' images: uint8 in 0..255, or {0, 1} if binary."""
    images = downsample(canvases, size)
    return binarize(images) if binary else images


def levels(binary=False):
    """V, the number of pixel values: 2 for binary images, 256 for 8-bit ones."""
    return 2 if binary else 256


def load_captioned_mnist(split, data_dir=None, num_examples=None, seed=0, epoch=0, size=SIZE,
                         binary=False):
    """A captioned-MNIST split (captioned_mnist.load_split) with its canvases as pixel images.

    Returns dict: images uint8 (n, size, size) in 0..255 (or {0, 1} if binary), captions,
    ids int32 (n, 12), mask bool (n, 12).
    """
    data = captioned_mnist.load_split(split, data_dir, num_examples, seed, epoch)
    return {**data, "images": to_pixels(data["images"], size, binary)}

