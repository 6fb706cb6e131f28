"""alignPixelCNN (t2i_tf/layers/gated_pixel_cnn.py, t2i_tf/models/align_pixel_cnn.py) on a
tiny configuration: causality by gradients, no blind spot, the NLL against NumPy, stepping
against teacher forcing, the samplers through the model, one fit step, a checkpoint round
trip.

Causality is tested on the real model as for alignPixelRNN (tests/test_pixel_rnn.py):
`logits_from_one_hot` takes the image as a float one-hot (batch, H, W, V), so
d logits_i / d one_hot_j is the dependence of pixel i's distribution on pixel j's value.
Gradients come from tf.GradientTape (jax.grad when KERAS_BACKEND=jax), all positions in one
backward pass (see `jacobian_rows`).
"""

import keras
import numpy as np
import pytest
from keras import ops

from pixel_testing import (LENGTHS, LEVELS, generate, jacobian_rows, log_softmax, numpy,
                           random_batch, tiny_model)
from t2i_tf.layers import alignment, gated_pixel_cnn
from t2i_tf.models.align_pixel_cnn import AlignPixelCNN
from t2i_tf.training import checkpoint

SHAPE = (5, 6)
N = SHAPE[0] * SHAPE[1]
CONFIG = dict(image_shape=SHAPE, levels=LEVELS, vocab_size=11, embed_dim=6, lang_units=4,
              filters=8, num_layers=3, kernel_size=3, pixel_embed_dim=5, seed=0)


def tiny(weights_seed=0, **overrides):
    return tiny_model(AlignPixelCNN, CONFIG, weights_seed, **overrides)


def batch(seed=0, levels=LEVELS):
    return random_batch(SHAPE, seed, levels)


@pytest.fixture(scope="module")
def model():
    return tiny()


# ------------------------------------------------------------------ the layer


def test_layer_arguments_are_checked():
    with pytest.raises(ValueError, match="odd"):
        gated_pixel_cnn.GatedPixelCNNLayer(8, 4, 6)
    layer = gated_pixel_cnn.GatedPixelCNNLayer(8, 3, 6, residual=True)
    with pytest.raises(ValueError, match="residual"):
        layer.build((None, None, None, 5))


def test_shifts():
    x = np.arange(2 * 3 * 4).reshape(1, 3, 4, 2).astype(np.float32)
    down, right = numpy(gated_pixel_cnn.down_shift(x)), numpy(gated_pixel_cnn.right_shift(x))
    np.testing.assert_array_equal(down[:, 1:], x[:, :-1])
    np.testing.assert_array_equal(down[:, 0], 0)
    np.testing.assert_array_equal(right[:, :, 1:], x[:, :, :-1])
    np.testing.assert_array_equal(right[:, :, 0], 0)


def test_word_context_is_a_masked_luong_attention_at_every_position():
    rng = np.random.default_rng(0)
    align = alignment.LuongAlignment()
    align.build((None, None, 6), (None, 4))
    query = rng.normal(size=(3, 2, 5, 4)).astype(np.float32)
    h_lang = rng.normal(size=(3, 5, 6)).astype(np.float32)
    mask = np.arange(5)[None, :] < LENGTHS[:, None]
    context, alpha = (numpy(t) for t in gated_pixel_cnn.word_context(align, query, h_lang, mask))
    scores = np.einsum("blm,mn,bhwn->bhwl", h_lang, numpy(align.kernel), query)
    scores = np.where(mask[:, None, None, :], scores, -np.inf)
    expected = np.exp(log_softmax(scores))
    np.testing.assert_allclose(alpha, expected, rtol=1e-5, atol=1e-7)
    assert np.all(alpha[~np.broadcast_to(mask[:, None, None, :], alpha.shape)] == 0)
    np.testing.assert_allclose(context, np.einsum("bhwl,blm->bhwm", expected, h_lang),
                               rtol=1e-5, atol=1e-6)


# ------------------------------------------------------------------ causality


def test_one_hot_path_is_the_model(model):
    x = batch()
    one_hot = ops.one_hot(ops.cast(x["images"], "int32"), LEVELS)
    np.testing.assert_allclose(numpy(model.logits_from_one_hot(one_hot, x["ids"], x["mask"])),
                               numpy(model.logits(x["images"], x["ids"], x["mask"])),
                               rtol=1e-6, atol=1e-6)


def test_causality_by_gradients(model):
    x = batch(1)
    one_hot = numpy(ops.one_hot(ops.cast(x["images"], "int32"), LEVELS)).astype(np.float32)
    ids, mask = (np.concatenate([x[k]] * N) for k in ("ids", "mask"))  # as jacobian_rows tiles
    fn = lambda t: model.logits_from_one_hot(t, ids[:len(t)], mask[:len(t)])
    grads = jacobian_rows(fn, one_hot).reshape(N, 3, N, LEVELS)  # (i, batch, j, v)
    depends = np.abs(grads).max(axis=(1, 3)) > 0  # (i, j): logits_i moves with pixel j
    # Nothing at or after i, ever.
    assert not np.any(np.triu(depends)), np.argwhere(np.triu(depends))
    width = SHAPE[1]
    for i in range(1, N):
        r, c = divmod(i, width)
        assert depends[i].any(), i
        if c > 0:
            assert depends[i, i - 1], (r, c)  # the left neighbour
        if r > 0:
            assert depends[i, i - width], (r, c)  # the pixel above
            if c + 1 < width:
                assert depends[i, i - width + 1], (r, c)  # above right: no blind spot
            if c > 0:
                assert depends[i, i - width - 1], (r, c)  # above left


