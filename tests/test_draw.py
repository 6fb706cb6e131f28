"""Tests of t2i_tf.models.draw: the DRAW step and its unrolling against a NumPy
re-implementation of eqs. 3-16 (read/write of eqs. 17-29), on a tiny model."""

import math

import keras
import numpy as np
import pytest
from keras import ops

from t2i_tf.models.draw import Draw

IMAGE = (12, 10)  # B rows, A columns
STEPS, ENC, DEC, Z, READ_N, WRITE_N = 3, 16, 16, 4, 2, 3
BATCH = 5
RTOL, ATOL = 1e-5, 1e-5


def to_np(t):
    return np.asarray(ops.convert_to_numpy(t), dtype=np.float64)


def f32(a):
    return np.asarray(a, dtype=np.float32)


# ---------------------------------------------------------------- NumPy reference


def sigmoid(v):
    return 1.0 / (1.0 + np.exp(-v))


def lstm(x, h, c, weights):
    """Keras LSTMCell: gates i, f, c, o; tanh activation, sigmoid recurrent activation."""
    kernel, recurrent, bias = weights
    gates = x @ kernel + h @ recurrent + bias
    i, f, g, o = np.split(gates, 4, axis=-1)
    c = sigmoid(f) * c + sigmoid(i) * np.tanh(g)
    return sigmoid(o) * np.tanh(c), c


def dense(h, weights):
    kernel, bias = weights
    return h @ kernel + bias


def window(params, n):
    """Eqs. 21-24 -> (gx, gy, delta, sigma2, gamma), each (batch,)."""
    big_b, big_a = IMAGE
    gx_, gy_, log_sigma2, log_delta_, log_gamma = params.T
    return ((big_a + 1) / 2 * (gx_ + 1), (big_b + 1) / 2 * (gy_ + 1),
            (max(big_a, big_b) - 1) / (n - 1) * np.exp(log_delta_),
            np.exp(log_sigma2), np.exp(log_gamma))


def banks(params, n):
    """Eqs. 19-20, 25-26: F_X (batch, N, A), F_Y (batch, N, B), gamma (batch,)."""
    gx, gy, delta, sigma2, gamma = window(params, n)
    i = np.arange(1, n + 1)

    def bank(g, size):
        mu = g[:, None] + (i - n / 2 - 0.5) * delta[:, None]
        a = np.arange(1, size + 1)
        f = np.exp(-(a[None, None] - mu[:, :, None]) ** 2 / (2 * sigma2[:, None, None]))
        return f / f.sum(-1, keepdims=True)

    return bank(gx, IMAGE[1]), bank(gy, IMAGE[0]), gamma


def ref_read(w, x, x_hat, h_dec, attention):
    if not attention:  # eq. 17
        return np.concatenate([x.reshape(len(x), -1), x_hat.reshape(len(x), -1)], -1)
    fx, fy, gamma = banks(dense(h_dec, w["read"]), READ_N)  # eq. 27
    patch = lambda img: np.einsum("bjy,byx,bix->bji", fy, img, fx).reshape(len(x), -1)
    return gamma[:, None] * np.concatenate([patch(x), patch(x_hat)], -1)


def ref_write(w, h_dec, attention):
    patch = dense(h_dec, w["patch"])  # eq. 28 (or 18)
    if not attention:
        return patch.reshape(len(h_dec), *IMAGE)
    fx, fy, gamma = banks(dense(h_dec, w["write"]), WRITE_N)
    patch = patch.reshape(len(h_dec), WRITE_N, WRITE_N)
    return np.einsum("bjy,bji,bix->byx", fy, patch, fx) / gamma[:, None, None]  # eq. 29


