"""Tests of t2i_tf.data.vocabulary and t2i_tf.data.captioned_mnist.

Most tests use fake source digits whose pixels encode their index (cheap, and exact about which
image went where); one test reads the real MNIST files.
"""

import dataclasses
import functools
import json
import re

import numpy as np
import pytest

from t2i_tf.data import captioned_mnist as cm
from t2i_tf.data.vocabulary import PAD_ID, UNK_ID, Vocabulary

# The grammar, written independently of the module.
TWO_DIGITS = re.compile(
    r"^the digit ([0-9]) is (on the (left|right)|at the (top|bottom)) of the digit ([0-9]) \.$"
)
ONE_DIGIT = re.compile(r"^the digit ([0-9]) is at the ((top|bottom) (left|right)) of the image \.$")
QUADRANT = {  # (rows, cols) slices of the 30x30 quadrant a corner digit must stay in
    "top left": (slice(0, 30), slice(0, 30)), "top right": (slice(0, 30), slice(30, 60)),
    "bottom left": (slice(30, 60), slice(0, 30)), "bottom right": (slice(30, 60), slice(30, 60)),
}


def grammar(caption):
    """(first, relation, second or None) by the regular expressions above; asserts a match."""
    m = TWO_DIGITS.match(caption)
    if m:
        return int(m.group(1)), m.group(3) or m.group(4), int(m.group(5))
    m = ONE_DIGIT.match(caption)
    assert m, f"caption outside the grammar: {caption!r}"
    return int(m.group(1)), m.group(2), None


HELD_OUT_CAPTIONS = {cm.caption_for(*t) for t in cm.HELD_OUT}
ALL_CAPTIONS = {
    cm.caption_for(a, r, b) for a in range(10) for r in cm.TWO_DIGIT_RELATIONS for b in range(10)
}
ALL_CAPTIONS |= {cm.caption_for(a, r) for a in range(10) for r in cm.CORNERS}


# ---------------------------------------------------------------- vocabulary


def test_vocabulary_is_the_paper_22_words_plus_pad_unk():
    v = cm.VOCABULARY
    assert len(v) == 24 and v.tokens[:2] == ["<pad>", "<unk>"]
    assert v.words == [str(d) for d in range(10)] + (
        "the digit is on at left right bottom top of image .".split()
    )
    used = {t for c in ALL_CAPTIONS for t in cm.tokenize(c)}
    assert used == set(v.words)  # every word is used, and nothing else is


def test_encode_decode_unknown():
    v = Vocabulary(["a", "b", "c"])
    assert v.encode(["a", "c", "b"]) == [2, 4, 3]
    assert v.decode(v.encode(["c", "a"])) == ["c", "a"]
    assert v.encode(["a", "zebra"]) == [2, UNK_ID]
    assert v.decode([2, UNK_ID, 3]) == ["a", "<unk>", "b"]
    assert v.decode([2, 3, PAD_ID, 4]) == ["a", "b"]  # stops at the first pad
    assert v.decode(np.array([4, 0, 0], np.int32)) == ["c"]
    assert "a" in v and "zebra" not in v
    with pytest.raises(ValueError, match="outside"):
        v.decode([7])
    with pytest.raises(ValueError, match="repeated"):
        Vocabulary(["a", "a"])
    with pytest.raises(ValueError, match="repeated"):
        Vocabulary(["<pad>", "a"])


def test_caption_round_trip_through_vocabulary():
    for caption in ALL_CAPTIONS:
        ids = cm.VOCABULARY.encode(cm.tokenize(caption))
        assert UNK_ID not in ids
        assert " ".join(cm.VOCABULARY.decode(ids)) == caption


def test_pad_batch():
    v = Vocabulary(["a", "b", "c"])
    ids, mask = v.pad_batch([[2, 3, 4], [4], []])
    assert ids.dtype == np.int32 and mask.dtype == bool
    np.testing.assert_array_equal(ids, [[2, 3, 4], [4, 0, 0], [0, 0, 0]])
    np.testing.assert_array_equal(mask, [[1, 1, 1], [1, 0, 0], [0, 0, 0]])
    ids, mask = v.pad_batch([[2], [3, 4]], length=5)
    assert ids.shape == mask.shape == (2, 5)
    np.testing.assert_array_equal(mask.sum(1), [1, 2])
    np.testing.assert_array_equal(ids[1], [3, 4, 0, 0, 0])
    with pytest.raises(ValueError, match="longer"):
        v.pad_batch([[2, 3, 4]], length=2)
    ids, mask = v.pad_batch([])
    assert ids.shape == mask.shape == (0, 0)


def test_json_round_trip():
    text = cm.VOCABULARY.to_json()
    assert json.loads(text) == cm.VOCABULARY.tokens
    assert Vocabulary.from_json(text) == cm.VOCABULARY
    assert Vocabulary.from_json(json.loads(text)) == cm.VOCABULARY
    with pytest.raises(ValueError, match="starts with"):
        Vocabulary.from_json('["a", "b"]')


