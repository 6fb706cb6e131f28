"""alignDRAW: DRAW conditioned on a caption through a word alignment (Mansimov et al. 2016,
§3 and Appendix A), and noalignDRAW, its baseline with one fixed caption vector.

Generation (eqs. 1-4), for t = 1..T:
  z_t ~ P(Z_t | Z_1:t-1) = N(mu(h_gen_{t-1}), sigma(h_gen_{t-1})), with P(Z_1) = N(0, I)
  s_t = align(h_gen_{t-1}, h_lang)
  h_gen_t = LSTM_gen(h_gen_{t-1}, [z_t, s_t])
  c_t = c_{t-1} + write(h_gen_t)
Inference (eqs. 10-13): x_hat = x - sigmoid(c_{t-1}), r_t = read(x, x_hat, h_gen_{t-1}),
h_inf_t = LSTM_inf(h_inf_{t-1}, [r_t, h_gen_{t-1}]), z_t ~ Q(Z_t | h_inf_t).
The bound (eqs. 14-15): -log p(x | y, Z) + sum_t KL(Q_t || P_t), in nats per image.

The DRAW cell provides read, the inference LSTM, the posterior and write; the alignDRAW
cell (t2i_tf/layers/align_draw_cell.py) adds the alignment and the dependent prior, and this
file the caption encoder and the unroll. The generator and inference
states start at zero (the paper learns them as biases).

Options beyond the paper, each off by default (docs/HELD_OUT.md measures them on the
held-out compositions of MNIST with captions):
  align_score="luong": Luong's multiplicative score (alignPixelRNN eq. 8) instead of eq. 7.
  write_context: the write reads [h_gen_t, s_t], not h_gen_t alone, so the aligned words
    reach the glyph without passing through the generator LSTM.
  memory_embedding: the alignment's memory holds [h_lang_k, e_k], each word's embedding
    beside its BiLSTM state, so that a word can be attended free of its sentence's context.
"""

import keras
from keras import ops

from t2i_tf.layers import caption_encoder, latent, likelihood, scan
from t2i_tf.layers.align_draw_cell import AlignDrawCell
from t2i_tf.layers.draw_cell import trace_outputs, traced, window_vector
from t2i_tf.models.variational import VariationalModel


