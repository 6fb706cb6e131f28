"""Tests of t2i_tf.layers.alignment against NumPy formulas of alignDRAW eq. 7 (Bahdanau)
and alignPixelRNN eqs. 7-9 with Luong's "general" score.
"""

import numpy as np
import pytest
from keras import ops

from t2i_tf.layers.alignment import BahdanauAlignment, LuongAlignment, masked_softmax

BATCH, WORDS, M, N, L_UNITS = 4, 5, 6, 7, 3
LENGTHS = [5, 3, 1, 2]
ATOL = 1e-5


def to_np(t):
    return np.asarray(ops.convert_to_numpy(t), dtype=np.float64)


def np_masked_softmax(e, lengths):
    """alpha_k = exp(e_k) / sum_{i <= n} exp(e_i) for k <= n, and 0 for padded k."""
    alpha = np.zeros_like(e)
    for b, n in enumerate(lengths):
        z = np.exp(e[b, :n] - e[b, :n].max())
        alpha[b, :n] = z / z.sum()
    return alpha


@pytest.fixture(scope="module")
def inputs():
    rng = np.random.default_rng(0)
    h_lang = rng.normal(size=(BATCH, WORDS, M)).astype("float32")
    h_gen = rng.normal(size=(BATCH, N)).astype("float32")
    mask = np.arange(WORDS)[None, :] < np.array(LENGTHS)[:, None]
    h_lang[~mask] = 0.0  # as the caption encoder returns it
    return h_lang, h_gen, mask


@pytest.fixture(scope="module")
def bahdanau(inputs):
    h_lang, h_gen, _ = inputs
    layer = BahdanauAlignment(units=L_UNITS)
    layer.build(h_lang.shape, h_gen.shape)
    rng = np.random.default_rng(1)
    layer.key_map.bias.assign(rng.normal(size=(L_UNITS,)).astype("float32"))  # b != 0
    layer.v.assign(rng.normal(size=(L_UNITS,)).astype("float32"))
    return layer


@pytest.fixture(scope="module")
def luong(inputs):
    h_lang, h_gen, _ = inputs
    layer = LuongAlignment()
    layer.build(h_lang.shape, h_gen.shape)
    return layer


def bahdanau_reference(layer, h_lang, h_gen):
    """e_k = v^T tanh(U h_lang_k + W h_gen + b) with U, W as (in, out) Dense kernels."""
    u, b = (to_np(w) for w in (layer.key_map.kernel, layer.key_map.bias))
    w, v = to_np(layer.query_map.kernel), to_np(layer.v)
    return np.tanh(h_lang @ u + b + (h_gen @ w)[:, None, :]) @ v  # (batch, L)


def luong_reference(layer, h_lang, h_gen):
    """e_k = h_gen^T W_a h_lang_k with W_a (n, m) = kernel^T."""
    w_a = to_np(layer.kernel).T
    return np.einsum("bn,nm,blm->bl", h_gen, w_a, h_lang)


CASES = [("bahdanau", bahdanau_reference), ("luong", luong_reference)]


@pytest.mark.parametrize("name,score_fn", CASES)
def test_alignment_matches_numpy(request, inputs, name, score_fn):
    layer = request.getfixturevalue(name)
    h_lang, h_gen, mask = inputs
    s, alpha = layer(h_lang, h_gen, mask)
    s, alpha = to_np(s), to_np(alpha)
    expected_alpha = np_masked_softmax(score_fn(layer, h_lang, h_gen), LENGTHS)
    assert alpha.shape == (BATCH, WORDS) and s.shape == (BATCH, M)
    np.testing.assert_allclose(alpha, expected_alpha, atol=ATOL)
    # Eq. 6: s = sum_k alpha_k h_lang_k.
    np.testing.assert_allclose(s, np.einsum("bl,blm->bm", expected_alpha, h_lang), atol=ATOL)
    np.testing.assert_allclose(s, (alpha[:, :, None] * h_lang).sum(1), atol=ATOL)
    assert (alpha[~mask] == 0).all()  # exactly 0 on padding
    np.testing.assert_allclose(alpha.sum(-1), 1.0, atol=1e-6)


@pytest.mark.parametrize("name", ["bahdanau", "luong"])
def test_precomputed_keys_give_the_same_result(request, inputs, name):
    layer = request.getfixturevalue(name)
    h_lang, h_gen, mask = inputs
    keys = layer.precompute(h_lang)
    for got, want in zip(layer(h_lang, h_gen, mask, keys=keys), layer(h_lang, h_gen, mask)):
        np.testing.assert_allclose(to_np(got), to_np(want), atol=1e-6)


@pytest.mark.parametrize("name", ["bahdanau", "luong"])
def test_single_real_word_takes_all_the_weight(request, inputs, name):
    layer = request.getfixturevalue(name)
    h_lang, h_gen, _ = inputs
    mask = np.zeros((BATCH, WORDS), bool)
    mask[np.arange(BATCH), [0, 2, 4, 1]] = True  # one real word each, anywhere
    s, alpha = layer(h_lang, h_gen, mask)
    np.testing.assert_array_equal(to_np(alpha), mask.astype(np.float64))
    np.testing.assert_allclose(to_np(s), h_lang[mask], atol=1e-6)


@pytest.mark.parametrize("name", ["bahdanau", "luong"])
def test_no_mask_is_all_words(request, inputs, name):
    layer = request.getfixturevalue(name)
    h_lang, h_gen, _ = inputs
    for got, want in zip(layer(h_lang, h_gen), layer(h_lang, h_gen, np.ones((BATCH, WORDS), bool))):
        np.testing.assert_allclose(to_np(got), to_np(want), atol=1e-6)


def test_masked_softmax_of_an_empty_caption_is_zero_not_nan():
    scores = np.array([[1.0, 2.0, 3.0], [1e3, -1e3, 0.0]], "float32")
    mask = np.array([[False, False, False], [True, True, False]])
    alpha = to_np(masked_softmax(scores, mask))
    np.testing.assert_array_equal(alpha[0], 0.0)
    np.testing.assert_allclose(alpha[1], [1.0, 0.0, 0.0], atol=1e-7)  # large scores: no overflow


def test_get_config_round_trip():
    layer = BahdanauAlignment(units=9, name="align")
    clone = BahdanauAlignment.from_config(layer.get_config())
    assert (clone.units, clone.name) == (9, "align")
    assert LuongAlignment.from_config(LuongAlignment(name="luong").get_config()).name == "luong"
