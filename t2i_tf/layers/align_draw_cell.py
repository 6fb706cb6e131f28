"""The alignDRAW cell: one step of alignDRAW (Mansimov et al. 2016, §3 and Appendix A), the
DRAW cell (t2i_tf/layers/draw_cell.py) with the word alignment s_t = align(h_gen_{t-1},
h_lang) (eqs. 2, 7) and the dependent prior P(Z_t | Z_1:t-1) (eq. 1). The model that unrolls
it: t2i_tf/models/align_draw.py.
"""

from keras import ops

from t2i_tf.layers import alignment, latent
from t2i_tf.layers.draw_cell import DrawCell


ALIGN_SCORES = ("bahdanau", "luong")


class AlignDrawCell(DrawCell):
    """One alignDRAW step. Args as DrawCell, plus:

      context_size: size of s_t (the size of a memory row h_lang_k).
      align_units: l of eq. 7; None for noalignDRAW (s_t is the fixed caption vector).
      align_score: "bahdanau" (eq. 7) or "luong" (h_gen^T W h_lang_k; align_units unused
        beyond turning the alignment on).
      write_context: the write reads [h_gen_t, s_t] instead of h_gen_t.

    The caption memory `lang` is a dict: h_lang (batch, L, m), mask (batch, L) and keys
    (the alignment's precomputed U h_lang + b) with alignment; context (batch, m) without.
    With write_context the state also holds s_t as "context" (batch, m).
    """

    def __init__(self, image_shape, enc_units, dec_units, z_dim, read_n, write_n,
                 context_size, align_units=512, attention=True, align_score="bahdanau",
                 write_context=False, **kwargs):
        super().__init__(image_shape, enc_units, dec_units, z_dim, read_n, write_n,
                         attention, **kwargs)
        if align_score not in ALIGN_SCORES:
            raise ValueError(f"align_score {align_score!r}; expected one of {ALIGN_SCORES}")
        self.context_size = context_size
        self.align_units = align_units
        self.align_score = align_score
        self.write_context = write_context
        self.prior = latent.DependentPrior(z_dim, name="prior")
        if not align_units:
            self.alignment = None
        elif align_score == "luong":
            self.alignment = alignment.LuongAlignment(name="align")
        else:
            self.alignment = alignment.BahdanauAlignment(align_units, name="align")

    @property
    def decoder_input_size(self):
        return self.z_dim + self.context_size

    @property
    def write_input_size(self):
        return self.dec_units + (self.context_size if self.write_context else 0)

    def write_features(self, state):
        if not self.write_context:
            return state["h_dec"]
        return ops.concatenate([state["h_dec"], state["context"]], axis=-1)

    def initial_state(self, batch_size, dtype="float32"):
        state = super().initial_state(batch_size, dtype)
        if self.write_context:
            state["context"] = ops.zeros((batch_size, self.context_size), dtype=dtype)
        return state

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
        if self.write_context:
            state = {**state, "context": ops.cast(s, state["context"].dtype)}
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
                "align_units": self.align_units, "align_score": self.align_score,
                "write_context": self.write_context}
