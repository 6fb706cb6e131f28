"""Greedy, ancestral and beam search over fake next-step functions, against NumPy.

The fake step functions compute their logits from lookup tables, so every expected output
is computed here in NumPy: the argmax chain, brute-force enumeration of all sequences, a
NumPy beam search, an inverse-CDF draw with the same uniforms. The file runs on whichever
backend KERAS_BACKEND names; test_jax_backend reruns it on JAX in a subprocess.
"""

import itertools
import os
import subprocess
import sys

import keras
import numpy as np
import pytest
from keras import ops

from t2i_tf.sampling import step_samplers

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def log_softmax(x):
    x = np.asarray(x, np.float64)
    x = x - x.max(-1, keepdims=True)
    return x - np.log(np.exp(x).sum(-1, keepdims=True))


def to_np(x):
    return ops.convert_to_numpy(x)


def compiled(fn):
    """fn traced once and compiled: jax.jit, or tf.function(jit_compile=True)."""
    if keras.backend.backend() == "jax":
        import jax
        return jax.jit(fn)
    import tensorflow as tf
    return tf.function(fn, jit_compile=True)


# --- fake step functions ------------------------------------------------------------------

class TableStep:
    """logits = tables[row, position, token]: a fixed function of (token, position).

    tables (R, L, V + 1, V); the state is the row (batch,) int32 of each batch item, so
    different items have different tables; token V is the start token.
    """

    def __init__(self, tables):
        self.tables = np.asarray(tables, np.float32)
        self.r, self.length, self.v1, self.v = self.tables.shape
        self.calls = 0

    def __call__(self, state, token, position):
        self.calls += 1
        flat = ops.convert_to_tensor(self.tables.reshape(-1, self.v))
        index = (state * self.length + position) * self.v1 + token
        return ops.take(flat, index, axis=0), state

    def logits_np(self, row, sequence, position):
        previous = self.v if position == 0 else sequence[position - 1]
        return self.tables[row, position, previous]


class SumStep:
    """A stateful step: logits depend on the whole history through the state.

    state = {"sum": (batch,) int32 running sum of the tokens fed, "counts": (batch, V + 1)
    float32 how often each token was fed}; after consuming `token`,
    logits = table[position, sum % M] + 0.7 * counts[:, :V].
    """

    def __init__(self, table, vocab):
        self.table = np.asarray(table, np.float32)  # (L, M, V)
        self.m = self.table.shape[1]
        self.v = vocab

    def __call__(self, state, token, position):
        total = state["sum"] + token
        counts = state["counts"] + ops.one_hot(token, self.v + 1, dtype="float32")
        table = ops.take(ops.convert_to_tensor(self.table), position, axis=0)  # (M, V)
        logits = ops.take(table, total % self.m, axis=0) + 0.7 * counts[:, :self.v]
        return logits, {"sum": total, "counts": counts}

    def init(self, batch, offsets):
        return {"sum": np.asarray(offsets, np.int32),
                "counts": np.zeros((batch, self.v + 1), np.float32)}

    def logits_np(self, offset, sequence, position):
        fed = [self.v] + list(sequence[:position])
        counts = np.bincount(fed, minlength=self.v + 1)[:self.v].astype(np.float32)
        total = offset + sum(fed)
        return self.table[position, total % self.m] + np.float32(0.7) * counts


def score_np(logits_fn, sequence):
    return sum(log_softmax(logits_fn(sequence, j))[t] for j, t in enumerate(sequence))


def greedy_np(logits_fn, length):
    sequence = []
    for j in range(length):
        sequence.append(int(np.argmax(logits_fn(sequence + [0] * (length - j), j))))
    return sequence


def brute_force_np(logits_fn, vocab, length):
    """All vocab**length sequences, best first: (sequences (N, length), scores (N,))."""
    sequences = np.array(list(itertools.product(range(vocab), repeat=length)))
    scores = np.array([score_np(logits_fn, list(s)) for s in sequences])
    order = np.argsort(-scores, kind="stable")
    return sequences[order], scores[order]


