"""alignDRAW's options beyond the paper (docs/HELD_OUT.md): Luong's score, the aligned words
fed to the write, word embeddings in the alignment's memory; and generate_from_lang."""

import numpy as np
import pytest
from keras import ops

from t2i_tf.layers.alignment import BahdanauAlignment, LuongAlignment
from t2i_tf.models.align_draw import AlignDraw

LENGTHS = np.array([6, 4, 1, 3])


def tiny(**kwargs):
    model = AlignDraw(image_shape=(12, 10), steps=3, enc_units=16, dec_units=16, z_dim=4,
                      read_n=2, write_n=3, embed_dim=8, lang_units=8, align_units=16, seed=0,
                      **kwargs)
    model.build()
    return model


def captions(seed=0):
    rng = np.random.default_rng(seed)
    return (rng.integers(2, 24, (4, 6)).astype("int32"),
            np.arange(6)[None, :] < LENGTHS[:, None])


def eps(model, n=4, seed=1):
    return np.random.default_rng(seed).standard_normal(
        (model.steps, n, model.z_dim)).astype("float32")


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


@pytest.fixture(scope="module")
def models():
    return {"paper": tiny(), "luong": tiny(align_score="luong"),
            "write": tiny(write_context=True), "memory": tiny(memory_embedding=True)}


def test_luong_score_against_numpy(models):
    model = models["luong"]
    assert isinstance(model.cell.alignment, LuongAlignment)
    assert isinstance(models["paper"].cell.alignment, BahdanauAlignment)
    ids, mask = captions()
    lang = model.encode_caption(ids, mask)
    h_gen = np.random.default_rng(2).standard_normal((4, 16)).astype("float32")
    s, alpha = model.cell.sentence({"h_dec": h_gen}, lang)
    h_lang, kernel = numpy(lang["h_lang"]), numpy(model.cell.alignment.kernel)
    scores = np.einsum("blm,mn,bn->bl", h_lang, kernel, h_gen)
    scores = np.where(mask, scores, -np.inf)
    expected = np.exp(scores - scores.max(-1, keepdims=True))
    expected /= expected.sum(-1, keepdims=True)
    np.testing.assert_allclose(numpy(alpha), expected, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(numpy(s), np.einsum("bl,blm->bm", expected, h_lang),
                               rtol=1e-4, atol=1e-6)


def test_write_context_reaches_the_canvas_only_with_the_option(models):
    """The same h_gen and z with two different s_t: the write of write_context paints two
    different updates; the paper's write cannot tell them apart."""
    z = np.random.default_rng(3).standard_normal((4, 4)).astype("float32")
    for name, differs in (("write", True), ("paper", False)):
        cell = models[name].cell
        state = cell.initial_state(4)
        canvases = []
        for seed in (4, 5):
            s = np.random.default_rng(seed).standard_normal((4, 16)).astype("float32")
            if name == "write":
                state = {**state, "context": s}
            new_state, _ = cell.generate(state, np.concatenate([z, np.zeros_like(s)], -1))
            canvases.append(numpy(new_state["canvas"]))
        assert (np.abs(canvases[0] - canvases[1]).max() > 1e-6) == differs
    writer = models["write"].cell.writer.params.kernel
    assert tuple(writer.shape) == (16 + 16, 5)  # h_gen (16) beside s_t (2 x 8)


def test_write_context_model_trains_traces_and_draws(models):
    model = models["write"]
    ids, mask = captions()
    images = (np.random.default_rng(6).random((4, 12, 10)) < 0.3).astype("float32")
    terms = model.loss_terms(images, ids, mask, eps(model))
    assert np.isfinite(numpy(terms["total"])).all()
    trace = model.trace(images, ids, mask, eps(model))
    assert numpy(trace["write_windows"]).shape == (3, 4, 5)
    out = model.generate(ids, mask, eps(model))
    # The drawn windows are those the write's input places (h_gen_t with s_t).
    assert numpy(out["windows"]).shape == (3, 4, 5)
    assert (numpy(out["windows"])[..., 2:] > 0).all()


def test_memory_embedding_holds_each_words_embedding(models):
    model = models["memory"]
    ids, mask = captions()
    h = numpy(model.encode_caption(ids, mask)["h_lang"])
    assert h.shape == (4, 6, 16 + 8)
    np.testing.assert_allclose(h[..., :16], numpy(model.encoder(ids, mask)), rtol=1e-6)
    table = numpy(model.encoder.embedding.embeddings)
    np.testing.assert_allclose(h[..., 16:], table[ids] * mask[..., None], rtol=1e-6)
    assert model.cell.context_size == 24 and model.cell.decoder_input_size == 4 + 24


def test_generate_from_lang_is_generate(models):
    model = models["paper"]
    ids, mask = captions()
    e = eps(model)
    a = model.generate(ids, mask, e)
    b = model.generate_from_lang(model.encode_caption(ids, mask), e)
    for key in ("canvases", "windows", "alpha"):
        np.testing.assert_allclose(numpy(a[key]), numpy(b[key]), rtol=1e-6)


def test_config_names_only_the_options_set(models):
    paper = models["paper"].get_config()
    assert not {"align_score", "write_context", "memory_embedding"} & set(paper)
    for name, key, value in (("luong", "align_score", "luong"),
                             ("write", "write_context", True),
                             ("memory", "memory_embedding", True)):
        config = models[name].get_config()
        assert config[key] == value
        clone = AlignDraw(**{k: v for k, v in config.items()
                             if k not in ("name", "trainable", "dtype")})
        clone.build()
        assert ([tuple(v.shape) for v in clone.weights]
                == [tuple(v.shape) for v in models[name].weights])


def test_unknown_score_is_refused():
    with pytest.raises(ValueError, match="align_score"):
        tiny(align_score="dot")
