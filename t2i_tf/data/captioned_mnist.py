"""MNIST with captions, the synthetic data set of alignDRAW (Mansimov et al. 2016, Appendix A).

One or two 28x28 MNIST digits on a blank 60x60 canvas (float32 in [0, 1]), with a caption that
names each digit (as a numeral) and its position:

    the digit 3 is on the left of the digit 8 .      the digit 7 is at the top left of the image .
    the digit 3 is on the right of the digit 8 .     ... top right / bottom left / bottom right
    the digit 3 is at the top of the digit 8 .
    the digit 3 is at the bottom of the digit 8 .

Tokens are ``caption.lower().split()``. The vocabulary is the paper's K = 22 words
(``0``-``9 the digit is on at left right bottom top of image .``) plus ``<pad>`` and ``<unk>``:
24 ids. Every caption has exactly 12 tokens (a corner's two position words, "top left", take
the place of the second "digit N"), so ``CAPTION_LENGTH`` = 12; ``load_split`` pads to it all
the same, so that the shapes stay fixed if the grammar ever grows.

Mix. Half of the examples (on average) hold one digit, half two. The relation is uniform among
the four corners or the four two-digit relations, and the digits are uniform over 0-9 (the
image of a digit is then uniform among the source images of that label). Held-out combinations
are rejected and their digits redrawn, keeping the relation.

Placement (``DIGIT`` = 28, ``CANVAS`` = 60, so a digit box may start at 0..32):

- corner: the digit box sits exactly in the corner (top left: rows 0-27, cols 0-27; bottom
  right: rows 32-59, cols 32-59), so all ink is inside the named 30x30 quadrant;
- left/right: the two boxes share one row band, a vertical offset drawn uniformly in 0..32
  (shared, so that the pair never also reads as one above the other); the left box is at
  cols 0-27, the right box at cols 32-59;
- top/bottom: the same with rows and columns swapped (shared horizontal offset in 0..32, top
  box rows 0-27, bottom box rows 32-59).

The two boxes are therefore 4 pixels apart and never overlap, and every box lies inside the
canvas. ``sample_layout`` returns where each digit goes, so this can be checked.

Corner shift (training only, off by default): ``corner_shift`` = k moves a corner's box away
from the canvas's corner by 0..k pixels down and 0..k across (drawn uniformly, apart for rows
and columns). With k <= ``MAX_CORNER_SHIFT`` = 2 the box stays inside its 30x30 quadrant, so
the caption stays true; the splits that are scored are never shifted.

Held-out combinations (``HELD_OUT``). The authors drew the hidden configurations at random on
every run; here they are fixed, so that runs compare. Each triple is (first digit, relation,
second digit or None):

- two digits: 3 top 1 (the paper's slide example), 0 top 9, 2 left 7, 4 left 8, each with its
  converse (1 bottom 3, ...): "A left of B" and "B right of A" describe the same picture, so
  both are held out and the scene itself is new, not only its wording. All four relation
  words and eight different digits take part;
- one digit: 8 top right (the paper's slide example), 6 top left, 5 bottom left, 1 bottom
  right: one per corner; 5 and 6 are in no held-out pair, so every digit 0-9 takes part in
  some held-out combination, and no digit is held out in more than one corner.

Every held-out digit still appears in training in every other relation and position, so the
generalization split tests new combinations of known words, as in the paper's Figure 6. The
held out share is 8 of the 400 two-digit captions and 4 of the 40 corner captions.

Splits: the digits of ``train`` come from MNIST train images [0:50000], of ``valid`` from
MNIST train [50000:60000], and of ``test`` and ``generalization`` from MNIST t10k. ``train``,
``valid`` and ``test`` never hold a held-out combination; ``generalization`` holds only them
(half one-digit, half two-digit, each kind's triples uniform).

Sizes and seeds: ``train`` is 10,000 fresh examples per epoch (as in the paper), drawn with
``numpy.random.default_rng([seed, 0, epoch])``; ``test`` is 10,000 fixed examples (the size
the papers evaluate on), ``valid`` and ``generalization`` 1,000 each, all drawn with
``default_rng([seed, split_code])`` whatever the epoch.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from t2i_tf.data.mnist import load_mnist
from t2i_tf.data.vocabulary import Vocabulary

CANVAS = 60
DIGIT = 28
GAP_START = CANVAS - DIGIT  # 32: the far box starts here; boxes start in 0..32
MAX_CORNER_SHIFT = CANVAS // 2 - DIGIT  # 2: a corner box moved this far stays in its quadrant
CAPTION_LENGTH = 12

WORDS = ("0 1 2 3 4 5 6 7 8 9 the digit is on at left right bottom top of image .").split()
VOCABULARY = Vocabulary(WORDS)

TWO_DIGIT_RELATIONS = ("left", "right", "top", "bottom")
CORNERS = ("top left", "top right", "bottom left", "bottom right")
RELATIONS = TWO_DIGIT_RELATIONS + CORNERS  # relation code = index here
CONVERSE = {"left": "right", "right": "left", "top": "bottom", "bottom": "top"}
_PREPOSITION = {"left": "on", "right": "on", "top": "at", "bottom": "at"}

HELD_OUT = (
    (3, "top", 1), (1, "bottom", 3),
    (0, "top", 9), (9, "bottom", 0),
    (2, "left", 7), (7, "right", 2),
    (4, "left", 8), (8, "right", 4),
    (8, "top right", None),
    (6, "top left", None),
    (5, "bottom left", None),
    (1, "bottom right", None),
)

SPLITS = ("train", "valid", "test", "generalization")
SPLIT_CODE = {name: i for i, name in enumerate(SPLITS)}
DEFAULT_NUM_EXAMPLES = {"train": 10000, "valid": 1000, "test": 10000, "generalization": 1000}
HELD_OUT_MODES = ("exclude", "only")

# (row, col) of the box's top-left pixel for each corner
_CORNER_TOP_LEFT = {
    "top left": (0, 0), "top right": (0, GAP_START),
    "bottom left": (GAP_START, 0), "bottom right": (GAP_START, GAP_START),
}


def caption_for(first: int, relation: str, second: int | None = None) -> str:
    """The caption of a combination, e.g. ``caption_for(3, "left", 8)``."""
    if relation in CORNERS:
        if second is not None:
            raise ValueError(f"corner relation {relation!r} takes one digit, got a second")
        return f"the digit {first} is at the {relation} of the image ."
    if relation not in TWO_DIGIT_RELATIONS:
        raise ValueError(f"unknown relation {relation!r}; known: {RELATIONS}")
    if second is None:
        raise ValueError(f"relation {relation!r} takes two digits")
    return f"the digit {first} is {_PREPOSITION[relation]} the {relation} of the digit {second} ."


def parse_caption(caption: str) -> tuple[int, str, int | None]:
    """Inverse of ``caption_for``: ``(first, relation, second or None)``.

    Raises:
      ValueError: the caption is not one of this grammar's sentences.
    """
    t = tokenize(caption)
    bad = ValueError(f"not a captioned-MNIST caption: {caption!r}")
    if len(t) != CAPTION_LENGTH or t[:2] != ["the", "digit"] or t[2] not in WORDS[:10]:
        raise bad
    first = int(t[2])
    if t[3] != "is" or t[5] != "the":
        raise bad
    if t[8:] == ["of", "the", "image", "."] and t[4] == "at":
        relation = " ".join(t[6:8])
        if relation in CORNERS:
            return first, relation, None
    elif t[7:10] == ["of", "the", "digit"] and t[11] == ".":
        relation = t[6]
        numeral = t[10] in WORDS[:10]
        if relation in TWO_DIGIT_RELATIONS and t[4] == _PREPOSITION[relation] and numeral:
            return first, relation, int(t[10])
    raise bad


def scene(caption: str) -> tuple[int, str, int | None]:
    """What a caption says about its image, one form per scene: ``parse_caption`` with
    "right" and "bottom" turned to their converses ("3 right of 5" is "5 left of 3")."""
    first, relation, second = parse_caption(caption)
    if relation in ("right", "bottom"):
        return second, CONVERSE[relation], first
    return first, relation, second


def scene_keys(captions) -> np.ndarray:
    """int64 (n,): one integer per distinct ``scene`` of the captions, in order of first use."""
    seen = {}
    return np.array([seen.setdefault(scene(c), len(seen)) for c in captions], np.int64)


def tokenize(caption: str) -> list[str]:
    """The tokens of a captioned-MNIST caption: ``caption.lower().split()``."""
    return caption.lower().split()


def _code(relation, first, second):
    """An integer per combination (arrays welcome): relation code, first, second (0 if none)."""
    return (np.asarray(relation) * 10 + first) * 10 + np.maximum(second, 0)


_HELD_OUT_CODES = np.array(
    [_code(RELATIONS.index(r), a, -1 if b is None else b) for a, r, b in HELD_OUT]
)


@dataclasses.dataclass(frozen=True)
class Layout:
    """What ``render`` pastes where, one row per example.

    Attributes:
      captions: n captions.
      relation: (n,) int64 index into ``RELATIONS``.
      digits: (n, 2) int64 labels, the first digit of the caption then the second (-1 if none).
      image_index: (n, 2) int64 index into the source images, same order (-1 if none).
      top_left: (n, 2, 2) int64 (row, col) of each digit's 28x28 box (-1 if none).
    """

    captions: list
    relation: np.ndarray
    digits: np.ndarray
    image_index: np.ndarray
    top_left: np.ndarray


def _draw_combinations(n, rng, held_out_mode):
    """(relation, first, second) code arrays for n examples; second is -1 for corners."""
    two = rng.random(n) < 0.5
    if held_out_mode == "exclude":
        relation = rng.integers(0, 4, n) + 4 * ~two
        first = rng.integers(0, 10, n)
        second = np.where(two, rng.integers(0, 10, n), -1)
        bad = np.isin(_code(relation, first, second), _HELD_OUT_CODES)
        while bad.any():  # about 2% (two digits) or 10% (corners) of draws; redraw the digits
            k = int(bad.sum())
            first[bad] = rng.integers(0, 10, k)
            second[bad] = np.where(two[bad], rng.integers(0, 10, k), -1)
            bad = np.isin(_code(relation, first, second), _HELD_OUT_CODES)
        return relation, first, second
    if held_out_mode != "only":
        raise ValueError(f"held_out_mode {held_out_mode!r}; expected one of {HELD_OUT_MODES}")
    table = np.array(
        [(RELATIONS.index(r), a, -1 if b is None else b) for a, r, b in HELD_OUT], dtype=np.int64
    )
    pairs, corners = table[table[:, 2] >= 0], table[table[:, 2] < 0]
    rows_two = pairs[rng.integers(0, len(pairs), n)]
    rows_one = corners[rng.integers(0, len(corners), n)]
    chosen = np.where(two[:, None], rows_two, rows_one)  # (n, 3)
    return chosen[:, 0], chosen[:, 1], chosen[:, 2]


def _draw_images(labels, digits, rng):
    """Index of a random source image of each label in ``digits`` (-1 stays -1)."""
    labels = np.asarray(labels).astype(np.int64)
    order = np.argsort(labels, kind="stable")
    counts = np.bincount(labels, minlength=10)[:10]
    starts = np.concatenate([[0], np.cumsum(counts)[:-1]])
    needed = np.unique(digits[digits >= 0])
    missing = [int(d) for d in needed if counts[d] == 0]
    if missing:
        raise ValueError(f"no source image of digit(s) {missing}")
    wanted = np.maximum(digits, 0)
    offset = rng.integers(0, np.maximum(counts[wanted], 1))
    return np.where(digits >= 0, order[starts[wanted] + offset], -1)


def _place(relation, rng, corner_shift=0):
    """(n, 2, 2) top-left corners of the boxes, following the placement rule of the docstring
    (corner boxes moved inwards by 0..corner_shift pixels on each axis)."""
    n = len(relation)
    shift = rng.integers(0, GAP_START + 1, n)  # the offset shared by the two boxes of a pair
    top_left = np.full((n, 2, 2), -1, dtype=np.int64)
    near, far = np.zeros(n, np.int64), np.full(n, GAP_START, np.int64)
    for code, name in enumerate(RELATIONS):
        rows = relation == code
        if name in _CORNER_TOP_LEFT:
            top_left[rows, 0] = _CORNER_TOP_LEFT[name]
            continue
        # the first digit is near (left / top) for "left" / "top", far otherwise
        a, b = (near, far) if name in ("left", "top") else (far, near)
        if name in ("left", "right"):  # columns differ, rows shared
            top_left[rows, 0] = np.stack([shift, a], 1)[rows]
            top_left[rows, 1] = np.stack([shift, b], 1)[rows]
        else:  # rows differ, columns shared
            top_left[rows, 0] = np.stack([a, shift], 1)[rows]
            top_left[rows, 1] = np.stack([b, shift], 1)[rows]
    if corner_shift:  # drawn last, so that corner_shift=0 leaves the random stream as it was
        if not 0 <= corner_shift <= MAX_CORNER_SHIFT:
            raise ValueError(f"corner_shift {corner_shift}: a corner box stays in its quadrant "
                             f"for 0..{MAX_CORNER_SHIFT} pixels")
        moves = rng.integers(0, corner_shift + 1, (n, 2))
        corner = relation >= len(TWO_DIGIT_RELATIONS)
        start = top_left[:, 0]  # (n, 2): 0 or GAP_START on each axis for a corner
        inward = np.where(start == 0, moves, -moves)
        top_left[corner, 0] = (start + inward)[corner]
    return top_left


def sample_layout(
    labels, num_examples: int, rng: np.random.Generator, held_out_mode: str,
    corner_shift: int = 0,
) -> Layout:
    """Draws captions, source images and positions, without touching any pixel.

    Args:
      labels: (N,) digit labels of the source images.
      num_examples: n.
      rng: numpy Generator; the result depends only on its state, ``labels`` and n.
      held_out_mode: ``"exclude"`` (never a ``HELD_OUT`` combination) or ``"only"``.
      corner_shift: moves corner boxes inwards by up to this many pixels (0..2; see the
        module docstring).
    """
    relation, first, second = _draw_combinations(num_examples, rng, held_out_mode)
    digits = np.stack([first, second], 1).astype(np.int64)
    image_index = _draw_images(labels, digits, rng)
    top_left = _place(relation, rng, corner_shift)
    captions = [
        caption_for(int(a), RELATIONS[r], None if b < 0 else int(b))
        for r, a, b in zip(relation, first, second)
    ]
    return Layout(captions, relation.astype(np.int64), digits, image_index, top_left)


def render(images, layout: Layout) -> np.ndarray:
    """Pastes the digits of ``layout`` on blank canvases.

    Args:
      images: (N, 28, 28) source images, uint8 in 0..255 (as ``load_mnist`` returns, divided
        by 255 here) or float in [0, 1] (used as they are).
      layout: from ``sample_layout`` over the labels of these images.

    Returns:
      float32 (n, 60, 60) canvases.
    """
    images = np.asarray(images)
    scale = 1.0 / 255.0 if images.dtype == np.uint8 else 1.0
    canvases = np.zeros((len(layout.captions), CANVAS, CANVAS), dtype=np.float32)
    for canvas, indices, corners in zip(canvases, layout.image_index, layout.top_left):
        for i, (r, c) in zip(indices, corners):
            if i >= 0:
                canvas[r:r + DIGIT, c:c + DIGIT] = images[i] * scale
    return canvases


def generate(
    images, labels, num_examples: int, rng: np.random.Generator, held_out_mode: str,
    corner_shift: int = 0,
) -> tuple[np.ndarray, list[str]]:
    """Makes ``num_examples`` captioned canvases from source digits.

    Args:
      images: (N, 28, 28) source digits, uint8 0..255 or float in [0, 1].
      labels: (N,) their labels 0..9.
      num_examples: n.
      rng: numpy Generator (see ``split_rng``).
      held_out_mode: ``"exclude"`` or ``"only"`` (see ``HELD_OUT``).
      corner_shift: see ``sample_layout``.

    Returns:
      ``(canvases, captions)``: float32 (n, 60, 60) in [0, 1] and n caption strings.
    """
    layout = sample_layout(labels, num_examples, rng, held_out_mode, corner_shift)
    return render(images, layout), layout.captions


def _check_split(split):
    if split not in SPLITS:
        raise ValueError(f"unknown captioned-MNIST split {split!r}; expected one of {SPLITS}")


def split_rng(split: str, seed: int = 0, epoch: int = 0) -> np.random.Generator:
    """The Generator of a split: ``[seed, 0, epoch]`` for train, ``[seed, code]`` otherwise."""
    _check_split(split)
    if split == "train":
        return np.random.default_rng([seed, SPLIT_CODE[split], epoch])
    return np.random.default_rng([seed, SPLIT_CODE[split]])


def digit_source(split: str, data_dir: str | os.PathLike | None = None):
    """The MNIST ``(images, labels)`` a split draws its digits from (uint8, see the docstring)."""
    _check_split(split)
    images, labels = load_mnist(data_dir, "train" if split in ("train", "valid") else "test")
    if split == "train":
        return images[:50000], labels[:50000]
    if split == "valid":
        return images[50000:], labels[50000:]
    return images, labels


def load_split(
    split: str,
    data_dir: str | os.PathLike | None = None,
    num_examples: int | None = None,
    seed: int = 0,
    epoch: int = 0,
) -> dict:
    """One split of captioned MNIST.

    Args:
      split: ``"train"``, ``"valid"``, ``"test"`` or ``"generalization"``.
      data_dir: data folder holding ``mnist/``; ``None`` means the default one.
      num_examples: n; ``None`` means ``DEFAULT_NUM_EXAMPLES[split]``.
      seed: the data seed.
      epoch: picks the train set of that epoch; other splits ignore it.

    Returns:
      dict with ``images`` float32 (n, 60, 60) in [0, 1], ``captions`` (n strings), ``ids``
      int32 (n, 12) and ``mask`` bool (n, 12) (``VOCABULARY.pad_batch`` to ``CAPTION_LENGTH``).

    A training loop that wants a new set every epoch without re-reading MNIST can keep
    ``digit_source(split)`` and call ``generate(..., split_rng(split, seed, epoch), ...)``.
    """
    _check_split(split)
    n = DEFAULT_NUM_EXAMPLES[split] if num_examples is None else int(num_examples)
    images, labels = digit_source(split, data_dir)
    mode = "only" if split == "generalization" else "exclude"
    canvases, captions = generate(images, labels, n, split_rng(split, seed, epoch), mode)
    ids, mask = VOCABULARY.pad_batch(
        [VOCABULARY.encode(tokenize(c)) for c in captions], length=CAPTION_LENGTH
    )
    return {"images": canvases, "captions": captions, "ids": ids, "mask": mask}