def beam_np(logits_fn, vocab, length, width):
    """Textbook beam search in NumPy: keep the top `width` of all width * V extensions."""
    beams = [([], 0.0)]
    for j in range(length):
        candidates = []
        for sequence, score in beams:
            log_probs = log_softmax(logits_fn(sequence + [0] * (length - j), j))
            candidates += [(sequence + [v], score + log_probs[v]) for v in range(vocab)]
        order = np.argsort([-s for _, s in candidates], kind="stable")
        beams = [candidates[i] for i in order[:width]]
    return beams


def table_fn(step, row):
    return lambda sequence, j: step.logits_np(row, sequence, j)


def sum_fn(step, offset):
    return lambda sequence, j: step.logits_np(offset, sequence, j)


# --- greedy --------------------------------------------------------------------------------

def test_greedy_is_the_argmax_chain():
    rng = np.random.default_rng(0)
    step = TableStep(rng.normal(size=(3, 6, 5, 4)) * 2)
    rows = np.array([0, 1, 2, 1], np.int32)
    tokens, scores = step_samplers.greedy(step, rows, 6, start_token=4)
    for b, row in enumerate(rows):
        expected = greedy_np(table_fn(step, row), 6)
        np.testing.assert_array_equal(to_np(tokens)[b], expected)
        np.testing.assert_allclose(to_np(scores)[b], score_np(table_fn(step, row), expected),
                                   rtol=1e-5)
    assert to_np(tokens).dtype == np.int32


def test_greedy_with_stateful_step():
    rng = np.random.default_rng(1)
    step = SumStep(rng.normal(size=(5, 7, 3)), vocab=3)
    offsets = [0, 3, 5]
    tokens, _ = step_samplers.greedy(step, step.init(3, offsets), 5, start_token=3)
    for b, offset in enumerate(offsets):
        np.testing.assert_array_equal(to_np(tokens)[b], greedy_np(sum_fn(step, offset), 5))


# --- beam search ---------------------------------------------------------------------------

def classic_step():
    """Greedy takes 0 (p 0.6) and then 0 (p 0.55): 0.33. Beam 2 finds 1, 0: 0.4 * 0.9 = 0.36."""
    tables = np.zeros((1, 2, 3, 2))
    tables[0, 0, 2] = np.log([0.6, 0.4])    # position 0, after the start token 2
    tables[0, 1, 0] = np.log([0.55, 0.45])  # position 1, after 0: nearly flat
    tables[0, 1, 1] = np.log([0.9, 0.1])    # position 1, after 1: peaked
    return TableStep(tables)


def test_beam_finds_the_sequence_greedy_misses():
    step = classic_step()
    rows = np.zeros((1,), np.int32)
    greedy_tokens, greedy_scores = step_samplers.greedy(step, rows, 2, start_token=2)
    np.testing.assert_array_equal(to_np(greedy_tokens), [[0, 0]])
    np.testing.assert_allclose(to_np(greedy_scores), [np.log(0.6 * 0.55)], rtol=1e-6)
    tokens, scores, beams, beam_scores = step_samplers.beam_search(
        step, rows, 2, start_token=2, beam_width=2, return_all_beams=True)
    np.testing.assert_array_equal(to_np(tokens), [[1, 0]])
    np.testing.assert_allclose(to_np(scores), [np.log(0.4 * 0.9)], rtol=1e-6)
    np.testing.assert_array_equal(to_np(beams), [[[1, 0], [0, 0]]])
    np.testing.assert_allclose(to_np(beam_scores), [[np.log(0.36), np.log(0.33)]], rtol=1e-6)


