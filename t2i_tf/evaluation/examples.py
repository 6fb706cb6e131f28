"""The examples an evaluation scores, read as the model was trained on them: images in
[0, 1] for DRAW, captioned MNIST (60x60, or 32x32 integer pixel values for the pixel models),
or COCO with one example per image (its first caption).

Each loader returns (data for the metrics, its images, the training set or None,
vocabulary or None); the training set (retrieval's mean caption, `nearest`) is read only if
asked for, its images in [0, 1].
"""

from t2i_tf.data import captioned_mnist, catalog, datasets, pixel_data
from t2i_tf.errors import UsageError
from t2i_tf.sampling import samplers
from t2i_tf.training import checkpoint

FIELDS = ("images", "ids", "mask", "captions")
TRAIN_EXAMPLES = 10000  # captioned MNIST's training set behind the mean caption and `nearest`


def load(model, options, data_name, need_train):
    """The examples of options.split of `data_name` (t2i_tf.evaluation.requests.Options)."""
    spec = catalog.DATA[data_name]
    if options.split == "generalization" and (spec.coco or not spec.captioned):
        raise UsageError("the generalization split belongs to captioned_mnist")
    if spec.coco:
        return _coco(model, options, data_name, need_train)
    if spec.levels:
        return _pixel(model, options, data_name, need_train)
    if spec.captioned:
        return _captioned(options, need_train)
    return _images(options, data_name, need_train)


def _images(options, data_name, need_train):
    images = datasets.load_images(data_name, options.split, options.data_dir)
    images = images[:options.max_images or None]
    train = ({"images": datasets.load_images(data_name, "train", options.data_dir)}
             if need_train else None)
    return images, images, train, None


def _captioned(options, need_train):
    split = captioned_mnist.load_split(options.split, options.data_dir,
                                       options.max_images or None)
    data = {k: split[k] for k in FIELDS}
    train = (captioned_mnist.load_split("train", options.data_dir, TRAIN_EXAMPLES)
             if need_train else None)
    return data, data["images"], train, checkpoint.load_vocabulary(options.model)


def _pixel(model, options, data_name, need_train):
    """Images as the model's integer pixel values, downsampled as in training."""
    size, binary = model.image_shape[0], catalog.DATA[data_name].levels == 2
    split = pixel_data.load_captioned_mnist(options.split, options.data_dir,
                                            options.max_images or None, size=size,
                                            binary=binary)
    data = {k: split[k] for k in FIELDS}
    train = None
    if need_train:
        train = pixel_data.load_captioned_mnist("train", options.data_dir, TRAIN_EXAMPLES,
                                                size=size, binary=binary)
        train = {**train, "images": samplers.unit_images(train["images"], model.levels)}
    return data, data["images"], train, checkpoint.load_vocabulary(options.model)


def _coco(model, options, data_name, need_train):
    """One example per image (its first caption), so that no image competes with itself in
    retrieval; images as the model reads them."""
    from t2i_tf.data import coco_data  # nltk: only for COCO

    vocabulary = checkpoint.load_vocabulary(options.model)
    text = checkpoint.load_text(options.model)

    def examples(split, limit=None):
        out = coco_data.load_examples(data_name, split, vocabulary, text, options.data_dir,
                                      per_image=1, max_images=limit)
        return {k: out[k] for k in FIELDS}

    data = examples(options.split, options.max_images or None)
    train = examples("train") if need_train else None
    if train is not None and catalog.DATA[data_name].levels:
        train["images"] = samplers.unit_images(train["images"], model.levels)
    return data, data["images"], train, vocabulary
