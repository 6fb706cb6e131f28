"""alignDRAW and noalignDRAW on a tiny configuration: the bound's terms, the dependent
prior with P(Z_1) = N(0, I), the word weights, and that the caption changes the picture."""

import numpy as np
import pytest
from keras import ops

from t2i_tf.layers import latent
from t2i_tf.models.align_draw import AlignDraw

LENGTHS = np.array([6, 4, 1, 3, 2])


def tiny(align_units, **kwargs):
    model = AlignDraw(image_shape=(12, 10), steps=3, enc_units=16, dec_units=16, z_dim=4,
                      read_n=2, write_n=3, embed_dim=8, lang_units=8,
                      align_units=align_units, seed=0, **kwargs)
    model.build()
    return model


def batch(seed=0):
    rng = np.random.default_rng(seed)
    return {
        "images": (rng.random((5, 12, 10)) < 0.3).astype("float32"),
        "ids": rng.integers(2, 24, (5, 6)).astype("int32"),
        "mask": np.arange(6)[None, :] < LENGTHS[:, None],
    }


def eps(model, n=5, seed=1):
    return np.random.default_rng(seed).standard_normal((model.steps, n, model.z_dim)).astype("float32")


def numpy(x):
    return np.asarray(ops.convert_to_numpy(x))


@pytest.fixture(params=[16, 0], ids=["align", "noalign"])
def model(request):
    return tiny(request.param)


def test_loss_terms(model):
    x = batch()
    terms = {k: numpy(v) for k, v in model.loss_terms(x["images"], x["ids"], x["mask"], eps(model)).items()}
    assert all(v.shape == (5,) for v in terms.values())
    np.testing.assert_allclose(terms["total"], terms["reconstruction"] + terms["kl"], rtol=1e-6)
    assert (terms["kl"] >= 0).all()


def test_trace_ends_on_the_inferred_canvas(model):
    x = batch()
    noise = eps(model)
    out = {k: numpy(v) for k, v in model.trace(x["images"], x["ids"], x["mask"], noise).items()}
    assert out["canvases"].shape == (3, 5, 12, 10)
    assert out["read_windows"].shape == out["write_windows"].shape == (3, 5, 5)
    final = numpy(model.infer(x["images"], x["ids"], x["mask"], noise)["canvas"])
    np.testing.assert_allclose(out["canvases"][-1], 1 / (1 + np.exp(-final)), atol=1e-6)
    assert (out["read_windows"][..., 2:] > 0).all() and (out["write_windows"][..., 2:] > 0).all()


def test_first_prior_is_standard_normal_and_later_priors_follow_h_gen(model):
    x = batch()
    tr = model.infer(x["images"], x["ids"], x["mask"], eps(model))
    mu_p, log_sigma_p = numpy(tr["mu_prior"]), numpy(tr["log_sigma_prior"])
    assert np.all(mu_p[0] == 0) and np.all(log_sigma_p[0] == 0)
    assert np.abs(mu_p[1:]).max() > 0
    # mu = tanh(W_mu h), log sigma = tanh(W_sigma h): bounded by 1 in magnitude.
    assert np.abs(mu_p).max() < 1 and np.abs(log_sigma_p).max() < 1


