"""Distributed training: the engine a run trains under and how it splits the global batch.

  none           one device; the path of a run without --strategy
  mirrored       tf.distribute.MirroredStrategy over the local devices (TensorFlow backend)
  multi_worker   tf.distribute.MultiWorkerMirroredStrategy, the cluster read from TF_CONFIG
                 (TensorFlow backend; every worker runs the same command)
  data_parallel  keras.distribution.DataParallel over the local devices (JAX backend)

The global batch (--batch_size) is split evenly across the replicas. Under tf.distribute each
replica computes the mean loss of its own share, and Keras sums the replicas' gradients, so
a custom compute_loss divides its mean by the number of replicas. Under DataParallel the
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
    """

    def __init__(self, name, num_replicas=1, is_chief=True, jit_compile=True, scope=None):
        self.name = name
        self.num_replicas = num_replicas
        self.is_chief = is_chief
        self.jit_compile = jit_compile
        self._scope = scope

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
            return make_stream()
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
        a batched tf.data.Dataset without autotuning, as batches(); elsewhere x itself."""
        if keras.backend.backend() != "tensorflow":
            return x
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

    def scope(self):
        """The context to build, compile and train the model in."""
        return self._scope() if self._scope is not None else contextlib.nullcontext()

    def check_batch_size(self, batch_size):
        if batch_size % self.num_replicas:
            raise StrategyError(f"--batch_size={batch_size} does not split evenly across the "
                                f"{self.num_replicas} replicas of --strategy={self.name}")


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
    import jax

    devices = keras.distribution.list_devices()
    distribution = keras.distribution.DataParallel(devices=devices)
    return Distribution("data_parallel", len(devices), jax.process_index() == 0,
                        scope=distribution.scope)


def _tf_strategy(name):
    import tensorflow as tf

    if name == "mirrored":
        strategy = tf.distribute.MirroredStrategy()
        return Distribution(name, strategy.num_replicas_in_sync, True, False, strategy.scope)
    task = _task_from_tf_config()
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    _average_scalar_metrics_across_workers()
    return Distribution(name, strategy.num_replicas_in_sync, _is_chief(task), False,
                        strategy.scope)


def _average_scalar_metrics_across_workers():
    """Works around keras-team/keras#20585 (Keras 3.15): across workers, fit() and evaluate()
    average each replica's metric values along axis 0, which fails on scalars. Here scalars
    are averaged across the replicas instead. Patches Keras's TensorFlow trainer, once,
    and only in a multi-worker process."""
    from keras.src.backend.tensorflow import trainer

    original = trainer.reduce_per_replica
    if getattr(original, "t2i_workaround", False):
        return

    def reduce_per_replica(values, strategy, reduction):
        if reduction != "auto" or not trainer._collective_all_reduce_multi_worker(strategy):
            return original(values, strategy, reduction)
        return keras.tree.map_structure(
            lambda v: strategy.reduce("MEAN", v, axis=None)
            if trainer._is_per_replica_instance(v) else v, values)

    reduce_per_replica.t2i_workaround = True
    trainer.reduce_per_replica = reduce_per_replica


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

