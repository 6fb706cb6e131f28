"""What training.fit() reads: bucketed caption batches on the TensorFlow backend."""

import keras
import numpy as np
import pytest

from t2i_tf import training


def stream():
    for length in (5, 5, 9, 5):  # the first two batches share a length, the third does not
        yield ({"images": np.zeros((2, 4, 4), np.float32),
                "ids": np.ones((2, length), np.int32), "mask": np.ones((2, length), bool)},)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="TensorFlow's fit path")
def test_variable_length_batches_keep_an_open_caption_length():
    # Keras's own generator adapter would fix the length at 5 from the first two batches
    # and refuse the third; the tf.data pipeline leaves it open.
    dataset = training._fit_input(stream(), variable_length=True)
    spec = dataset.element_spec[0]
    assert spec["ids"].shape.as_list() == [None, None]
    assert spec["images"].shape.as_list() == [None, 4, 4]
    lengths = [batch["ids"].shape[1] for (batch,) in dataset.as_numpy_iterator()]
    assert lengths == [5, 5, 9, 5]


def test_fixed_length_data_is_passed_as_it_is():
    s = stream()
    assert training._fit_input(s, variable_length=False) is s
