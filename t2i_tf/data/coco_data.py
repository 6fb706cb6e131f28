"""COCO for the training and evaluation binaries: (image, caption) pairs from
t2i_tf.data.coco, tokenised and encoded (t2i_tf.data.caption_text), in length-bucketed
batches (t2i_tf.data.buckets).

Two forms, by data set name: coco_32_rgb, float32 (32, 32, 3) in [0, 1] for alignDRAW (the
paper's COCO model draws colour images), and coco_32, uint8 (32, 32) grayscale 0..255 for
the pixel models, whose captions lose their colour words unless keep_colour_words.

Training examples are every (image, caption) pair of the train split, up to five per image;
the vocabulary is built from these captions. Evaluation (`load_examples` with per_image=1)
takes one caption per image, the first, so that no image is its own retrieval rival.
"""

from __future__ import annotations

import numpy as np

from t2i_tf.data import buckets, coco
from t2i_tf.data.caption_text import CaptionText, build_vocabulary

FORMS = {"coco_32_rgb": {"grayscale": False}, "coco_32": {"grayscale": True}}


def caption_text(name, keep_colour_words=False):
    """The CaptionText of a data set name: colour words go for grayscale unless kept."""
    return CaptionText("treebank", drop_colours=FORMS[name]["grayscale"] and not keep_colour_words)


def as_model_images(images, grayscale):
    """uint8 images -> what the model reads: uint8 as they are (pixel models), or float32 in
    [0, 1] (alignDRAW)."""
    return images if grayscale else images.astype(np.float32) / 255.0


def encode(vocabulary, token_lists, length=None):
    """(ids int32 (n, L), mask bool (n, L)), L = length or the longest list."""
    return vocabulary.pad_batch([vocabulary.encode(t) for t in token_lists], length)


def load_examples(name, split, vocabulary, text, data_dir=None, per_image=None,
                  max_images=None):
    """Encoded examples of a split: dict images (n, ...) in the model's form, ids, mask,
    captions, image_index; per_image=1 keeps each image's first caption, None all five.
    Captions left without a token (colour words only) are dropped."""
    grayscale = FORMS[name]["grayscale"]
    split = coco.load_split(data_dir, split, grayscale=grayscale, max_images=max_images)
    if per_image:
        split["captions"] = [caps[:per_image] for caps in split["captions"]]
    pairs = coco.flatten(split)
    tokens = [text.tokenize(c) for c in pairs["captions"]]
    keep = np.array([len(t) > 0 for t in tokens], bool)
    ids, mask = encode(vocabulary, [t for t, k in zip(tokens, keep) if k])
    return {"images": as_model_images(pairs["images"][keep], grayscale), "ids": ids,
            "mask": mask, "captions": [c for c, k in zip(pairs["captions"], keep) if k],
            "image_index": pairs["image_index"][keep]}


class CocoData:
    """COCO pairs for train.py: batches of dicts images/ids/mask, one bucket per batch.

    Args:
      name: "coco_32_rgb" or "coco_32" (see FORMS).
      data_dir: the COCO folder or a data folder holding coco/.
      min_word_count: the vocabulary's frequency cut-off on the training captions.
      keep_colour_words: keep colour words in coco_32's captions.
      valid_examples: validation pairs kept (the first ones of val).
    """

    captioned = True
    variable_length = True  # ids and mask change length from batch to batch

    def __init__(self, name, data_dir=None, min_word_count=5, keep_colour_words=False,
                 valid_examples=1000):
        self.grayscale = FORMS[name]["grayscale"]
        self.text = caption_text(name, keep_colour_words)
        train = coco.load_split(data_dir, "train", grayscale=self.grayscale)
        pairs = coco.flatten(train)
        tokens = [self.text.tokenize(c) for c in pairs["captions"]]
        self.vocabulary = build_vocabulary(tokens, min_word_count)
        self.images = train["images"]  # uint8, one per image; pairs index into it
        self.image_index = pairs["image_index"]
        self.ids = [np.asarray(self.vocabulary.encode(t), np.int32) for t in tokens]
        # every image gives at least one pair: valid_examples images are enough
        self.valid = load_examples(name, "valid", self.vocabulary, self.text, data_dir,
                                   max_images=valid_examples)
        self.valid = {k: v[:valid_examples] for k, v in self.valid.items()}
        self.image_shape = self.images.shape[1:]
        self.levels = 256 if self.grayscale else None
        self._schedules = {}

    def __len__(self):
        return len(self.ids)

    def schedule(self, batch_size):
        if batch_size not in self._schedules:
            self._schedules[batch_size] = buckets.BucketSchedule(
                [len(i) for i in self.ids], batch_size)
        return self._schedules[batch_size]

    def batch(self, indices, length):
        """dict images/ids/mask of the pairs `indices`, captions padded to `length`."""
        ids, mask = self.vocabulary.pad_batch([self.ids[i] for i in indices], length)
        images = as_model_images(self.images[self.image_index[indices]], self.grayscale)
        return {"images": images, "ids": ids, "mask": mask}

    def train_batches(self, batch_size, seed, start_step=0):
        for length, indices in self.schedule(batch_size).stream(seed, start_step):
            yield (self.batch(indices, length),)

    def validation(self, n):
        return {k: self.valid[k][:n] for k in ("images", "ids", "mask")}
