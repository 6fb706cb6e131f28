"""Nearest neighbours by pixel L2: the closest training image to each generated sample
(alignDRAW Fig. 4, top row: evidence that the model does not copy its training set), and
the k-nearest search that the retrieval shortlists use (t2i_tf/metrics/retrieval.py).

Distances are found with matrix products, ||q||^2 + ||b||^2 - 2 q.b, in float32 over chunks
of queries and of the base set; the best k + `_MARGIN` candidates of each query are then
re-ranked with distances computed exactly in float64 (between the inputs' float32 values),
so that float32 rounding does not reorder near-ties. Numpy only.
"""

import numpy as np

from t2i_tf import visualize

_MARGIN = 8  # extra float32 candidates re-ranked exactly
_REFINE_ELEMENTS = 1 << 22  # gathered float64 values per re-ranking chunk


def _flat(images):
    images = np.asarray(images)
    return images.reshape(len(images), -1).astype(np.float32)


def k_nearest(queries, base, k, exclude_self=False, tie_key=None, query_chunk=512,
              base_chunk=8192):
    """The k images of `base` closest to each query in squared pixel L2.

    Args:
      queries: (n, ...) images or feature vectors.
      base: (m, ...) with the same trailing size.
      k: neighbours per query, at most m (m - 1 with exclude_self).
      exclude_self: the queries are base's first n rows (the same set, or its head);
        query i never returns base i.
      tie_key: optional (m,) numbers; among exactly equal distances the smaller key comes
        first. Default: the base index.
      query_chunk, base_chunk: rows per matrix product ((query_chunk, base_chunk) floats).

    Returns:
      (indices int64 (n, k), squared distances float64 (n, k)), nearest first.
    """
    q, b = _flat(queries), _flat(base)
    n, m = len(q), len(b)
    if exclude_self and n > m:
        raise ValueError(f"exclude_self needs the queries to be base's first rows; got {n} "
                         f"queries and {m} base rows")
    available = m - 1 if exclude_self else m
    if not 1 <= k <= available:
        raise ValueError(f"k={k} outside 1..{available}")
    keep = min(k + _MARGIN, available)
    b_norm = np.einsum("md,md->m", b, b)  # (m,)
    candidates = np.empty((n, keep), np.int64)
    for start in range(0, n, query_chunk):
        qc = q[start:start + query_chunk]
        rows = np.arange(start, start + len(qc))
        q_norm = np.einsum("nd,nd->n", qc, qc)[:, None]  # (cq, 1)
        best_d = np.empty((len(qc), 0), np.float32)
        best_i = np.empty((len(qc), 0), np.int64)
        for b_start in range(0, m, base_chunk):
            bc = b[b_start:b_start + base_chunk]
            d = q_norm + b_norm[None, b_start:b_start + len(bc)] - 2.0 * (qc @ bc.T)  # (cq, cb)
            idx = np.broadcast_to(np.arange(b_start, b_start + len(bc)), d.shape)
            if exclude_self:
                d = np.where(idx == rows[:, None], np.inf, d)
            best_d = np.concatenate([best_d, d], axis=1)
            best_i = np.concatenate([best_i, idx], axis=1)
            if best_d.shape[1] > keep:
                part = np.argpartition(best_d, keep - 1, axis=1)[:, :keep]
                best_d = np.take_along_axis(best_d, part, axis=1)
                best_i = np.take_along_axis(best_i, part, axis=1)
        candidates[start:start + len(qc)] = best_i
    # Exact re-ranking of the `keep` candidates, in chunks of queries.
    exact = np.empty((n, keep), np.float64)
    step = max(1, _REFINE_ELEMENTS // (keep * q.shape[1]))
    for start in range(0, n, step):
        diff = (b[candidates[start:start + step]].astype(np.float64)
                - q[start:start + step, None, :].astype(np.float64))  # (c, keep, d)
        exact[start:start + step] = np.einsum("ckd,ckd->ck", diff, diff)
    key = candidates if tie_key is None else np.asarray(tie_key)[candidates]
    order = np.lexsort((key, exact), axis=1)[:, :k]  # by distance, then by key
    return np.take_along_axis(candidates, order, 1), np.take_along_axis(exact, order, 1)


def nearest_training(samples, train_images, query_chunk=512, base_chunk=8192):
    """The closest training image to each sample by pixel L2.

    Args:
      samples: (n, B, A) generated images (e.g. sigmoid(c_T)).
      train_images: (m, B, A).

    Returns:
      (indices int64 (n,), L2 distances float64 (n,)); ties go to the lower index.
    """
    idx, sq = k_nearest(samples, train_images, 1, query_chunk=query_chunk,
                        base_chunk=base_chunk)
    return idx[:, 0], np.sqrt(np.maximum(sq[:, 0], 0.0))


def side_by_side(samples, train_images, idx, pairs_per_row=4, pad=1, scale=1):
    """A uint8 grid of (sample, its nearest training image) pairs, pairs_per_row pairs a row.

    Args:
      samples: (n, B, A) in [0, 1]; train_images: (m, B, A); idx: (n,) from nearest_training.
    """
    samples = np.asarray(samples, np.float32)
    neighbours = np.asarray(train_images, np.float32)[np.asarray(idx)]
    pairs = np.stack([samples, neighbours], axis=1).reshape(-1, *samples.shape[1:])
    return visualize.grid(pairs, columns=2 * pairs_per_row, pad=pad, scale=scale)
