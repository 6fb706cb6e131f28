"""Where a caption model looks in the caption (alignDRAW Fig. 5 and §4.1.1): the word
weights over the generation steps, averaged over the steps and over samples.

alignDRAW: the alpha_t of eqs. 6-7 over its T drawing steps. The pixel models
(alignPixelRNN eq. 8, alignPixelCNN): the alpha_j of every pixel, averaged over the pixels of
each image row, so that their "steps" are the H image rows (row means have equal weight, so
their mean is the mean over all pixels).

Per caption: its words ordered by weight, and the words x steps (or image rows) map. Over a
data set: which word types get the most weight on average, and how often each is the
top-attended word of its caption.

Arrays: alpha as sampled here is (n, S, T, L): caption, sample, step (or image row), word
position; padded positions hold 0. Everything but the two samplers is numpy.
"""

import keras
import numpy as np

from t2i_tf import jit
from t2i_tf.metrics import likelihood
from t2i_tf.sampling import samplers


def sample_alpha(model, ids, mask, num_samples=10, batch_size=500, seed=0, temperature=1.0):
    """Word weights while drawing num_samples images from the prior for every caption.

    Args:
      model: a built caption model with generate(ids, mask, eps) returning alpha (T, n, L).
      ids, mask: (n, L) captions.
      batch_size: samples per compiled call (whole captions: at least num_samples).
      seed: noise seed; drawn per call index, so results depend on batch_size.
      temperature: z_t = mu_t + temperature sigma_t eps_t (1: the model's prior).

    Returns:
      float32 (n, S, T, L).
    """
    alphas = jit.compile_method(model, lambda i, k, e: model.generate(i, k, e)["alpha"])

    def draw(index, ids, mask):
        eps = temperature * likelihood.noise(model, len(ids), seed, index)
        return np.asarray(keras.ops.convert_to_numpy(alphas(ids, mask, eps))).transpose(1, 0, 2)

    return _per_caption(draw, ids, mask, num_samples, batch_size)


def sample_pixel_alpha(model, ids, mask, num_samples=10, batch_size=500, seed=0,
                       temperature=1.0):
    """A pixel model's word weights, per image row, over num_samples images per caption.

    The images are drawn by ancestral sampling at the softmax temperature (the compiled
    t2i_tf.sampling.samplers.PixelCaptionSampler), then the model's `attention_weights` gives the
    alpha with which each pixel was drawn, and each image row's pixels are averaged.

    Args:
      model: a built pixel model (AlignPixelRNN, AlignPixelCNN).
      ids, mask: (n, L) captions.
      batch_size: images per compiled call (whole captions: at least num_samples).
      seed: sampling seed, combined with the call index, so results depend on batch_size.

    Returns:
      float32 (n, S, H, L).
    """
    sampler = samplers.PixelCaptionSampler(model, "sample", temperature=temperature)
    height, width = model.image_shape

    def row_means(images, ids, mask):
        alpha = model.attention_weights(images, ids, mask)  # (batch, N, L)
        return keras.ops.mean(keras.ops.reshape(alpha, (-1, height, width, ids.shape[1])), 2)

    weights = jit.compile_method(model, row_means)

    def draw(index, ids, mask):
        images = sampler(ids, mask, seed=[seed, index])["images"]
        return np.asarray(keras.ops.convert_to_numpy(weights(images, ids, mask)))

    return _per_caption(draw, ids, mask, num_samples, batch_size)


def _per_caption(draw, ids, mask, num_samples, batch_size):
    """Calls draw(call index, ids (rows, L), mask) -> (rows, T, L) on whole captions, each
    repeated num_samples times, and returns float32 (n, S, T, L)."""
    ids, mask = np.asarray(ids, np.int32), np.asarray(mask, bool)
    per_call = min(max(1, batch_size // num_samples), len(ids))
    out = []
    for index, start in enumerate(range(0, len(ids), per_call)):
        stop = min(start + per_call, len(ids))
        # Row j S + s holds sample s of caption start + j; a short last call is padded.
        rows = np.minimum(np.arange(start, start + per_call), stop - 1).repeat(num_samples)
        a = draw(index, ids[rows], mask[rows])  # (per_call S, T, L)
        out.append(a.reshape(per_call, num_samples, *a.shape[1:])[:stop - start])
    return np.concatenate(out).astype(np.float32)


def word_step_maps(alpha):
    """The words x steps (or image rows) maps: (n, S, T, L) -> (n, L, T), the mean over samples."""
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