# ---------------------------------------------------------------- captions and held-out set


def test_caption_grammar_and_lengths():
    assert len(ALL_CAPTIONS) == 440
    for caption in ALL_CAPTIONS:
        parsed = grammar(caption)
        assert cm.parse_caption(caption) == parsed
        assert cm.caption_for(*parsed) == caption
        assert len(cm.tokenize(caption)) == 12  # corners too: "top left" fills two slots
    assert cm.CAPTION_LENGTH == 12
    assert cm.caption_for(3, "left", 8) == "the digit 3 is on the left of the digit 8 ."
    assert cm.caption_for(3, "bottom", 8) == "the digit 3 is at the bottom of the digit 8 ."
    assert cm.caption_for(7, "top left") == "the digit 7 is at the top left of the image ."
    for bad in [
        "the digit 3 is on the top of the digit 8 .",
        "the digit 3 is at the left of the image .",
        "a digit 3 is on the left of the digit 8 .",
        "the digit 3 is on the left of the digit 8",
    ]:
        with pytest.raises(ValueError, match="not a captioned-MNIST caption"):
            cm.parse_caption(bad)


def test_held_out_list():
    assert len(set(cm.HELD_OUT)) == len(cm.HELD_OUT) == 12
    pairs = [t for t in cm.HELD_OUT if t[2] is not None]
    for a, r, b in pairs:  # a held-out scene is held out in both wordings
        assert (b, cm.CONVERSE[r], a) in cm.HELD_OUT
    assert {r for _, r, _ in pairs} == set(cm.TWO_DIGIT_RELATIONS)
    assert sorted(r for _, r, b in cm.HELD_OUT if b is None) == sorted(cm.CORNERS)
    assert (3, "top", 1) in cm.HELD_OUT and (8, "top right", None) in cm.HELD_OUT  # the paper's


def test_exclude_covers_everything_else_and_mixes_half_half():
    labels = np.arange(100) % 10
    layout = cm.sample_layout(labels, 20000, np.random.default_rng(1), "exclude")
    captions = set(layout.captions)
    assert not captions & HELD_OUT_CAPTIONS
    assert captions == ALL_CAPTIONS - HELD_OUT_CAPTIONS  # every other combination occurs
    one_digit = np.mean(layout.digits[:, 1] < 0)
    assert 0.48 < one_digit < 0.52
    counts = np.bincount(layout.relation, minlength=8) / len(layout.relation)
    assert np.all(np.abs(counts - 1 / 8) < 0.01)


def test_only_mode_draws_only_held_out():
    layout = cm.sample_layout(np.arange(30) % 10, 2000, np.random.default_rng(2), "only")
    assert set(layout.captions) == HELD_OUT_CAPTIONS
    assert 0.45 < np.mean(layout.digits[:, 1] < 0) < 0.55


def test_bad_arguments():
    with pytest.raises(ValueError, match="held_out_mode"):
        cm.sample_layout(np.arange(10), 3, np.random.default_rng(0), "include")
    with pytest.raises(ValueError, match="no source image"):
        cm.sample_layout(np.arange(10) % 7, 500, np.random.default_rng(0), "exclude")
    with pytest.raises(ValueError, match="split"):
        cm.load_split("validation")


# ---------------------------------------------------------------- geometry


def index_images(n):
    """Float 'digits' filling their whole 28x28 box with (i + 1) / (n + 1): ink = the box."""
    values = ((np.arange(n) + 1) / (n + 1)).astype(np.float32)
    return np.broadcast_to(values[:, None, None], (n, 28, 28))


def rendered_index(canvas, mask, n):
    """The source index of the ink under ``mask`` (all of it must be the same image)."""
    values = np.unique(np.rint(canvas[mask] * (n + 1)).astype(int) - 1)
    assert len(values) == 1, values
    return int(values[0])


