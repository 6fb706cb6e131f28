"""The alignDRAW cell: one step of alignDRAW (Mansimov et al. 2016, §3 and Appendix A), the
DRAW cell (t2i_tf/layers/draw_cell.py) with the word alignment s_t = align(h_gen_{t-1},
h_lang) (eqs. 2, 7) and the dependent prior P(Z_t | Z_1:t-1) (eq. 1). The model that unrolls
it: t2i_tf/models/align_draw.py.
"""

from keras import ops

from t2i_tf.layers import alignment, latent
from t2i_tf.layers.draw_cell import DrawCell


class AlignDrawCell(DrawCell):
    """One alignDRAW step. Args as DrawCell, plus:

      context_size: size of s_t (2 x the caption encoder's units).
      align_units: l of eq. 7; None for noalignDRAW (s_t is the fixed caption vector).

    The caption memory `lang` is a dict: h_lang (batch, L, m), mask (batch, L) and keys
    (the alignment's precomputed U h_lang + b) with alignment; context (batch, m) without.
    """

    def __init__(self, image_shape, enc_units, dec_units, z_dim, read_n, write_n,
                 context_size, align_units=512, attention=True, **kwargs):
        super().__init__(image_shape, enc_units, dec_units, z_dim, read_n, write_n,
                         attention, **kwargs)
        self.context_size = context_size
        self.align_units = align_units
        self.prior = latent.DependentPrior(z_dim, name="prior")
        self.alignment = (alignment.BahdanauAlignment(align_units, name="align")
                          if align_units else None)

    @property
    def decoder_input_size(self):
        return self.z_dim + self.context_size

    def build(self, input_shape=None):
        super().build()
        self.prior.build((None, self.dec_units))
        if self.alignment is not None:
            self.alignment.build((None, None, self.context_size), (None, self.dec_units))

    def sentence(self, state, lang):
        """s_t and the word weights alpha_t (batch, L) (eqs. 6-7); alpha = 0 without align."""
        if self.alignment is None:
            return lang["context"], ops.zeros(ops.shape(lang["mask"]), "float32")
        return self.alignment(lang["h_lang"], state["h_dec"], lang["mask"], keys=lang["keys"])

    def prior_params(self, state, first):
        """(mu, log_sigma) of P(Z_t | Z_1:t-1); N(0, I) where `first` (a scalar bool)."""
        mu, log_sigma = self.prior(state["h_dec"])
        keep = 1.0 - ops.cast(first, mu.dtype)
        return mu * keep, log_sigma * keep

    def generate_step(self, state, z, lang):
        """Eqs. 2-4 given z_t: returns (state, write window or None, alpha_t)."""
        s, alpha = self.sentence(state, lang)
        state, window = self.generate(state, ops.concatenate([z, s], axis=-1))
        return state, window, alpha

    def call(self, x, state, eps, first, lang):
        """One inference step; returns (state, dict of posterior, prior and alpha)."""
        mu_p, log_sigma_p = self.prior_params(state, first)
        state, posterior = self.infer_latent(x, state, eps)
        state, _, alpha = self.generate_step(state, posterior["z"], lang)
        return state, {**posterior, "mu_prior": mu_p, "log_sigma_prior": log_sigma_p,
                       "alpha": alpha}

    def get_config(self):
        return {**super().get_config(), "context_size": self.context_size,
                "align_units": self.align_units}
