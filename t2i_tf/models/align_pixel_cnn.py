"""alignPixelCNN: the 2-D variant of alignPixelRNN, a gated PixelCNN whose layers attend over
the caption's words at every position (t2i_tf/layers/gated_pixel_cnn.py).

  h_lang = BiLSTM(embed(y_1 .. y_L))                     (alignPixelRNN §4.1)
  p(x | y) = prod_j p(x_j | x_<j, h_lang)                  (eq. 5, raster order)

Why a masked-convolution PixelCNN rather than a Row LSTM or a Diagonal BiLSTM (PixelRNN
paper, §3): it is the 2-D model whose training is parallel over all pixels (one pass of a
few convolutions instead of H or 2H - 1 sequential steps), it is the model the alignPixelRNN
paper's §2 and §8 point to for faster training, and its causality is a property of the
kernels alone, which the gradient test checks exactly. The gated form with a vertical and a
horizontal stack removes the blind spot of the original masked convolution.

Why per-position Luong attention rather than one pooled caption vector broadcast to every
position (the conditional PixelCNN's h): the 1-D model's point is that each pixel chooses
which words to look at (eqs. 7-9), and the 2-D variant keeps that. The query of a position
is its own causal features, so the attention is causal too. Where a query is zero (the first
layer's padding) the softmax is uniform and the context is the mean word vector, the pooled
caption vector of noalignDRAW.

Generation reruns the whole network once per pixel (only the pixels before the current one
are set; causality makes the rest irrelevant) inside the samplers' single compiled loop:
N passes, simple and exact, but N times the work of a cached PixelCNN.
"""

import keras
from keras import ops

from t2i_tf.layers import caption_encoder, gated_pixel_cnn
from t2i_tf.models.autoregressive import AutoregressiveModel


