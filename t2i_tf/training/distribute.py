"""Distributed training: the engine a run trains under and how it splits the global batch.

  none           one device; the path of a run without --strategy
  mirrored       tf.distribute.MirroredStrategy over the local devices (TensorFlow backend)
  multi_worker   tf.distribute.MultiWorkerMirroredStrategy, the cluster read from TF_CONFIG
                 (TensorFlow backend; every worker runs the same command)
  data_parallel  keras.distribution.DataParallel over the local devices (JAX backend)

The global batch (--batch_size) is split evenly across the replicas. Under tf.distribute each
replica computes the mean loss of its own share, and Keras sums the replicas' gradients, so
a custom compute_loss divides its mean by the number of replicas; a clipping optimizer clips
that sum, as one device clips its gradient (Distribution.compile). Under DataParallel the
step is one program over the global batch and needs no correction. The noise of the
variational models is drawn for the global batch and each replica takes its slice, so an
example gets the noise it would get on one device and the loss trajectory matches a
one-device run. That arithmetic sits with the models (t2i_tf/models/replicas.py).

Importing this module imports no backend; TensorFlow is imported only by the TensorFlow
strategies, so it works on a JAX-only machine.
"""

import contextlib
import itertools
import json
import os

import keras

# strategy -> the Keras backend it runs on (None: any)
BACKENDS = {"none": None, "mirrored": "tensorflow", "multi_worker": "tensorflow",
            "data_parallel": "jax"}


class StrategyError(ValueError):
    """A strategy that cannot run here: wrong backend, bad TF_CONFIG, uneven batch."""


class Distribution:
    """What the training loop needs to know of a strategy.

    Attributes:
      name: one of BACKENDS.
      num_replicas: devices (all workers together) the global batch is split across.
      is_chief: whether this process writes checkpoints, metrics and summaries.
      jit_compile: the compile() flag (make() sets it): False under tf.distribute, where
        XLA cannot reach variables mirrored on other devices, and on TensorFlow when the
        user asked for none; JAX always compiles its step.
      process, processes: this process's index among the processes of the run (TensorFlow
        workers, JAX processes) and their number; (0, 1) in a one-process run. Processes
        step in lockstep: none may stop on its own clock. Across JAX processes each one
        feeds its own share of every global batch and runs every computation over the
        weights (the chief alone writes).
    """

    def __init__(self, name, num_replicas=1, is_chief=True, jit_compile=True, scope=None,
                 process=0, processes=1):
        self.name = name
        self.num_replicas = num_replicas
        self.is_chief = is_chief
        self.jit_compile = jit_compile
        self._scope = scope
        self.process = process
        self.processes = processes

    @property
    def tf_distribute(self):
        return self.name in ("mirrored", "multi_worker")

    def batches(self, make_stream, variable_length=False):
        """What fit() takes for the stream of 1-tuples that make_stream() returns.

        JAX: the stream itself (compiled once per bucket shape). TensorFlow: a tf.data.Dataset
        whose first pass reads the stream and each later one calls make_stream() afresh
        (under tf.distribute Keras reads one batch ahead of the first step to build the
        model, then starts again, which would lose the lookahead of a plain generator),
        without tf.data's autotuning (tf_data.without_autotune: with it every fit() call
        ends idle, up to a minute).
        variable_length: captions bucketed by length, whose ids and mask get an unknown
        length (Keras's TensorFlow path fixes every dimension its first two batches share;
        XLA still compiles once per bucket).
        """
        if keras.backend.backend() != "tensorflow":
            if self.processes == 1:
                return make_stream()
            return (self._share(batch) for batch in make_stream())
        import tensorflow as tf

        def spec(key, array):
            free = variable_length and key in ("ids", "mask")
            return tf.TensorSpec((None, None) if free else (None, *array.shape[1:]),
                                 tf.as_dtype(array.dtype))

        stream = make_stream()
        first = next(stream)  # its shapes make the signature; the first pass still yields it
        passes = iter([itertools.chain([first], stream)])

        def generator():
            return (_feedable(b) for b in next(passes, None) or make_stream())

        first = _feedable(first)
        signature = ({k: spec(k, v) for k, v in first.items()} if isinstance(first, dict)
                     else spec(None, first))
        dataset = tf.data.Dataset.from_generator(generator, output_signature=signature)
        return self._dataset_options(dataset)

    def arrays(self, x, batch_size):
        """What evaluate() takes for in-memory arrays x (or a dict of them): on TensorFlow
        a batched tf.data.Dataset without autotuning, as batches(); across JAX processes
        the batches cut to this process's share; elsewhere x itself."""
        if keras.backend.backend() != "tensorflow":
            return x if self.processes == 1 else _Shares(x, batch_size, self._share)
        import tensorflow as tf

        return self._dataset_options(
            tf.data.Dataset.from_tensor_slices(_feedable(x)).batch(batch_size))

    def _dataset_options(self, dataset):
        from t2i_tf.data import tf_data

        dataset = tf_data.without_autotune(dataset)
        if not self.tf_distribute:
            return dataset
        import tensorflow as tf

        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.DATA)  # each worker its part of each batch
        return dataset.with_options(options)

    def compile(self, model, optimizer):
        """model.compile(optimizer) for this strategy: its XLA setting, and under
        tf.distribute an optimizer that clips the global batch's gradient, as one device
        does (_clip_the_sum)."""
        if self.tf_distribute:
            _clip_the_sum(optimizer)
        model.compile(optimizer=optimizer, jit_compile=self.jit_compile)

    def scope(self):
        """The context to build, compile and train the model in."""
        return self._scope() if self._scope is not None else contextlib.nullcontext()

    def _share(self, nest):
        """This process's rows of every array in nest (equal shares, in process order)."""
        import numpy as np

        return keras.tree.map_structure(
            lambda a: np.split(a, self.processes)[self.process], nest)

    def check_batch_size(self, batch_size, valid_images=0):
        """Refuses a global batch that does not split evenly across the replicas, or, over
        several processes, a last validation batch (valid_images % batch_size images) that
        does not split evenly across the processes."""
        if batch_size % self.num_replicas:
            raise StrategyError(f"--batch_size={batch_size} does not split evenly across the "
                                f"{self.num_replicas} replicas of --strategy={self.name}")
        last = valid_images % batch_size
        if self.processes > 1 and last % self.processes:
            raise StrategyError(f"--valid_images={valid_images} leaves a last validation batch "
                                f"of {last} images, which does not split evenly across the "
                                f"{self.processes} processes of --strategy={self.name}")


