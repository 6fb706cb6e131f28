"""`scan(f, init, xs)` with jax.lax.scan semantics on every backend.

keras.ops.scan on the TensorFlow backend (Keras 3.15) requires the per-step outputs to
have the carry's structure and shapes, which DRAW's do not; this module gives that backend
a plain tf.while_loop with the outputs in TensorArrays. Other backends use keras.ops.scan.
UNROLL is the loop's unroll factor there (1: none); benchmarks/draw_layout.py measures it.
"""

import keras
from keras import tree

UNROLL = 1


def scan(f, init, xs):
    """Loops `carry, y = f(carry, x)` over the leading axis of xs.

    Args:
      f: (carry, x) -> (carry, y); carry and y are nests of tensors.
      init: the initial carry.
      xs: a tensor (length, ...), or a nest of them, to scan over.

    Returns:
      (final carry, ys stacked along a new leading axis).
    """
    if keras.backend.backend() != "tensorflow":
        return keras.ops.scan(f, init, xs, unroll=UNROLL)
    return _tf_scan(f, init, xs)


def _tf_scan(f, init, xs):
    import tensorflow as tf

    xs = tree.map_structure(tf.convert_to_tensor, xs)
    leading = tree.flatten(xs)[0]
    length = leading.shape[0] if leading.shape[0] is not None else tf.shape(leading)[0]
    at = lambda i: tree.map_structure(lambda x: x[i], xs)
    # The first step runs outside the loop: it gives the structure, shapes and dtypes
    # of y that the TensorArrays need, and costs no extra work.
    carry, y0 = f(tree.map_structure(tf.convert_to_tensor, init), at(0))
    arrays = tree.map_structure(
        lambda t: tf.TensorArray(t.dtype, size=length, element_shape=t.shape).write(0, t), y0)

    def body(i, carry, arrays):
        carry, y = f(carry, at(i))
        arrays = tree.map_structure(lambda a, v: a.write(i, v), arrays, y)
        return i + 1, carry, arrays

    _, carry, arrays = tf.while_loop(
        lambda i, *_: i < length, body, (tf.constant(1), carry, arrays),
        maximum_iterations=length - 1)
    return carry, tree.map_structure(lambda a: a.stack(), arrays)