def test_placement_matches_caption():
    n = 60
    images, labels = index_images(n), np.arange(n) % 10
    layout = cm.sample_layout(labels, 400, np.random.default_rng(3), "exclude")
    canvases = cm.render(images, layout)
    assert canvases.shape == (400, 60, 60) and canvases.dtype == np.float32
    first = dataclasses.replace(layout, image_index=layout.image_index * [1, 0] - [0, 1])
    first_only = cm.render(images, first)
    second_only = canvases - first_only
    for k, caption in enumerate(layout.captions):
        a, relation, b = grammar(caption)
        ink_a, ink_b = first_only[k] > 0, second_only[k] > 0
        assert ink_a.sum() == 28 * 28  # the whole box is inside the canvas
        assert not (ink_a & ink_b).any()  # never overlap
        np.testing.assert_array_equal(canvases[k] > 0, ink_a | ink_b)
        i = rendered_index(canvases[k], ink_a, n)  # the image pasted is the one named first ...
        assert i == layout.image_index[k, 0] and labels[i] == a
        rows_a, cols_a = np.nonzero(ink_a)
        if b is None:
            assert not ink_b.any()
            rows, cols = QUADRANT[relation]
            assert ink_a[rows, cols].sum() == ink_a.sum()  # all ink in the named quadrant
            continue
        j = rendered_index(canvases[k], ink_b, n)  # ... and the second
        assert j == layout.image_index[k, 1] and labels[j] == b
        rows_b, cols_b = np.nonzero(ink_b)
        if relation in ("left", "right"):
            left, right = (cols_a, cols_b) if relation == "left" else (cols_b, cols_a)
            assert left.max() < 30 <= right.min()
            assert (rows_a.min(), rows_a.max()) == (rows_b.min(), rows_b.max())  # same row band
        else:
            top, bottom = (rows_a, rows_b) if relation == "top" else (rows_b, rows_a)
            assert top.max() < 30 <= bottom.min()
            assert (cols_a.min(), cols_a.max()) == (cols_b.min(), cols_b.max())


def test_boxes_inside_canvas_and_offsets_cover_range():
    layout = cm.sample_layout(np.arange(20) % 10, 3000, np.random.default_rng(4), "exclude")
    present = layout.image_index >= 0
    corners = layout.top_left[present]
    assert corners.min() == 0 and corners.max() == 32
    pairs = layout.digits[:, 1] >= 0
    shared = layout.top_left[pairs].reshape(-1, 4)
    # the offset shared by a pair takes every value 0..32
    is_lr = layout.relation[pairs] < 2
    offsets = np.where(is_lr, shared[:, 0], shared[:, 1])
    assert set(offsets.tolist()) == set(range(33))
    # corners sit exactly in the corners
    ones = ~pairs
    expected = {4: (0, 0), 5: (0, 32), 6: (32, 0), 7: (32, 32)}
    for code, corner in expected.items():
        sel = ones & (layout.relation == code)
        assert sel.any() and (layout.top_left[sel, 0] == corner).all()
    assert (layout.top_left[ones, 1] == -1).all()


def test_generate_is_layout_then_render_and_scales_uint8():
    images = np.random.default_rng(0).integers(0, 256, (50, 28, 28), dtype=np.uint8)
    labels = np.arange(50) % 10
    canvases, captions = cm.generate(images, labels, 20, np.random.default_rng(5), "exclude")
    layout = cm.sample_layout(labels, 20, np.random.default_rng(5), "exclude")
    assert captions == layout.captions
    np.testing.assert_array_equal(canvases, cm.render(images.astype(np.float32) / 255, layout))
    assert canvases.max() <= 1.0 and canvases.min() >= 0.0


# ---------------------------------------------------------------- splits (fake MNIST files)


