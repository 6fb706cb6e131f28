"""t2i_tf.metrics.shortlist_features: the digit-set targets by hand, and the CNN whose last
fully-connected layer is the digit_cnn feature space."""

import numpy as np

from t2i_tf.data import captioned_mnist
from t2i_tf.metrics import shortlist_features


def test_digit_set_targets_by_hand():
    captions = [captioned_mnist.caption_for(3, "left", 8),
                captioned_mnist.caption_for(7, "top right"),
                captioned_mnist.caption_for(5, "bottom", 5)]
    expected = np.zeros((3, 10), np.float32)
    expected[0, [3, 8]] = 1
    expected[1, 7] = 1
    expected[2, 5] = 1  # a digit named twice is one digit of the set
    np.testing.assert_array_equal(shortlist_features.digit_set_targets(captions), expected)


def test_the_cnn_reads_canvases_into_digits_and_features():
    classifier, features = shortlist_features.digit_set_cnn(filters=(4, 4, 4), fc_units=8)
    canvases = np.random.default_rng(0).uniform(size=(5, 60, 60)).astype(np.float32)
    p = classifier.predict(canvases, verbose=0)
    f = features.predict(canvases, verbose=0)
    assert p.shape == (5, 10) and np.all((p > 0) & (p < 1))
    assert f.shape == (5, 8) and np.all(f >= 0)  # the ReLU layer before the outputs
    # the feature model is the classifier's own layer, not a copy
    assert features.get_layer("fc") is classifier.get_layer("fc")


def test_training_fits_the_digit_sets_of_its_canvases():
    classifier, _, info = shortlist_features.train_digit_cnn(epochs=2, examples_per_epoch=300,
                                                             batch_size=50)
    assert info["epochs"] == 2 and info["examples_per_epoch"] == 300
    first, second = info["train_loss"]
    # an untrained net says about 0.5 for every digit: a cross-entropy near log 2 = 0.69
    assert second < first < 0.75
    images, captions = captioned_mnist.generate(
        *captioned_mnist.digit_source("train"), 100, np.random.default_rng(5), "exclude")
    accuracy = shortlist_features.digit_set_accuracy(classifier, images, captions)
    assert 0.0 <= accuracy <= 100.0


class _FixedReader:
    """A classifier stand-in whose predict returns fixed digit probabilities."""

    def __init__(self, probabilities):
        self.probabilities = np.asarray(probabilities, np.float32)

    def predict(self, images, batch_size=None, verbose=0):
        return self.probabilities[:len(images)]


def test_digit_set_accuracy_counts_exact_sets_only():
    captions = [captioned_mnist.caption_for(3, "left", 8),
                captioned_mnist.caption_for(7, "top right"),
                captioned_mnist.caption_for(1, "top", 2),
                captioned_mnist.caption_for(0, "bottom left")]
    p = np.full((4, 10), 0.1)
    p[0, [3, 8]] = 0.9            # right
    p[1, 7] = 0.6                 # right
    p[2, 1] = 0.9                 # one digit of two: wrong
    p[3, [0, 5]] = 0.9            # an extra digit: wrong
    images = np.zeros((4, 60, 60), np.float32)
    assert shortlist_features.digit_set_accuracy(_FixedReader(p), images, captions) == 50.0