class AlignDraw(VariationalModel):
    """alignDRAW (align_units > 0) or noalignDRAW (align_units = 0).

    Args:
      image_shape: (B, A); MNIST with captions is 60 x 60. (B, A, C) for colour: COCO is
        (32, 32, 3), every channel read and written through one filterbank.
      steps, enc_units, dec_units, z_dim, read_n, write_n, attention: as Draw (Table 2 of
        the paper for MNIST with captions: 32, 300, 300, 150, 8, 8).
      vocab_size, embed_dim, lang_units: the caption encoder (lang_units per direction).
      align_units: l of eq. 7; 0 replaces the alignment by the mean of h_lang over words.
      align_score, write_context: see AlignDrawCell ("bahdanau", False: the paper's).
      memory_embedding: the memory rows are [h_lang_k, e_k] (size 2 lang_units + embed_dim)
        instead of h_lang_k (False: the paper's).
      init_stddev: if set, every weight is drawn from N(0, init_stddev^2) (Appendix B: 0.01).
      seed: seed of the noise drawn by call().

    call(inputs) takes a dict: images (batch, B, A) in [0, 1], ids (batch, L) int,
    mask (batch, L) bool; it returns per-image terms in nats: reconstruction, kl, total.
    """

    registry_name = "align_draw"

    def __init__(self, image_shape=(60, 60), steps=32, enc_units=300, dec_units=300,
                 z_dim=150, read_n=8, write_n=8, attention=True, vocab_size=24,
                 embed_dim=128, lang_units=128, align_units=512, init_stddev=None,
                 seed=None, align_score="bahdanau", write_context=False,
                 memory_embedding=False, **kwargs):
        super().__init__(**kwargs)
        self.image_shape = tuple(image_shape)
        self.steps = steps
        self.z_dim = z_dim
        self.init_stddev = init_stddev
        self.seed = seed
        self.memory_embedding = memory_embedding
        self.encoder = caption_encoder.CaptionEncoder(vocab_size, embed_dim, lang_units,
                                                      name="caption")
        memory_size = 2 * lang_units + (embed_dim if memory_embedding else 0)
        self.cell = AlignDrawCell(image_shape, enc_units, dec_units, z_dim, read_n, write_n,
                                  memory_size, align_units or None, attention,
                                  align_score=align_score, write_context=write_context,
                                  name="cell")
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape=None):
        self.encoder.build((None, None))
        self.cell.build()
        if self.init_stddev:
            rng = keras.random.SeedGenerator(self.seed)
            for v in self.trainable_weights:
                v.assign(keras.random.normal(v.shape, stddev=self.init_stddev, seed=rng))
        self.built = True

    def encode_caption(self, ids, mask):
        """The caption memory used at every step (see AlignDrawCell)."""
        h_lang = self.encoder(ids, mask)
        if self.memory_embedding:  # (batch, L, 2 lang_units + embed_dim); padding stays 0
            words = self.encoder.embedding(ids) * ops.cast(mask, h_lang.dtype)[:, :, None]
            h_lang = ops.concatenate([h_lang, ops.cast(words, h_lang.dtype)], axis=-1)
        return self.memory(h_lang, mask)

    def memory(self, h_lang, mask):
        """The caption memory of AlignDrawCell from memory rows h_lang (batch, L, m)."""
        if self.cell.alignment is None:
            return {"context": caption_encoder.pooled(h_lang, mask), "mask": mask}
        return {"h_lang": h_lang, "mask": mask, "keys": self.cell.alignment.precompute(h_lang)}

    def infer(self, images, ids, mask, eps):
        """Eqs. 10-13 for T steps: canvas c_T and per-step (T, batch, ...) posterior,
        prior and alpha."""
        return self.infer_from_lang(images, self.encode_caption(ids, mask), eps)

    def infer_from_lang(self, images, lang, eps):
        """`infer` under a given caption memory (see AlignDrawCell), e.g. a mean caption."""
        x = ops.cast(images, self.compute_dtype)
        first = ops.arange(self.steps) == 0

        def step(state, inputs):
            eps_t, first_t = inputs
            return self.cell(x, state, eps_t, first_t, lang)

        state, per_step = scan.scan(step, self.cell.initial_state(ops.shape(x)[0]), (eps, first))
        return {"canvas": state["canvas"], **per_step}

    def trace(self, images, ids, mask, eps):
        """The inference pass step by step, for pictures (TensorBoard): canvases
        (T, batch, B, A) = sigmoid(c_t), read_windows and write_windows (T, batch, 5)."""
        lang = self.encode_caption(ids, mask)
        x = ops.cast(images, self.compute_dtype)
        first = ops.arange(self.steps) == 0

        def step(state, inputs):
            eps_t, first_t = inputs
            new_state, _ = self.cell(x, state, eps_t, first_t, lang)
            return new_state, trace_outputs(self.cell, state, new_state)

        return traced(scan.scan(step, self.cell.initial_state(ops.shape(x)[0]),
                                (eps, first))[1])

    def loss_terms(self, images, ids, mask, eps):
        """The negative bound of eqs. 14-15 per image, in nats."""
        tr = self.infer(images, ids, mask, eps)
        reconstruction = likelihood.bernoulli_nll(ops.cast(images, "float32"), tr["canvas"])
        kl = ops.sum(latent.gaussian_kl(tr["mu"], tr["log_sigma"], tr["mu_prior"],
                                        tr["log_sigma_prior"]), axis=0)
        return {"reconstruction": reconstruction, "kl": kl, "total": reconstruction + kl}

    def log_importance_weight(self, images, ids, mask, eps):
        """log p(x | y, z) + log p(z | y) - log q(z | x, y) for z drawn with eps: (batch,)."""
        return self.log_importance_weight_from_lang(images, self.encode_caption(ids, mask), eps)

    def log_importance_weight_from_lang(self, images, lang, eps):
        """`log_importance_weight` under a given caption memory."""
        tr = self.infer_from_lang(images, lang, eps)
        log_px = -likelihood.bernoulli_nll(ops.cast(images, "float32"), tr["canvas"])
        log_p = latent.gaussian_log_density(tr["z"], tr["mu_prior"], tr["log_sigma_prior"])
        log_q = latent.gaussian_log_density(tr["z"], tr["mu"], tr["log_sigma"])
        return log_px + ops.sum(log_p - log_q, axis=0)

    def generate(self, ids, mask, eps):
        """Samples x ~ P(x | y) by eqs. 1-4 with z_t = mu_t + sigma_t eps_t.

        Returns canvases (T, batch, B, A) = sigmoid(c_t), windows (T, batch, 5) and
        alpha (T, batch, L), the word weights at each step.
        """
        return self.generate_from_lang(self.encode_caption(ids, mask), eps)

    def generate_from_lang(self, lang, eps):
        """`generate` under a given caption memory (see AlignDrawCell and `memory`), e.g.
        one whose rows were exchanged to see what each word's row carries."""
        batch = ops.shape(eps)[1]
        first = ops.arange(self.steps) == 0

        def step(state, inputs):
            eps_t, first_t = inputs
            mu, log_sigma = self.cell.prior_params(state, first_t)
            z = latent.reparameterize(mu, log_sigma, eps_t)
            state, window, alpha = self.cell.generate_step(state, z, lang)
            window_t = (ops.zeros((batch, 5), z.dtype) if window is None
                        else window_vector(window))
            return state, (ops.sigmoid(state["canvas"]), window_t, alpha)

        _, (canvases, windows, alpha) = scan.scan(step, self.cell.initial_state(batch),
                                                  (eps, first))
        return {"canvases": canvases, "windows": windows, "alpha": alpha}

    def call(self, inputs, training=False):
        images = inputs["images"]
        mask = ops.cast(inputs["mask"], "bool")  # uint8 under tf.distribute
        return self.loss_terms(images, inputs["ids"], mask, self.noise(ops.shape(images)[0]))

    def get_config(self):
        cell, enc = self.cell, self.encoder
        # The options beyond the paper appear only when set, so that the config.json of a
        # model trained without them still matches (resume, init_from, shipped models).
        options = {k: v for k, v, default in (
            ("align_score", cell.align_score, "bahdanau"),
            ("write_context", cell.write_context, False),
            ("memory_embedding", self.memory_embedding, False)) if v != default}
        return {
            **super().get_config(),
            "image_shape": self.image_shape, "steps": self.steps,
            "enc_units": cell.enc_units, "dec_units": cell.dec_units, "z_dim": self.z_dim,
            "read_n": cell.read_n, "write_n": cell.write_n, "attention": cell.attention,
            "vocab_size": enc.vocab_size, "embed_dim": enc.embed_dim, "lang_units": enc.units,
            "align_units": cell.align_units or 0, "init_stddev": self.init_stddev,
            "seed": self.seed, **options,
        }
