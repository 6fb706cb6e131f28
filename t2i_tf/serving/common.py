"""What every SavedModel of the package shares: the signature names, the variables a
tf.Module tracks, the checks on a call's caption ids, the bucket sizes, the drawing
signatures' PNGs, and the graph's tokenisation done in Python
(t2i_tf/serving/saved_model.py for the DRAW family, t2i_tf/serving/pixel_saved_model.py
for the pixel models)."""

import tensorflow as tf

from t2i_tf.data import caption_text
from t2i_tf.data.vocabulary import PAD_ID, UNK_ID

SERVING_DEFAULT = "serving_default"
FROM_IDS = "from_ids"
DRAWING = "drawing"  # what the web page animates (t2i_tf/serving/web_page.py)


def tracked_variables(model):
    """The model's tf.Variables, for a tf.Module to track.

    Tracking the Keras model alone saves a SavedModel that tf.saved_model.load reads but
    the TF1 loader (saved_model_cli run, TF Serving) cannot: its graph reads variables
    that no restore op creates. Tracking the tf.Variables under the Keras variables (as
    keras.export.ExportArchive does) fixes that.
    """
    return [v.value for v in model.weights]


def next_power_of_two(n):
    """The smallest power of two >= n, for int32 n >= 1 (a tensor)."""
    m = n - 1
    for shift in (1, 2, 4, 8, 16):
        m = tf.bitwise.bitwise_or(m, tf.bitwise.right_shift(m, shift))
    return m + 1


def film_strips(canvases):
    """uint8 canvases (T, rows, H, W) or (T, rows, H, W, C) -> string (rows,): for each
    row a PNG of its T canvases stacked top to bottom (T H x W, grey or colour), lossless
    and a few times smaller than the numbers as JSON."""
    canvases = tf.convert_to_tensor(canvases)
    if len(canvases.shape) == 4:
        canvases = canvases[..., None]
    shape = tf.shape(canvases)
    strips = tf.transpose(canvases, (1, 0, 2, 3, 4))  # (rows, T, H, W, C)
    strips = tf.reshape(strips, [shape[1], shape[0] * shape[2], shape[3], shape[4]])
    # zlib level 1: a quarter of the level-6 time for 20% more bytes (2-core CPU).
    return tf.map_fn(lambda strip: tf.io.encode_png(strip, compression=1), strips,
                     fn_output_signature=tf.string)


def id_checks(ids, mask, vocab_size):
    """The assertions on a call's ids and mask (n, L): the same shape, a word in every
    caption, every id in [0, vocab_size)."""
    lengths = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)  # (n,)
    return [
        tf.debugging.assert_equal(tf.shape(ids), tf.shape(mask),
                                  message="ids and mask differ in shape"),
        tf.debugging.assert_positive(lengths, message="a caption has no word"),
        # XLA's gather clamps an id out of range instead of failing: refuse it here.
        tf.debugging.assert_non_negative(ids, message="an id is negative"),
        tf.debugging.assert_less(ids, vocab_size, message="an id is outside the vocabulary"),
    ]


def encode_captions(vocabulary, captions, text=caption_text.WHITESPACE):
    """The in-graph tokenisation in Python (text.tokenize, as in training): ids int32
    (n, L), mask bool (n, L)."""
    id_lists = [[UNK_ID if i == PAD_ID else i
                 for i in vocabulary.encode(text.tokenize(c))] for c in captions]
    return vocabulary.pad_batch(id_lists)