def ref_step(w, x, state, eps, attention):
    """Eqs. 3-8 for one step; state is a dict of float64 arrays."""
    x_hat = x - sigmoid(state["canvas"])  # 3
    r = ref_read(w, x, x_hat, state["h_dec"], attention)  # 4
    h_enc, c_enc = lstm(np.concatenate([r, state["h_dec"]], -1), state["h_enc"],
                        state["c_enc"], w["encoder"])  # 5
    mu, log_sigma = dense(h_enc, w["mu"]), dense(h_enc, w["log_sigma"])  # 1-2
    z = mu + np.exp(log_sigma) * eps  # 6
    h_dec, c_dec = lstm(z, state["h_dec"], state["c_dec"], w["decoder"])  # 7
    canvas = state["canvas"] + ref_write(w, h_dec, attention)  # 8
    new = {"h_enc": h_enc, "c_enc": c_enc, "h_dec": h_dec, "c_dec": c_dec, "canvas": canvas}
    return new, {"mu": mu, "log_sigma": log_sigma, "z": z}


def zero_state(batch):
    return {"h_enc": np.zeros((batch, ENC)), "c_enc": np.zeros((batch, ENC)),
            "h_dec": np.zeros((batch, DEC)), "c_dec": np.zeros((batch, DEC)),
            "canvas": np.zeros((batch, *IMAGE))}


def ref_infer(w, x, eps, attention):
    state, outs = zero_state(len(x)), []
    for eps_t in eps:
        state, out = ref_step(w, x, state, eps_t, attention)
        outs.append(out)
    return state["canvas"], {k: np.stack([o[k] for o in outs]) for k in outs[0]}


def ref_bernoulli_nll(x, logits):
    p = sigmoid(logits)
    return -(x * np.log(p) + (1 - x) * np.log(1 - p)).reshape(len(x), -1).sum(-1)


def ref_log_normal(z, mu=0.0, log_sigma=0.0):
    return (-0.5 * ((z - mu) * np.exp(-log_sigma)) ** 2 - log_sigma
            - 0.5 * math.log(2 * math.pi)).sum(-1)


# ---------------------------------------------------------------- fixtures


def make_model(attention, seed=0, randomize=True):
    model = Draw(image_shape=IMAGE, steps=STEPS, enc_units=ENC, dec_units=DEC, z_dim=Z,
                 read_n=READ_N, write_n=WRITE_N, attention=attention, seed=seed)
    model.build()
    if not randomize:
        return model
    # Random weights everywhere (zero biases would hide wiring mistakes).
    rng = np.random.default_rng(123)
    for v in model.weights:
        v.assign(f32(rng.normal(0, 0.3, v.shape)))
    return model


def cell_weights(model):
    cell = model.cell
    w = {
        "encoder": [np.float64(a) for a in cell.encoder.get_weights()],
        "decoder": [np.float64(a) for a in cell.decoder.get_weights()],
        "mu": [np.float64(a) for a in cell.posterior.mu.get_weights()],
        "log_sigma": [np.float64(a) for a in cell.posterior.log_sigma.get_weights()],
        "patch": [np.float64(a) for a in cell.writer.patch.get_weights()],
    }
    assert [a.shape for a in w["encoder"]][1:] == [(ENC, 4 * ENC), (4 * ENC,)]
    if model.cell.attention:
        w["read"] = [np.float64(a) for a in cell.reader.params.get_weights()]
        w["write"] = [np.float64(a) for a in cell.writer.params.get_weights()]
    return w


def images(batch=BATCH, seed=0):
    return f32(np.random.default_rng(seed).integers(0, 2, (batch, *IMAGE)))


def noise(batch=BATCH, seed=1):
    return f32(np.random.default_rng(seed).standard_normal((STEPS, batch, Z)))


attention_both = pytest.mark.parametrize("attention", [True, False], ids=["attn", "noattn"])


# ---------------------------------------------------------------- shapes and loss terms


