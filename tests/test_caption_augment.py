"""Training-only augmentations of MNIST with captions (docs/HELD_OUT.md): word dropout
(t2i_tf/data/caption_dropout.py) and the corner shift (captioned_mnist.sample_layout)."""

import numpy as np
import pytest

from t2i_tf.data import caption_dropout, datasets
from t2i_tf.data import captioned_mnist as cm
from t2i_tf.data.vocabulary import UNK_ID

QUADRANT_STARTS = {"top left": ((0, 2), (0, 2)), "top right": ((0, 2), (30, 32)),
                   "bottom left": ((30, 32), (0, 2)), "bottom right": ((30, 32), (30, 32))}


def test_drop_words_replaces_real_words_only_at_the_rate():
    rng = np.random.default_rng(0)
    ids = rng.integers(2, 24, (2000, 12))
    mask = np.arange(12)[None, :] < rng.integers(1, 13, 2000)[:, None]
    ids[~mask] = 0
    out = caption_dropout.drop_words(ids, mask, 0.25, np.random.default_rng(1))
    changed = out != ids
    assert not changed[~mask].any() and (out[~mask] == 0).all()  # padding untouched
    assert (out[changed] == UNK_ID).all()
    assert abs(changed[mask].mean() - 0.25) < 0.02
    again = caption_dropout.drop_words(ids, mask, 0.25, np.random.default_rng(1))
    np.testing.assert_array_equal(out, again)
    np.testing.assert_array_equal(
        caption_dropout.drop_words(ids, mask, 0.0, np.random.default_rng(1)), ids)
    for bad in (1.0, -0.1):
        with pytest.raises(ValueError, match="word dropout"):
            caption_dropout.drop_words(ids, mask, bad, np.random.default_rng(1))


def test_corner_shift_keeps_corner_boxes_in_their_quadrant_and_pairs_unchanged():
    labels = np.arange(20) % 10
    plain = cm.sample_layout(labels, 3000, np.random.default_rng(4), "exclude")
    shifted = cm.sample_layout(labels, 3000, np.random.default_rng(4), "exclude", corner_shift=2)
    assert shifted.captions == plain.captions
    np.testing.assert_array_equal(shifted.image_index, plain.image_index)
    corner = plain.relation >= len(cm.TWO_DIGIT_RELATIONS)
    np.testing.assert_array_equal(shifted.top_left[~corner], plain.top_left[~corner])
    for code, name in enumerate(cm.RELATIONS):
        if name not in QUADRANT_STARTS:
            continue
        (r0, r1), (c0, c1) = QUADRANT_STARTS[name]
        rows, cols = shifted.top_left[plain.relation == code, 0].T
        assert set(rows.tolist()) == set(range(r0, r1 + 1))  # every shift 0..2 occurs
        assert set(cols.tolist()) == set(range(c0, c1 + 1))
    # the box (start .. start + 27) stays inside the 30x30 quadrant
    starts = shifted.top_left[corner, 0]
    assert ((starts <= 2) | (starts >= 30)).all() and (starts + 27 <= 59).all()
    with pytest.raises(ValueError, match="corner_shift"):
        cm.sample_layout(labels, 10, np.random.default_rng(4), "exclude", corner_shift=3)


def test_captioned_data_augments_training_but_not_validation():
    plain = datasets.CaptionedMnistData(seed=1, examples_per_epoch=300)
    augmented = datasets.make_data("captioned_mnist", seed=1, augment={
        "word_dropout": 0.3, "corner_shift": 2})
    augmented.examples_per_epoch = 300
    a, b = plain.epoch(0), augmented.epoch(0)
    assert a["captions"] == b["captions"]
    dropped = a["ids"] != b["ids"]
    assert (b["ids"][dropped] == UNK_ID).all() and 0.2 < dropped[a["mask"]].mean() < 0.4
    corner = np.array([cm.parse_caption(c)[2] is None for c in a["captions"]])
    moved = np.abs(a["images"] - b["images"]).max(axis=(1, 2)) > 0
    assert not moved[~corner].any() and moved[corner].mean() > 0.5
    for key in ("images", "ids", "mask"):
        np.testing.assert_array_equal(plain.validation(50)[key], augmented.validation(50)[key])
