"""Tests of t2i_tf.layers.latent and t2i_tf.layers.likelihood against NumPy formulas."""

import math

import numpy as np
import pytest
from keras import ops

from t2i_tf.layers import latent, likelihood

RTOL = 1e-5
LOG_2PI = math.log(2.0 * math.pi)


def to_np(t):
    return np.asarray(ops.convert_to_numpy(t), dtype=np.float64)


def f32(a):
    return np.asarray(a, dtype=np.float32)


@pytest.fixture
def q_params():
    rng = np.random.default_rng(0)
    mu = f32(rng.normal(0, 1.5, (4, 3, 5)))  # (T, batch, z_dim)
    log_sigma = f32(rng.uniform(-1.5, 1.0, (4, 3, 5)))
    return mu, log_sigma


# ---------------------------------------------------------------- KL


def test_kl_standard_prior_is_eq_11(q_params):
    mu, log_sigma = q_params
    kl = to_np(latent.gaussian_kl(mu, log_sigma))
    assert kl.shape == (4, 3)  # summed over z_dim only
    m, s = mu.astype(np.float64), np.exp(log_sigma.astype(np.float64))
    z_dim = mu.shape[-1]
    # Eq. 11 for one step: 1/2 sum(mu^2 + sigma^2 - log sigma^2) - z_dim / 2.
    expected = 0.5 * (m ** 2 + s ** 2 - np.log(s ** 2)).sum(-1) - z_dim / 2.0
    np.testing.assert_allclose(kl, expected, rtol=RTOL)
    # Summed over T it is L^z of eq. 11 with T steps.
    np.testing.assert_allclose(kl.sum(0), 0.5 * (m ** 2 + s ** 2 - np.log(s ** 2)).sum((0, 2))
                               - 4 * z_dim / 2.0, rtol=RTOL)
    assert (kl >= 0).all()


def test_kl_known_values():
    # KL(N(1, 1) || N(0, 1)) = 1/2; KL(N(0, e^2) || N(0, 1)) = (e^2 - 1 - 2) / 2.
    kl = to_np(latent.gaussian_kl(f32([[1.0], [0.0]]), f32([[0.0], [1.0]])))
    np.testing.assert_allclose(kl, [0.5, (np.e ** 2 - 3.0) / 2.0], rtol=RTOL)


def ref_kl(mu_q, ls_q, mu_p, ls_p):
    """KL(N(mu_q, s_q^2) || N(mu_p, s_p^2)) = log(s_p/s_q) + (s_q^2 + (mu_q-mu_p)^2)/(2 s_p^2) - 1/2."""
    mu_q, ls_q, mu_p, ls_p = (np.asarray(a, np.float64) for a in (mu_q, ls_q, mu_p, ls_p))
    s_q, s_p = np.exp(ls_q), np.exp(ls_p)
    return (np.log(s_p / s_q) + (s_q ** 2 + (mu_q - mu_p) ** 2) / (2 * s_p ** 2) - 0.5).sum(-1)


def test_kl_two_gaussians(q_params):
    mu, log_sigma = q_params
    rng = np.random.default_rng(1)
    mu_p = f32(rng.normal(0, 1, mu.shape))
    ls_p = f32(rng.uniform(-1.0, 1.0, mu.shape))
    kl = to_np(latent.gaussian_kl(mu, log_sigma, mu_p, ls_p))
    np.testing.assert_allclose(kl, ref_kl(mu, log_sigma, mu_p, ls_p), rtol=RTOL, atol=1e-6)
    assert (kl >= 0).all()
    # The general form with p = N(0, I) equals the prior-less form.
    zeros = np.zeros_like(mu)
    np.testing.assert_allclose(to_np(latent.gaussian_kl(mu, log_sigma, zeros, zeros)),
                               to_np(latent.gaussian_kl(mu, log_sigma)), rtol=RTOL, atol=1e-6)
    # KL is not symmetric: swapping q and p changes it.
    swapped = to_np(latent.gaussian_kl(mu_p, ls_p, mu, log_sigma))
    np.testing.assert_allclose(swapped, ref_kl(mu_p, ls_p, mu, log_sigma), rtol=RTOL, atol=1e-6)
    assert not np.allclose(swapped, kl)


