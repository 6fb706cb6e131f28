"""FLOPs of a training step, counted from the model's jaxpr, and the measured peak of a device.

Counting (JAX backend): the training step -- loss and gradients of every trainable weight,
as jax.value_and_grad traces them -- becomes a jaxpr; every equation is counted, recursing
into sub-programs and multiplying a scan's body by its length, so the T DRAW steps count T
times. (XLA's compiled cost_analysis() counts a loop body once, which undercounts DRAW by
a factor of T; hence this walk.) The count is split into
  matmul:      2 x multiply-adds of dot_general and conv_general_dilated;
  elementwise: one per output element of arithmetic and transcendental primitives, and one
               per input element of reductions.
The optimizer's update is left out (a few elementwise operations per weight per batch).
A while loop with a trip count unknown at trace time is counted once and reported.

Peak: the median over `repeats` runs of one compiled float32 (n x n) @ (n x n) matmul on
the backend's default device, 2 n^3 FLOPs each.
"""

import math
import statistics
import time

ELEMENTWISE = {
    "add", "sub", "mul", "div", "neg", "max", "min", "abs", "sign", "exp", "exp2", "log",
    "log1p", "expm1", "tanh", "logistic", "sqrt", "rsqrt", "pow", "integer_pow", "square",
    "erf", "erf_inv", "sin", "cos", "select_n", "clamp", "floor", "ceil", "round", "rem",
    "atan2", "cumsum", "cumprod", "cummax", "cumlogsumexp",
}
REDUCTIONS = {"reduce_sum", "reduce_max", "reduce_min", "reduce_prod", "argmax", "argmin"}


def _size(aval):
    return math.prod(getattr(aval, "shape", ()))


def _dot_flops(eqn):
    lhs, rhs = (v.aval for v in eqn.invars[:2])
    (lhs_contract, _), (lhs_batch, _) = eqn.params["dimension_numbers"]
    contracted = math.prod(lhs.shape[d] for d in lhs_contract)
    return 2 * _size(eqn.outvars[0].aval) * contracted


def _conv_flops(eqn):
    lhs, rhs = (v.aval for v in eqn.invars[:2])
    spec = eqn.params["dimension_numbers"]
    # rhs spec: (out feature, in feature, *spatial); each output element sums over the
    # kernel's input features (divided among groups) and spatial taps.
    in_features = rhs.shape[spec.rhs_spec[1]]
    taps = math.prod(rhs.shape[d] for d in spec.rhs_spec[2:])
    return 2 * _size(eqn.outvars[0].aval) * in_features * taps


def _sub_jaxprs(value):
    """The jaxprs inside an equation parameter (a Jaxpr, ClosedJaxpr, or tuple of them)."""
    if hasattr(value, "eqns"):
        return [value]
    if hasattr(value, "jaxpr") and hasattr(value.jaxpr, "eqns"):
        return [value.jaxpr]
    if isinstance(value, (tuple, list)):
        return [j for v in value for j in _sub_jaxprs(v)]
    return []


def count_jaxpr(jaxpr):
    """{"matmul", "elementwise", "unbounded_loops"} counts of a (Closed)Jaxpr."""
    jaxpr = getattr(jaxpr, "jaxpr", jaxpr)
    total = {"matmul": 0, "elementwise": 0, "unbounded_loops": 0}

    def add(counts, times=1):
        for k in total:
            total[k] += times * counts[k]

    for eqn in jaxpr.eqns:
        name = eqn.primitive.name
        if name == "dot_general":
            total["matmul"] += _dot_flops(eqn)
        elif name == "conv_general_dilated":
            total["matmul"] += _conv_flops(eqn)
        elif name in ELEMENTWISE:
            total["elementwise"] += _size(eqn.outvars[0].aval)
        elif name in REDUCTIONS:
            total["elementwise"] += _size(eqn.invars[0].aval)
        if name == "cond":  # the dearest branch
            branches = [count_jaxpr(b) for b in eqn.params["branches"]]
            add(max(branches, key=lambda c: c["matmul"] + c["elementwise"]))
            continue
        if name == "while":
            total["unbounded_loops"] += 1
        times = eqn.params.get("length", 1) if name == "scan" else 1
        for value in eqn.params.values():
            for sub in _sub_jaxprs(value):
                add(count_jaxpr(sub), times)
    return total


def stateless_loss(model, batch):
    """(loss, args): the training loss of `model` (a built t2i_tf model, JAX backend) as a
    pure function loss(trainable weights, other weights, x) -- the forward pass of call()
    and compute_loss -- and the arguments that evaluate it on `batch` (what fit() feeds it:
    images, or a dict of images, ids and mask) at the model's current weights."""
    import keras

    trainable = model.trainable_variables
    trainable_ids = {id(v) for v in trainable}
    others = [v for v in model.variables if id(v) not in trainable_ids]

    def loss(weights, other_weights, x):
        mapping = list(zip(trainable, weights)) + list(zip(others, other_weights))
        with keras.StatelessScope(state_mapping=mapping):
            return model.compute_loss(x=x, y_pred=model(x, training=True))

    return loss, ([v.value for v in trainable], [v.value for v in others], batch)


def training_flops(model, batch):
    """FLOP counts of one training step of `model` on `batch` (see stateless_loss): the
    forward pass, the loss, and the gradients of the trainable weights."""
    import jax

    loss, args = stateless_loss(model, batch)
    return count_jaxpr(jax.make_jaxpr(jax.value_and_grad(loss))(*args))


def _compiled_matmul():
    import keras

    if keras.backend.backend() == "jax":
        import jax

        return jax.jit(keras.ops.matmul)
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        return tf.function(keras.ops.matmul, jit_compile=True)
    raise ValueError(f"no compiled matmul on the {keras.backend.backend()} backend")


def measure_peak(n=2048, repeats=7):
    """{"peak_flops_per_s": median, "runs": [...], "n": n}: float32 (n, n) @ (n, n)."""
    import keras
    import numpy as np

    rng = np.random.default_rng(0)
    a, b = (keras.ops.convert_to_tensor(rng.standard_normal((n, n), np.float32))
            for _ in range(2))
    # The product itself, not a reduction of it: XLA fuses a reduction into the dot and
    # emits a loop that runs at half the speed of its matmul (35 against 64-69 GFLOP/s on one
    # core of the build machine at n = 2,048).
    matmul = _compiled_matmul()
    keras.ops.convert_to_numpy(matmul(a, b))  # compile; the copy waits for the device
    rates = []
    for _ in range(repeats):
        start = time.perf_counter()
        keras.ops.convert_to_numpy(matmul(a, b))
        rates.append(2 * n ** 3 / (time.perf_counter() - start))
    return {"peak_flops_per_s": statistics.median(rates), "runs": rates, "n": n}
