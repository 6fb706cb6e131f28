"""t2i_tf.metrics.composition: the step-by-step measures of a corner caption's drawing,
against hand-computed values."""

import numpy as np

from t2i_tf.data import captioned_mnist as cm
from t2i_tf.metrics import composition as comp


def test_corner_caption_token_positions():
    tokens = cm.tokenize(cm.caption_for(6, "top left"))
    assert tokens[comp.DIGIT_WORD] == "6"
    assert [tokens[k] for k in comp.CORNER_WORDS] == ["top", "left"]


def test_ink_added_counts_only_new_ink_in_the_box():
    canvases = np.full((3, 1, 60, 60), 0.5)
    canvases[1:, 0, 0:2, 0:2] = 0.9  # step 2 adds 4 x 0.4 in the top-left box
    canvases[1:, 0, 50, 50] = 1.0  # outside the top-left box
    canvases[2, 0, 0, 0] = 0.1  # step 3 removes ink: not counted
    ink = comp.ink_added(canvases, "top left")
    np.testing.assert_allclose(ink[:, 0], [0.0, 1.6, 0.0])
    np.testing.assert_allclose(comp.ink_added(canvases, "bottom right")[:, 0], [0, 0.5, 0])


def test_window_in_quadrant_uses_one_indexed_centres():
    # (g_X, g_Y): pixel 30 (1-indexed) is column 29, the last of the left half
    windows = np.array([[[30.0, 30.0, 1, 1, 1], [31.0, 30.0, 1, 1, 1], [45.0, 50.0, 1, 1, 1]]])
    np.testing.assert_array_equal(comp.window_in_quadrant(windows, "top left"), [[1, 0, 0]])
    np.testing.assert_array_equal(comp.window_in_quadrant(windows, "top right"), [[0, 1, 0]])
    np.testing.assert_array_equal(comp.window_in_quadrant(windows, "bottom right"), [[0, 0, 1]])


def test_ink_weighted_attention():
    alpha = np.array([[0.9, 0.0], [0.1, 0.0], [0.5, 0.0]])  # (T=3, n=2)
    ink = np.array([[0.0, 0.0], [3.0, 0.0], [1.0, 0.0]])
    out = comp.ink_weighted_attention(alpha, ink)
    np.testing.assert_allclose(out[0], (0.1 * 3 + 0.5 * 1) / 4)
    assert np.isnan(out[1])  # no ink at all


def test_corner_scenes_and_step_reads_with_a_fake_classifier():
    # A fake classifier: logits favour the digit equal to the crop's total ink (rounded, mod 10).
    def classify(crops):
        k = np.round(crops.reshape(len(crops), -1).sum(-1)).astype(int) % 10
        return np.eye(10)[k] * 5.0

    canvases = np.zeros((2, 60, 60))
    canvases[0, 32, 32:39] = 1.0  # 7 pixels in the bottom-right box
    canvases[1, 32, 32:35] = 1.0  # 3 inside ...
    canvases[1, 0, 0:9] = 1.0  # ... and 9 outside
    read, inside, right = comp.corner_scenes(canvases, "bottom right", 7, classify)
    np.testing.assert_array_equal(read, [7, 3])
    np.testing.assert_allclose(inside, [1.0, 3 / 12])
    np.testing.assert_array_equal(right, [True, False])
    reads = comp.step_reads(canvases[None], "bottom right", classify)  # (T=1, n=2, 10)
    assert reads.shape == (1, 2, 10) and reads[0, 0].argmax() == 7
    np.testing.assert_allclose(reads.sum(-1), 1.0)


def test_entropy_and_transplant_row():
    alpha = np.array([[0.25, 0.25, 0.25, 0.25], [1.0, 0.0, 0.0, 0.0], [0.5, 0.5, 0.0, 0.0]])
    np.testing.assert_allclose(comp.entropy(alpha), [np.log(4), 0.0, np.log(2)])
    h = np.zeros((2, 12, 3))
    out = comp.transplant_row(h, 2, np.array([1.0, 2.0, 3.0]))
    assert (out[:, 2] == [1, 2, 3]).all() and out.sum() == 12 and h.sum() == 0