def test_kl_of_q_with_itself_is_zero(q_params):
    mu, log_sigma = q_params
    np.testing.assert_allclose(to_np(latent.gaussian_kl(mu, log_sigma, mu, log_sigma)), 0.0,
                               atol=1e-6)
    np.testing.assert_allclose(
        to_np(latent.gaussian_kl(np.zeros((2, 7), np.float32), np.zeros((2, 7), np.float32))),
        0.0, atol=1e-7)


def test_kl_matches_monte_carlo():
    """KL(q || p) = E_q[log q(z) - log p(z)], estimated from 400k samples (fixed seed)."""
    rng = np.random.default_rng(2)
    mu_q, ls_q = np.array([0.7, -1.2, 0.1]), np.array([-0.5, 0.3, 0.0])
    mu_p, ls_p = np.array([0.0, 0.5, -0.4]), np.array([0.2, 0.0, -0.3])
    z = mu_q + np.exp(ls_q) * rng.standard_normal((400_000, 3))

    def log_n(z, mu, ls):
        return (-0.5 * ((z - mu) / np.exp(ls)) ** 2 - ls - 0.5 * LOG_2PI).sum(-1)

    for p in ((mu_p, ls_p), (np.zeros(3), np.zeros(3))):
        diff = log_n(z, mu_q, ls_q) - log_n(z, *p)
        stderr = diff.std() / np.sqrt(len(diff))
        if p[0] is mu_p:
            kl = to_np(latent.gaussian_kl(f32(mu_q), f32(ls_q), f32(mu_p), f32(ls_p)))
        else:
            kl = to_np(latent.gaussian_kl(f32(mu_q), f32(ls_q)))
        assert abs(float(kl) - diff.mean()) < 5 * stderr, (float(kl), diff.mean(), stderr)


# ---------------------------------------------------------------- densities and samples


def test_gaussian_log_density(q_params):
    mu, log_sigma = q_params
    rng = np.random.default_rng(3)
    z = f32(rng.normal(0, 2, mu.shape))
    zd, m, ls = (a.astype(np.float64) for a in (z, mu, log_sigma))
    s = np.exp(ls)
    expected = (-0.5 * ((zd - m) / s) ** 2 - np.log(s) - 0.5 * np.log(2 * np.pi)).sum(-1)
    got = to_np(latent.gaussian_log_density(z, mu, log_sigma))
    assert got.shape == (4, 3)
    np.testing.assert_allclose(got, expected, rtol=RTOL)
    # Standard normal when mu is left out.
    expected0 = (-0.5 * zd ** 2 - 0.5 * np.log(2 * np.pi)).sum(-1)
    np.testing.assert_allclose(to_np(latent.gaussian_log_density(z)), expected0, rtol=RTOL)
    zeros = np.zeros_like(z)
    np.testing.assert_allclose(to_np(latent.gaussian_log_density(z, zeros, zeros)), expected0,
                               rtol=RTOL)
    # log N(0; 0, 1) in one dimension.
    assert float(to_np(latent.gaussian_log_density(f32([[0.0]])))[0]) == pytest.approx(
        -0.5 * np.log(2 * np.pi), rel=1e-6)


def test_log_density_integrates_to_one():
    """exp(log N(z; mu, sigma)) integrates to 1 over a fine 1-D grid."""
    grid = np.linspace(-12, 12, 24001, dtype=np.float32)[:, None]
    mu = np.full_like(grid, 0.8)
    ls = np.full_like(grid, np.log(1.7))
    dens = np.exp(to_np(latent.gaussian_log_density(grid, mu, ls)))
    assert np.trapezoid(dens, grid[:, 0].astype(np.float64)) == pytest.approx(1.0, abs=1e-5)


