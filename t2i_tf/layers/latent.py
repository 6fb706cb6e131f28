"""Latent distributions of DRAW: the Gaussian posterior Q(Z_t | h_enc) (eqs. 1-2), its
reparameterised sample, and the closed-form KL to a diagonal Gaussian prior (eqs. 10-11).
"""

import math

import keras
from keras import ops


class GaussianPosterior(keras.layers.Layer):
    """mu = W_mu h, log sigma = W_sigma h (eqs. 1-2 of DRAW).

    Args:
      z_dim: size of z_t.

    Call args: h (batch, units).
    Returns: (mu, log_sigma), each (batch, z_dim).
    """

    def __init__(self, z_dim, **kwargs):
        super().__init__(**kwargs)
        self.z_dim = z_dim
        self.mu = keras.layers.Dense(z_dim, name="mu")
        self.log_sigma = keras.layers.Dense(z_dim, name="log_sigma")

    def build(self, h_shape):
        self.mu.build(h_shape)
        self.log_sigma.build(h_shape)

    def call(self, h):
        return self.mu(h), self.log_sigma(h)

    def get_config(self):
        return {**super().get_config(), "z_dim": self.z_dim}


class DependentPrior(keras.layers.Layer):
    """alignDRAW's prior P(Z_t | Z_1:t-1) = N(mu, sigma) with (Mansimov et al. 2016, §3.2)

        mu = tanh(W_mu h_gen_{t-1}),  sigma = exp(tanh(W_sigma h_gen_{t-1})),

    no biases, as written in the paper. The caller uses N(0, I) for Z_1.

    Args:
      z_dim: size of z_t.

    Call args: h_gen (batch, units).
    Returns: (mu, log_sigma), each (batch, z_dim); log_sigma = tanh(W_sigma h) in (-1, 1).
    """

    def __init__(self, z_dim, **kwargs):
        super().__init__(**kwargs)
        self.z_dim = z_dim
        self.mu = keras.layers.Dense(z_dim, use_bias=False, name="mu")
        self.log_sigma = keras.layers.Dense(z_dim, use_bias=False, name="log_sigma")

    def build(self, h_shape):
        self.mu.build(h_shape)
        self.log_sigma.build(h_shape)

    def call(self, h):
        return ops.tanh(self.mu(h)), ops.tanh(self.log_sigma(h))

    def get_config(self):
        return {**super().get_config(), "z_dim": self.z_dim}


def reparameterize(mu, log_sigma, eps):
    """z = mu + sigma * eps with eps ~ N(0, I) drawn by the caller."""
    return mu + ops.exp(log_sigma) * eps


def gaussian_kl(mu_q, log_sigma_q, mu_p=None, log_sigma_p=None):
    """KL(N(mu_q, sigma_q^2) || N(mu_p, sigma_p^2)) summed over the last axis.

    With the prior left out it is N(0, I) and the result is eq. 11 of DRAW for one step:
    0.5 * sum(mu^2 + sigma^2 - log sigma^2) - z_dim / 2.
    """
    if mu_p is None:
        terms = ops.square(mu_q) + ops.exp(2.0 * log_sigma_q) - 2.0 * log_sigma_q - 1.0
        return 0.5 * ops.sum(terms, axis=-1)
    var_ratio = ops.exp(2.0 * (log_sigma_q - log_sigma_p))
    mean_term = ops.square(mu_q - mu_p) * ops.exp(-2.0 * log_sigma_p)
    return 0.5 * ops.sum(var_ratio + mean_term - 1.0 - 2.0 * (log_sigma_q - log_sigma_p), axis=-1)


def gaussian_log_density(z, mu=None, log_sigma=None):
    """log N(z; mu, sigma^2) summed over the last axis (standard normal if mu is None)."""
    if mu is None:
        return -0.5 * ops.sum(ops.square(z) + math.log(2.0 * math.pi), axis=-1)
    scaled = (z - mu) * ops.exp(-log_sigma)
    return -ops.sum(0.5 * ops.square(scaled) + log_sigma + 0.5 * math.log(2.0 * math.pi), axis=-1)
