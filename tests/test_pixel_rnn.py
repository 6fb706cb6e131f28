"""alignPixelRNN (t2i_tf/layers/pixel_rnn_cell.py, t2i_tf/models/align_pixel_rnn.py) on a
tiny configuration: causality by gradients, the NLL against a NumPy decoder, stepping against
teacher forcing, the samplers through the model, one fit step, and a checkpoint round trip.

Causality is tested on the real model: `logits_from_one_hot` takes the image as a float
one-hot (batch, H, W, V) and performs the shift and the embedding lookup as a matrix product,
so d logits_i / d one_hot_j is the dependence of pixel i's distribution on pixel j's value;
`test_one_hot_path_is_the_model` checks that it gives exactly the numbers of `logits`.
Gradients come from tf.GradientTape (jax.grad when KERAS_BACKEND=jax), all positions in
one backward pass (see `jacobian_rows`).
"""

import keras
import numpy as np
import pytest
from keras import ops

from pixel_testing import (LENGTHS, LEVELS, generate, gradient, jacobian_rows, log_softmax,
                           numpy, random_batch, tiny_model)
from t2i_tf.layers import pixel_rnn_cell
from t2i_tf.models.align_pixel_rnn import AlignPixelRNN
from t2i_tf.sampling import samplers
from t2i_tf.training import checkpoint

SHAPE = (4, 5)
N = SHAPE[0] * SHAPE[1]
CONFIG = dict(image_shape=SHAPE, levels=LEVELS, vocab_size=11, embed_dim=6, lang_units=4,
              units=8, pixel_embed_dim=5, seed=0)


def tiny(weights_seed=0, **overrides):
    return tiny_model(AlignPixelRNN, CONFIG, weights_seed, **overrides)


def batch(seed=0, levels=LEVELS):
    return random_batch(SHAPE, seed, levels)


@pytest.fixture(scope="module")
def model():
    return tiny()


# ------------------------------------------------------------------ the cell


def test_cell_passes_the_memory_through_and_attends_to_real_words_only():
    cell = pixel_rnn_cell.ConditionalPixelCell(units=8, levels=LEVELS, context_size=6)
    cell.build((None, 5))
    rng = np.random.default_rng(0)
    h_lang = rng.normal(size=(3, 5, 6)).astype(np.float32)
    mask = np.arange(5)[None, :] < LENGTHS[:, None]
    state = cell.initial_state(h_lang, mask)
    state[0] = ops.convert_to_tensor(rng.normal(size=(3, 8)).astype(np.float32))  # some h
    logits, new_state = cell(rng.normal(size=(3, 5)).astype(np.float32), state)
    assert tuple(logits.shape) == (3, LEVELS)
    for old, new in zip(state[2:], new_state[2:]):
        np.testing.assert_array_equal(numpy(new), numpy(old))
    context, alpha = (numpy(t) for t in cell.attend(state))
    np.testing.assert_allclose(alpha.sum(-1), 1.0, rtol=1e-6)
    assert np.all(alpha[~mask] == 0)
    np.testing.assert_allclose(context, np.einsum("bl,blm->bm", alpha, h_lang), rtol=1e-5)


def test_rnn_without_the_memory_says_so():
    cell = pixel_rnn_cell.ConditionalPixelCell(units=8, levels=LEVELS, context_size=6)
    with pytest.raises(ValueError, match="initial_state"):
        keras.layers.RNN(cell, return_sequences=True)(np.zeros((2, 3, 5), np.float32))


# ------------------------------------------------------------------ causality


def test_one_hot_path_is_the_model(model):
    x = batch()
    one_hot = ops.one_hot(ops.cast(x["images"], "int32"), LEVELS)
    np.testing.assert_array_equal(numpy(model.logits_from_one_hot(one_hot, x["ids"], x["mask"])),
                                  numpy(model.logits(x["images"], x["ids"], x["mask"])))


