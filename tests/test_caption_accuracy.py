"""The caption-accuracy metric: crops by hand-made layouts, and the shipped classifier
reading the real data set (which must score as right, or the metric is broken)."""

import numpy as np
import pytest

from t2i_tf.data import captioned_mnist as cm
from t2i_tf.metrics import caption_accuracy as ca


def square(value=1.0):
    d = np.zeros((28, 28), np.float32)
    d[4:24, 8:20] = value
    return d


def test_read_canvas_corner_takes_the_corner_box():
    canvas = np.zeros((60, 60), np.float32)
    canvas[32:, :28] = square()
    (digit, crop), = ca.read_canvas(canvas, "the digit 5 is at the bottom left of the image .")[0]
    assert digit == 5 and np.array_equal(crop, square())
    _, inside = ca.read_canvas(canvas, "the digit 5 is at the top right of the image .")
    assert inside == 0.0


@pytest.mark.parametrize("relation", ["left", "right", "top", "bottom"])
def test_read_canvas_pairs_find_each_digit_and_order(relation):
    canvas = np.zeros((60, 60), np.float32)
    a, b = square(1.0), square(0.5)  # the first-named digit is the brighter one
    near, far = (a, b) if relation in ("left", "top") else (b, a)
    if relation in ("left", "right"):
        canvas[10:38, :28], canvas[10:38, 32:] = near, far
    else:
        canvas[:28, 21:49], canvas[32:, 21:49] = near, far
    named, balance = ca.read_canvas(canvas, cm.caption_for(3, relation, 8))
    assert [d for d, _ in named] == [3, 8]
    assert np.array_equal(named[0][1], a) and np.array_equal(named[1][1], b)
    assert balance == pytest.approx(1.0)


def test_scores_by_a_fake_classifier():
    canvas = np.zeros((60, 60), np.float32)
    canvas[:28, :28] = square()
    captions = ["the digit 7 is at the top left of the image .",   # right digit, right place
                "the digit 7 is at the bottom right of the image .",  # right digit, wrong place
                "the digit 2 is at the top left of the image ."]   # wrong digit
    seven = lambda x: np.tile(np.eye(10)[7], (len(x), 1))
    out = ca.caption_accuracy(np.stack([canvas] * 3), captions, seven)
    assert out["digit_accuracy"] == pytest.approx(2 / 3)
    assert out["scene_right"] == pytest.approx(1 / 3)
    assert out["ink_in_place"] == pytest.approx(2 / 3)
    assert out["scene_right_by_relation"] == {"top left": [0.5, 2], "bottom right": [0.0, 1]}


def test_other_sizes_are_resized_to_the_canvas():
    canvas = np.zeros((60, 60), np.float32)
    canvas[32:, :28] = square()
    np.testing.assert_array_equal(ca.to_canvas_size(canvas[None])[0], canvas)
    import cv2

    small = cv2.resize(canvas, (32, 32), interpolation=cv2.INTER_AREA)
    big = ca.to_canvas_size(small[None])
    assert big.shape == (1, 60, 60) and big.dtype == np.float32
    # The ink stays in the bottom-left box: the placement rule still reads it there.
    _, inside = ca.read_canvas(big[0], "the digit 5 is at the bottom left of the image .")
    assert inside > 0.9


def test_real_data_reads_right_with_the_shipped_classifier():
    data = cm.load_split("test", num_examples=300)
    out = ca.caption_accuracy(data["images"], data["captions"], ca.load_classifier())
    assert out["ink_in_place"] == pytest.approx(1.0)
    assert out["digit_accuracy"] > 0.95 and out["scene_right"] > 0.9
