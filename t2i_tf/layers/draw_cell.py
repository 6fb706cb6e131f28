"""The DRAW cell: one time step of DRAW (Gregor et al. 2015), inference (eqs. 3-8) and
generation (eqs. 13-15). The models unroll it (t2i_tf/models/draw.py, align_draw.py) with
t2i_tf.layers.scan; alignDRAW's cell extends it (t2i_tf/layers/align_draw_cell.py).
"""

import keras
from keras import ops

from t2i_tf.layers import filterbank, latent


class DrawCell(keras.layers.Layer):
    """One DRAW time step.

    Args:
      image_shape: (B, A), image rows and columns, or (B, A, C) with C channels.
      enc_units, dec_units: sizes of the encoder and decoder LSTMs.
      z_dim: size of z_t.
      read_n, write_n: attention patch sides (unused without attention).
      attention: Gaussian read/write (§3.3) if True, full-image read/write (§3.1) if False.

    The state is a dict: h_enc, c_enc (batch, enc_units), h_dec, c_dec (batch, dec_units),
    canvas (batch, B, A) holding the logits c_t.
    """

    def __init__(self, image_shape, enc_units, dec_units, z_dim, read_n, write_n,
                 attention=True, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.enc_units = enc_units
        self.dec_units = dec_units
        self.z_dim = z_dim
        self.read_n = read_n
        self.write_n = write_n
        self.attention = attention
        if attention:
            self.reader = filterbank.GaussianRead(image_shape, read_n, name="read")
            self.writer = filterbank.GaussianWrite(image_shape, write_n, name="write")
        else:
            self.reader = filterbank.FullRead(image_shape, name="read")
            self.writer = filterbank.FullWrite(image_shape, name="write")
        self.encoder = keras.layers.LSTMCell(enc_units, name="encoder")
        self.decoder = keras.layers.LSTMCell(dec_units, name="decoder")
        self.posterior = latent.GaussianPosterior(z_dim, name="posterior")

    def build(self, input_shape=None):
        h_dec = (None, self.dec_units)
        self.reader.build(h_dec)
        self.writer.build((None, self.write_input_size))
        self.encoder.build((None, self.reader.output_size + self.dec_units))
        self.decoder.build((None, self.decoder_input_size))
        self.posterior.build((None, self.enc_units))

    @property
    def decoder_input_size(self):
        """Size of what RNN_dec reads each step: z_t here (subclasses add context)."""
        return self.z_dim

    @property
    def write_input_size(self):
        """Size of what the write reads each step: h_dec here (see write_features)."""
        return self.dec_units

    def write_features(self, state):
        """What the write of a step reads: h_dec_t (subclasses may add to it)."""
        return state["h_dec"]

    def initial_state(self, batch_size, dtype="float32"):
        zeros = lambda units: ops.zeros((batch_size, units), dtype=dtype)
        return {
            "h_enc": zeros(self.enc_units),
            "c_enc": zeros(self.enc_units),
            "h_dec": zeros(self.dec_units),
            "c_dec": zeros(self.dec_units),
            "canvas": ops.zeros((batch_size, *self.image_shape), dtype=dtype),
        }

    def generate(self, state, z):
        """Eqs. 14-15 (and 7-8): h_dec = RNN_dec(h_dec, z); c_t = c_{t-1} + write(h_dec).

        z may carry more than z_t: alignDRAW passes [z_t, s_t] (its eq. 3).
        """
        h_dec, (_, c_dec) = self.decoder(z, [state["h_dec"], state["c_dec"]])
        state = {**state, "h_dec": h_dec, "c_dec": c_dec}
        update, window = self.writer(self.write_features(state))
        return {**state, "canvas": state["canvas"] + update}, window

    def call(self, x, state, eps):
        """One inference step, eqs. 3-8.

        Args:
          x: (batch, B, A) the image.
          state: the dict from `initial_state` or the previous step.
          eps: (batch, z_dim) standard normal noise for the reparameterised sample.

        Returns:
          (new state, dict of mu, log_sigma, z, each (batch, z_dim)).
        """
        state, posterior = self.infer_latent(x, state, eps)
        state, _ = self.generate(state, posterior["z"])  # eqs. 7-8
        return state, posterior

    def window(self, which, h_dec):
        """(batch, 5) = (g_X, g_Y, delta, sigma^2, gamma) of the "read" or "write" window
        that h_dec places (eqs. 21-24); zeros without attention. The read of step t uses
        h_dec_{t-1}, the write write_features(state_t) (h_dec_t, or more in subclasses)."""
        if not self.attention:
            return ops.zeros((ops.shape(h_dec)[0], 5), h_dec.dtype)
        layer = self.reader if which == "read" else self.writer
        height, width = self.image_shape[:2]  # (B, A) or (B, A, C)
        return window_vector(filterbank.attention_window(layer.params(h_dec), height, width,
                                                         layer.n))

    def infer_latent(self, x, state, eps):
        """Eqs. 3-6: read, RNN_enc, and z_t ~ Q(Z_t | h_enc); returns (state, dict)."""
        x_hat = x - ops.sigmoid(state["canvas"])  # eq. 3
        r, _ = self.reader(x, x_hat, state["h_dec"])  # eq. 4
        enc_in = ops.concatenate([r, state["h_dec"]], axis=-1)
        h_enc, (_, c_enc) = self.encoder(enc_in, [state["h_enc"], state["c_enc"]])  # eq. 5
        mu, log_sigma = self.posterior(h_enc)
        z = latent.reparameterize(mu, log_sigma, eps)  # eq. 6
        state = {**state, "h_enc": h_enc, "c_enc": c_enc}
        return state, {"mu": mu, "log_sigma": log_sigma, "z": z}

    def get_config(self):
        return {
            **super().get_config(),
            "image_shape": self.image_shape,
            "enc_units": self.enc_units,
            "dec_units": self.dec_units,
            "z_dim": self.z_dim,
            "read_n": self.read_n,
            "write_n": self.write_n,
            "attention": self.attention,
        }


def window_vector(window):
    """(batch, 5) = (g_X, g_Y, delta, sigma^2, gamma) of an attention window."""
    keys = ("gx", "gy", "delta", "sigma2", "gamma")
    return ops.concatenate([window[k] for k in keys], axis=-1)


def trace_outputs(cell, state, new_state):
    """One step of `trace`: (sigmoid(c_t), read window, write window)."""
    return (ops.sigmoid(new_state["canvas"]), cell.window("read", state["h_dec"]),
            cell.window("write", cell.write_features(new_state)))


def traced(per_step):
    canvases, read_windows, write_windows = per_step
    return {"canvases": canvases, "read_windows": read_windows, "write_windows": write_windows}