def make(name, jit_compile=True):
    """The Distribution for a strategy name, on the current Keras backend.

    jit_compile: whether the user wants XLA (train's --[no]jit_compile); it can only turn
    XLA off, and only on the TensorFlow backend.
    Create it first thing in a process: MultiWorkerMirroredStrategy must exist before
    TensorFlow runs any op. Raises StrategyError (one line) if it cannot run here.
    """
    if name not in BACKENDS:
        raise StrategyError(f"unknown strategy {name!r}; known: {', '.join(BACKENDS)}")
    backend = keras.backend.backend()
    wanted = BACKENDS[name]
    if wanted is not None and backend != wanted:
        raise StrategyError(f"--strategy={name} runs on the {wanted} backend, not {backend}; "
                            f"set KERAS_BACKEND={wanted} or pick another --strategy")
    if name == "none":
        distribution = Distribution(name)
    elif name == "data_parallel":
        distribution = _data_parallel()
    else:
        distribution = _tf_strategy(name)
    if backend == "tensorflow" and not jit_compile:
        distribution.jit_compile = False
    return distribution


def _data_parallel():
    """DataParallel over every device of every JAX process: one process, or those that
    keras.distribution.initialize() joins, from KERAS_DISTRIBUTION_JOB_ADDRESSES (the
    coordinator's address first), KERAS_DISTRIBUTION_NUM_PROCESSES and
    KERAS_DISTRIBUTION_PROCESS_ID."""
    import jax

    processes = os.environ.get("KERAS_DISTRIBUTION_NUM_PROCESSES", "1")
    if processes != "1":
        try:
            keras.distribution.initialize()
        except (ValueError, RuntimeError) as e:
            raise StrategyError(f"--strategy=data_parallel could not join the processes of "
                                f"KERAS_DISTRIBUTION_*: {str(e).splitlines()[0]}") from None
    devices = keras.distribution.list_devices()
    distribution = keras.distribution.DataParallel(devices=devices, auto_shard_dataset=False)
    return Distribution("data_parallel", len(devices), jax.process_index() == 0,
                        scope=distribution.scope, process=jax.process_index(),
                        processes=jax.process_count())


def _tf_strategy(name):
    import tensorflow as tf

    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        return Distribution(name, strategy.num_replicas_in_sync, True, False, strategy.scope)
    task = _task_from_tf_config()
    strategy = _multi_worker_strategy()
    task_type, index, cluster = task
    tasks = [(t, i) for t in ("chief", "worker") for i in range(len(cluster.get(t, ())))]
    process = tasks.index((task_type, index)) if (task_type, index) in tasks else 0
    return Distribution(name, strategy.num_replicas_in_sync, _is_chief(task), False,
                        strategy.scope, process, max(len(tasks), 1))


