"""alignDRAW's language model: a bidirectional LSTM over the caption's words (Mansimov et al.
2016, §3.1; the same encoder is §4.1 of alignPixelRNN).

h_lang_k = [->h_lang_k, <-h_lang_k]: the forward LSTM reads y_1 .. y_k, the backward LSTM
reads y_N .. y_k, where N is the caption's own length. Captions in a batch are right-padded,
so the backward pass must start at each caption's last real word, not at the end of the
padded array. This module reverses every caption within its own length (padding stays at
the end), runs an ordinary forward LSTM over that with the mask, and un-reverses the
outputs the same way: the backward LSTM never sees a padding token before a real word.

The reversal is along TIME only. The authors' Theano code reversed the batch axis instead,
so each caption's "backward" states came from another caption; tests/test_caption_encoder.py
checks that permuting the batch permutes the outputs.

Everything here is keras.ops and Keras layers, so it runs on the TensorFlow and JAX backends.
"""

import keras
from keras import ops


def caption_lengths(mask):
    """Number of real words per caption, (batch,) int32, from a (batch, L) bool mask."""
    return ops.sum(ops.cast(mask, "int32"), axis=-1)


def reverse_index(lengths, max_len):
    """(batch, L) int32 gather index that reverses each row within its own length.

    index[b, k] = lengths[b] - 1 - k for k < lengths[b], else k (padding stays in place).
    The map is its own inverse, so the same index reverses and un-reverses.
    """
    positions = ops.arange(max_len, dtype="int32")[None, :]  # (1, L)
    lengths = ops.cast(lengths, "int32")[:, None]  # (batch, 1)
    return ops.where(positions < lengths, lengths - 1 - positions, positions)


def reverse_within_length(x, index):
    """x[b, index[b, k], ...] for x (batch, L, d): each caption reversed over its real words."""
    return ops.take_along_axis(x, index[:, :, None], axis=1)


def pooled(h_lang, mask):
    """Mean of h_lang over the real words: (batch, L, m), (batch, L) bool -> (batch, m).

    The fixed caption vector of noalignDRAW and the y_mean used for retrieval. A caption
    with no real word gives zeros.
    """
    weights = ops.cast(mask, h_lang.dtype)[:, :, None]  # (batch, L, 1)
    total = ops.sum(h_lang * weights, axis=1)  # (batch, m)
    count = ops.maximum(ops.sum(weights, axis=1), 1.0)  # (batch, 1)
    return total / count


class CaptionEncoder(keras.layers.Layer):
    """Bidirectional LSTM caption encoder, h_lang_k = [->h_lang_k, <-h_lang_k] (alignDRAW §3.1).

    ->h_k = LSTM_fwd(y_1 .. y_k) and <-h_k = LSTM_bwd(y_N .. y_k) with N the number of real
    words of that caption; both LSTMs have forget gates and start from zero states.

    Args:
      vocab_size: K, the number of word ids (id 0 may be the padding id; padding is taken
        from the mask, not from the ids).
      embed_dim: size of the word embedding fed to both LSTMs.
      units: hidden size of each direction (alignDRAW on MNIST: 128, so h_lang has 256).

    Call args:
      ids: (batch, L) int word ids, right-padded.
      mask: (batch, L) bool, True on real words. It must be a prefix mask (right padding):
        only its row sums (the caption lengths) are used. None means every word is real.

    Returns: h_lang (batch, L, 2 * units), forward half first; zeros at padded positions.
    """

    def __init__(self, vocab_size, embed_dim, units, **kwargs):
        super().__init__(**kwargs)
        self.vocab_size = vocab_size
        self.embed_dim = embed_dim
        self.units = units
        self.embedding = keras.layers.Embedding(vocab_size, embed_dim, name="embedding")
        self.forward_lstm = keras.layers.LSTM(units, return_sequences=True, name="forward")
        self.backward_lstm = keras.layers.LSTM(units, return_sequences=True, name="backward")

    def build(self, ids_shape):
        self.embedding.build(ids_shape)
        sequence_shape = (*tuple(ids_shape), self.embed_dim)
        self.forward_lstm.build(sequence_shape)
        self.backward_lstm.build(sequence_shape)

    @property
    def output_size(self):
        return 2 * self.units

    def call(self, ids, mask=None):
        max_len = ops.shape(ids)[1]
        if mask is None:
            lengths = ops.full((ops.shape(ids)[0],), max_len, dtype="int32")
        else:
            lengths = caption_lengths(mask)
        # The prefix mask rebuilt from the lengths: the same as `mask` for right padding.
        mask = ops.arange(max_len, dtype="int32")[None, :] < lengths[:, None]  # (batch, L)

        x = self.embedding(ids)  # (batch, L, embed_dim)
        h_fwd = self.forward_lstm(x, mask=mask)  # (batch, L, units)

        index = reverse_index(lengths, max_len)  # (batch, L)
        x_rev = reverse_within_length(x, index)  # y_N .. y_1, then the padding
        h_bwd = reverse_within_length(self.backward_lstm(x_rev, mask=mask), index)

        h_lang = ops.concatenate([h_fwd, h_bwd], axis=-1)  # (batch, L, 2 units)
        return h_lang * ops.cast(mask, h_lang.dtype)[:, :, None]

    def compute_output_shape(self, ids_shape):
        return (*tuple(ids_shape), 2 * self.units)

    def get_config(self):
        return {
            **super().get_config(),
            "vocab_size": self.vocab_size,
            "embed_dim": self.embed_dim,
            "units": self.units,
        }