@attention_both
def test_shapes_and_loss_terms(attention):
    model = make_model(attention)
    x, eps = images(), noise()
    terms = {k: to_np(v) for k, v in model.loss_terms(x, eps).items()}
    assert set(terms) == {"reconstruction", "kl", "total"}
    for v in terms.values():
        assert v.shape == (BATCH,) and np.isfinite(v).all()
    np.testing.assert_allclose(terms["total"], terms["reconstruction"] + terms["kl"], rtol=1e-6)
    assert (terms["kl"] >= 0).all() and (terms["reconstruction"] > 0).all()

    traj = {k: to_np(v) for k, v in model.infer(x, eps).items()}
    assert traj["canvas"].shape == (BATCH, *IMAGE)
    for k in ("mu", "log_sigma", "z"):
        assert traj[k].shape == (STEPS, BATCH, Z), k

    out = {k: to_np(v) for k, v in model.generate(noise(batch=2)).items()}
    assert out["canvases"].shape == (STEPS, 2, *IMAGE)
    assert out["windows"].shape == (STEPS, 2, 5)
    assert ((out["canvases"] > 0) & (out["canvases"] < 1)).all()

    # call() draws its own noise: same shapes, finite.
    called = model(x)
    assert set(called) == {"reconstruction", "kl", "total"}
    assert tuple(ops.shape(called["total"])) == (BATCH,)


@attention_both
def test_unrolled_loss_matches_reference(attention):
    """T steps of eqs. 3-8 and the loss of eqs. 9-11, against the NumPy re-implementation."""
    model = make_model(attention)
    x, eps = images(), noise()
    w = cell_weights(model)
    canvas, per_step = ref_infer(w, x.astype(np.float64), eps.astype(np.float64), attention)

    traj = {k: to_np(v) for k, v in model.infer(x, eps).items()}
    np.testing.assert_allclose(traj["canvas"], canvas, rtol=RTOL, atol=ATOL)
    for k in ("mu", "log_sigma", "z"):
        np.testing.assert_allclose(traj[k], per_step[k], rtol=RTOL, atol=ATOL, err_msg=k)

    terms = {k: to_np(v) for k, v in model.loss_terms(x, eps).items()}
    recon = ref_bernoulli_nll(x, canvas)
    mu, sigma = per_step["mu"], np.exp(per_step["log_sigma"])
    kl = 0.5 * (mu ** 2 + sigma ** 2 - np.log(sigma ** 2)).sum((0, 2)) - STEPS * Z / 2  # eq. 11
    np.testing.assert_allclose(terms["reconstruction"], recon, rtol=RTOL)
    np.testing.assert_allclose(terms["kl"], kl, rtol=RTOL)
    np.testing.assert_allclose(terms["total"], recon + kl, rtol=RTOL)


@attention_both
@pytest.mark.parametrize("start", ["zero", "random"])
def test_cell_one_step_matches_eqs_3_to_8(attention, start):
    model = make_model(attention)
    cell = model.cell
    x, eps = images(), noise()[0]
    rng = np.random.default_rng(9)
    if start == "zero":
        state = zero_state(BATCH)
    else:  # a mid-sequence state: exercises h_dec_prev in read/encoder and the canvas in x_hat
        # |h| < 1 as an LSTM's h is, so the read window stays on the image (a window far
        # off it underflows, where the paper's F is 0/0 and the code's is 0).
        state = {k: rng.uniform(-0.6, 0.6, v.shape) for k, v in zero_state(BATCH).items()}
        state["canvas"] = rng.normal(0, 2, (BATCH, *IMAGE))
    expected_state, expected_out = ref_step(cell_weights(model), x.astype(np.float64), state,
                                            eps.astype(np.float64), attention)

    new_state, out = cell(x, {k: f32(v) for k, v in state.items()}, eps)
    assert set(new_state) == set(expected_state)
    for k in expected_state:
        np.testing.assert_allclose(to_np(new_state[k]), expected_state[k], rtol=RTOL, atol=ATOL,
                                   err_msg=k)
    for k in expected_out:
        np.testing.assert_allclose(to_np(out[k]), expected_out[k], rtol=RTOL, atol=ATOL,
                                   err_msg=k)