def _multi_worker_strategy():
    """MultiWorkerMirroredStrategy whose reduce() takes what Keras 3.15's fit gives it.

    Across workers fit() calls strategy.reduce where TensorFlow's collective reduce takes
    one float or int32/int64 tensor (of rank >= 1 for an axis; keras-team/keras#20585 is
    the scalar case): with the whole first batch ("MEAN", axis=None: a dict of float
    images, int32 ids and uint8 mask, or a pixel model's uint8 images) to build the model,
    and with each scalar metric ("MEAN", axis=0) after every step. This reduce maps over
    the nest, reduces other integer types as int32, and averages a scalar across the
    replicas: one path for every model.
    """
    import tensorflow as tf

    collective = (tf.bfloat16, tf.float16, tf.float32, tf.float64, tf.int32, tf.int64)

    class Strategy(tf.distribute.MultiWorkerMirroredStrategy):
        def __init__(self):
            super().__init__()
            self._widen = tf.function(lambda v: self.run(tf.cast, args=(v, tf.int32)))

        def reduce(self, reduce_op, value, axis=None):
            return tf.nest.map_structure(lambda v: self._reduce_one(reduce_op, v, axis), value)

        def _reduce_one(self, reduce_op, value, axis):
            local = self.experimental_local_results(value)[0]
            axis = axis if local.shape.rank else None
            if local.dtype in collective:
                return super().reduce(reduce_op, value, axis)
            return tf.cast(super().reduce(reduce_op, self._widen(value), axis), local.dtype)

    return Strategy()


def _clip_the_sum(optimizer):
    """Makes a clipping optimizer clip the sum of the replicas' gradients under tf.distribute.

    Keras 3.15 on TensorFlow clips each replica's share of the gradient and then sums the
    shares (TFOptimizer._backend_update_step), which is not the clipped gradient of the
    global batch that one device applies, once clipping bites. Here optimizer.apply sums
    the shares first (an explicit all-reduce), clips the sum as the optimizer would, and
    hands the optimizer an equal part of it from each replica: the optimizer's own clip
    leaves a part as it is (its norm is at most the bound over the number of replicas) and
    its own sum restores the clipped sum. The cost: a second all-reduce of the gradients
    in each step. An optimizer that does not clip is left alone (a sum of shares is the
    gradient of the global batch already).
    """
    import tensorflow as tf

    if not (optimizer.clipnorm or optimizer.global_clipnorm or optimizer.clipvalue):
        return
    apply = optimizer.apply

    def apply_clipped_sum(grads, trainable_variables=None):
        context = tf.distribute.get_replica_context()
        count = 1 if context is None else context.num_replicas_in_sync
        if count == 1:
            return apply(grads, trainable_variables)
        grads = optimizer._clip_gradients(context.all_reduce("SUM", list(grads)))
        return apply([_divide(g, count) for g in grads], trainable_variables)

    optimizer.apply = apply_clipped_sum


def _divide(gradient, count):
    """A gradient (a tensor, or an embedding's tf.IndexedSlices: a slice per lookup, as
    one device clips it and the all-reduce gathers it) divided by count."""
    import tensorflow as tf

    if isinstance(gradient, tf.IndexedSlices):
        return tf.IndexedSlices(gradient.values / count, gradient.indices, gradient.dense_shape)
    return gradient / count


def _task_from_tf_config():
    """(task type, task index, cluster) from TF_CONFIG; StrategyError if unusable."""
    text = os.environ.get("TF_CONFIG")
    if not text:
        raise StrategyError("--strategy=multi_worker needs TF_CONFIG, e.g. "
                            '{"cluster": {"worker": ["host1:port", "host2:port"]}, '
                            '"task": {"type": "worker", "index": 0}}')
    try:
        config = json.loads(text)
        cluster, task = config["cluster"], config["task"]
        task_type, index = task["type"], int(task["index"])
        if len(cluster[task_type]) <= index:
            raise IndexError
    except (ValueError, KeyError, TypeError, IndexError):
        raise StrategyError("TF_CONFIG is not a valid cluster description: it needs "
                            "cluster.<type> = [addresses] and task = {type, index} "
                            "naming one of them") from None
    return task_type, index, cluster


def _is_chief(task):
    """The chief writes: the task "chief", or worker 0 of a cluster without one."""
    task_type, index, cluster = task
    return task_type == "chief" or (task_type == "worker" and index == 0
                                    and "chief" not in cluster)


class _Shares(keras.utils.PyDataset):
    """In-memory arrays (or a dict of them) in batches of batch_size, each cut by share."""

    def __init__(self, x, batch_size, share):
        super().__init__()
        self.x, self.batch_size, self.share = x, batch_size, share
        self.size = len(keras.tree.flatten(x)[0])

    def __len__(self):
        return -(-self.size // self.batch_size)

    def __getitem__(self, index):
        rows = slice(index * self.batch_size, (index + 1) * self.batch_size)
        return (self.share(keras.tree.map_structure(lambda a: a[rows], self.x)),)


def _feedable(nest):
    """What tf.data sends: under tf.distribute Keras averages a first batch across the
    replicas to build the model, which TensorFlow cannot do with booleans (sent as uint8;
    the models cast masks back) nor, across workers, with a tuple (a 1-tuple is sent as its
    element). One path serves every TensorFlow run."""
    import numpy as np

    if isinstance(nest, tuple) and len(nest) == 1:
        nest = nest[0]
    return keras.tree.map_structure(
        lambda a: a.astype(np.uint8) if a.dtype == bool else a, nest)

