"""Autoregressive samplers over a next-step function: greedy, ancestral and beam search.

The samplers know nothing about the model. A model is seen through one callable,

    step_fn(state, token, position) -> (logits, new_state)

  state:     any nest of tensors, each with the batch on its leading axis (the decoder's
             recurrent state, a cache, the caption memory it attends over, ...).
  token:     (batch,) int32, the previous pixel value; the start token at position 0.
  position:  scalar int32 tensor, the index of the pixel whose distribution is asked for.
  logits:    (batch, V) unnormalised log-probabilities of the pixel at `position`.
  new_state: the state after consuming `token`, same structure and shapes as `state`.

Each sampler runs its whole loop over `length` positions in one `keras.ops.fori_loop`,
writing the chosen pixels into a preallocated (batch, length) buffer with
`keras.ops.slice_update`; nothing loops in Python per position, at run time or at trace
time. Code is keras.ops / keras.random only, so it traces under `jax.jit` and under
`tf.function(jit_compile=True)` as long as length, V and beam_width are Python ints (the
batch may be unknown when TensorFlow traces, as in a SavedModel's signature).
Call the samplers inside such a compiled function: in eager TensorFlow the while loop runs
step by step.

Every sampler also returns the sequence's score, the summed model log-probability
sum_j log softmax(logits_j)[x_j] (temperature 1, whatever temperature was sampled at).
"""

import keras
from keras import ops
from keras import tree


def greedy(step_fn, state, length, start_token):
    """Takes the most probable pixel at every position.

    Args:
      step_fn: (state, token (batch,), position) -> (logits (batch, V), new_state).
      state: nest of tensors (batch, ...), the state before position 0.
      length: Python int, the number of positions to generate.
      start_token: int or (batch,) int tensor, the token fed at position 0.

    Returns:
      tokens (batch, length) int32 and scores (batch,) float32, the summed log-probability.
    """
    token = _start_tokens(state, start_token)
    batch = ops.shape(token)[0]

    def body(i, carry):
        state, token, tokens, score = carry
        position = ops.cast(i, "int32")
        logits, state = step_fn(state, token, position)
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)  # (batch, V)
        token = ops.cast(ops.argmax(log_probs, axis=-1), "int32")
        score = score + _pick(log_probs, token)
        tokens = ops.slice_update(tokens, (0, position), token[:, None])
        return state, token, tokens, score

    init = (state, token, ops.zeros((batch, length), "int32"), ops.zeros((batch,), "float32"))
    _, _, tokens, score = ops.fori_loop(0, length, body, init)
    return tokens, score


def ancestral(step_fn, state, length, start_token, seed, temperature=1.0, noise=None):
    """Samples each pixel from softmax(logits / temperature) given the pixels before it.

    The draw is by inverse CDF: one uniform u per (position, batch row), all drawn before
    the loop with `keras.random.uniform((length, batch), seed=seed)`; the pixel at position
    j is the first index whose cumulative probability exceeds u_j times the total. This is
    an exact categorical draw with a stateless random number per position, costs one
    float per pixel (Gumbel-max would need V per pixel), and needs no seed arithmetic
    inside the loop (TensorFlow's keras.random takes only int or SeedGenerator seeds).
    As temperature -> 0 it becomes greedy.

    Args:
      step_fn: (state, token (batch,), position) -> (logits (batch, V), new_state).
      state: nest of tensors (batch, ...), the state before position 0.
      length: Python int, the number of positions to generate.
      start_token: int or (batch,) int tensor, the token fed at position 0.
      seed: an int or a keras.random.SeedGenerator (a JAX key array on the JAX backend).
        The same int gives the same samples on the same backend and compilation mode
        (TensorFlow's stateless RNG may use another algorithm under XLA than eagerly).
        Unused when `noise` is given.
      temperature: > 0; below 1 sharpens, above 1 flattens the distribution.
      noise: optional (length, batch) uniforms in [0, 1) used instead of drawing from
        `seed`; lets a compiled caller pass fresh randomness as an input.

    Returns:
      tokens (batch, length) int32 and scores (batch,) float32, the summed model
      log-probability (temperature 1) of the sampled pixels.
    """
    if isinstance(temperature, (int, float)) and not temperature > 0:
        raise ValueError(f"temperature must be > 0, got {temperature}")
    token = _start_tokens(state, start_token)
    batch = ops.shape(token)[0]
    if noise is None:
        noise = keras.random.uniform((length, batch), seed=seed)
    noise = ops.cast(noise, "float32")

    def body(i, carry):
        state, token, tokens, score = carry
        position = ops.cast(i, "int32")
        logits, state = step_fn(state, token, position)
        logits = ops.cast(logits, "float32")
        probs = ops.softmax(logits / temperature, axis=-1)  # (batch, V)
        cdf = ops.cumsum(probs, axis=-1)
        threshold = ops.take(noise, position, axis=0)[:, None] * cdf[:, -1:]  # (batch, 1)
        # The count of cumulative sums <= threshold is the first index whose sum exceeds it;
        # pixels of probability 0 are stepped over. The last entry is left out of the
        # count, so the index stays in [0, V - 1] even if rounding gives threshold == total.
        token = ops.cast(ops.sum(ops.cast(cdf[:, :-1] <= threshold, "int32"), axis=-1), "int32")
        score = score + _pick(ops.log_softmax(logits, axis=-1), token)
        tokens = ops.slice_update(tokens, (0, position), token[:, None])
        return state, token, tokens, score

    init = (state, token, ops.zeros((batch, length), "int32"), ops.zeros((batch,), "float32"))
    _, _, tokens, score = ops.fori_loop(0, length, body, init)
    return tokens, score


