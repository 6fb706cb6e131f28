"""One layer of a gated PixelCNN (van den Oord et al. 2016, "Conditional Image Generation with
PixelCNN Decoders", eqs. 2-4 and Fig. 2) whose condition is a Luong attention over the
caption's words computed at every position (alignPixelRNN eqs. 7-9, in 2-D).

Two stacks remove the blind spot of the single masked convolution:
  the vertical stack V(r, c) sees only rows above r (any column within the kernel's reach);
  the horizontal stack H(r, c) sees the pixels left of c in row r, and V(r, c).
The masks are realised by shifts and one-sided padding instead of zeroed kernel entries
(as in PixelCNN++), so no weight is wasted:
  mask A (first layer, the current pixel excluded): the model feeds V the image shifted down
    one row and H the image shifted right one column (`down_shift`, `right_shift`);
  mask B (later layers, the current position's features included): V's kernel (k//2 + 1, k)
    is padded so that it covers rows r - k//2 .. r of its input, H's kernel (1, k//2 + 1)
    covers columns c - k//2 .. c, and H keeps a residual connection. Features at (r, c) of
    these layers already depend only on pixels before (r, c), so including them is causal.
The first layer has no residual: its input at (r, c) is the current pixel itself.

Condition: in each stack, each position attends over the words with its own input features
as the query, e = q^T W_a h_lang_i, alpha = masked softmax_i(e), s = sum_i alpha_i h_lang_i
(Luong's "general" score, as the 1-D decoder), and s enters both halves of the gate through
a 1x1 map (the h terms of van den Oord's eq. 4, made position dependent):
  V' = tanh(W_f * V + U_f s_V) . sigmoid(W_g * V + U_g s_V)
  H' = H + W_o [tanh(W_f * H + L_f (W * V) + U_f s_H) . sigmoid(...)]
Each stack queries with its own features because a query must be causal for its stack: H's
features hold pixels of the current row, which V must never see (V's kernel spreads them
to the right), while V's features are causal for both.

keras.ops and Keras layers only: runs on the TensorFlow and JAX backends.
"""

import keras
from keras import ops

from t2i_tf.layers import alignment


def down_shift(x):
    """(batch, H, W, C) -> the same moved down one row, a zero row on top."""
    return ops.pad(x, [[0, 0], [1, 0], [0, 0], [0, 0]])[:, :-1]


def right_shift(x):
    """(batch, H, W, C) -> the same moved right one column, a zero column on the left."""
    return ops.pad(x, [[0, 0], [0, 0], [1, 0], [0, 0]])[:, :, :-1]


def word_context(align, query, h_lang, word_mask):
    """Luong attention at every position: query (batch, H, W, n), h_lang (batch, L, m),
    word_mask (batch, L) -> (s (batch, H, W, m), alpha (batch, H, W, L) float32)."""
    keys = align.precompute(h_lang)  # (batch, L, n)
    scores = ops.einsum("bln,bhwn->bhwl", ops.cast(keys, query.dtype), query)
    alpha = alignment.masked_softmax(scores, ops.cast(word_mask, "bool")[:, None, None, :])
    return ops.einsum("bhwl,blm->bhwm", ops.cast(alpha, h_lang.dtype), h_lang), alpha


def _gate(x):
    a, b = ops.split(x, 2, axis=-1)
    return ops.tanh(a) * ops.sigmoid(b)


class GatedPixelCNNLayer(keras.layers.Layer):
    """A gated PixelCNN layer with a vertical and a horizontal stack, conditioned on the
    caption by per-position Luong attention (see the module docstring).

    Args:
      filters: C, the channels of both output stacks.
      kernel_size: k (odd): V's kernel is (k//2 + 1) x k, H's 1 x (k//2 + 1).
      context_size: m, the size of h_lang_i.
      residual: add H's input to its output (every layer but the first, whose input is
        the current pixel).

    Call args:
      v, h: (batch, H, W, C_in) the stacks' inputs (for the first layer the shifted images).
      h_lang: (batch, L, m); word_mask: (batch, L) bool or float.
      return_attention: also return the word weights of both stacks.

    Returns: (v', h') each (batch, H, W, C); with return_attention, (v', h', alpha_v,
    alpha_h), the alphas (batch, H, W, L) float32.
    """

    def __init__(self, filters, kernel_size, context_size, residual=True, **kwargs):
        super().__init__(**kwargs)
        if kernel_size % 2 != 1:
            raise ValueError(f"kernel_size must be odd, got {kernel_size}")
        self.filters = filters
        self.kernel_size = kernel_size
        self.context_size = context_size
        self.residual = residual
        half = kernel_size // 2
        self.v_conv = keras.layers.Conv2D(2 * filters, (half + 1, kernel_size), name="v_conv")
        self.h_conv = keras.layers.Conv2D(2 * filters, (1, half + 1), name="h_conv")
        self.link = keras.layers.Dense(2 * filters, use_bias=False, name="link")  # 1x1, V -> H
        self.h_out = keras.layers.Dense(filters, name="h_out")  # 1x1
        self.v_align = alignment.LuongAlignment(name="v_align")
        self.h_align = alignment.LuongAlignment(name="h_align")
        self.v_cond = keras.layers.Dense(2 * filters, use_bias=False, name="v_cond")
        self.h_cond = keras.layers.Dense(2 * filters, use_bias=False, name="h_cond")

    def build(self, input_shape):
        channels = input_shape[-1]
        if self.residual and channels != self.filters:
            raise ValueError(f"a residual layer needs {self.filters} input channels, "
                             f"got {channels}")
        self.v_conv.build((None, None, None, channels))
        self.h_conv.build((None, None, None, channels))
        self.link.build((None, None, None, 2 * self.filters))
        self.h_out.build((None, None, None, self.filters))
        for align in (self.v_align, self.h_align):
            align.build((None, None, self.context_size), (None, channels))
        for cond in (self.v_cond, self.h_cond):
            cond.build((None, None, None, self.context_size))

    def call(self, v, h, h_lang, word_mask, return_attention=False):
        half = self.kernel_size // 2
        s_v, alpha_v = word_context(self.v_align, v, h_lang, word_mask)  # (batch, H, W, m)
        s_h, alpha_h = word_context(self.h_align, h, h_lang, word_mask)
        # V: rows r - half .. r of its input, columns c - half .. c + half.
        v_pre = self.v_conv(ops.pad(v, [[0, 0], [half, 0], [half, half], [0, 0]]))
        v_pre = v_pre + self.v_cond(ops.cast(s_v, v_pre.dtype))  # (batch, H, W, 2C)
        # H: columns c - half .. c of its input, plus V at the same position.
        h_pre = self.h_conv(ops.pad(h, [[0, 0], [0, 0], [half, 0], [0, 0]]))
        h_pre = h_pre + self.link(v_pre) + self.h_cond(ops.cast(s_h, h_pre.dtype))
        h_new = self.h_out(_gate(h_pre))
        if self.residual:
            h_new = h_new + h
        if return_attention:
            return _gate(v_pre), h_new, alpha_v, alpha_h
        return _gate(v_pre), h_new

    def get_config(self):
        return {**super().get_config(), "filters": self.filters,
                "kernel_size": self.kernel_size, "context_size": self.context_size,
                "residual": self.residual}