class AlignPixelCNN(AutoregressiveModel):
    """alignPixelCNN: gated PixelCNN layers conditioned on the caption by attention.

    Args:
      image_shape: (H, W).
      levels: V, 256 for 8-bit images, 2 for binary ones.
      vocab_size, embed_dim, lang_units: the caption encoder (lang_units per direction).
      filters: C, channels of every gated layer.
      num_layers: gated layers (the first with mask A, the others with mask B).
      kernel_size: k (odd) of every gated layer.
      pixel_embed_dim: E, the embedding of a pixel value fed to the first layer.
      seed: seed of the default sampling generator.

    call(inputs) takes a dict: images (batch, H, W) integers in [0, V), ids (batch, L) int,
    mask (batch, L) bool; it returns {"nll": (batch,)} in nats.
    """

    registry_name = "align_pixel_cnn"

    def __init__(self, image_shape=(32, 32), levels=256, vocab_size=24, embed_dim=512,
                 lang_units=512, filters=64, num_layers=8, kernel_size=5, pixel_embed_dim=32,
                 seed=None, **kwargs):
        super().__init__(image_shape, levels, seed, **kwargs)
        self.filters = filters
        self.num_layers = num_layers
        self.kernel_size = kernel_size
        self.pixel_embed_dim = pixel_embed_dim
        self.encoder = caption_encoder.CaptionEncoder(vocab_size, embed_dim, lang_units,
                                                      name="caption")
        self.pixel_embedding = keras.layers.Embedding(levels, pixel_embed_dim,
                                                      name="pixel_embedding")
        self.gated = [
            gated_pixel_cnn.GatedPixelCNNLayer(filters, kernel_size, 2 * lang_units,
                                               residual=i > 0, name=f"gated_{i}")
            for i in range(num_layers)
        ]
        self.head_hidden = keras.layers.Dense(filters, name="head_hidden")  # 1x1
        self.head_out = keras.layers.Dense(levels, name="head_out")  # 1x1 -> logits

    def build(self, input_shape=None):
        self.encoder.build((None, None))
        self.pixel_embedding.build((None, None, None))
        channels = self.pixel_embed_dim
        for layer in self.gated:
            layer.build((None, None, None, channels))
            channels = self.filters
        self.head_hidden.build((None, None, None, self.filters))
        self.head_out.build((None, None, None, self.filters))
        self.built = True

    def network(self, embedded, h_lang, word_mask, return_attention=False):
        """(batch, H, W, E) pixel embeddings -> (batch, N, V) logits, pixel j seeing x_<j;
        with return_attention, also the word weights averaged over the layers and the two
        stacks, (batch, N, L) float32."""
        v = gated_pixel_cnn.down_shift(embedded)  # mask A: the current pixel left out
        h = gated_pixel_cnn.right_shift(embedded)
        alphas = []
        for layer in self.gated:
            v, h, *alpha = layer(v, h, h_lang, word_mask, return_attention=return_attention)
            alphas += alpha
        logits = self.head_out(ops.relu(self.head_hidden(ops.relu(h))))  # (batch, H, W, V)
        logits = ops.reshape(logits, (-1, self.num_pixels, self.levels))
        if not return_attention:
            return logits
        alpha = ops.mean(ops.stack(alphas), axis=0)  # (batch, H, W, L)
        return logits, ops.reshape(alpha, (-1, self.num_pixels, ops.shape(h_lang)[1]))

    def attention_weights(self, images, ids, mask):
        """The word weights of every pixel, (batch, N, L) float32: the mean over the layers
        and the two stacks of the per-position alphas (gated_pixel_cnn.word_context). They
        depend on x_<j only, so they are also those of the generation step of pixel j."""
        embedded = self.pixel_embedding(ops.cast(images, "int32"))  # (batch, H, W, E)
        return self.network(embedded, self.encoder(ids, mask), mask, return_attention=True)[1]

    def logits(self, images, ids, mask, training=False):
        """Teacher-forced logits of every pixel, (batch, N, V), raster order (no layer here
        behaves differently in training)."""
        embedded = self.pixel_embedding(ops.cast(images, "int32"))  # (batch, H, W, E)
        return self.network(embedded, self.encoder(ids, mask), mask)

    def logits_from_lang(self, images, h_lang, word_mask):
        """`logits` under a given caption memory h_lang (batch, L, 2 lang_units) and
        word_mask (batch, L), e.g. retrieval's mean sentence as a one-word caption."""
        embedded = self.pixel_embedding(ops.cast(images, "int32"))  # (batch, H, W, E)
        return self.network(embedded, h_lang, word_mask)

    def logits_from_one_hot(self, one_hot, ids, mask):
        """`logits` with the image as a float one-hot (batch, H, W, V): the embedding lookup
        becomes a matrix product, differentiable in the pixel values."""
        table = ops.cast(self.pixel_embedding.embeddings, "float32")  # (V, E)
        embedded = ops.matmul(ops.cast(one_hot, "float32"), table)
        return self.network(embedded, self.encoder(ids, mask), mask)

    def generation_state(self, ids, mask):
        """{canvas (batch, N) int32 zeros, h_lang, word_mask float}: the state before pixel 1."""
        h_lang = self.encoder(ids, mask)
        batch = ops.shape(h_lang)[0]
        return {"canvas": ops.zeros((batch, self.num_pixels), "int32"), "h_lang": h_lang,
                "word_mask": ops.cast(mask, h_lang.dtype)}

    def next_pixel(self, state, token, position):
        """Writes token = x_{position-1} into the canvas (nothing at position 0, where the
        token is the start token) and reruns the network; returns the logits at position."""
        canvas = state["canvas"]
        previous = ops.maximum(position - 1, 0)
        kept = ops.take(canvas, previous, axis=1)  # (batch,)
        value = ops.where(position > 0, ops.cast(token, "int32"), kept)
        canvas = ops.slice_update(canvas, (0, previous), value[:, None])
        images = ops.reshape(canvas, (-1, *self.image_shape))
        embedded = self.pixel_embedding(images)
        logits = self.network(embedded, state["h_lang"], state["word_mask"])  # (batch, N, V)
        return ops.take(logits, position, axis=1), {**state, "canvas": canvas}

    def get_config(self):
        enc = self.encoder
        return {
            **super().get_config(),
            "vocab_size": enc.vocab_size, "embed_dim": enc.embed_dim, "lang_units": enc.units,
            "filters": self.filters, "num_layers": self.num_layers,
            "kernel_size": self.kernel_size, "pixel_embed_dim": self.pixel_embed_dim,
        }
