"""What training's fit() and evaluate() read on the TensorFlow backend
(t2i_tf.training.distribute.Distribution.batches and .arrays): tf.data pipelines without autotuning,
whose thread rounded every fit() call up to 10.2, 20.5, 41 s, ... of wall time."""

import keras
import numpy as np
import pytest

from t2i_tf.training import distribute

pytestmark = pytest.mark.skipif(keras.backend.backend() != "tensorflow",
                                reason="TensorFlow's fit path")


def stream(lengths=(5, 5, 9, 5)):
    for i, length in enumerate(lengths):
        yield ({"images": np.full((2, 4, 4), i, np.float32),
                "ids": np.ones((2, length), np.int32), "mask": np.ones((2, length), bool)},)


def test_variable_length_batches_keep_an_open_caption_length():
    # Keras's own generator adapter would fix the length at 5 from the first two batches
    # and refuse the third; the tf.data pipeline leaves it open.
    dataset = distribute.Distribution("none").batches(stream, variable_length=True)
    spec = dataset.element_spec
    assert spec["ids"].shape.as_list() == [None, None]
    assert spec["images"].shape.as_list() == [None, 4, 4]
    assert dataset.options().autotune.enabled is False
    lengths = [batch["ids"].shape[1] for batch in dataset.as_numpy_iterator()]
    assert lengths == [5, 5, 9, 5]


def test_first_pass_reads_the_stream_and_later_passes_start_afresh():
    calls = []

    def make_stream():
        calls.append(1)
        return stream((3, 3, 3))

    dataset = distribute.Distribution("none").batches(make_stream)
    assert dataset.element_spec["ids"].shape.as_list() == [None, 3]
    assert len(calls) == 1  # the signature's batch is not read twice
    first = [b["images"][0, 0, 0] for b in dataset.as_numpy_iterator()]
    again = [b["images"][0, 0, 0] for b in dataset.as_numpy_iterator()]
    assert first == again == [0, 1, 2] and len(calls) == 2
    mask = next(dataset.as_numpy_iterator())["mask"]
    assert mask.dtype == np.uint8 and mask.all()  # booleans travel as uint8


def test_evaluate_arrays_are_batched_without_autotuning():
    x = {"images": np.arange(5 * 4, dtype=np.float32).reshape(5, 4),
         "mask": np.ones((5, 2), bool)}
    dataset = distribute.Distribution("none").arrays(x, batch_size=2)
    assert dataset.options().autotune.enabled is False
    batches = list(dataset.as_numpy_iterator())
    assert [len(b["images"]) for b in batches] == [2, 2, 1]
    np.testing.assert_array_equal(np.concatenate([b["images"] for b in batches]), x["images"])