def test_causality_by_gradients(model):
    x = batch(1)
    one_hot = numpy(ops.one_hot(ops.cast(x["images"], "int32"), LEVELS)).astype(np.float32)
    ids, mask = (np.concatenate([x[k]] * N) for k in ("ids", "mask"))  # as jacobian_rows tiles
    fn = lambda t: model.logits_from_one_hot(t, ids[:len(t)], mask[:len(t)])
    grads = jacobian_rows(fn, one_hot).reshape(N, 3, N, LEVELS)  # (i, batch, j, v)
    depends = np.abs(grads).max(axis=(1, 3)) > 0  # (i, j): logits_i moves with pixel j
    # Pixel i depends on no pixel j >= i (itself included) and, through the recurrence,
    # on every pixel before it.
    np.testing.assert_array_equal(depends, np.tril(np.ones((N, N), bool), k=-1))


def test_clip_gradient_is_the_identity_forward_and_clips_backward():
    x = np.array([-3.0, 0.5, 2.0], np.float32)
    upstream = np.array([5.0, -0.2, -4.0], np.float32)
    fn = lambda t: ops.sum(pixel_rnn_cell.clip_gradient(t, 1.0) * upstream)
    np.testing.assert_allclose(numpy(fn(ops.convert_to_tensor(x))), np.sum(x * upstream))
    np.testing.assert_array_equal(gradient(fn, x), np.float32([1.0, -0.2, -1.0]))


def test_training_reaches_the_decoder_cell():
    # Keras's fit calls model.call(training=True) through stateless_call, which opens no call
    # context: unless call passes `training` down, the cell sees False and the state
    # gradient clip never acts (it did not, until session 9).
    model = tiny(state_grad_clip=1.0)
    seen = []
    call = model.cell.call

    def spy(inputs, states, training=False):
        seen.append(training)
        return call(inputs, states, training=training)

    model.cell.call = spy
    x = batch()
    model.call(x, training=True)
    in_training, seen[:] = list(seen), []
    model.call(x, training=False)
    assert in_training and all(t is True for t in in_training)
    assert seen and not any(seen)


def test_state_grad_clip_acts_on_the_recurrence_in_training_only():
    x = batch(2)
    previous = np.random.default_rng(3).normal(size=(3, N, CONFIG["pixel_embed_dim"]))
    previous = previous.astype(np.float32)

    def rows(model, training):  # (i, batch, j, E): d logits_i / d input_j
        ids, mask = (np.concatenate([x[k]] * N) for k in ("ids", "mask"))
        fn = lambda t: model.decode(t, ids[:len(t)], mask[:len(t)], training=training)
        return jacobian_rows(fn, previous).reshape(N, 3, N, -1)

    plain, clipped = tiny(), tiny(state_grad_clip=1e-6)
    free = rows(plain, True)
    np.testing.assert_array_equal(rows(clipped, False), free)  # inference: untouched
    cut = rows(clipped, True)
    same = np.arange(N)
    # The input of pixel i reaches logits_i directly, through no earlier state: unchanged.
    np.testing.assert_allclose(cut[same, :, same], free[same, :, same], rtol=1e-5, atol=1e-7)
    # Earlier inputs reach it only back through h and c, where the gradient is cut to 1e-6.
    earlier = np.tril(np.ones((N, N), bool), k=-1)
    assert np.abs(free.transpose(0, 2, 1, 3)[earlier]).max() > 1e-2
    assert np.abs(cut.transpose(0, 2, 1, 3)[earlier]).max() < 1e-4


# ------------------------------------------------------------------ likelihood


