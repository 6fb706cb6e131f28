"""Data loading: local MNIST / binarized MNIST readers, tf.data and TFDS wrappers."""
