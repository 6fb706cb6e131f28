"""One step of alignPixelRNN's decoder: a conditional Pixel-RNN cell that attends over the
caption's words before every pixel (alignPixelRNN §4.2, eqs. 5-9).

At pixel j (raster order, row by row, top to bottom), given the embedding e_{j-1} of the
previous pixel x_{j-1} (the start token's embedding at j = 1):

  e_ji   = h_pix_{j-1}^T W_a h_lang_i                     (eq. 9, Luong's "general" score)
  alpha_j = masked softmax_i(e_ji)                        (eq. 8, padded words get 0)
  c_j    = sum_i alpha_ji h_lang_i                        (eq. 7)
  h_pix_j = LSTM(h_pix_{j-1}, [e_{j-1}, c_j])             (eq. 6)
  logits_j = W_o [h_pix_j, c_j, e_{j-1}] + b_o            (eq. 5, gen(x_{j-1}, h_pix_j, c_j))

and p(x_j | x_<j, y) = softmax(logits_j) over the V pixel values (256 for 8-bit, 2 for
binary images). Eq. 5 names x_{j-1}, h_pix_j and c_j as the arguments of gen; here gen is
one linear layer over their concatenation (Bahdanau's deep-output form, without the maxout).

The context enters eqs. 5 and 6 only through linear maps, c_j W = sum_i alpha_ji (h_lang_i W),
so the words' projections through the context rows of the LSTM's kernel and of the readout
are computed once per caption, by `initial_state`, and a step only mixes them with alpha_j:

  memory = h_lang [W_c | W_oc]                             (batch, L, 4n + V), once
  [c_j W_c, c_j W_oc] = sum_i alpha_ji memory_i             per step, L (4n + V) products

instead of multiplying c_j (m = 1,024 in the paper) by a (m, 4n + V) matrix at every pixel:
about 2.6 times fewer products per step at the paper's sizes, the same numbers up to float
rounding. The LSTM's gates are therefore written out here (Keras's LSTMCell order i, f, g, o,
sigmoid and tanh) over the weights of the `lstm` sublayer, which holds them.

The caption memory rides in the state. Keras 3's RNN has no `constants=` argument, so the
state is the list

  [h (batch, n), c (batch, n), h_lang (batch, L, m), word_mask (batch, L) float,
   keys (batch, L, n), memory (batch, L, 4n + V)]

whose last four entries the step returns unchanged (keys = h_lang W_a and memory,
precomputed once by `initial_state`). The other way, a subclass of keras.layers.RNN that closes over the memory,
would need its own call() and step function on top of Keras's private loop; carrying the
memory in the state keeps the stock RNN, and makes the cell's state exactly the state that
the samplers of t2i_tf.sampling.step_samplers carry and reorder (beam search gathers every leaf, the
memory included), so teacher forcing and generation run the same step on the same state.
The memory costs nothing per step, nor in the backward pass: a loop variable that the body
returns unchanged is loop-invariant to TensorFlow's while_v2, which does not stack it for
the gradient, and under jax.grad the decoder's temporary memory is the same as with the
memory captured as a constant (measured). The word mask is a float because the RNN casts
every state entry to the cell's compute dtype.

keras.ops and Keras layers only: runs on the TensorFlow and JAX backends.

Backpropagation through 1,024 pixels can overflow: the 8-bit CPU-sized model's gradients
reached 1e32-1e36 on one batch at step 1,302 and then inf and NaN, which clipping the whole
gradient afterwards (--clipnorm) cannot undo. `state_grad_clip` > 0 clips, in training only,
the gradient that flows back into h and c at every step to [-state_grad_clip,
state_grad_clip] elementwise (identity forward), in the spirit of Graves (2013, "Generating
Sequences With Recurrent Neural Networks"), who clipped the derivatives with respect to the
LSTM's inputs to a fixed range.
"""

import keras
from keras import ops

from t2i_tf.layers import alignment


