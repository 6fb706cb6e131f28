"""The negative variational bound (DRAW eq. 12) and an importance-sampled estimate of
-log p(x) (Burda et al. 2016) over a set of images, in nats per image.
"""

import keras
import numpy as np

from t2i_tf import jit


def _batches(images, batch_size):
    for start in range(0, len(images), batch_size):
        yield images[start:start + batch_size]


def _noise(model, batch, seed, index):
    # One fixed draw per (seed, batch index): results do not depend on batch order.
    return keras.random.normal((model.steps, batch, model.z_dim), seed=seed * 1000003 + index)


def negative_elbo(model, images, batch_size=100, seed=0):
    """Mean and standard error over images of L^x, L^z and L = L^x + L^z, one z per image.

    Returns dict name -> (mean, standard error of the mean).
    """
    loss_terms = jit.compile_method(model, model.loss_terms)
    values = {}
    for i, x in enumerate(_batches(images, batch_size)):
        terms = loss_terms(x, _noise(model, len(x), seed, i))
        for name, v in terms.items():
            values.setdefault(name, []).append(keras.ops.convert_to_numpy(v))
    out = {}
    for name, parts in values.items():
        v = np.concatenate(parts).astype(np.float64)
        out[name] = (float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0)
    return out


def importance_sampled_nll(model, images, num_samples=50, batch_size=100, seed=0):
    """-log (1/K sum_k p(x, z_k) / q(z_k | x)) with K = num_samples, averaged over images.

    An upper bound on -log p(x) that tightens as K grows (K = 1 gives the ELBO).
    Returns (mean, standard error of the mean) in nats.
    """
    log_weight = jit.compile_method(model, model.log_importance_weight)
    per_image = []
    for i, x in enumerate(_batches(images, batch_size)):
        n = len(x)
        tiled = np.tile(x, (num_samples, 1, 1))  # (K n, B, A), sample k of image j at k n + j
        w = keras.ops.convert_to_numpy(
            log_weight(tiled, _noise(model, num_samples * n, seed, i)))
        w = w.reshape(num_samples, n).astype(np.float64)
        top = w.max(axis=0)
        per_image.append(-(top + np.log(np.mean(np.exp(w - top), axis=0))))
    v = np.concatenate(per_image)
    return float(v.mean()), float(v.std(ddof=1) / np.sqrt(len(v))) if len(v) > 1 else 0.0
