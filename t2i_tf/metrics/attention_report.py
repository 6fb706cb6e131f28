"""Where alignDRAW looks in the caption (alignDRAW Fig. 5 and §4.1.1): the word weights
alpha_t of eq. 6-7, averaged over the T generation steps and over samples from the prior.

Per caption: its words ordered by weight, and the words x steps map. Over a data set: which
word types get the most weight on average, and how often each is the top-attended word of
its caption.

Arrays: alpha as sampled here is (n, S, T, L): caption, sample, step, word position; padded
positions hold 0. Everything but `sample_alpha` is numpy.
"""

import keras
import numpy as np

from t2i_tf import jit
from t2i_tf.metrics import likelihood


def sample_alpha(model, ids, mask, num_samples=10, batch_size=500, seed=0):
    """Word weights while drawing num_samples images from the prior for every caption.

    Args:
      model: a built caption model with generate(ids, mask, eps) returning alpha (T, n, L).
      ids, mask: (n, L) captions.
      batch_size: samples per compiled call (whole captions: at least num_samples).
      seed: noise seed; drawn per call index, so results depend on batch_size.

    Returns:
      float32 (n, S, T, L).
    """
    alphas = jit.compile_method(model, lambda i, k, e: model.generate(i, k, e)["alpha"])
    ids, mask = np.asarray(ids, np.int32), np.asarray(mask, bool)
    per_call = min(max(1, batch_size // num_samples), len(ids))
    out = []
    for index, start in enumerate(range(0, len(ids), per_call)):
        stop = min(start + per_call, len(ids))
        # Row j S + s holds sample s of caption start + j; a short last call is padded.
        rows = np.minimum(np.arange(start, start + per_call), stop - 1).repeat(num_samples)
        eps = likelihood.noise(model, len(rows), seed, index)
        a = np.asarray(keras.ops.convert_to_numpy(alphas(ids[rows], mask[rows], eps)))
        a = a.reshape(a.shape[0], per_call, num_samples, a.shape[-1])  # (T, captions, S, L)
        out.append(a.transpose(1, 2, 0, 3)[:stop - start])
    return np.concatenate(out).astype(np.float32)


def word_step_maps(alpha):
    """The words x steps maps: (n, S, T, L) -> (n, L, T), the mean over samples."""
    return np.asarray(alpha, np.float64).mean(axis=1).transpose(0, 2, 1)


def word_weights(alpha):
    """Each word's weight averaged over steps and samples: (n, S, T, L) -> (n, L)."""
    return np.asarray(alpha, np.float64).mean(axis=(1, 2))


def _tokens(vocabulary):
    return list(getattr(vocabulary, "tokens", vocabulary))


def caption_report(weights, step_map, ids, mask, vocabulary):
    """One caption's words by attention.

    Args:
      weights: (L,) from word_weights; step_map: (L, T) from word_step_maps.
      ids, mask: (L,) the caption; vocabulary: a Vocabulary or its token list (by id).

    Returns:
      dict: words (the caption's tokens in order), ranked [(word, position, weight)]
      by decreasing weight (ties in caption order), map (n_words, T) of the real words.
    """
    tokens = _tokens(vocabulary)
    positions = np.flatnonzero(np.asarray(mask, bool))
    words = [tokens[int(ids[p])] for p in positions]
    w = np.asarray(weights, np.float64)[positions]
    order = np.argsort(-w, kind="stable")
    return {"words": words,
            "ranked": [(words[k], int(positions[k]), float(w[k])) for k in order],
            "map": np.asarray(step_map, np.float64)[positions]}


def attention_summary(weights, ids, mask, vocabulary):
    """Which word types the model attends to, over n captions.

    Args:
      weights: (n, L) from word_weights; ids, mask: (n, L); vocabulary as caption_report.

    Returns:
      list of dicts, one per word type present, by decreasing mean_weight:
        word; occurrences (real positions holding it); captions (captions containing it);
        mean_weight (mean over its occurrences of the step- and sample-averaged alpha);
        top_count (captions whose highest-weighted position holds it; ties go to the
        earlier position); top_rate = top_count / captions; top_share = top_count / n.
    """
    tokens = _tokens(vocabulary)
    weights = np.asarray(weights, np.float64)
    ids = np.asarray(ids, np.int64)
    mask = np.asarray(mask, bool)
    n, vocab = len(ids), len(tokens)
    flat_ids, flat_w = ids[mask], weights[mask]
    occurrences = np.bincount(flat_ids, minlength=vocab)
    total = np.bincount(flat_ids, weights=flat_w, minlength=vocab)
    present = np.zeros((n, vocab), bool)
    present[np.nonzero(mask)[0], flat_ids] = True
    has_words = mask.any(axis=1)
    top_pos = np.argmax(np.where(mask, weights, -np.inf), axis=1)
    top_ids = ids[np.arange(n), top_pos][has_words]
    top_count = np.bincount(top_ids, minlength=vocab)
    captions = present.sum(axis=0)
    rows = []
    for t in np.flatnonzero(occurrences):
        rows.append({"word": tokens[t], "occurrences": int(occurrences[t]),
                     "captions": int(captions[t]),
                     "mean_weight": float(total[t] / occurrences[t]),
                     "top_count": int(top_count[t]),
                     "top_rate": float(top_count[t] / captions[t]),
                     "top_share": float(top_count[t] / n)})
    return sorted(rows, key=lambda r: -r["mean_weight"])