class ConditionalPixelCell(keras.layers.Layer):
    """The conditional Pixel-RNN step of alignPixelRNN eqs. 5-9, for keras.layers.RNN.

    Args:
      units: n, the size of the decoder LSTM (the paper: 512).
      levels: V, the number of pixel values (256 for 8-bit images, 2 for binary ones).
      context_size: m, the size of h_lang_i (2 x the caption encoder's units per direction).
      state_grad_clip: if > 0, the elementwise limit on the gradient flowing back into h and
        c at every step, in training (see the module docstring); 0: none.

    Call args:
      inputs: (batch, E), the embedding e_{j-1} of the previous pixel.
      states: the list of `initial_state` or of the previous step (see the module docstring).

    Returns: (logits_j (batch, V), new states); the memory entries come back unchanged.

    Methods:
      initial_state(h_lang, word_mask): the state before the first pixel, h = c = 0.
      attend(states): (c_j (batch, m), alpha_j (batch, L) float32) from h_pix_{j-1}.
    """

    def __init__(self, units, levels, context_size, state_grad_clip=0.0, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.levels = levels
        self.context_size = context_size
        self.state_grad_clip = float(state_grad_clip)
        self.alignment = alignment.LuongAlignment(name="align")
        self.lstm = keras.layers.LSTMCell(units, name="lstm")
        self.readout = keras.layers.Dense(levels, name="readout")

    @property
    def state_size(self):
        # The LSTM's h and c, then the memory's per-example shapes (L is the caption length,
        # unknown here). keras.layers.RNN reads state_size only to make a default initial
        # state, which this cell cannot have: always pass initial_state=initial_state(...).
        return [self.units, self.units, (None, self.context_size), (None,), (None, self.units),
                (None, 4 * self.units + self.levels)]

    @property
    def output_size(self):
        return self.levels

    def build(self, input_shape):
        embed_dim = input_shape[-1]
        self.alignment.build((None, None, self.context_size), (None, self.units))
        self.lstm.build((None, embed_dim + self.context_size))
        self.readout.build((None, self.units + self.context_size + embed_dim))

    def initial_state(self, h_lang, word_mask=None):
        """[h, c, h_lang, word_mask, keys, memory] before pixel 1: zero h and c,
        keys = h_lang W_a, memory = h_lang [W_c | W_oc] (see the module docstring).

        Args:
          h_lang: (batch, L, m), the caption encoder's output.
          word_mask: (batch, L), True (or 1) on real words; None: every word is real.
        """
        batch, length = ops.shape(h_lang)[0], ops.shape(h_lang)[1]
        if word_mask is None:
            word_mask = ops.ones((batch, length), h_lang.dtype)
        zeros = ops.zeros((batch, self.units), h_lang.dtype)
        keys = self.alignment.precompute(h_lang)  # (batch, L, n)
        n, m = self.units, self.context_size
        context_rows = ops.concatenate([self.lstm.kernel[-m:],  # x = [e, c]
                                        self.readout.kernel[n:n + m]], axis=1)  # [h, c, e]
        memory = ops.matmul(h_lang, ops.cast(context_rows, h_lang.dtype))  # (batch, L, 4n + V)
        return [zeros, zeros, h_lang, ops.cast(word_mask, h_lang.dtype), keys, memory]

    def get_initial_state(self, batch_size=None):
        raise ValueError("ConditionalPixelCell needs the caption memory: call the RNN with "
                         "initial_state=cell.initial_state(h_lang, word_mask)")

    def attend(self, states):
        """Eqs. 7-9 from h_pix_{j-1}: (c_j (batch, m), alpha_j (batch, L) float32)."""
        h, _, h_lang, word_mask, keys, _ = states
        return self.alignment(h_lang, h, word_mask, keys=keys)

    def call(self, inputs, states, training=False):
        h, c, h_lang, word_mask, keys, memory = states
        if training and self.state_grad_clip > 0:
            h, c = (clip_gradient(s, self.state_grad_clip) for s in (h, c))
        alpha = alignment.masked_softmax(self.alignment.scores(keys, h), word_mask)  # eqs. 8-9
        # eq. 7 through the precomputed memory: [c_j W_c, c_j W_oc], (batch, 4n + V)
        projected = ops.einsum("bl,blk->bk", ops.cast(alpha, memory.dtype), memory)
        n, embed_dim = self.units, ops.shape(inputs)[-1]
        lstm = self.lstm
        z = (ops.matmul(inputs, lstm.kernel[:embed_dim]) + projected[:, :4 * n]
             + ops.matmul(h, lstm.recurrent_kernel) + lstm.bias)
        i, f, g, o = ops.split(z, 4, axis=-1)
        c = ops.sigmoid(f) * c + ops.sigmoid(i) * ops.tanh(g)
        h = ops.sigmoid(o) * ops.tanh(c)  # eq. 6
        out = self.readout
        logits = (ops.matmul(h, out.kernel[:n]) + projected[:, 4 * n:]
                  + ops.matmul(inputs, out.kernel[n + self.context_size:]) + out.bias)  # eq. 5
        return logits, [h, c, h_lang, word_mask, keys, memory]

    def get_config(self):
        return {**super().get_config(), "units": self.units, "levels": self.levels,
                "context_size": self.context_size, "state_grad_clip": self.state_grad_clip}


def clip_gradient(x, limit):
    """x unchanged; the gradient that flows back through it clipped to [-limit, limit]."""

    @ops.custom_gradient
    def identity(x):
        def grad(*args, upstream=None):
            if upstream is None:
                (upstream,) = args
            return ops.clip(upstream, -limit, limit)

        return x, grad

    return identity(x)
