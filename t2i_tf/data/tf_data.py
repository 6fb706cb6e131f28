"""tf.data pipelines over in-memory image arrays."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def make_dataset(
    images: np.ndarray,
    batch_size: int,
    shuffle: bool = True,
    seed: int = 0,
    drop_remainder: bool = True,
    repeat: bool = False,
) -> tf.data.Dataset:
    """Batches ``images`` as float32 tensors shaped ``(batch_size,) + images.shape[1:]``.

    Args:
      images: array shaped (N, ...), e.g. (N, 28, 28) binarized MNIST; cast to float32
        (values are not rescaled).
      batch_size: examples per batch.
      shuffle: shuffle the whole array, with a new order every epoch drawn from ``seed``.
      seed: shuffle seed; the sequence of epochs is reproducible for a given seed.
      drop_remainder: drop the last partial batch (keeps the batch dimension static).
      repeat: repeat forever (shuffling again each epoch).
    """
    images = np.asarray(images, dtype=np.float32)
    if images.ndim < 2 or len(images) == 0:
        raise ValueError(f"images must be a non-empty array shaped (N, ...), got {images.shape}")
    if batch_size < 1:
        raise ValueError(f"batch_size must be positive, got {batch_size}")
    if drop_remainder and batch_size > len(images):
        raise ValueError(
            f"batch_size {batch_size} exceeds the {len(images)} examples with drop_remainder=True"
        )
    ds = tf.data.Dataset.from_tensor_slices(images)
    if shuffle:
        ds = ds.shuffle(len(images), seed=seed, reshuffle_each_iteration=True)
    if repeat:
        ds = ds.repeat()
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return ds.prefetch(tf.data.AUTOTUNE)
