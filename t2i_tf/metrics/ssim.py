"""The Structural Similarity Index (Wang et al. 2004) in numpy, and the SSI column of
alignDRAW Table 1: 50 samples from the prior for every caption, each compared with the
caption's true image (alignDRAW §4.1.3; alignPixelRNN §7, eq. 10).

SSIM(a, b) = mean over windows of
    (2 mu_a mu_b + C1) (2 sigma_ab + C2) / ((mu_a^2 + mu_b^2 + C1) (sigma_a^2 + sigma_b^2 + C2))
with local statistics weighted by an 11 x 11 Gaussian window, sigma 1.5, C1 = (0.01 L)^2,
C2 = (0.03 L)^2 and data range L = 1.0. The window is applied only where it fits inside the
image ('VALID': a 60 x 60 image gives 50 x 50 windows) and the (co)variances are the
window-weighted ones, with no N / (N - 1) correction. These are the constants and the
arithmetic of tf.image.ssim (its defaults, max_val = 1.0), and of skimage's
structural_similarity(gaussian_weights=True, sigma=1.5, use_sample_covariance=False,
data_range=1.0), which filters with reflection and then crops the same border.
tests/test_metrics_ssim.py checks the match with tf.image.ssim. Numpy, so it runs where
TensorFlow is not installed (the JAX-only GPU machines).
"""

import keras
import numpy as np

from t2i_tf import jit
from t2i_tf.metrics import likelihood
from t2i_tf.models import registry
from t2i_tf.sampling import samplers

WINDOW = 11
SIGMA = 1.5
K1, K2 = 0.01, 0.03


def gaussian_window(size=WINDOW, sigma=SIGMA):
    """The normalised 1-D Gaussian (size,); the 2-D window is its outer product."""
    x = np.arange(size, dtype=np.float64) - (size - 1) / 2.0
    w = np.exp(-0.5 * x * x / sigma ** 2)
    return w / w.sum()


def _valid_filter_matrix(length, w):
    """(length - size + 1, length) matrix M with (M v)_i = sum_j w_j v_{i+j}."""
    out = length - len(w) + 1
    m = np.zeros((out, length))
    for i in range(out):
        m[i, i:i + len(w)] = w
    return m


def ssim(a, b, data_range=1.0, window=WINDOW, sigma=SIGMA, k1=K1, k2=K2):
    """SSIM of image pairs: a, b (..., H, W), broadcastable; returns (...) float64.

    Both sides must be at least `window` pixels.
    """
    a = np.asarray(a, np.float64)
    b = np.asarray(b, np.float64)
    h, w = np.broadcast_shapes(a.shape, b.shape)[-2:]
    if min(h, w) < window:
        raise ValueError(f"images of {h} x {w} are smaller than the {window} x {window} window")
    g = gaussian_window(window, sigma)
    rows, cols = _valid_filter_matrix(h, g), _valid_filter_matrix(w, g).T

    def filtered(x):  # (..., H, W) -> (..., H - window + 1, W - window + 1)
        return rows @ x @ cols

    c1, c2 = (k1 * data_range) ** 2, (k2 * data_range) ** 2
    mu_a, mu_b = filtered(a), filtered(b)
    mu_ab = mu_a * mu_b
    mu_sq = mu_a * mu_a + mu_b * mu_b
    cov = filtered(a * b) - mu_ab
    var_sum = filtered(a * a + b * b) - mu_sq
    luminance = (2.0 * mu_ab + c1) / (mu_sq + c1)
    contrast_structure = (2.0 * cov + c2) / (var_sum + c2)
    return np.mean(luminance * contrast_structure, axis=(-2, -1))


def colour_ssim(a, b, **kwargs):
    """SSIM of colour image pairs (..., H, W, C): the mean of the C channels' SSIMs."""
    return ssim(np.moveaxis(a, -1, -3), np.moveaxis(b, -1, -3), **kwargs).mean(axis=-1)


def samples_per_caption(model, data, num_samples, batch_size=500, seed=0, temperature=1.0):
    """Yields (start, stop, canvases (stop - start, S, B, A)): num_samples images in [0, 1]
    for each caption of data (dict with ids and mask), in compiled calls of about
    batch_size samples (whole captions).

    DRAW models: final canvases sigmoid(c_T) from the prior, z_t = mu_t + temperature
    sigma_t eps_t; the noise eps of call `index` is likelihood.noise(model, rows, seed,
    index). Pixel models: ancestral samples at the softmax temperature
    (t2i_tf.sampling.samplers.PixelCaptionSampler), pixel values v shown as v / (V - 1); the
    uniforms of call `index` come from numpy's Generator seeded seed * 1000003 + index."""
    if registry.spec_of(model).pixel:
        sampler = samplers.PixelCaptionSampler(model, "sample", temperature=temperature)

        def final(ids, mask, index):
            images = sampler(ids, mask, seed=seed * 1000003 + index)["images"]
            return samplers.unit_images(images, model.levels)
    else:
        generate = jit.compile_method(
            model, lambda ids, mask, eps: model.generate(ids, mask, eps)["canvases"][-1])

        def final(ids, mask, index):
            return generate(ids, mask,
                            temperature * likelihood.noise(model, len(ids), seed, index))

    ids, mask = (np.asarray(data[k]) for k in ("ids", "mask"))
    per_call = min(max(1, batch_size // num_samples), len(ids))  # captions per call
    for index, start in enumerate(range(0, len(ids), per_call)):
        stop = min(start + per_call, len(ids))
        # Row j S + s holds sample s of caption start + j; a short last call is padded.
        rows = np.minimum(np.arange(start, start + per_call), stop - 1).repeat(num_samples)
        canvases = final(ids[rows].astype(np.int32), mask[rows].astype(bool), index)
        canvases = np.asarray(keras.ops.convert_to_numpy(canvases))
        yield start, stop, canvases.reshape(per_call, num_samples,
                                            *canvases.shape[1:])[:stop - start]


def caption_ssim(model, data, num_samples=50, batch_size=500, seed=0, temperature=1.0):
    """SSIM between samples from the prior P(x | y_j) and caption j's true image.

    Args:
      model: a built caption model with `generate(ids, mask, eps)` (alignDRAW, noalignDRAW),
        or a pixel model (alignPixelRNN, alignPixelCNN; see samples_per_caption).
      data: dict of images (n, B, A) in [0, 1] (a pixel model's v / (V - 1)) or colour
        images (n, B, A, C), scored per channel and averaged, ids (n, L),
        mask (n, L); caption j describes image j.
      num_samples: S samples per caption; each sample is the final canvas sigmoid(c_T), or
        a pixel model's ancestral sample.
      batch_size: samples generated per compiled call (whole captions: at least S).
      seed: noise seed; noise is drawn per call index, so results depend on batch_size.
      temperature: of the samples (samples_per_caption); 1 samples the model itself.

    Returns:
      dict: mean and std (population) of SSIM over all n S (caption, sample) pairs,
      pairs = n S, and per_caption (n,) float64, each caption's mean over its samples.
    """
    images = np.asarray(data["images"])
    score = colour_ssim if images.ndim == 4 else ssim  # (n, B, A, C) colour images
    values = [score(canvases, images[start:stop, None])  # (captions, S)
              for start, stop, canvases in samples_per_caption(model, data, num_samples,
                                                               batch_size, seed, temperature)]
    v = np.concatenate(values)
    return {"mean": float(v.mean()), "std": float(v.std()), "pairs": int(v.size),
            "per_caption": v.mean(axis=1)}
