"""Training data by name: image sets as float32 arrays in [0, 1] with a seeded batch
stream (DRAW), captioned MNIST with a fresh set every epoch (alignDRAW), and the same at
32x32 in integer pixel values (the pixel models, t2i_tf/data/pixel_data.py)."""

import numpy as np

from t2i_tf.data import catalog, mnist, pixel_data

# name -> {split name used by the binaries: split name of the reader}
SPLITS = {
    "binarized_mnist": {"train": "train", "valid": "valid", "test": "test"},
    # MNIST has no validation file; the last 10,000 training images serve, as usual.
    "mnist": {"train": "train", "valid": "train", "test": "test"},
}


def load_images(name, split, data_dir=None):
    """(N, 28, 28) float32 in [0, 1] for a data set name and split (train, valid, test)."""
    if name not in SPLITS:
        raise ValueError(f"unknown data set {name!r}; known: {sorted(SPLITS)}")
    if split not in SPLITS[name]:
        raise ValueError(f"unknown split {split!r} of {name}; known: {sorted(SPLITS[name])}")
    if name == "binarized_mnist":
        return mnist.load_binarized_mnist(data_dir, SPLITS[name][split])
    images, _ = mnist.load_mnist(data_dir, SPLITS[name][split])
    if split != "test":
        images = images[:50000] if split == "train" else images[50000:]
    return images.astype(np.float32) / 255.0


def batch_stream(images, batch_size, seed, start_step=0):
    """Yields 1-tuples (batch,) forever (the form Keras fit takes); batch k depends only on (seed, k), so a resumed run sees
    exactly the batches that the uninterrupted run would have seen.

    Each epoch is a fresh permutation drawn from numpy's Generator seeded with [seed, epoch];
    the last len(images) % batch_size images of a permutation are skipped that epoch.
    """
    per_epoch = len(images) // batch_size
    if per_epoch == 0:
        raise ValueError(f"batch size {batch_size} exceeds the {len(images)} images")
    step, epoch, order = start_step, None, None
    while True:
        e, i = divmod(step, per_epoch)
        if e != epoch:
            epoch, order = e, np.random.default_rng([seed, e]).permutation(len(images))
        yield (images[order[i * batch_size:(i + 1) * batch_size]],)
        step += 1


class ImageData:
    """Unconditional images for DRAW: train batches, a validation set, no captions."""

    captioned = False

    def __init__(self, name, data_dir=None):
        self.train = load_images(name, "train", data_dir)
        self.valid = load_images(name, "valid", data_dir)
        self.image_shape = self.train.shape[1:]

    def train_batches(self, batch_size, seed, start_step=0):
        return batch_stream(self.train, batch_size, seed, start_step)

    def validation(self, n):
        return self.valid[:n]


class CaptionedMnistData:
    """MNIST with captions for alignDRAW: a fresh, seeded set of `examples_per_epoch`
    training examples every epoch (as in the paper), batches of dicts images/ids/mask.

    Training-only augmentations (validation is never changed), both off by default:
    word_dropout, the probability that a training caption's word becomes <unk>
    (t2i_tf/data/caption_dropout.py); corner_shift, how far a corner digit's box may move
    inside its quadrant (0..2 pixels, captioned_mnist.sample_layout).
    """

    captioned = True

    def __init__(self, data_dir=None, seed=0, examples_per_epoch=10000, valid_examples=1000,
                 word_dropout=0.0, corner_shift=0):
        from t2i_tf.data import captioned_mnist

        self._cm = captioned_mnist
        self.word_dropout = word_dropout
        self.corner_shift = corner_shift
        self.seed = seed
        self.examples_per_epoch = examples_per_epoch
        self.digits = captioned_mnist.digit_source("train", data_dir)
        self.valid = captioned_mnist.load_split("valid", data_dir, valid_examples, seed)
        self.image_shape = self.valid["images"].shape[1:]
        self.vocabulary = captioned_mnist.VOCABULARY

    def epoch(self, epoch):
        """The training set of one epoch, as load_split returns it."""
        cm = self._cm
        images, captions = cm.generate(*self.digits, self.examples_per_epoch,
                                       cm.split_rng("train", self.seed, epoch), "exclude",
                                       self.corner_shift)
        ids, mask = self.vocabulary.pad_batch(
            [self.vocabulary.encode(cm.tokenize(c)) for c in captions], length=cm.CAPTION_LENGTH)
        if self.word_dropout:
            from t2i_tf.data import caption_dropout

            rng = np.random.default_rng([self.seed, 0, epoch, 1])  # apart from the scenes'
            ids = caption_dropout.drop_words(ids, mask, self.word_dropout, rng)
        return {"images": images, "captions": captions, "ids": ids, "mask": mask}

    def train_batches(self, batch_size, seed, start_step=0):
        del seed  # the data seed is fixed at construction
        per_epoch = self.examples_per_epoch // batch_size
        step, current, data = start_step, None, None
        while True:
            e, i = divmod(step, per_epoch)
            if e != current:
                current, data = e, self.epoch(e)
            part = slice(i * batch_size, (i + 1) * batch_size)
            yield ({k: data[k][part] for k in ("images", "ids", "mask")},)
            step += 1

    def validation(self, n):
        return {k: self.valid[k][:n] for k in ("images", "ids", "mask")}


def make_data(name, data_dir=None, seed=0, augment=None, **coco_options):
    """The training data of a data set name (t2i_tf/data/catalog.py); augment (word_dropout,
    corner_shift) goes to captioned MNIST's, coco_options (min_word_count,
    keep_colour_words, valid_examples) to COCO's."""
    spec = catalog.DATA[name]
    if spec.coco:
        from t2i_tf.data import coco_data

        return coco_data.CocoData(name, data_dir, **coco_options)
    if spec.levels:  # the pixel models' captioned MNIST
        return CaptionedMnistPixelData(data_dir, seed, binary=spec.levels == 2)
    if spec.captioned:
        return CaptionedMnistData(data_dir, seed, **(augment or {}))
    return ImageData(name, data_dir)


class CaptionedMnistPixelData(CaptionedMnistData):
    """CaptionedMnistData (a fresh seeded training set every epoch, batches of dicts
    images/ids/mask) with uint8 size x size images, for the pixel models
    (t2i_tf/data/pixel_data.py)."""

    def __init__(self, data_dir=None, seed=0, examples_per_epoch=10000, valid_examples=1000,
                 size=pixel_data.SIZE, binary=False):
        super().__init__(data_dir, seed, examples_per_epoch, valid_examples)
        self.size = size
        self.binary = binary
        self.levels = pixel_data.levels(binary)
        self.valid = {**self.valid,
                      "images": pixel_data.to_pixels(self.valid["images"], size, binary)}
        self.image_shape = (size, size)

    def epoch(self, epoch):
        data = super().epoch(epoch)
        return {**data, "images": pixel_data.to_pixels(data["images"], self.size, self.binary)}