def numpy_decoder_nll(model, images, ids, mask):
    """-log p(x | y) by eqs. 5-9 in NumPy (float64), from the model's weights and h_lang."""
    w = lambda v: numpy(v).astype(np.float64)
    cell = model.cell
    h_lang = w(model.encode_caption(ids, mask))  # (batch, L, m)
    keys = h_lang @ w(cell.alignment.kernel)  # (batch, L, n)
    table = w(model.pixel_embedding.embeddings)
    kernel, recurrent, bias = (w(v) for v in (cell.lstm.kernel, cell.lstm.recurrent_kernel,
                                              cell.lstm.bias))
    out_kernel, out_bias = w(cell.readout.kernel), w(cell.readout.bias)
    sigmoid = lambda z: 1 / (1 + np.exp(-z))
    tokens = images.reshape(len(images), -1).astype(np.int64)
    n = cell.units
    h, c = np.zeros((len(images), n)), np.zeros((len(images), n))
    previous = np.full(len(images), LEVELS)  # the start token
    total = np.zeros(len(images))
    for j in range(tokens.shape[1]):
        scores = np.einsum("bln,bn->bl", keys, h)  # eq. 9
        scores = np.where(mask, scores, -np.inf)
        alpha = np.exp(scores - scores.max(-1, keepdims=True))
        alpha /= alpha.sum(-1, keepdims=True)  # eq. 8
        context = np.einsum("bl,blm->bm", alpha, h_lang)  # eq. 7
        e = table[previous]
        z = np.concatenate([e, context], -1) @ kernel + h @ recurrent + bias
        i, f, g, o = np.split(z, 4, axis=-1)  # Keras's gate order
        c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
        h = sigmoid(o) * np.tanh(c)  # eq. 6
        logits = np.concatenate([h, context, e], -1) @ out_kernel + out_bias  # eq. 5
        total -= log_softmax(logits)[np.arange(len(images)), tokens[:, j]]
        previous = tokens[:, j]
    return total


def test_nll_against_numpy(model):
    x = batch(2)
    nll = numpy(model.nll(x["images"], x["ids"], x["mask"]))
    assert nll.shape == (3,) and nll.dtype == np.float32
    np.testing.assert_allclose(nll, numpy_decoder_nll(model, x["images"], x["ids"], x["mask"]),
                               rtol=1e-5)
    # and the sum of -log softmax of the model's own logits
    logits = numpy(model.logits(x["images"], x["ids"], x["mask"]))
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
    np.testing.assert_allclose(np.stack(stepped, 1), teacher, rtol=1e-5, atol=1e-6)


