"""Each replica's share of a batch, for the models' losses and noise under a distribution
strategy (t2i_tf/training/distribute.py).

Under tf.distribute each replica computes the mean loss of its own share of the global
batch and Keras sums the replicas' gradients, so a custom compute_loss divides its mean by
the number of replicas (`replica_mean`). The noise of the variational models is drawn for
the global batch and each replica takes its slice (`replica_normal`), so an example gets
the noise it would get on one device. Under JAX's DataParallel (and on one device) the step
is one program over the global batch and nothing changes.

keras.ops only; TensorFlow is imported only when it is the backend.
"""

import keras
from keras import ops


def replica_share():
    """(index, count): this replica's place among the replicas that split the batch.

    (0, 1) outside tf.distribute (one device, or JAX, whose step spans the global batch).
    """
    if keras.backend.backend() != "tensorflow":
        return 0, 1
    import tensorflow as tf

    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:  # cross-replica or one device
        return 0, 1
    return context.replica_id_in_sync_group, context.num_replicas_in_sync


def replica_mean(values):
    """The replica's share of the global batch mean of per-example `values` (batch,).

    Divided by the number of replicas, so that Keras's sum of the replicas' gradients is the
    gradient of the global mean (equal shares; see check_batch_size).
    """
    _, count = replica_share()
    mean = ops.mean(values)
    return mean if count == 1 else mean / count


def replica_normal(shape, seed):
    """Standard normal noise of `shape` (steps, batch, ...) for this replica's batch: the
    replica's slice along axis 1 of one draw for the global batch, so the values do not
    depend on how many replicas share the batch."""
    index, count = replica_share()
    if count == 1:
        return keras.random.normal(shape, seed=seed)
    steps, batch, *rest = shape
    eps = keras.random.normal((steps, batch * count, *rest), seed=seed)
    return ops.slice(eps, (0, index * batch, *[0] * len(rest)), (steps, batch, *rest))