# ------------------------------------------------------------------ likelihood


def test_nll_against_numpy(model):
    x = batch(2)
    nll = numpy(model.nll(x["images"], x["ids"], x["mask"]))
    assert nll.shape == (3,) and nll.dtype == np.float32
    logits = numpy(model.logits(x["images"], x["ids"], x["mask"]))
    assert logits.shape == (3, N, LEVELS)
    tokens = x["images"].reshape(3, -1)
    picked = np.take_along_axis(log_softmax(logits), tokens[..., None].astype(int), -1)
    np.testing.assert_allclose(nll, -picked.sum(axis=(1, 2)), rtol=1e-5)


def test_stepping_reproduces_teacher_forcing(model):
    x = batch(3)
    teacher = numpy(model.logits(x["images"], x["ids"], x["mask"]))
    tokens = x["images"].reshape(3, -1).astype(np.int32)
    state = model.generation_state(x["ids"], x["mask"])
    token = np.full(3, model.start_token, np.int32)
    stepped = []
    for j in range(N):
        logits, state = model.next_pixel(state, token, ops.convert_to_tensor(j, "int32"))
        stepped.append(numpy(logits))
        token = tokens[:, j]
    np.testing.assert_allclose(np.stack(stepped, 1), teacher, rtol=1e-5, atol=1e-5)
    np.testing.assert_array_equal(numpy(state["canvas"])[:, :-1], tokens[:, :-1])


def test_attention_weights_are_causal_and_mean_of_the_layers(model):
    x = batch(3)
    alpha = numpy(model.attention_weights(x["images"], x["ids"], x["mask"]))
    assert alpha.shape == (3, N, 5) and alpha.dtype == np.float32
    np.testing.assert_allclose(alpha.sum(-1), 1.0, rtol=1e-5)
    assert np.all(alpha[~x["mask"][:, None, :].repeat(N, 1)] == 0)
    # the mean over the layers and the two stacks of the layers' own weights
    embedded = model.pixel_embedding(ops.cast(x["images"], "int32"))
    v, h = gated_pixel_cnn.down_shift(embedded), gated_pixel_cnn.right_shift(embedded)
    h_lang, alphas = model.encoder(x["ids"], x["mask"]), []
    for layer in model.gated:
        alphas += [numpy(gated_pixel_cnn.word_context(layer.v_align, v, h_lang, x["mask"])[1]),
                   numpy(gated_pixel_cnn.word_context(layer.h_align, h, h_lang, x["mask"])[1])]
        v, h = layer(v, h, h_lang, x["mask"])
    np.testing.assert_allclose(alpha, np.mean(alphas, 0).reshape(3, N, 5), rtol=1e-5, atol=1e-7)
    # pixel j's weights do not change with the pixels from j on
    j = N // 2
    changed = x["images"].copy().reshape(3, -1)
    changed[:, j:] = (changed[:, j:] + 1) % LEVELS
    again = numpy(model.attention_weights(changed.reshape(3, *SHAPE), x["ids"], x["mask"]))
    np.testing.assert_allclose(again[:, :j + 1], alpha[:, :j + 1], rtol=1e-5, atol=1e-7)
    assert np.abs(again[:, j + 1:] - alpha[:, j + 1:]).max() > 1e-4


# ------------------------------------------------------------------ generation


def test_generation():
    model = tiny(image_shape=(3, 4))  # the network reruns once per pixel: keep N small
    x = {**batch(4), "images": None}
    nll = lambda images: numpy(model.nll(images, x["ids"], x["mask"]))
    greedy = {k: numpy(v) for k, v in generate(model, x).items()}
    assert greedy["images"].shape == (3, 3, 4) and greedy["images"].dtype == np.int32
    np.testing.assert_allclose(greedy["log_prob"], -nll(greedy["images"]), rtol=1e-5)
    beam1 = {k: numpy(v) for k, v in
             generate(model, x, method="beam", beam_width=1).items()}
    np.testing.assert_array_equal(beam1["images"], greedy["images"])
    np.testing.assert_allclose(beam1["log_prob"], greedy["log_prob"], rtol=1e-6)
    sampled = {k: numpy(v) for k, v in
               generate(model, x, method="sample", seed=1).items()}
    assert sampled["images"].min() >= 0 and sampled["images"].max() < LEVELS
    np.testing.assert_allclose(sampled["log_prob"], -nll(sampled["images"]), rtol=1e-5)


# ------------------------------------------------------------------ training, checkpoints


def test_fit_step_is_finite():
    model = tiny(levels=2)
    x = batch(6, levels=2)
    before = [numpy(v).copy() for v in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3, clipnorm=1.0), run_eagerly=True)
    history = model.fit(x, batch_size=3, epochs=1, verbose=0, shuffle=False)
    assert np.all(np.isfinite(history.history["loss"]))
    assert all(np.all(np.isfinite(numpy(v))) for v in model.trainable_weights)
    assert any(np.any(numpy(v) != b) for v, b in zip(model.trainable_weights, before))


def test_checkpoint_round_trip(tmp_path, model):
    x = batch(7)
    folder = str(tmp_path / "model")
    checkpoint.save_model(folder, model)
    assert checkpoint.read_config(folder)[0] == "align_pixel_cnn"
    loaded = checkpoint.load_model(folder)
    assert isinstance(loaded, AlignPixelCNN)
    assert loaded.get_config() | {"name": None} == model.get_config() | {"name": None}
    np.testing.assert_array_equal(numpy(loaded.nll(x["images"], x["ids"], x["mask"])),
                                  numpy(model.nll(x["images"], x["ids"], x["mask"])))
