"""How a caption model draws a corner caption of MNIST with captions, step by step: where the
write window goes, what the corner holds after each step, and which word is attended while
the glyph's ink is laid down (docs/HELD_OUT.md, tools/held_out_analysis.py).

A corner caption is "the digit D is at the C of the image ." (captioned_mnist.caption_for):
12 tokens, the digit word at position 2 and the corner's two words at positions 6 and 7.
Its digit's 28x28 box is exactly that corner of the 60x60 canvas (the placement rule), and the
caption metric (t2i_tf/metrics/caption_accuracy.py) reads that box.

Arrays follow the samplers: canvases (T, n, 60, 60) = sigmoid(c_t) after step t (the canvas
before step 1 is sigmoid(0) = 0.5 everywhere), windows (T, n, 5) = (g_X, g_Y, delta,
sigma^2, gamma) with 1-indexed centres, alpha (T, n, L). Everything here is numpy.
"""

import numpy as np

from t2i_tf.data import captioned_mnist as cm

DIGIT_WORD = 2  # token position of D
CORNER_WORDS = (6, 7)  # token positions of C's two words
HALF = cm.CANVAS // 2  # 30: the quadrants are rows / columns 0-29 and 30-59


def corner_origin(corner):
    """(row, col) of the top-left pixel of a corner's 28x28 box."""
    far = cm.GAP_START
    return {"top left": (0, 0), "top right": (0, far), "bottom left": (far, 0),
            "bottom right": (far, far)}[corner]


def corner_crops(canvases, corner):
    """The corner's 28x28 box of every canvas: (..., 60, 60) -> (..., 28, 28)."""
    r, c = corner_origin(corner)
    return np.asarray(canvases)[..., r:r + cm.DIGIT, c:c + cm.DIGIT]


def ink_added(canvases, corner):
    """Ink each step adds inside the corner's box: (T, n, 60, 60) -> (T, n), the sum over the
    box of max(sigmoid(c_t) - sigmoid(c_{t-1}), 0), with sigmoid(c_0) = 0.5."""
    box = corner_crops(canvases, corner).astype(np.float64)
    before = np.concatenate([np.full_like(box[:1], 0.5), box[:-1]])
    return np.maximum(box - before, 0.0).sum(axis=(-2, -1))


def window_in_quadrant(windows, corner):
    """(T, n, 5) -> (T, n) bool: the write window's centre lies in the corner's 30x30
    quadrant (centres are 1-indexed, see t2i_tf/layers/filterbank.py)."""
    windows = np.asarray(windows)
    col, row = windows[..., 0] - 1.0, windows[..., 1] - 1.0
    top, left = corner.split()[0] == "top", corner.split()[1] == "left"
    in_rows = row < HALF - 0.5 if top else row >= HALF - 0.5
    in_cols = col < HALF - 0.5 if left else col >= HALF - 0.5
    return in_rows & in_cols


def ink_weighted_attention(alpha_word, ink):
    """The attention a word gets while ink is laid down: sum_t alpha_t ink_t / sum_t ink_t.

    Args:
      alpha_word: (T, n) the word's weight at each step; ink: (T, n) from ink_added.

    Returns:
      (n,) in [0, 1]; NaN for a sample that adds no ink.
    """
    alpha_word, ink = np.asarray(alpha_word, np.float64), np.asarray(ink, np.float64)
    total = ink.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(total > 0, (alpha_word * ink).sum(axis=0) / total, np.nan)


def softmax(logits):
    logits = np.asarray(logits, np.float64)
    e = np.exp(logits - logits.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def step_reads(canvases, corner, classify):
    """What the corner holds after each step: the classifier's probabilities on the corner's
    box, (T, n, 60, 60) -> (T, n, 10); classify maps (k, 28, 28) to logits (k, 10)."""
    crops = corner_crops(canvases, corner)
    steps, n = crops.shape[:2]
    return softmax(classify(crops.reshape(steps * n, cm.DIGIT, cm.DIGIT))).reshape(steps, n, 10)


def corner_scenes(final_canvases, corner, digit, classify):
    """Per canvas (n, 60, 60) of the caption (digit, corner): the digit read in the corner's
    box (n,), the share of ink inside the box (n,), and scene_right (n,) bool as the caption
    metric scores it (read right and at least PLACE_THRESHOLD of the ink in place)."""
    from t2i_tf.metrics.caption_accuracy import PLACE_THRESHOLD

    final_canvases = np.asarray(final_canvases, np.float64)
    crops = corner_crops(final_canvases, corner)
    read = np.argmax(classify(crops.astype(np.float32)), axis=-1)
    total = np.maximum(final_canvases.sum(axis=(-2, -1)), 1e-6)
    inside = np.minimum(crops.sum(axis=(-2, -1)) / total, 1.0)
    return read, inside, (read == digit) & (inside >= PLACE_THRESHOLD)


def entropy(alpha):
    """Entropy in nats of word weights over the last axis, (..., L) -> (...); log L for
    uniform weights over L words, 0 for all weight on one word."""
    alpha = np.asarray(alpha, np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        return -np.sum(np.where(alpha > 0, alpha * np.log(alpha), 0.0), axis=-1)


def transplant_row(h_lang, position, donor):
    """h_lang (n, L, m) with row `position` of every caption replaced by donor (n, m) or (m,)."""
    out = np.array(h_lang, copy=True)
    out[:, position] = donor
    return out
