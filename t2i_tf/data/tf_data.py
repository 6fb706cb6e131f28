"""tf.data pipelines over in-memory image arrays."""

from __future__ import annotations

import numpy as np
import tensorflow as tf


def without_autotune(dataset: tf.data.Dataset) -> tf.data.Dataset:
    """``dataset`` with tf.data's autotuning off.

    Autotuning runs a thread that wakes after 10 ms, 20 ms, ... doubling up to a minute, and
    the end of a Keras fit() or evaluate() call, where Keras lets go of its iterator, can
    wait for that thread's current period to end: calls took 10.2, 20.5, 41.0 s of wall
    time for a fraction of that in CPU, short timing runs read a fixed 24.4 images/s, and
    each 100-step chunk of training could idle up to a minute (docs/RESULTS.md, Speed).
    Our pipelines read arrays already in memory; there is nothing to tune.
    """
    options = tf.data.Options()
    options.autotune.enabled = False
    return dataset.with_options(options)


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
    return without_autotune(ds.prefetch(2))
