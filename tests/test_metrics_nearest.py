"""t2i_tf.metrics.nearest against brute force: the k nearest by pixel L2 (chunked matrix
products, exact re-ranking), the closest training image, and the side-by-side grid."""

import numpy as np
import pytest

from t2i_tf.metrics import nearest


def brute_force(queries, base):
    """Squared distances in float64 between the float32 values that k_nearest works on."""
    queries, base = queries.astype(np.float32), base.astype(np.float32)
    q = queries.reshape(len(queries), -1).astype(np.float64)
    b = base.reshape(len(base), -1).astype(np.float64)
    return ((q[:, None, :] - b[None, :, :]) ** 2).sum(-1)  # (n, m)


def test_k_nearest_matches_brute_force_across_chunks():
    rng = np.random.default_rng(0)
    q, b = rng.random((13, 6, 5)), rng.random((40, 6, 5))
    idx, d = nearest.k_nearest(q, b, 7, query_chunk=4, base_chunk=9)
    full = brute_force(q, b)
    np.testing.assert_array_equal(idx, np.argsort(full, axis=1)[:, :7])
    np.testing.assert_allclose(d, np.sort(full, axis=1)[:, :7], rtol=1e-12)


def test_exclude_self_and_ties():
    x = np.random.default_rng(1).random((6, 4, 4))
    x[4] = x[1]  # a duplicate: distance 0, never itself
    idx, d = nearest.k_nearest(x, x, 2, exclude_self=True, base_chunk=2)
    assert idx[1, 0] == 4 and idx[4, 0] == 1 and d[1, 0] == 0
    assert not np.any(idx == np.arange(6)[:, None])
    y = np.zeros((3, 2, 2))  # all tied: the tie key decides
    idx, _ = nearest.k_nearest(y[:1], y, 3, tie_key=np.array([5, 1, 3]))
    np.testing.assert_array_equal(idx[0], [1, 2, 0])


def test_k_out_of_range():
    x = np.zeros((4, 2, 2))
    with pytest.raises(ValueError):
        nearest.k_nearest(x, x, 4, exclude_self=True)


def test_nearest_training_matches_brute_force():
    rng = np.random.default_rng(2)
    train = rng.random((50, 8, 8)).astype(np.float32)
    samples = np.concatenate([rng.random((9, 8, 8)), train[[7, 31]]]).astype(np.float32)
    idx, dist = nearest.nearest_training(samples, train, query_chunk=4, base_chunk=16)
    full = brute_force(samples, train)
    np.testing.assert_array_equal(idx, full.argmin(axis=1))
    np.testing.assert_allclose(dist, np.sqrt(full.min(axis=1)), rtol=1e-6, atol=1e-6)
    assert list(idx[-2:]) == [7, 31] and np.all(dist[-2:] == 0)


def test_side_by_side_pairs_each_sample_with_its_neighbour():
    samples = np.full((3, 4, 4), 0.2)
    train = np.stack([np.full((4, 4), v) for v in (0.0, 0.6, 1.0)])
    g = nearest.side_by_side(samples, train, np.array([2, 0, 1]), pairs_per_row=2, pad=1)
    assert g.shape == (2 * 5 + 1, 4 * 5 + 1) and g.dtype == np.uint8
    cell = lambda r, c: g[1 + 5 * r + 1, 1 + 5 * c + 1]
    assert [cell(0, 0), cell(0, 1), cell(0, 2), cell(0, 3)] == [51, 255, 51, 0]
    assert [cell(1, 0), cell(1, 1)] == [51, 153]