def test_attention_weights_are_the_steps_alphas(model):
    x = batch(3)
    alpha = numpy(model.attention_weights(x["images"], x["ids"], x["mask"]))
    assert alpha.shape == (3, N, 5) and alpha.dtype == np.float32
    tokens = x["images"].reshape(3, -1).astype(np.int32)
    state = model.generation_state(x["ids"], x["mask"])
    token = np.full(3, model.start_token, np.int32)
    stepped = []
    for j in range(N):  # the weights with which the cell drew pixel j, given x_<j
        stepped.append(numpy(model.cell.attend(state)[1]))
        _, state = model.next_pixel(state, token, ops.convert_to_tensor(j, "int32"))
        token = tokens[:, j]
    np.testing.assert_allclose(alpha, np.stack(stepped, 1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(alpha.sum(-1), 1.0, rtol=1e-5)
    assert np.all(alpha[~x["mask"][:, None, :].repeat(N, 1)] == 0)
    np.testing.assert_array_equal(alpha[2, :, 0], 1.0)  # a one-word caption


# ------------------------------------------------------------------ generation


def test_generation(model):
    x = batch(4)
    nll = lambda images: numpy(model.nll(images, x["ids"], x["mask"]))
    greedy = {k: numpy(v) for k, v in generate(model, x).items()}
    assert greedy["images"].shape == (3, *SHAPE) and greedy["images"].dtype == np.int32
    np.testing.assert_allclose(greedy["log_prob"], -nll(greedy["images"]), rtol=1e-5)
    beam1 = {k: numpy(v) for k, v in
             generate(model, x, method="beam", beam_width=1).items()}
    np.testing.assert_array_equal(beam1["images"], greedy["images"])
    np.testing.assert_allclose(beam1["log_prob"], greedy["log_prob"], rtol=1e-6)
    beam3 = numpy(generate(model, x, method="beam", beam_width=3)["log_prob"])
    assert np.all(beam3 >= greedy["log_prob"] - 1e-4)  # the greedy path is among the candidates
    sampled = {k: numpy(v) for k, v in
               generate(model, x, method="sample", seed=1,
                              temperature=0.7).items()}
    assert sampled["images"].min() >= 0 and sampled["images"].max() < LEVELS
    np.testing.assert_allclose(sampled["log_prob"], -nll(sampled["images"]), rtol=1e-5)
    with pytest.raises(ValueError, match="method"):
        generate(model, x, method="topk")


def test_compiled_sampler_matches_eager(model):
    x = batch(5)
    eager = {k: numpy(v) for k, v in
             generate(model, x, method="beam", beam_width=2).items()}
    compiled = samplers.PixelCaptionSampler(model, "beam", beam_width=2)(x["ids"], x["mask"])
    np.testing.assert_array_equal(compiled["images"], eager["images"])
    np.testing.assert_allclose(compiled["log_prob"], eager["log_prob"], rtol=1e-5)
    sampler = samplers.PixelCaptionSampler(model, "sample", temperature=0.8)
    first, again = sampler(x["ids"], x["mask"], seed=3), sampler(x["ids"], x["mask"], seed=3)
    np.testing.assert_array_equal(first["images"], again["images"])
    noise = np.random.default_rng(3).random((N, 3), dtype=np.float32)
    eager = generate(model, x, "sample", temperature=0.8, noise=noise)
    np.testing.assert_array_equal(first["images"], numpy(eager["images"]))


# ------------------------------------------------------------------ training, checkpoints


def test_fit_steps_are_finite():
    model = tiny(levels=2)
    x = batch(6, levels=2)
    before = [numpy(v).copy() for v in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.RMSprop(1e-3, clipnorm=1.0), run_eagerly=True)
    history = model.fit(x, batch_size=3, epochs=1, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert np.all(np.isfinite(losses)) and np.all(np.isfinite(history.history["bits_per_dim"]))
    np.testing.assert_allclose(history.history["bits_per_dim"][0], losses[0] / (N * np.log(2)),
                               rtol=1e-5)
    assert all(np.all(np.isfinite(numpy(v))) for v in model.trainable_weights)
    assert any(np.any(numpy(v) != b) for v, b in zip(model.trainable_weights, before))


def test_checkpoint_round_trip(tmp_path, model):
    x = batch(7)
    folder = str(tmp_path / "model")
    checkpoint.save_model(folder, model)
    assert checkpoint.read_config(folder)[0] == "align_pixel_rnn"
    loaded = checkpoint.load_model(folder)
    assert isinstance(loaded, AlignPixelRNN)
    assert loaded.get_config() | {"name": None} == model.get_config() | {"name": None}
    np.testing.assert_array_equal(numpy(loaded.nll(x["images"], x["ids"], x["mask"])),
                                  numpy(model.nll(x["images"], x["ids"], x["mask"])))
    # with an optimizer: a training checkpoint that restores into a fresh model
    optimizer = keras.optimizers.RMSprop(1e-3)
    optimizer.build(model.trainable_variables)
    checkpoint.save_model(folder, model, optimizer)
    fresh = AlignPixelRNN(**CONFIG)
    fresh.build()
    fresh_optimizer = keras.optimizers.RMSprop(1e-3)
    assert checkpoint.restore_training(folder, fresh, fresh_optimizer)
    np.testing.assert_array_equal(numpy(fresh.nll(x["images"], x["ids"], x["mask"])),
                                  numpy(model.nll(x["images"], x["ids"], x["mask"])))