def beam_search(step_fn, state, length, start_token, beam_width, return_all_beams=False,
                live_width=None):
    """Keeps the beam_width sequences of highest summed log-probability at every position.

    The state is tiled to (batch * beam_width, ...), the beams of batch item b in rows
    b * beam_width ... b * beam_width + beam_width - 1, and step_fn runs on all beams at
    once. At position j each beam is extended by all V pixels; the candidate score is the
    beam's score plus log softmax(logits)[v], and the top beam_width of the
    beam_width * V candidates of each batch item survive, best first.

    Reordering: candidate c of batch item b comes from parent beam c // V with pixel c % V.
    Every leaf of the new state returned by step_fn (the state after the parent consumed
    its previous pixel) is gathered along axis 0 with rows b * beam_width + parent, the
    pixel history (batch, beam_width, length) is gathered along the beam axis with the
    same parents before the new pixel is written, and the new pixel becomes the token fed
    at position j + 1. So beam k always carries its own ancestors' state and pixels.

    At position 0 all beams are the same, so only beam 0 starts with score 0 and the others
    with -inf: the first step expands one beam, and no sequence is kept twice. A
    beam_width larger than the number of distinct sequences leaves -inf beams at the end.
    With beam_width 1 this is greedy.

    live_width (a scalar int tensor, 1 <= live_width <= beam_width) runs a beam search of
    that width in beam_width slots: after every step the slots from live_width on get score
    -inf, so they never win a place again. top_k ranks the candidates of the live beams as
    a search of width live_width does (ties to the lower index, and the live beams come
    first), so the tokens and scores are that search's; a compiled caller (the SavedModel
    of t2i_tf/serving/pixel_saved_model.py) thus serves every width up to beam_width with one program.

    Args:
      step_fn: (state, token (batch * beam_width,), position) ->
        (logits (batch * beam_width, V), new_state).
      state: nest of tensors (batch, ...), the state before position 0 (not yet tiled).
      length: Python int, the number of positions to generate.
      start_token: int or (batch,) int tensor, the token fed at position 0.
      beam_width: Python int >= 1.
      return_all_beams: also return every beam, sorted by score.
      live_width: optional int tensor, the width searched in the beam_width slots (above).

    Returns:
      tokens (batch, length) int32 and scores (batch,) float32 of the best beam; with
      return_all_beams, also beams (batch, beam_width, length) int32 and beam_scores
      (batch, beam_width) float32, best first.
    """
    if beam_width < 1:
        raise ValueError(f"beam_width must be >= 1, got {beam_width}")
    k = beam_width
    token = _start_tokens(state, start_token)
    batch = ops.shape(token)[0]
    state = tree.map_structure(lambda x: ops.repeat(x, k, axis=0), state)  # (batch * k, ...)
    token = ops.repeat(token, k, axis=0)  # (batch * k,)
    first = ops.arange(batch, dtype="int32")[:, None] * k  # (batch, 1), row of beam 0
    live = None if live_width is None else ops.arange(k)[None, :] < live_width  # (1, k)

    def body(i, carry):
        state, token, beams, scores = carry
        position = ops.cast(i, "int32")
        logits, state = step_fn(state, token, position)
        vocab = logits.shape[-1]
        log_probs = ops.log_softmax(ops.cast(logits, "float32"), axis=-1)  # (batch * k, V)
        candidates = scores[:, :, None] + ops.reshape(log_probs, (batch, k, vocab))
        scores, best = ops.top_k(ops.reshape(candidates, (batch, k * vocab)), k)  # (batch, k)
        if live is not None:
            scores = ops.where(live, scores, float("-inf"))
        best = ops.cast(best, "int32")
        parent, token = best // vocab, best % vocab  # (batch, k) each
        rows = ops.reshape(first + parent, (batch * k,))
        state = tree.map_structure(lambda x: ops.take(x, rows, axis=0), state)
        beams = ops.take_along_axis(beams, parent[:, :, None], axis=1)
        beams = ops.slice_update(beams, (0, 0, position), token[:, :, None])
        return state, ops.reshape(token, (batch * k,)), beams, scores

    scores = ops.concatenate(
        [ops.zeros((batch, 1), "float32"), ops.full((batch, k - 1), float("-inf"), "float32")],
        axis=1)
    init = (state, token, ops.zeros((batch, k, length), "int32"), scores)
    _, _, beams, scores = ops.fori_loop(0, length, body, init)
    # top_k returns candidates sorted, so beam 0 is the best.
    if return_all_beams:
        return beams[:, 0], scores[:, 0], beams, scores
    return beams[:, 0], scores[:, 0]


def _start_tokens(state, start_token):
    """start_token as (batch,) int32; the batch comes from it or from the state."""
    start_token = ops.cast(ops.convert_to_tensor(start_token), "int32")
    if len(start_token.shape) == 1:
        return start_token
    batch = ops.shape(tree.flatten(state)[0])[0]
    return ops.broadcast_to(start_token, (batch,))


def _pick(log_probs, token):
    """log_probs (batch, V), token (batch,) -> log_probs[b, token[b]] (batch,)."""
    return ops.take_along_axis(log_probs, token[:, None], axis=1)[:, 0]
