"""The negative variational bound (DRAW eq. 12; alignDRAW eqs. 14-15) and an
importance-sampled estimate of -log p(x) or -log p(x | y) (Burda et al. 2016) over a data
set, in nats per image; for the pixel models (alignPixelRNN eq. 5), the exact -log p(x | y)
and bits per dimension.

`data` is an image array (DRAW) or a dict of arrays images, ids, mask (caption models),
all with the examples on the first axis.
"""

import math

import keras
import numpy as np

from t2i_tf import jit


_CAPTIONED = ("images", "ids", "mask")


def _batches(data, batch_size):
    """Yields the positional arguments of the model's methods, batch by batch."""
    if isinstance(data, dict):
        n = len(data["images"])
        for start in range(0, n, batch_size):
            yield tuple(data[k][start:start + batch_size] for k in _CAPTIONED)
    else:
        for start in range(0, len(data), batch_size):
            yield (data[start:start + batch_size],)


def noise(model, rows, seed, index):
    """Standard normal (T, rows, z_dim) for call `index` of a metric: one fixed draw per
    (seed, index), so a metric's value does not depend on the order of its calls."""
    return keras.random.normal((model.steps, rows, model.z_dim), seed=seed * 1000003 + index)


def log_mean_exp(w):
    """log (1/K sum_k exp w_k) over axis 0 of (K, n), in float64."""
    w = np.asarray(w, np.float64)
    top = w.max(axis=0)
    return top + np.log(np.mean(np.exp(w - top), axis=0))


def negative_elbo(model, data, batch_size=100, seed=0):
    """Mean and standard error over images of L^x, L^z and L = L^x + L^z, one z per image.

    Returns dict name -> (mean, standard error of the mean).
    """
    loss_terms = jit.compile_method(model, model.loss_terms)
    values = {}
    for i, args in enumerate(_batches(data, batch_size)):
        terms = loss_terms(*args, noise(model, len(args[0]), seed, i))
        for name, v in terms.items():
            values.setdefault(name, []).append(keras.ops.convert_to_numpy(v))
    out = {}
    for name, parts in values.items():
        v = np.concatenate(parts).astype(np.float64)
        out[name] = (float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0)
    return out


def importance_sampled_nll(model, data, num_samples=50, batch_size=100, seed=0,
                           max_rows=10000):
    """-log (1/K sum_k p(x, z_k) / q(z_k | x)) with K = num_samples, averaged over images.

    An upper bound on -log p(x) that tightens as K grows (K = 1 gives the ELBO). Each
    compiled call weighs at most `max_rows` (image, sample) pairs: the K samples of a batch
    go in equal chunks (the largest divisor of K that fits), so memory stays bounded for any
    K, and their log-weights are combined in float64. Chunk c of batch i draws the noise of
    call i + c 10^6 (`noise`); with one chunk the estimate is that of one call per batch.
    Returns (mean, standard error of the mean) in nats.
    """
    log_weight = jit.compile_method(model, model.log_importance_weight)
    per_image = []
    for i, args in enumerate(_batches(data, batch_size)):
        n = len(args[0])
        fit = max(1, max_rows // n)
        chunk = max(d for d in range(1, min(num_samples, fit) + 1) if num_samples % d == 0)
        # (chunk n, ...): sample k of example j at row k n + j.
        tiled = [np.tile(a, (chunk,) + (1,) * (a.ndim - 1)) for a in args]
        w = [keras.ops.convert_to_numpy(
                 log_weight(*tiled, noise(model, chunk * n, seed, i + c * 1_000_000))
             ).reshape(chunk, n) for c in range(num_samples // chunk)]
        per_image.append(-log_mean_exp(np.concatenate(w)))
    v = np.concatenate(per_image)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def mean_and_sem(values):
    """(mean, standard error of the mean) of a 1-D array, as Python floats."""
    v = np.asarray(values, np.float64)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0


def exact_nll(model, data, batch_size=100):
    """A pixel model's exact -log p(x | y) of every example, in nats: float64 (n,).

    Args:
      model: a built pixel model with nll(images, ids, mask) (AlignPixelRNN, AlignPixelCNN).
      data: dict of images (n, H, W) integer pixel values, ids (n, L), mask (n, L).
      batch_size: examples per compiled call; the last call is padded to the same shape,
        so it compiles once.
    """
    nll = jit.compile_method(model, model.nll)
    n = len(data["images"])
    size = min(batch_size, n)
    out = np.empty(n, np.float64)
    for start in range(0, n, size):
        stop = min(start + size, n)
        rows = np.minimum(np.arange(start, start + size), stop - 1)  # padded with the last
        args = (np.asarray(data["images"])[rows], np.asarray(data["ids"], np.int32)[rows],
                np.asarray(data["mask"], bool)[rows])
        out[start:stop] = np.asarray(keras.ops.convert_to_numpy(nll(*args)))[:stop - start]
    return out


def bits_per_dim(nll_nats, num_pixels):
    """Nats per image -> bits per pixel: nll / (H W ln 2)."""
    return np.asarray(nll_nats, np.float64) / (num_pixels * math.log(2.0))