@pytest.mark.parametrize("stateful", [False, True])
def test_beam_width_one_is_greedy(stateful):
    rng = np.random.default_rng(2)
    if stateful:
        step = SumStep(rng.normal(size=(8, 5, 6)), vocab=6)
        state = step.init(4, [0, 1, 2, 3])
        start = 6
    else:
        step = TableStep(rng.normal(size=(4, 8, 7, 6)))
        state = np.arange(4, dtype=np.int32)
        start = 6
    greedy_tokens, greedy_scores = step_samplers.greedy(step, state, 8, start)
    tokens, scores = step_samplers.beam_search(step, state, 8, start, beam_width=1)
    np.testing.assert_array_equal(to_np(tokens), to_np(greedy_tokens))
    np.testing.assert_array_equal(to_np(scores), to_np(greedy_scores))


def check_exhaustive(step, state, logits_fns, vocab, length):
    width = vocab ** length
    _, _, beams, beam_scores = step_samplers.beam_search(
        step, state, length, start_token=vocab, beam_width=width, return_all_beams=True)
    for b, logits_fn in enumerate(logits_fns):
        sequences, scores = brute_force_np(logits_fn, vocab, length)
        np.testing.assert_array_equal(to_np(beams)[b], sequences)
        np.testing.assert_allclose(to_np(beam_scores)[b], scores, rtol=1e-5, atol=1e-5)


def test_exhaustive_beam_is_brute_force():
    rng = np.random.default_rng(3)
    step = TableStep(rng.normal(size=(2, 3, 4, 3)) * 2)
    check_exhaustive(step, np.array([0, 1], np.int32),
                     [table_fn(step, 0), table_fn(step, 1)], vocab=3, length=3)


def test_exhaustive_beam_reorders_states():
    """The logits depend on the whole history, so a beam fed another beam's state fails."""
    rng = np.random.default_rng(4)
    step = SumStep(rng.normal(size=(3, 5, 3)) * 2, vocab=3)
    offsets = [0, 2]
    check_exhaustive(step, step.init(2, offsets),
                     [sum_fn(step, o) for o in offsets], vocab=3, length=3)


@pytest.mark.parametrize("width", [2, 3])
def test_beam_matches_numpy_beam_search(width):
    rng = np.random.default_rng(5)
    step = SumStep(rng.normal(size=(5, 7, 4)) * 2, vocab=4)
    offsets = [0, 3, 4]
    _, _, beams, beam_scores = step_samplers.beam_search(
        step, step.init(3, offsets), 5, start_token=4, beam_width=width, return_all_beams=True)
    for b, offset in enumerate(offsets):
        expected = beam_np(sum_fn(step, offset), 4, 5, width)
        np.testing.assert_array_equal(to_np(beams)[b], [s for s, _ in expected])
        np.testing.assert_allclose(to_np(beam_scores)[b], [s for _, s in expected], rtol=1e-5)
    # with more room the best score can only improve
    assert np.all(to_np(beam_scores)[:, 0] >= to_np(step_samplers.greedy(
        step, step.init(3, offsets), 5, 4)[1]) - 1e-5)


def test_beam_wider_than_the_sequences_leaves_minus_inf():
    step = classic_step()
    _, _, beams, scores = step_samplers.beam_search(
        step, np.zeros((1,), np.int32), 1, 2, beam_width=3, return_all_beams=True)
    np.testing.assert_array_equal(to_np(beams)[0, :2], [[0], [1]])
    np.testing.assert_allclose(to_np(scores)[0, :2], np.log([0.6, 0.4]), rtol=1e-6)
    assert to_np(scores)[0, 2] == -np.inf


# --- ancestral -----------------------------------------------------------------------------

