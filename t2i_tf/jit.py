"""Compiling a model's method for repeated calls: jax.jit on JAX, tf.function(jit_compile)
on TensorFlow. The one place in the package that knows which backend it runs on for this.
"""

import keras


def compile_method(model, method):
    """Returns f(*arrays) that runs `method` (a bound method of `model`) compiled.

    On JAX the model's current weights are passed in as arguments on every call, so later
    weight changes are seen without recompiling.
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        def pure(weights, *args):
            with keras.StatelessScope(state_mapping=list(zip(model.weights, weights))):
                return method(*args)

        jitted = jax.jit(pure)
        return lambda *args: jitted([v.value for v in model.weights], *args)
    if backend == "tensorflow":
        import tensorflow as tf

        return tf.function(method, jit_compile=True, reduce_retracing=True)
    return method