def test_reparameterize(q_params):
    mu, log_sigma = q_params
    eps = f32(np.random.default_rng(4).standard_normal(mu.shape))
    z = to_np(latent.reparameterize(mu, log_sigma, eps))
    expected = mu.astype(np.float64) + np.exp(log_sigma.astype(np.float64)) * eps
    np.testing.assert_allclose(z, expected, rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(to_np(latent.reparameterize(mu, log_sigma, np.zeros_like(eps))),
                               mu, rtol=0, atol=0)


def test_gaussian_posterior_layer():
    layer = latent.GaussianPosterior(3)
    layer.build((None, 4))
    rng = np.random.default_rng(5)
    wm, bm, ws, bs = (f32(rng.normal(0, 1, s)) for s in ((4, 3), (3,), (4, 3), (3,)))
    layer.mu.set_weights([wm, bm])
    layer.log_sigma.set_weights([ws, bs])
    h = f32(rng.normal(0, 1, (2, 4)))
    mu, log_sigma = layer(h)
    np.testing.assert_allclose(to_np(mu), h.astype(np.float64) @ wm + bm, rtol=RTOL, atol=1e-6)
    np.testing.assert_allclose(to_np(log_sigma), h.astype(np.float64) @ ws + bs, rtol=RTOL,
                               atol=1e-6)
    assert latent.GaussianPosterior.from_config(layer.get_config()).z_dim == 3


# ---------------------------------------------------------------- Bernoulli likelihood


def test_bernoulli_nll_moderate_logits():
    rng = np.random.default_rng(6)
    logits = f32(rng.normal(0, 3, (3, 4, 5)))
    x = f32(rng.integers(0, 2, (3, 4, 5)))
    got = to_np(likelihood.bernoulli_nll(x, logits))
    assert got.shape == (3,)
    p = 1.0 / (1.0 + np.exp(-logits.astype(np.float64)))
    expected = -(x * np.log(p) + (1 - x) * np.log(1 - p)).sum((1, 2))
    np.testing.assert_allclose(got, expected, rtol=RTOL)
    # Grey-level targets in [0, 1]: the cross-entropy, same formula.
    xg = f32(rng.uniform(0, 1, (3, 4, 5)))
    expected_g = -(xg * np.log(p) + (1 - xg) * np.log(1 - p)).sum((1, 2))
    np.testing.assert_allclose(to_np(likelihood.bernoulli_nll(xg, logits)), expected_g,
                               rtol=RTOL)
    # Logits 0: log 2 nats per pixel whatever x is.
    np.testing.assert_allclose(to_np(likelihood.bernoulli_nll(x, np.zeros_like(x))),
                               20 * np.log(2.0), rtol=1e-6)


def test_bernoulli_nll_extreme_logits_finite():
    x = f32([[1.0, 0.0, 1.0, 0.0]]).reshape(1, 2, 2)
    logits = f32([[-100.0, 100.0, 100.0, -100.0]]).reshape(1, 2, 2)
    got = to_np(likelihood.bernoulli_nll(x, logits))
    assert np.isfinite(got).all()
    # Two confident mistakes cost 100 nats each; two confident hits cost ~e^-100.
    np.testing.assert_allclose(got, [200.0], rtol=1e-6)
    per_pixel = [to_np(likelihood.bernoulli_nll(x[:, i:i + 1, j:j + 1], logits[:, i:i + 1, j:j + 1]))[0]
                 for i in range(2) for j in range(2)]
    np.testing.assert_allclose(per_pixel, [100.0, 100.0, 0.0, 0.0], rtol=1e-6, atol=1e-30)
    # Larger still: +-1e4 stays finite.
    big = to_np(likelihood.bernoulli_nll(x, 100 * logits))
    np.testing.assert_allclose(big, [2e4], rtol=1e-6)
