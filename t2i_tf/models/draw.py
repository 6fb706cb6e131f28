"""DRAW: a recurrent VAE that draws in T steps (Gregor et al. 2015, eqs. 3-16).

The DRAW cell is one step (inference, eqs. 3-8, and generation, eqs. 13-15;
t2i_tf/layers/draw_cell.py); `Draw` unrolls it with t2i_tf.layers.scan, so no Python loop
runs over the T steps and the same code compiles under tf.function/XLA and under jax.jit.
"""

import keras
from keras import ops

from t2i_tf.layers import latent, likelihood, scan
from t2i_tf.layers.draw_cell import DrawCell, trace_outputs, traced, window_vector
from t2i_tf.models.variational import VariationalModel


class Draw(VariationalModel):
    """DRAW with a Bernoulli likelihood on sigmoid(c_T).

    Args:
      image_shape: (B, A).
      steps: T, the number of glimpses.
      enc_units, dec_units, z_dim, read_n, write_n, attention: see DrawCell.
      seed: seed of the noise used by call() (training and evaluation).

    call(x) takes images (batch, B, A) in [0, 1] and returns the per-image loss terms in
    nats: {"reconstruction": L^x, "kl": L^z, "total": L^x + L^z}, each (batch,).
    """

    registry_name = "draw"

    def __init__(self, image_shape=(28, 28), steps=64, enc_units=256, dec_units=256,
                 z_dim=100, read_n=2, write_n=5, attention=True, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.steps = steps
        self.z_dim = z_dim
        self.seed = seed
        self.cell = DrawCell(image_shape, enc_units, dec_units, z_dim, read_n, write_n,
                             attention, name="cell")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape=None):
        self.cell.build()
        self.built = True

    def infer(self, x, eps):
        """Runs eqs. 3-8 for T steps.

        Returns dict: canvas (batch, B, A) = c_T, and mu, log_sigma, z, each (T, batch, z_dim).
        """
        x = ops.cast(x, self.compute_dtype)

        def step(state, eps_t):
            return self.cell(x, state, eps_t)

        state, per_step = scan.scan(step, self.cell.initial_state(ops.shape(x)[0]), eps)
        return {"canvas": state["canvas"], **per_step}

    def loss_terms(self, x, eps):
        """L^x, L^z and their sum (eqs. 9-12) per image, in nats."""
        trajectory = self.infer(x, eps)
        reconstruction = likelihood.bernoulli_nll(ops.cast(x, "float32"), trajectory["canvas"])
        kl = ops.sum(latent.gaussian_kl(trajectory["mu"], trajectory["log_sigma"]), axis=0)
        return {"reconstruction": reconstruction, "kl": kl, "total": reconstruction + kl}

    def log_importance_weight(self, x, eps):
        """log p(x | z) + log p(z) - log q(z | x) for z drawn with eps: (batch,).

        Averaging exp() of K of these gives the importance-sampled estimate of p(x).
        """
        trajectory = self.infer(x, eps)
        log_px_z = -likelihood.bernoulli_nll(ops.cast(x, "float32"), trajectory["canvas"])
        z = trajectory["z"]
        log_pz = latent.gaussian_log_density(z)
        log_qz = latent.gaussian_log_density(z, trajectory["mu"], trajectory["log_sigma"])
        return log_px_z + ops.sum(log_pz - log_qz, axis=0)

    def trace(self, x, eps):
        """The inference pass of eqs. 3-8 step by step, for pictures (TensorBoard).

        Returns dict: canvases (T, batch, B, A) = sigmoid(c_t), and read_windows and
        write_windows (T, batch, 5), the windows of each step's read and write (zeros
        without attention).
        """
        x = ops.cast(x, self.compute_dtype)

        def step(state, eps_t):
            new_state, _ = self.cell(x, state, eps_t)
            return new_state, trace_outputs(self.cell, state, new_state)

        return traced(scan.scan(step, self.cell.initial_state(ops.shape(x)[0]), eps)[1])

    def generate(self, eps):
        """Samples from the prior, eqs. 13-16.

        Args:
          eps: (T, batch, z_dim) the prior samples z~_t (N(0, I) for DRAW).

        Returns dict: canvases (T, batch, B, A) = sigmoid(c_t) for every t, and windows
        (T, batch, 5) = (g_X, g_Y, delta, sigma^2, gamma) of each write (zeros without
        attention).
        """
        batch = ops.shape(eps)[1]

        def step(state, z_t):
            state, window = self.cell.generate(state, z_t)
            if window is None:
                window_t = ops.zeros((batch, 5), dtype=z_t.dtype)
            else:
                window_t = window_vector(window)
            return state, (ops.sigmoid(state["canvas"]), window_t)

        _, (canvases, windows) = scan.scan(step, self.cell.initial_state(batch), eps)
        return {"canvases": canvases, "windows": windows}

    def call(self, x, training=False):
        return self.loss_terms(x, self.noise(ops.shape(x)[0]))

    def get_config(self):
        cell = self.cell
        return {
            **super().get_config(),
            "image_shape": self.image_shape,
            "steps": self.steps,
            "enc_units": cell.enc_units,
            "dec_units": cell.dec_units,
            "z_dim": self.z_dim,
            "read_n": cell.read_n,
            "write_n": cell.write_n,
            "attention": cell.attention,
            "seed": self.seed,
        }
