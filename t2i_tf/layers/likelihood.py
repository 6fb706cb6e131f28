"""Observation models D(X | c_T)."""

from keras import ops


def bernoulli_nll(x, logits):
    """-log Bernoulli(x; sigmoid(logits)) summed over all but the batch axis, in nats.

    Written as softplus(l) - x l in its overflow-free form max(l, 0) - x l + log1p(exp(-|l|)).
    """
    nll = ops.maximum(logits, 0.0) - x * logits + ops.log1p(ops.exp(-ops.abs(logits)))
    return ops.sum(ops.reshape(nll, (ops.shape(nll)[0], -1)), axis=-1)