def test_ancestral_at_low_temperature_is_greedy():
    rng = np.random.default_rng(6)
    # permutations of 0..V-1: the largest logit leads the next by 1, so 1e-4 leaves no doubt
    tables = np.stack([rng.permutation(5) for _ in range(2 * 6 * 6)]).reshape(2, 6, 6, 5)
    step = TableStep(tables.astype(np.float32))
    rows = np.array([0, 1, 0, 1, 1], np.int32)
    expected, expected_scores = step_samplers.greedy(step, rows, 6, 5)
    tokens, scores = step_samplers.ancestral(step, rows, 6, 5, seed=7, temperature=1e-4)
    np.testing.assert_array_equal(to_np(tokens), to_np(expected))
    np.testing.assert_allclose(to_np(scores), to_np(expected_scores), rtol=1e-6)


def test_ancestral_is_reproducible():
    rng = np.random.default_rng(7)
    step = TableStep(rng.normal(size=(1, 8, 5, 4)))
    rows = np.zeros((16,), np.int32)
    a, _ = step_samplers.ancestral(step, rows, 8, 4, seed=11)
    b, _ = step_samplers.ancestral(step, rows, 8, 4, seed=11)
    c, _ = step_samplers.ancestral(step, rows, 8, 4, seed=12)
    np.testing.assert_array_equal(to_np(a), to_np(b))
    assert not np.array_equal(to_np(a), to_np(c))


def test_ancestral_with_given_noise_is_the_inverse_cdf_draw():
    rng = np.random.default_rng(8)
    step = SumStep(rng.normal(size=(6, 5, 4)) * 2, vocab=4)
    offsets = [0, 1, 2, 3, 4, 0]
    noise = rng.uniform(size=(6, 6)).astype(np.float32)
    tokens, scores = step_samplers.ancestral(
        step, step.init(6, offsets), 6, 4, seed=0, temperature=1.5, noise=noise)
    for b, offset in enumerate(offsets):
        logits_fn, sequence = sum_fn(step, offset), []
        for j in range(6):
            p = np.exp(log_softmax(logits_fn(sequence + [0] * (6 - j), j) / 1.5))
            sequence.append(int(np.searchsorted(np.cumsum(p), noise[j, b], side="right")))
        np.testing.assert_array_equal(to_np(tokens)[b], sequence)
        np.testing.assert_allclose(to_np(scores)[b], score_np(logits_fn, sequence), rtol=1e-5)


def test_ancestral_never_draws_a_token_of_probability_zero():
    tables = np.full((1, 1, 2, 4), -1e9, np.float32)
    tables[0, 0, 1, 1] = 0.0  # all mass on token 1; tokens 0, 2, 3 have probability 0
    noise = np.array([[0.0, 0.5, 0.99999994]], np.float32)
    tokens, _ = step_samplers.ancestral(
        TableStep(tables), np.zeros((3,), np.int32), 1, 1, seed=0, noise=noise)
    np.testing.assert_array_equal(to_np(tokens), [[1], [1], [1]])


def test_ancestral_matches_the_tempered_distribution():
    logits = np.array([1.0, 0.0, -1.0, 0.5], np.float32)
    tables = np.zeros((1, 2, 5, 4), np.float32)
    tables[0, 0, 4] = logits                  # position 0
    tables[0, 1, :4] = np.eye(4)[::-1] * 2.0  # position 1 depends on the first token
    step = TableStep(tables)
    for temperature in (0.5, 1.0, 2.0):
        tokens, _ = step_samplers.ancestral(
            step, np.zeros((4000,), np.int32), 2, 4, seed=3, temperature=temperature)
        tokens = to_np(tokens)
        frequencies = np.bincount(tokens[:, 0], minlength=4) / 4000
        expected = np.exp(log_softmax(logits / temperature))
        np.testing.assert_allclose(frequencies, expected, atol=0.03)  # ~4 standard errors
        for first in range(4):
            second = tokens[tokens[:, 0] == first, 1]
            frequencies = np.bincount(second, minlength=4) / len(second)
            expected = np.exp(log_softmax(tables[0, 1, first] / temperature))
            np.testing.assert_allclose(frequencies, expected, atol=0.08)


