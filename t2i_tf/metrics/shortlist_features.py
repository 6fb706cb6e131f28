"""Feature spaces for retrieval shortlists on captioned MNIST.

A shortlist holds the true image and its nearest neighbours in some feature space
(retrieval.shortlists). How many of those neighbours show the true image's scene decides
how high any ranker that reads the caption can go (retrieval.content_oracle), so the
feature space is part of the measurement. Two are defined here:

- ``pixels``: the canvases themselves (what `evaluate --metrics=retrieval` uses).
- ``digit_cnn``: the last fully-connected layer of a small VGG-like CNN trained to say
  which digits a canvas holds (10 sigmoid outputs, the caption's digits as targets; the
  relation and the positions are not targets). It stands in for the papers' protocol,
  whose shortlists came from "the last fully-connected feature space of a VGG-like model"
  trained on a classification task (alignDRAW §4.1.3: CIFAR, for COCO); the papers do not
  say which network built the MNIST-with-captions shortlists.
"""

import keras
import numpy as np

from t2i_tf.data import captioned_mnist

FEATURE_SPACES = ("pixels", "digit_cnn")
FC_UNITS = 256


def digit_set_targets(captions):
    """float32 (n, 10): 1 for each digit a caption names, else 0."""
    targets = np.zeros((len(captions), 10), np.float32)
    for i, caption in enumerate(captions):
        first, _, second = captioned_mnist.parse_caption(caption)
        targets[i, first] = 1.0
        if second is not None:
            targets[i, second] = 1.0
    return targets


def digit_set_cnn(filters=(16, 32, 64), fc_units=FC_UNITS):
    """(classifier, features): the classifier maps (n, 60, 60) canvases to 10 digit
    probabilities; features maps them to its last fully-connected layer (n, fc_units).

    Three VGG blocks (two 3x3 convolutions with ReLU, then 2x2 max pooling), a ReLU layer
    of fc_units, and 10 sigmoid outputs.
    """
    size = captioned_mnist.CANVAS
    canvases = keras.Input((size, size))
    x = keras.layers.Reshape((size, size, 1))(canvases)
    for f in filters:
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        x = keras.layers.Conv2D(f, 3, padding="same", activation="relu")(x)
        x = keras.layers.MaxPooling2D()(x)
    fc = keras.layers.Dense(fc_units, activation="relu", name="fc")(keras.layers.Flatten()(x))
    digits = keras.layers.Dense(10, activation="sigmoid", name="digits")(fc)
    return keras.Model(canvases, digits), keras.Model(canvases, fc)


def train_digit_cnn(data_dir=None, epochs=3, examples_per_epoch=10000, batch_size=100,
                    seed=0, learning_rate=1e-3):
    """The digit_cnn feature model, trained on fresh captioned-MNIST training canvases each
    epoch (the generator of the caption models' training data, epochs 0, 1, ...).

    Returns:
      (classifier, features, info): the two models of digit_set_cnn, and {"epochs",
      "examples_per_epoch", "train_loss"} (each epoch's mean binary cross-entropy).
    """
    keras.utils.set_random_seed(seed)
    classifier, features = digit_set_cnn()
    classifier.compile(keras.optimizers.Adam(learning_rate), "binary_crossentropy")
    source = captioned_mnist.digit_source("train", data_dir)
    losses = []
    for epoch in range(epochs):
        images, captions = captioned_mnist.generate(
            *source, examples_per_epoch, captioned_mnist.split_rng("train", seed, epoch),
            "exclude")
        history = classifier.fit(images, digit_set_targets(captions), batch_size=batch_size,
                                 epochs=1, shuffle=True, verbose=0)
        losses.append(float(history.history["loss"][-1]))
    info = {"epochs": epochs, "examples_per_epoch": examples_per_epoch, "train_loss": losses}
    return classifier, features, info


def digit_set_accuracy(classifier, images, captions, batch_size=500):
    """Share (%) of canvases whose digit set read by the classifier (p > 0.5) is exactly
    the one their caption names."""
    p = classifier.predict(images, batch_size=batch_size, verbose=0)
    return 100.0 * float(np.mean(np.all((p > 0.5) == (digit_set_targets(captions) > 0.5),
                                        axis=1)))