# ---------------------------------------------------------------- generation


@attention_both
def test_generate_matches_reference(attention):
    """canvases[t] = sigmoid(sum_{s<=t} write(h~_s)) with h~_s = RNN_dec(h~_{s-1}, z~_s)."""
    model = make_model(attention)
    w = cell_weights(model)
    eps = noise(batch=3, seed=5)
    out = {k: to_np(v) for k, v in model.generate(eps).items()}

    h, c = np.zeros((3, DEC)), np.zeros((3, DEC))
    canvas = np.zeros((3, *IMAGE))
    for t in range(STEPS):
        h, c = lstm(eps[t].astype(np.float64), h, c, w["decoder"])  # eq. 14
        canvas = canvas + ref_write(w, h, attention)  # eq. 15
        np.testing.assert_allclose(out["canvases"][t], sigmoid(canvas), rtol=RTOL, atol=1e-6,
                                   err_msg=f"t={t}")
        if attention:
            expected = np.stack(window(dense(h, w["write"]), WRITE_N), axis=-1)
            np.testing.assert_allclose(out["windows"][t], expected, rtol=RTOL, atol=1e-6)
    if attention:
        assert (out["windows"][..., 2:] > 0).all()  # delta, sigma^2, gamma
    else:
        np.testing.assert_array_equal(out["windows"], 0.0)
    # The canvas is cumulative: the steps differ from one another.
    assert not np.allclose(out["canvases"][0], out["canvases"][-1])


@attention_both
def test_trace_matches_reference(attention):
    """trace: canvases[t] = sigmoid(c_t) of the inference pass, the read window from
    h_dec_{t-1} (eq. 21) and the write window from h_dec_t."""
    model = make_model(attention)
    w = cell_weights(model)
    x, eps = images(batch=3), noise(batch=3, seed=5)
    out = {k: to_np(v) for k, v in model.trace(x, eps).items()}
    assert out["canvases"].shape == (STEPS, 3, *IMAGE)
    state = zero_state(3)
    for t in range(STEPS):
        new_state, _ = ref_step(w, np.float64(x), state, eps[t].astype(np.float64), attention)
        np.testing.assert_allclose(out["canvases"][t], sigmoid(new_state["canvas"]),
                                   rtol=RTOL, atol=1e-6, err_msg=f"t={t}")
        for key, h, n in (("read", state["h_dec"], READ_N), ("write", new_state["h_dec"], WRITE_N)):
            want = (np.stack(window(dense(h, w[key]), n), axis=-1) if attention
                    else np.zeros((3, 5)))
            np.testing.assert_allclose(out[f"{key}_windows"][t], want, rtol=RTOL, atol=1e-6,
                                       err_msg=f"{key} t={t}")
        state = new_state


# ---------------------------------------------------------------- importance weights


@attention_both
def test_log_importance_weight_identity(attention):
    """log w(eps) = -L^x + sum_t [log N(z_t; 0, 1) - log N(z_t; mu_t, sigma_t)], same eps."""
    model = make_model(attention)
    x, eps = images(), noise(seed=3)
    log_w = to_np(model.log_importance_weight(x, eps))
    assert log_w.shape == (BATCH,)
    traj = {k: to_np(v) for k, v in model.infer(x, eps).items()}
    recon = ref_bernoulli_nll(x, traj["canvas"])
    z, mu, ls = traj["z"], traj["mu"], traj["log_sigma"]
    np.testing.assert_allclose(z, mu + np.exp(ls) * eps, rtol=RTOL, atol=ATOL)
    expected = -recon + (ref_log_normal(z) - ref_log_normal(z, mu, ls)).sum(0)
    np.testing.assert_allclose(log_w, expected, rtol=RTOL, atol=1e-4)
    # With z = mu + sigma eps, log q(z) = sum(-eps^2/2 - log sigma - log(2 pi)/2).
    log_q = (-0.5 * eps.astype(np.float64) ** 2 - ls - 0.5 * math.log(2 * math.pi)).sum((0, 2))
    np.testing.assert_allclose(log_w, -recon + ref_log_normal(z).sum(0) - log_q, rtol=RTOL,
                               atol=1e-4)


