"""Tests of t2i_tf.layers.caption_encoder against a NumPy LSTM written from the equations.

The backward direction is the point: for a right-padded caption of N real words it must
read y_N .. y_k (starting at the last real word, never at the padding), along time only.
"""

import numpy as np
import pytest
from keras import ops

from t2i_tf.layers import caption_encoder
from t2i_tf.layers.caption_encoder import CaptionEncoder

VOCAB, EMBED, UNITS = 11, 5, 4
ATOL = 1e-5


def to_np(t):
    return np.asarray(ops.convert_to_numpy(t), dtype=np.float64)


def sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def numpy_lstm(xs, kernel, recurrent_kernel, bias):
    """h_1..h_n of an LSTM with forget gates from zero states, gates ordered i, f, c, o:

    i = s(x W_i + h U_i + b_i), f = s(x W_f + h U_f + b_f), o = s(x W_o + h U_o + b_o),
    c = f c + i tanh(x W_c + h U_c + b_c), h = o tanh(c).
    """
    units = recurrent_kernel.shape[0]
    h, c, out = np.zeros(units), np.zeros(units), []
    for x in xs:
        z = x @ kernel + h @ recurrent_kernel + bias
        i, f, g, o = (z[j * units:(j + 1) * units] for j in range(4))
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)
        out.append(h)
    return np.stack(out)


def lstm_weights(lstm):
    return [np.asarray(w, dtype=np.float64) for w in lstm.get_weights()]


def reference(encoder, ids, lengths):
    """[forward h_k, backward h_k] per real word, from the equations; zeros on padding."""
    table = lstm_weights(encoder.embedding)[0]
    fwd, bwd = lstm_weights(encoder.forward_lstm), lstm_weights(encoder.backward_lstm)
    out = np.zeros(ids.shape + (2 * UNITS,))
    for b, n in enumerate(lengths):
        x = table[ids[b, :n]]  # (n, embed): the real words only
        out[b, :n, :UNITS] = numpy_lstm(x, *fwd)  # reads y_1 .. y_k
        out[b, :n, UNITS:] = numpy_lstm(x[::-1], *bwd)[::-1]  # reads y_n .. y_k
    return out


def prefix_mask(lengths, max_len):
    return np.arange(max_len)[None, :] < np.asarray(lengths)[:, None]


@pytest.fixture(scope="module")
def encoder():
    enc = CaptionEncoder(VOCAB, EMBED, UNITS)
    enc(np.ones((1, 3), "int32"), np.ones((1, 3), bool))  # builds
    # Unit-scale embeddings (the default is +-0.05) so the states are far from 0.
    table = np.random.default_rng(2).normal(size=(VOCAB, EMBED)).astype("float32")
    enc.embedding.embeddings.assign(table)
    return enc


@pytest.fixture(scope="module")
def batch():
    rng = np.random.default_rng(0)
    lengths = [6, 4, 1, 3]
    ids = rng.integers(1, VOCAB, (4, 6)).astype("int32")
    ids[~prefix_mask(lengths, 6)] = 0
    return ids, lengths


def test_shape_and_zero_padding(encoder, batch):
    ids, lengths = batch
    mask = prefix_mask(lengths, ids.shape[1])
    h = to_np(encoder(ids, mask))
    assert h.shape == (4, 6, 2 * UNITS) == ids.shape + (encoder.output_size,)
    assert (h[~mask] == 0).all()
    assert (np.abs(h[mask]).sum(-1) > 0).all()


def test_both_directions_match_numpy_lstm(encoder, batch):
    # The key test: the backward half at word k is an LSTM over y_N .. y_k of that caption.
    ids, lengths = batch
    h = to_np(encoder(ids, prefix_mask(lengths, ids.shape[1])))
    np.testing.assert_allclose(h, reference(encoder, ids, lengths), atol=ATOL)


def test_backward_at_last_word_sees_only_that_word(encoder):
    ids = np.array([[3, 5, 7, 9, 0, 0], [8, 2, 4, 9, 0, 0]], "int32")  # same last word
    h = to_np(encoder(ids, prefix_mask([4, 4], 6)))
    np.testing.assert_allclose(h[0, 3, UNITS:], h[1, 3, UNITS:], atol=1e-7)
    assert np.abs(h[0, 3, :UNITS] - h[1, 3, :UNITS]).max() > 1e-2  # forward saw them
    # And it is one LSTM step on that word alone.
    table = lstm_weights(encoder.embedding)[0]
    one_step = numpy_lstm(table[[9]], *lstm_weights(encoder.backward_lstm))[0]
    np.testing.assert_allclose(h[0, 3, UNITS:], one_step, atol=ATOL)


def test_padding_does_not_change_real_positions(encoder):
    caption = np.array([[4, 1, 6, 2]], "int32")
    h0 = to_np(encoder(caption, np.ones((1, 4), bool)))
    # Three padding tokens, with non-zero ids: padding is read from the mask, not the ids.
    padded = np.array([[4, 1, 6, 2, 7, 7, 3]], "int32")
    h3 = to_np(encoder(padded, prefix_mask([4], 7)))
    np.testing.assert_allclose(h3[:, :4], h0, atol=1e-6)
    assert (h3[:, 4:] == 0).all()


def test_no_mask_means_every_word_is_real(encoder, batch):
    ids, _ = batch
    np.testing.assert_allclose(to_np(encoder(ids)), to_np(encoder(ids, np.ones(ids.shape, bool))),
                               atol=1e-7)


def test_permuting_the_batch_permutes_the_outputs(encoder, batch):
    # A reversal along the batch axis (the authors' bug) would mix captions here.
    ids, lengths = batch
    mask = prefix_mask(lengths, ids.shape[1])
    h = to_np(encoder(ids, mask))
    perm = np.array([2, 0, 3, 1])
    np.testing.assert_allclose(to_np(encoder(ids[perm], mask[perm])), h[perm], atol=1e-6)
    # One caption alone gives the same rows as in the batch.
    np.testing.assert_allclose(to_np(encoder(ids[1:2], mask[1:2])), h[1:2], atol=1e-6)


def test_reverse_index_is_an_involution_keeping_padding():
    index = to_np(caption_encoder.reverse_index(np.array([3, 0, 5]), 5)).astype(int)
    np.testing.assert_array_equal(index, [[2, 1, 0, 3, 4], [0, 1, 2, 3, 4], [4, 3, 2, 1, 0]])
    for row in index:
        np.testing.assert_array_equal(row[row], np.arange(5))


def test_pooled_is_mean_over_real_words():
    rng = np.random.default_rng(1)
    h = rng.normal(size=(3, 5, 2)).astype("float32")
    lengths = [5, 2, 0]
    mask = prefix_mask(lengths, 5)
    got = to_np(caption_encoder.pooled(h, mask))
    expected = np.stack([h[0].mean(0), h[1, :2].mean(0), np.zeros(2)])
    np.testing.assert_allclose(got, expected, atol=1e-6)


def test_get_config_round_trip():
    enc = CaptionEncoder(VOCAB, EMBED, UNITS, name="captions")
    clone = CaptionEncoder.from_config(enc.get_config())
    assert (clone.vocab_size, clone.embed_dim, clone.units, clone.name) == (
        VOCAB, EMBED, UNITS, "captions")