def test_dependent_prior_against_numpy():
    prior = latent.DependentPrior(3)
    prior.build((None, 5))
    h = np.random.default_rng(0).standard_normal((4, 5)).astype("float32")
    mu, log_sigma = (numpy(v) for v in prior(h))
    np.testing.assert_allclose(mu, np.tanh(h @ numpy(prior.mu.kernel)), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(log_sigma, np.tanh(h @ numpy(prior.log_sigma.kernel)),
                               rtol=1e-5, atol=1e-6)


def test_word_weights_cover_real_words_only():
    model = tiny(16)
    x = batch()
    alpha = numpy(model.generate(x["ids"], x["mask"], eps(model))["alpha"])  # (T, n, L)
    assert alpha.shape == (3, 5, 6)
    np.testing.assert_allclose(alpha.sum(-1), 1.0, rtol=1e-5)
    assert np.all(alpha[:, ~x["mask"]] == 0)
    assert np.all(alpha[:, 2, 0] == pytest.approx(1.0))  # a one-word caption


def test_noalign_has_no_word_weights():
    model = tiny(0)
    x = batch()
    assert np.all(numpy(model.generate(x["ids"], x["mask"], eps(model))["alpha"]) == 0)


def test_caption_changes_the_picture_and_padding_does_not(model):
    x = batch()
    e = eps(model)
    base = numpy(model.generate(x["ids"], x["mask"], e)["canvases"][-1])
    other_ids = x["ids"].copy()
    other_ids[:, 0] = (other_ids[:, 0] + 1) % 22 + 2
    other = numpy(model.generate(other_ids, x["mask"], e)["canvases"][-1])
    assert np.abs(base - other).max() > 1e-6
    padded_ids = np.concatenate([x["ids"], np.full((5, 3), 7, "int32")], axis=1)
    padded_mask = np.concatenate([x["mask"], np.zeros((5, 3), bool)], axis=1)
    padded = numpy(model.generate(padded_ids, padded_mask, e)["canvases"][-1])
    np.testing.assert_allclose(padded, base, rtol=1e-5, atol=1e-6)


def test_importance_weight_identity(model):
    x = batch()
    e = eps(model)
    tr = model.infer(x["images"], x["ids"], x["mask"], e)
    terms = model.loss_terms(x["images"], x["ids"], x["mask"], e)
    z = numpy(tr["z"])
    log_p = latent.gaussian_log_density(z, tr["mu_prior"], tr["log_sigma_prior"])
    log_q = latent.gaussian_log_density(z, tr["mu"], tr["log_sigma"])
    expected = -numpy(terms["reconstruction"]) + numpy(ops.sum(log_p - log_q, axis=0))
    got = numpy(model.log_importance_weight(x["images"], x["ids"], x["mask"], e))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


def test_paper_initialisation_draws_small_weights():
    model = tiny(16, init_stddev=0.01)
    w = np.concatenate([numpy(v).ravel() for v in model.trainable_weights])
    assert abs(w.std() - 0.01) < 0.001 and abs(w.mean()) < 0.001


def test_training_lowers_the_loss():
    import keras

    model = tiny(16)
    model.compile(optimizer=keras.optimizers.RMSprop(1e-2, clipnorm=10.0))
    x = batch()
    first = model.evaluate(x, batch_size=5, verbose=0, return_dict=True)["loss"]
    model.fit(x, batch_size=5, epochs=20, verbose=0)
    last = model.evaluate(x, batch_size=5, verbose=0, return_dict=True)["loss"]
    assert last < first - 5.0, (first, last)


def test_config_round_trip(model):
    clone = AlignDraw(**{k: v for k, v in model.get_config().items()
                         if k not in ("name", "trainable", "dtype")})
    clone.build()
    assert [tuple(v.shape) for v in clone.weights] == [tuple(v.shape) for v in model.weights]


def test_colour_images_as_on_coco():
    """The paper's COCO model draws (32, 32, 3) images: (B, A, 3) through the same code, and
    the bound is summed over the three channels."""
    model = AlignDraw(image_shape=(12, 10, 3), steps=3, enc_units=16, dec_units=16, z_dim=4,
                      read_n=2, write_n=3, embed_dim=8, lang_units=8, align_units=16, seed=0)
    model.build()
    x = batch()
    images = np.stack([x["images"], 1 - x["images"], x["images"]], axis=-1)
    terms = {k: numpy(v) for k, v in
             model.loss_terms(images, x["ids"], x["mask"], eps(model)).items()}
    assert all(v.shape == (5,) and np.isfinite(v).all() for v in terms.values())
    trajectory = model.infer(images, x["ids"], x["mask"], eps(model))
    expected = np.sum(np.logaddexp(0, numpy(trajectory["canvas"])) -
                      images * numpy(trajectory["canvas"]), axis=(1, 2, 3))
    np.testing.assert_allclose(terms["reconstruction"], expected, rtol=1e-5)
    canvases = numpy(model.generate(x["ids"], x["mask"], eps(model))["canvases"])
    assert canvases.shape == (3, 5, 12, 10, 3)


def test_caption_sampler_temperature_scales_the_prior_noise():
    import keras

    from t2i_tf.sampling import samplers

    model, x = tiny(16), batch()
    eps = keras.random.normal((3, 5, 4), seed=7)  # what the sampler draws for seed 7
    for t in (0.0, 0.6):
        out = samplers.CaptionSampler(model, temperature=t)(x["ids"], x["mask"], seed=7)
        expected = model.generate(x["ids"], x["mask"], t * eps)
        np.testing.assert_allclose(out["canvases"], ops.convert_to_numpy(expected["canvases"]),
                                   rtol=1e-5, atol=1e-6)
    mean = samplers.CaptionSampler(model, temperature=0.0)
    np.testing.assert_array_equal(mean(x["ids"], x["mask"], seed=1)["canvases"],
                                  mean(x["ids"], x["mask"], seed=2)["canvases"])
