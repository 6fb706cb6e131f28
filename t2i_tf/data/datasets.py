"""Image data sets by name, as float32 arrays in [0, 1], and a seeded batch stream."""

import numpy as np

from t2i_tf.data import mnist

# name -> {split name used by the binaries: split name of the reader}
SPLITS = {
    "binarized_mnist": {"train": "train", "valid": "valid", "test": "test"},
    # MNIST has no validation file; the last 10,000 training images serve, as usual.
    "mnist": {"train": "train", "valid": "train", "test": "test"},
}


def load_images(name, split, data_dir=None):
    """(N, 28, 28) float32 in [0, 1] for a data set name and split (train, valid, test)."""
    if name not in SPLITS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(SPLITS)}")
    if split not in SPLITS[name]:
        raise ValueError(f"unknown split {split!r} of {name}; known: {sorted(SPLITS[name])}")
    if name == "binarized_mnist":
        return mnist.load_binarized_mnist(data_dir, SPLITS[name][split])
    images, _ = mnist.load_mnist(data_dir, SPLITS[name][split])
    if split != "test":
        images = images[:50000] if split == "train" else images[50000:]
    return images.astype(np.float32) / 255.0


def batch_stream(images, batch_size, seed, start_step=0):
    """Yields 1-tuples (batch,) forever (the form Keras fit takes); batch k depends only on (seed, k), so a resumed run sees
    exactly the batches that the uninterrupted run would have seen.

    Each epoch is a fresh permutation drawn from numpy's Generator seeded with [seed, epoch];
    the last len(images) % batch_size images of a permutation are skipped that epoch.
    """
    per_epoch = len(images) // batch_size
    if per_epoch == 0:
        raise ValueError(f"batch size {batch_size} exceeds the {len(images)} images")
    step, epoch, order = start_step, None, None
    while True:
        e, i = divmod(step, per_epoch)
        if e != epoch:
            epoch, order = e, np.random.default_rng([seed, e]).permutation(len(images))
        yield (images[order[i * batch_size:(i + 1) * batch_size]],)
        step += 1