def test_log_importance_weight_averages_to_minus_elbo():
    """E_eps[log w] = -E_eps[L^x + L^z]: log w + total = sum_t[log p(z) - log q(z)] + KL,
    which has mean zero over eps; 2000 draws for one image, 5 standard errors."""
    model = make_model(True)
    n = 2000
    x = np.repeat(images(batch=1), n, axis=0)
    eps = f32(np.random.default_rng(11).standard_normal((STEPS, n, Z)))
    log_w = to_np(model.log_importance_weight(x, eps))
    total = to_np(model.loss_terms(x, eps)["total"])
    diff = log_w + total
    assert abs(diff.mean()) < 5 * diff.std() / math.sqrt(n) + 1e-6, (diff.mean(), diff.std())
    # Jensen: the log of the mean weight is at least the mean log weight.
    log_mean_w = np.log(np.mean(np.exp(log_w - log_w.max()))) + log_w.max()
    assert log_mean_w >= log_w.mean()



def test_importance_sampling_in_bounded_chunks():
    """K = 6 samples of 3 images with at most 6 rows a call: 3 calls of 2 samples, each with
    the noise of its own call index, combined as one log-mean-exp of the 6 weights; with
    room for all, one call (the estimate as before chunking)."""
    from t2i_tf.metrics import likelihood as lik

    model = make_model(True)
    x = images(batch=3)

    def reference(chunk):
        weights = [to_np(model.log_importance_weight(
                       np.tile(x, (chunk, 1, 1)),
                       lik.noise(model, chunk * 3, 5, c * 1_000_000))).reshape(chunk, 3)
                   for c in range(6 // chunk)]
        return -lik.log_mean_exp(np.concatenate(weights)).mean()

    for max_rows, chunk in ((6, 2), (8, 2), (10, 3), (100, 6)):
        got = lik.importance_sampled_nll(model, x, 6, batch_size=3, seed=5, max_rows=max_rows)
        np.testing.assert_allclose(got[0], reference(chunk), rtol=1e-5)

# ---------------------------------------------------------------- training


@attention_both
def test_training_lowers_the_loss(attention):
    keras.utils.set_random_seed(0)
    model = make_model(attention, seed=0, randomize=False)  # Keras' own initialisation
    rng = np.random.default_rng(0)
    # Seeded binary images from a fixed per-pixel pattern (mostly 0, a band of mostly 1).
    probs = np.full(IMAGE, 0.05)
    probs[3:9, 2:8] = 0.9
    x = f32(rng.random((8, *IMAGE)) < probs)
    eps = noise(batch=8, seed=4)
    before = float(np.mean(to_np(model.loss_terms(x, eps)["total"])))
    model.compile(optimizer=keras.optimizers.Adam(1e-2))
    history = model.fit(x, batch_size=8, epochs=20, verbose=0, shuffle=False)
    losses = history.history["loss"]
    assert len(losses) == 20 and np.isfinite(losses).all()
    assert {"reconstruction", "kl"} <= set(history.history)
    after = float(np.mean(to_np(model.loss_terms(x, eps)["total"])))
    # Measured: 83.5 -> 65.8 nats with attention, 84.3 -> 30.2 without.
    assert after < before - 10.0, (before, after)
    assert losses[-1] < losses[0] - 5.0, losses


def test_config_round_trip():
    model = make_model(True)
    config = model.get_config()
    clone = Draw.from_config(config)
    clone.build()
    assert clone.get_config() == config
    assert [tuple(v.shape) for v in clone.weights] == [tuple(v.shape) for v in model.weights]
