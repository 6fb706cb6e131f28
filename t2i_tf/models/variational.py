"""What the DRAW-family models share for training with Keras fit: call() returns the
per-image terms of the negative variational bound, the loss is the mean total, and the
reconstruction and KL terms are reported beside it. Under tf.distribute each replica
draws its slice of the global batch's noise and scales its loss (t2i_tf.models.replicas)."""

import keras

from t2i_tf.models import replicas


class VariationalModel(keras.Model):
    """Base of Draw and AlignDraw: subclasses return {reconstruction, kl, total} from call()
    and have `steps`, `z_dim` and `seed_generator`."""

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.reconstruction_tracker = keras.metrics.Mean(name="reconstruction")
        self.kl_tracker = keras.metrics.Mean(name="kl")

    def noise(self, batch_size, seed=None):
        """Standard normal noise (T, batch, z_dim) for one pass."""
        return replicas.replica_normal((self.steps, batch_size, self.z_dim),
                                         self.seed_generator if seed is None else seed)

    def compute_loss(self, x=None, y=None, y_pred=None, sample_weight=None, training=True):
        return replicas.replica_mean(y_pred["total"])

    def compute_metrics(self, x, y, y_pred, sample_weight=None):
        logs = super().compute_metrics(x, y, y_pred, sample_weight)
        self.reconstruction_tracker.update_state(y_pred["reconstruction"])
        self.kl_tracker.update_state(y_pred["kl"])
        return {**logs, "reconstruction": self.reconstruction_tracker.result(),
                "kl": self.kl_tracker.result()}
