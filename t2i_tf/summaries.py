"""TensorBoard summaries written with tf.summary when TensorFlow is importable.

On a machine without TensorFlow (the JAX-only GPU machines) `SummaryWriter` says so once
and writes nothing; scalars still reach the workdir's metrics.jsonl.
"""

import numpy as np


class SummaryWriter:
    def __init__(self, log_dir):
        try:
            import tensorflow as tf
        except ImportError:
            self._tf = None
            print(f"TensorFlow is not installed: no TensorBoard events in {log_dir}")
            return
        self._tf = tf
        self._writer = tf.summary.create_file_writer(log_dir)

    def scalars(self, step, values):
        if self._tf is None:
            return
        with self._writer.as_default(step=step):
            for name, value in values.items():
                self._tf.summary.scalar(name, float(value))
        self._writer.flush()

    def image(self, step, name, image):
        """image: uint8 (H, W) or (H, W, 3)."""
        if self._tf is None:
            return
        image = np.asarray(image)
        if image.ndim == 2:
            image = image[:, :, None]
        with self._writer.as_default(step=step):
            self._tf.summary.image(name, image[None], step=step)
        self._writer.flush()
