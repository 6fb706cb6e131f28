"""alignPixelRNN: a caption-conditioned Pixel-RNN with Luong attention over the words
(alignPixelRNN §4, eqs. 5-9).

  h_lang = BiLSTM(embed(y_1 .. y_L))                               (§4.1)
  p(x | y) = prod_j p(x_j | x_1 .. x_{j-1}, h_lang)                 (eq. 5)

The image is read in raster order, x_1 .. x_N with N = H W; the decoder is
keras.layers.RNN over a ConditionalPixelCell (t2i_tf/layers/pixel_rnn_cell.py: eqs. 5-9),
whose state carries the caption memory. Training is by teacher forcing (§6): the decoder
reads the image shifted right by one pixel, the start token V first, and is scored on every
pixel at once. Generation feeds back its own pixels one at a time through `next_pixel`, the
same cell step on the same state, inside one compiled loop (t2i_tf.sampling.step_samplers).

The paper's sizes (§6): word embedding 512, BiLSTM of 512, decoder LSTM of 512, 32x32
grayscale images with a 256-way softmax; the pixel embedding size is not given (64 here).
"""

import keras
from keras import ops

from t2i_tf.layers import caption_encoder, pixel_rnn_cell, scan
from t2i_tf.models.autoregressive import AutoregressiveModel


class AlignPixelRNN(AutoregressiveModel):
    """alignPixelRNN.

    Args:
      image_shape: (H, W); 32 x 32 in the paper.
      levels: V, 256 for 8-bit images, 2 for binary ones.
      vocab_size, embed_dim, lang_units: the caption encoder (lang_units per direction, so
        h_lang has 2 lang_units).
      units: n, the decoder LSTM.
      pixel_embed_dim: E, the embedding of the previous pixel (V + 1 rows: the last one is
        the start token).
      state_grad_clip: if > 0, training clips the gradient flowing back into the decoder's
        h and c at every pixel to [-state_grad_clip, state_grad_clip]
        (t2i_tf/layers/pixel_rnn_cell.py says why); 0 leaves backpropagation alone.
      seed: seed of the default sampling generator.

    call(inputs) takes a dict: images (batch, H, W) integers in [0, V) (uint8 or int),
    ids (batch, L) int, mask (batch, L) bool; it returns {"nll": (batch,)} in nats.
    """

    registry_name = "align_pixel_rnn"

    def __init__(self, image_shape=(32, 32), levels=256, vocab_size=24, embed_dim=512,
                 lang_units=512, units=512, pixel_embed_dim=64, state_grad_clip=0.0, seed=None,
                 **kwargs):
        super().__init__(image_shape, levels, seed, **kwargs)
        self.pixel_embed_dim = pixel_embed_dim
        self.encoder = caption_encoder.CaptionEncoder(vocab_size, embed_dim, lang_units,
                                                      name="caption")
        self.pixel_embedding = keras.layers.Embedding(levels + 1, pixel_embed_dim,
                                                      name="pixel_embedding")
        cell = pixel_rnn_cell.ConditionalPixelCell(units, levels, 2 * lang_units,
                                                   state_grad_clip, name="cell")
        self.decoder = keras.layers.RNN(cell, return_sequences=True, name="decoder")

    @property
    def cell(self):
        return self.decoder.cell

    def build(self, input_shape=None):
        self.encoder.build((None, None))
        self.pixel_embedding.build((None, None))
        self.cell.build((None, self.pixel_embed_dim))
        self.decoder.build((None, None, self.pixel_embed_dim))
        self.built = True

    def encode_caption(self, ids, mask):
        """h_lang (batch, L, 2 lang_units), zero at padded words (§4.1)."""
        return self.encoder(ids, mask)

    def shifted(self, tokens):
        """x_0 .. x_{N-1}: the start token V, then the image without its last pixel."""
        start = ops.full((ops.shape(tokens)[0], 1), self.start_token, "int32")
        return ops.concatenate([start, tokens[:, :-1]], axis=1)

    def decode(self, previous, ids, mask, training=False):
        """The teacher-forced decoder: (batch, N, E) embeddings of x_{j-1} -> (batch, N, V)."""
        h_lang = self.encode_caption(ids, mask)
        state = self.cell.initial_state(h_lang, mask)
        return self.decoder(previous, initial_state=state, training=training)

    def logits(self, images, ids, mask, training=False):
        """Teacher-forced logits of every pixel, (batch, N, V), raster order."""
        previous = self.pixel_embedding(self.shifted(self.tokens(images)))  # (batch, N, E)
        return self.decode(previous, ids, mask, training)

    def logits_from_lang(self, images, h_lang, word_mask):
        """`logits` under a given caption memory h_lang (batch, L, 2 lang_units) and
        word_mask (batch, L), e.g. retrieval's mean sentence as a one-word caption."""
        previous = self.pixel_embedding(self.shifted(self.tokens(images)))  # (batch, N, E)
        return self.decoder(previous, initial_state=self.cell.initial_state(h_lang, word_mask))

    def logits_from_one_hot(self, one_hot, ids, mask):
        """`logits` with the image given as a float one-hot (batch, H, W, V): the shift and
        the embedding lookup become a matrix product, differentiable in the pixel values."""
        one_hot = ops.reshape(ops.cast(one_hot, "float32"), (-1, self.num_pixels, self.levels))
        one_hot = ops.pad(one_hot, [[0, 0], [0, 0], [0, 1]])  # room for the start token
        start = ops.one_hot(ops.full((ops.shape(one_hot)[0], 1), self.start_token, "int32"),
                            self.levels + 1)
        previous = ops.concatenate([start, one_hot[:, :-1]], axis=1)  # (batch, N, V + 1)
        table = ops.cast(self.pixel_embedding.embeddings, "float32")  # (V + 1, E)
        return self.decode(ops.matmul(previous, table), ids, mask)

    def attention_weights(self, images, ids, mask):
        """alpha_j of eq. 8 at every pixel under teacher forcing: (batch, N, L) float32, the
        word weights with which the decoder drew pixel j given x_<j (the samplers run the
        same steps on the same state, so an image's weights are those of its generation)."""
        previous = self.pixel_embedding(self.shifted(self.tokens(images)))  # (batch, N, E)

        def step(state, embedded):
            _, alpha = self.cell.attend(state)  # from h_pix_{j-1}, as the cell's call
            _, state = self.cell(embedded, state)
            return state, alpha

        _, alpha = scan.scan(step, self.generation_state(ids, mask),
                             ops.transpose(previous, (1, 0, 2)))  # alpha (N, batch, L)
        return ops.transpose(alpha, (1, 0, 2))

    def generation_state(self, ids, mask):
        """The decoder state before pixel 1, caption memory included (see the cell)."""
        return self.cell.initial_state(self.encode_caption(ids, mask), mask)

    def next_pixel(self, state, token, position):
        """One decoder step: p(x_position | x_<position, y) given x_{position-1} = token."""
        del position  # the recurrent state knows where it is
        return self.cell(self.pixel_embedding(token), state)

    def get_config(self):
        enc = self.encoder
        return {
            **super().get_config(),
            "vocab_size": enc.vocab_size, "embed_dim": enc.embed_dim, "lang_units": enc.units,
            "units": self.cell.units, "pixel_embed_dim": self.pixel_embed_dim,
            **({"state_grad_clip": self.cell.state_grad_clip}
               if self.cell.state_grad_clip else {}),
        }