def test_arguments_are_checked():
    step = classic_step()
    with pytest.raises(ValueError, match="temperature"):
        step_samplers.ancestral(step, np.zeros((1,), np.int32), 2, 2, seed=0, temperature=0.0)
    with pytest.raises(ValueError, match="beam_width"):
        step_samplers.beam_search(step, np.zeros((1,), np.int32), 2, 2, beam_width=0)


# --- one compiled loop ---------------------------------------------------------------------

def test_compiled_samplers_trace_the_step_once():
    """Under jax.jit / tf.function(jit_compile=True), 64 positions trace step_fn once."""
    rng = np.random.default_rng(9)
    length = 64
    step = SumStep(rng.normal(size=(length, 5, 4)) * 2, vocab=4)
    state = step.init(3, [0, 1, 2])
    calls = []

    def counted(state, token, position):
        calls.append(position)
        return step(state, token, position)

    run_greedy = compiled(lambda s: step_samplers.greedy(counted, s, length, 4))
    run_beam = compiled(lambda s: step_samplers.beam_search(
        counted, s, length, 4, beam_width=3, return_all_beams=True))
    run_ancestral = compiled(lambda s, noise: step_samplers.ancestral(
        counted, s, length, 4, seed=None, temperature=0.8, noise=noise))
    run_seeded = compiled(lambda s: step_samplers.ancestral(
        counted, s, length, 4, seed=5, temperature=0.8))

    tokens, scores = run_greedy(state)
    assert len(calls) <= 2, len(calls)
    for b, offset in enumerate([0, 1, 2]):
        np.testing.assert_array_equal(to_np(tokens)[b], greedy_np(sum_fn(step, offset), length))
    eager_tokens, eager_scores = step_samplers.greedy(step, state, length, 4)
    np.testing.assert_array_equal(to_np(tokens), to_np(eager_tokens))
    np.testing.assert_allclose(to_np(scores), to_np(eager_scores), rtol=1e-5)

    del calls[:]
    _, _, beams, beam_scores = run_beam(state)
    assert len(calls) <= 2, len(calls)
    _, _, eager_beams, eager_beam_scores = step_samplers.beam_search(
        step, state, length, 4, beam_width=3, return_all_beams=True)
    np.testing.assert_array_equal(to_np(beams), to_np(eager_beams))
    np.testing.assert_allclose(to_np(beam_scores), to_np(eager_beam_scores), rtol=1e-5)
    for b, offset in enumerate([0, 1, 2]):  # the scores are those of the sequences
        for k in range(3):
            np.testing.assert_allclose(to_np(beam_scores)[b, k], score_np(
                sum_fn(step, offset), list(to_np(beams)[b, k])), rtol=1e-4)

    del calls[:]
    noise = rng.uniform(size=(length, 3)).astype(np.float32)
    tokens, scores = run_ancestral(state, noise)
    assert len(calls) <= 2, len(calls)
    eager_tokens, eager_scores = step_samplers.ancestral(
        step, state, length, 4, seed=None, temperature=0.8, noise=noise)
    np.testing.assert_array_equal(to_np(tokens), to_np(eager_tokens))
    np.testing.assert_allclose(to_np(scores), to_np(eager_scores), rtol=1e-5)
    # A seed gives the same draw on every call of the compiled function. (TensorFlow's
    # stateless RNG may pick another algorithm under XLA, so eager and compiled draws from
    # one seed can differ; pass `noise` where they must agree.)
    np.testing.assert_array_equal(to_np(run_seeded(state)[0]), to_np(run_seeded(state)[0]))


# --- the other backend ---------------------------------------------------------------------

@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="run from the TF suite")
def test_jax_backend():
    """Reruns this file with KERAS_BACKEND=jax in a subprocess."""
    pytest.importorskip("jax")
    env = dict(os.environ, KERAS_BACKEND="jax", JAX_PLATFORMS="cpu")
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", __file__],
        cwd=REPO_ROOT, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    assert " passed" in result.stdout
