"""t2i_tf.metrics.attention_report on a hand-made alpha array (word order, the words x
steps map, the per-word summary), and sampling alpha from a tiny alignDRAW and a tiny
alignPixelRNN (words x image rows)."""

import numpy as np

from keras import ops

from t2i_tf.data.vocabulary import Vocabulary
from t2i_tf.metrics import attention_report as ar
from t2i_tf.models.align_draw import AlignDraw
from t2i_tf.models.align_pixel_rnn import AlignPixelRNN
from t2i_tf.sampling import samplers

VOCAB = Vocabulary(["the", "digit", "3", "left"])  # ids: the 2, digit 3, 3 4, left 5
IDS = np.array([[2, 3, 4, 0], [5, 2, 4, 3]])
MASK = np.array([[1, 1, 1, 0], [1, 1, 1, 1]], bool)


def hand_alpha():
    """(n=2, S=2, T=2, L=4); rows sum to 1 over the real words."""
    a = np.zeros((2, 2, 2, 4))
    a[0, 0] = [[0.2, 0.2, 0.6, 0], [0.6, 0.2, 0.2, 0]]
    a[0, 1] = [[0.0, 0.4, 0.6, 0], [0.2, 0.0, 0.8, 0]]
    a[1, :, :] = [0.1, 0.2, 0.3, 0.4]
    a[1, 1, 1] = [0.5, 0.1, 0.1, 0.3]
    return a


def test_weights_and_maps_by_hand():
    a = hand_alpha()
    w = ar.word_weights(a)
    np.testing.assert_allclose(w[0], [0.25, 0.2, 0.55, 0.0])
    np.testing.assert_allclose(w[1], [0.2, 0.175, 0.25, 0.375])
    m = ar.word_step_maps(a)
    assert m.shape == (2, 4, 2)
    np.testing.assert_allclose(m[0, :3], [[0.1, 0.4], [0.3, 0.1], [0.6, 0.5]])


def test_caption_report_orders_words():
    a = hand_alpha()
    w, m = ar.word_weights(a), ar.word_step_maps(a)
    r = ar.caption_report(w[0], m[0], IDS[0], MASK[0], VOCAB)
    assert r["words"] == ["the", "digit", "3"]
    assert [(word, pos) for word, pos, _ in r["ranked"]] == [("3", 2), ("the", 0), ("digit", 1)]
    assert r["ranked"][0][2] == np.float64(0.55)
    assert r["map"].shape == (3, 2)
    r = ar.caption_report(w[1], m[1], IDS[1], MASK[1], VOCAB.tokens)
    assert [word for word, _, _ in r["ranked"]] == ["digit", "3", "left", "the"]


def test_summary_over_captions():
    w = ar.word_weights(hand_alpha())
    rows = {r["word"]: r for r in ar.attention_summary(w, IDS, MASK, VOCAB)}
    assert set(rows) == {"the", "digit", "3", "left"}
    assert rows["3"]["occurrences"] == 2 and rows["3"]["captions"] == 2
    assert rows["3"]["mean_weight"] == np.float64((0.55 + 0.25) / 2)
    assert rows["3"]["top_count"] == 1 and rows["digit"]["top_count"] == 1
    assert rows["3"]["top_rate"] == 0.5 and rows["3"]["top_share"] == 0.5
    assert rows["left"]["top_count"] == 0 and rows["the"]["top_count"] == 0
    order = [r["word"] for r in ar.attention_summary(w, IDS, MASK, VOCAB)]
    assert order[0] == "3" and order[-1] == "left"  # left: 0.2; the: (0.25+0.175)/2


def test_sample_alpha_from_a_tiny_model():
    model = AlignDraw(image_shape=(12, 12), steps=2, enc_units=8, dec_units=8, z_dim=3,
                      read_n=2, write_n=2, vocab_size=6, embed_dim=4, lang_units=4,
                      align_units=8, seed=0)
    model.build()
    a = ar.sample_alpha(model, IDS, MASK, num_samples=3, batch_size=4)  # 1 caption a call
    assert a.shape == (2, 3, 2, 4)
    np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-5)
    assert np.all(a[0, :, :, 3] == 0)
    assert np.abs(a[0, 0] - a[0, 1]).max() > 0  # samples differ


def test_sample_pixel_alpha_is_row_means_of_the_sampled_images():
    model = AlignPixelRNN(image_shape=(3, 4), levels=5, vocab_size=6, embed_dim=4,
                          lang_units=4, units=8, pixel_embed_dim=3, seed=0)
    model.build()
    a = ar.sample_pixel_alpha(model, IDS, MASK, num_samples=3, batch_size=4, seed=2)
    assert a.shape == (2, 3, 3, 4)  # caption, sample, image row, word
    np.testing.assert_allclose(a.sum(-1), 1.0, rtol=1e-5)
    assert np.all(a[0, :, :, 3] == 0)
    # call 1 (one caption a call) drew caption 1's three images from the uniforms of
    # PixelCaptionSampler's seed [2, 1], as the eager generate_pixels draws them from these
    rows = np.array([1, 1, 1])
    noise = np.random.default_rng([2, 1]).random((12, 3), dtype=np.float32)
    images = samplers.generate_pixels(model, IDS[rows], MASK[rows], "sample",
                                      noise=noise)["images"]
    alpha = np.asarray(ops.convert_to_numpy(model.attention_weights(images, IDS[rows],
                                                                    MASK[rows])))
    np.testing.assert_allclose(a[1], alpha.reshape(3, 3, 4, 4).mean(2), rtol=1e-5, atol=1e-7)
    maps = ar.word_step_maps(a)  # words x image rows
    assert maps.shape == (2, 4, 3)
    np.testing.assert_allclose(ar.word_weights(a), maps.mean(-1), rtol=1e-6)
