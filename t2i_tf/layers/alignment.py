"""Word alignment: at every generation step, a softmax over the caption's words gives the
dynamic sentence vector s_t = sum_k alpha_k h_lang_k (alignDRAW eqs. 6-7; alignPixelRNN
eqs. 7-9, which uses Luong's multiplicative score).

The caption memory h_lang is fixed over the T steps of an unroll, so the part of the score
that depends on it alone is computed once with `precompute(h_lang)` and passed back as
`keys` at every step; a step then only maps the generator state. Without `keys` a call
computes them itself, which gives the same numbers.

Padded words get probability exactly 0: their scores are replaced by a large negative
before the softmax and their exponentials multiplied by 0, and the normaliser is bounded
below, so a caption with no real word gives alpha = 0 and s = 0 rather than NaN. The softmax
runs in float32 whatever the layer's compute dtype.
"""

import keras
from keras import ops

# The normaliser of the masked softmax is max(sum, _TINY): never 0, so never 0 / 0.
_TINY = 1e-30
_LARGE_NEGATIVE = -1e9


def masked_softmax(scores, mask=None):
    """softmax over the last axis of (batch, L) scores, exactly 0 where mask is False."""
    scores = ops.cast(scores, "float32")
    if mask is None:
        return ops.softmax(scores, axis=-1)
    mask = ops.cast(mask, "bool")
    scores = ops.where(mask, scores, _LARGE_NEGATIVE)
    scores = scores - ops.max(scores, axis=-1, keepdims=True)
    e = ops.exp(scores) * ops.cast(mask, "float32")  # padded words: exactly 0
    return e / ops.maximum(ops.sum(e, axis=-1, keepdims=True), _TINY)


def weighted_sum(alpha, h_lang):
    """s = sum_k alpha_k h_lang_k: (batch, L), (batch, L, m) -> (batch, m) (alignDRAW eq. 6)."""
    return ops.einsum("bl,blm->bm", ops.cast(alpha, h_lang.dtype), h_lang)


class BahdanauAlignment(keras.layers.Layer):
    """Additive alignment of alignDRAW eq. 7 (Bahdanau et al. 2015).

    alpha_k = softmax_k( v^T tanh(U h_lang_k + W h_gen + b) ),  s = sum_k alpha_k h_lang_k,

    with U (l, m), W (l, n), b (l,), v (l,); m = size of h_lang_k, n = size of h_gen.
    Stored as Dense layers `key` (U and b) and `query` (W, no bias), and the weight `v`.

    Args:
      units: l, the size of the alignment's hidden layer (alignDRAW: 512).

    Methods:
      precompute(h_lang (batch, L, m)) -> keys = U h_lang + b (batch, L, l); needs the
        layer built (call it once, or build((batch, L, m), (batch, n))).

    Call args:
      h_lang: (batch, L, m), the caption encoder's output.
      h_gen: (batch, n), the generator state h^gen_{t-1}.
      mask: (batch, L) bool, True on real words; None means every word is real.
      keys: optional (batch, L, l) from precompute(h_lang), reused over the steps.

    Returns: (s (batch, m), alpha (batch, L) float32; rows sum to 1 over real words).
    """

    def __init__(self, units=512, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.key_map = keras.layers.Dense(units, name="key")  # U, b
        self.query_map = keras.layers.Dense(units, use_bias=False, name="query")  # W

    def build(self, h_lang_shape, h_gen_shape):
        self.key_map.build(h_lang_shape)
        self.query_map.build(h_gen_shape)
        self.v = self.add_weight(
            shape=(self.units,), initializer="glorot_uniform", name="v")

    def precompute(self, h_lang):
        return self.key_map(h_lang)  # (batch, L, l)

    def scores(self, keys, h_gen):
        """v^T tanh(keys_k + W h_gen): (batch, L, l), (batch, n) -> (batch, L)."""
        query = self.query_map(h_gen)
        return _additive_scores(keys, query, ops.cast(self.v, query.dtype))

    def call(self, h_lang, h_gen, mask=None, keys=None):
        if keys is None:
            keys = self.precompute(h_lang)
        alpha = masked_softmax(self.scores(keys, h_gen), mask)
        return weighted_sum(alpha, h_lang), alpha

    def get_config(self):
        return {**super().get_config(), "units": self.units}


def _additive_scores(keys, query, v):
    """v^T tanh(keys_k + query) for every word k: (batch, L, l), (batch, l), (l,) -> (batch, L)."""
    return ops.einsum("blu,u->bl", ops.tanh(keys + query[:, None, :]), v)


if keras.backend.backend() == "jax":
    # Rematerialised (jax.checkpoint): the backward pass recomputes the (batch, L, l) tanh
    # from its inputs instead of keeping one per step of DRAW's scan, whose (T, batch, L, l)
    # buffer cost more to fill and read back than the tanh (benchmarks/profile_step.py:
    # about 70 ms of a 1.3-1.5 s alignDRAW step on one CPU core). The other backends keep
    # the plain function: NumPy has no gradients, and tf.recompute_grad inside the
    # XLA-compiled while loop of the TensorFlow backend was not measured.
    _additive_scores = keras.remat(_additive_scores)


class LuongAlignment(keras.layers.Layer):
    """Multiplicative ("general") alignment of Luong et al. 2015, alignPixelRNN eqs. 7-9.

    e_k = h_gen^T W_a h_lang_k,  alpha_k = softmax_k(e_k),  s = sum_k alpha_k h_lang_k,

    with W_a (n, m); m = size of h_lang_k, n = size of h_gen. The weight is stored as
    `kernel` (m, n), so keys = h_lang @ kernel = (W_a h_lang_k)_k and e_k = keys_k . h_gen.
    No parameter besides W_a (Luong's "general" score has no bias), so no constructor
    argument: the sizes come from build.

    Methods:
      precompute(h_lang (batch, L, m)) -> keys (batch, L, n); needs the layer built.

    Call args:
      h_lang: (batch, L, m); h_gen: (batch, n); mask: (batch, L) bool or None;
      keys: optional (batch, L, n) from precompute(h_lang).

    Returns: (s (batch, m), alpha (batch, L) float32).
    """

    def build(self, h_lang_shape, h_gen_shape):
        self.kernel = self.add_weight(
            shape=(h_lang_shape[-1], h_gen_shape[-1]), initializer="glorot_uniform",
            name="kernel")

    def precompute(self, h_lang):
        return ops.matmul(h_lang, ops.cast(self.kernel, h_lang.dtype))  # (batch, L, n)

    def scores(self, keys, h_gen):
        """keys_k . h_gen: (batch, L, n), (batch, n) -> (batch, L)."""
        return ops.einsum("bln,bn->bl", keys, h_gen)

    def call(self, h_lang, h_gen, mask=None, keys=None):
        if keys is None:
            keys = self.precompute(h_lang)
        alpha = masked_softmax(self.scores(keys, h_gen), mask)
        return weighted_sum(alpha, h_lang), alpha