@functools.lru_cache(maxsize=None)
def fake_mnist(split):
    """uint8 MNIST stand-ins whose pixels encode a global index (train 0.., t10k 60000..)."""
    n, base = {"train": (60000, 0), "test": (10000, 60000)}[split]
    index = np.arange(n) + base
    images = np.empty((n, 28, 28), np.uint8)
    for band, power in enumerate((10000, 100, 1)):  # rows 0-9, 10-19, 20-27: base-100 digits
        images[:, band * 10:(band + 1) * 10] = (1 + (index // power) % 100)[:, None, None]
    return images, (index * 7 % 10).astype(np.uint8)


def decode_global_index(patch):
    """Inverse of fake_mnist's encoding, from a 28x28 canvas patch."""
    d = np.rint(patch * 255).astype(int)
    return (d[0, 0] - 1) * 10000 + (d[10, 0] - 1) * 100 + (d[20, 0] - 1)


def pasted_indices(canvas):
    """Global indices of the boxes on a canvas (a box's top-left pixel has no ink above or left)."""
    ink = canvas > 0
    up = np.pad(ink, ((1, 0), (0, 0)))[:-1]
    left = np.pad(ink, ((0, 0), (1, 0)))[:, :-1]
    corners = np.argwhere(ink & ~up & ~left)
    return [decode_global_index(canvas[r:r + 28, c:c + 28]) for r, c in corners]


@pytest.fixture
def fake_files(monkeypatch):
    monkeypatch.setattr(cm, "load_mnist", lambda data_dir, split: fake_mnist(split))


@pytest.mark.parametrize(
    "split, low, high",
    [
        ("train", 0, 50000),
        ("valid", 50000, 60000),
        ("test", 60000, 70000),
        ("generalization", 60000, 70000),
    ],
)
def test_splits_draw_from_the_right_mnist_slice(fake_files, split, low, high):
    data = cm.load_split(split, num_examples=300)
    _, labels = fake_mnist("train" if high <= 60000 else "test")
    seen = []
    for canvas, caption in zip(data["images"], data["captions"]):
        indices = pasted_indices(canvas)
        a, _, b = grammar(caption)
        assert len(indices) == (1 if b is None else 2)
        assert sorted(labels[i - (60000 if low >= 60000 else 0)] for i in indices) == sorted(
            [a] if b is None else [a, b]
        )
        seen += indices
    assert low <= min(seen) and max(seen) < high
    in_held_out = [c in HELD_OUT_CAPTIONS for c in data["captions"]]
    assert all(in_held_out) if split == "generalization" else not any(in_held_out)


def test_load_split_arrays(fake_files):
    data = cm.load_split("valid", num_examples=40)
    assert set(data) == {"images", "captions", "ids", "mask"}
    assert data["images"].shape == (40, 60, 60) and data["images"].dtype == np.float32
    assert data["ids"].shape == data["mask"].shape == (40, 12)
    assert data["ids"].dtype == np.int32 and data["mask"].dtype == bool
    for ids, mask, caption in zip(data["ids"], data["mask"], data["captions"]):
        assert " ".join(cm.VOCABULARY.decode(ids)) == caption
        assert mask.all()  # every caption has 12 tokens
    assert len(cm.load_split("valid")["captions"]) == cm.DEFAULT_NUM_EXAMPLES["valid"] == 1000
    assert cm.DEFAULT_NUM_EXAMPLES["test"] == 10000  # one caption per MNIST test digit slot
    assert cm.DEFAULT_NUM_EXAMPLES["train"] == 10000


def test_determinism(fake_files):
    def same(x, y):
        return x["captions"] == y["captions"] and np.array_equal(x["images"], y["images"])

    train = cm.load_split("train", num_examples=50, seed=0, epoch=3)
    assert same(train, cm.load_split("train", num_examples=50, seed=0, epoch=3))
    assert not same(train, cm.load_split("train", num_examples=50, seed=0, epoch=4))
    assert not same(train, cm.load_split("train", num_examples=50, seed=1, epoch=3))
    for split in ("valid", "test", "generalization"):
        fixed = cm.load_split(split, num_examples=50, seed=0, epoch=0)
        assert same(fixed, cm.load_split(split, num_examples=50, seed=0, epoch=7))
        assert not same(fixed, cm.load_split(split, num_examples=50, seed=1, epoch=0))


# ---------------------------------------------------------------- real MNIST


@pytest.mark.parametrize("split", ["valid", "generalization"])
def test_real_mnist_split(split):
    data = cm.load_split(split, num_examples=64)
    x = data["images"]
    assert x.shape == (64, 60, 60) and x.dtype == np.float32
    assert 0.0 <= x.min() and x.max() <= 1.0
    for canvas, caption in zip(x, data["captions"]):
        a, relation, b = grammar(caption)
        assert canvas.sum() > 20  # some ink
        if b is None:
            rows, cols = QUADRANT[relation]
            assert np.count_nonzero(canvas[rows, cols]) == np.count_nonzero(canvas)
        elif relation in ("left", "right"):
            assert not canvas[:, 28:32].any()  # the gap between the two boxes stays blank
        else:
            assert not canvas[28:32, :].any()


# ---------------------------------------------------------------- the training stream


def test_fifty_training_epochs_never_show_a_held_out_combination(fake_files):
    """What the trainer actually reads: 50 fresh epochs of 10,000 examples through
    CaptionedMnistData, checked on the token ids the model sees, not only the strings."""
    from t2i_tf.data.datasets import CaptionedMnistData

    data = CaptionedMnistData(seed=0)
    held_out_ids = {tuple(cm.VOCABULARY.encode(cm.tokenize(c))) for c in HELD_OUT_CAPTIONS}
    seen = set()
    for epoch in range(50):
        ids = data.epoch(epoch)["ids"]
        assert ids.shape == (10000, cm.CAPTION_LENGTH)
        rows = set(map(tuple, ids.tolist()))
        assert not rows & held_out_ids, f"epoch {epoch} holds a held-out combination"
        seen |= rows
    assert len(seen) == len(ALL_CAPTIONS) - len(HELD_OUT_CAPTIONS)  # all the others do occur
    first = next(data.train_batches(100, seed=0))[0]
    assert np.array_equal(first["ids"], data.epoch(0)["ids"][:100])


def test_scene_is_one_form_for_converse_captions():
    assert cm.scene("the digit 3 is on the right of the digit 5 .") == (5, "left", 3)
    assert cm.scene("the digit 5 is on the left of the digit 3 .") == (5, "left", 3)
    assert cm.scene("the digit 0 is at the bottom of the digit 9 .") == (9, "top", 0)
    assert cm.scene("the digit 8 is at the top right of the image .") == (8, "top right", None)
