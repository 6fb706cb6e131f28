"""Image retrieval from captions (alignDRAW §4.1.3, following Kiros et al. 2014):
for each caption, rank a shortlist of images by the model's log p(x | y) and report
Recall@K and the median rank of the caption's true image.

Protocol:
- Shortlist: for query image i (the true image of caption i), image i itself plus its 99
  nearest neighbours among the other images of the same split, in PIXEL space (flattened
  images, squared L2; the paper used a CIFAR VGG's last fully-connected layer). Column 0
  is the true image.
- log p(x_c | y_j) is the model's importance-sampled estimate with K = num_samples
  (K = 1: the variational lower bound itself), for every caption j and candidate c.
- Common random numbers: the noise of an estimate belongs to the IMAGE (image_noise), so
  image c is scored under its caption y_j and under y_mean with the same eps, and the ratio
  cancels much of the Monte Carlo noise the two estimates share. The values do not depend
  on the batch size either.
- Ranking by the ratio log p(x | y) - log p(x | y_mean), where y_mean is the mean
  sentence representation over the training captions, and by log p(x | y) alone.

The mean sentence y_mean in an attention model. y_mean is the mean over the training
captions of each caption's h_lang averaged over its real words (caption_encoder.pooled):
one vector of size m = 2 x lang_units. It enters the model as a ONE-WORD caption memory:
h_lang = y_mean with L = 1 and the mask all true. The alignment's softmax over one word
is 1, so s_t = y_mean at every step t, whatever h_gen_{t-1}. For noalignDRAW the caption
vector is the same pooled mean, so its context is y_mean directly. Since log p(x | y_mean)
depends on the image only, it is computed once per image, not once per (caption, image).

Caption memories are handed to the model through
`model.log_importance_weight_from_lang(images, lang, eps)` (lang as AlignDraw.encode_caption
returns it).

The pixel models (alignPixelRNN, alignPixelCNN) have an exact log p(x | y). `ExactLikelihood`
shows one to this protocol as a caption model whose "importance weight" is that exact value
(num_samples = 1: nothing is sampled), so the same shortlists, mean sentence and rankings
serve both families. Their y_mean enters as the same one-word caption memory: the pixel
RNN's Luong attention, like each gated layer's of the pixel CNN, gives weight 1 to the one
word, so the context is y_mean at every pixel.
"""

import keras
import numpy as np

from t2i_tf import jit
from t2i_tf.layers import caption_encoder
from t2i_tf.metrics import likelihood, nearest

KS = (1, 5, 10, 50)
_CAPTIONED = ("images", "ids", "mask")


# ------------------------------------------------------------------ ranks and recalls


def ranks_from_scores(scores, true_index):
    """1-based rank of each query's true candidate; higher scores rank first.

    Args:
      scores: (n_queries, n_candidates), higher is better.
      true_index: int or (n_queries,) ints, the column of each query's true candidate.

    Returns:
      int64 (n_queries,): 1 + the number of candidates scored STRICTLY higher than the
      true one. Ties are resolved in the true candidate's favour (a tie counts as not
      better), so a constant score ranks every true candidate first; a NaN score is
      never better.
    """
    scores = np.asarray(scores, np.float64)
    true_index = np.broadcast_to(np.asarray(true_index, np.int64), scores.shape[:1])
    true = np.take_along_axis(scores, true_index[:, None], axis=1)  # (n, 1)
    return 1 + np.sum(scores > true, axis=1).astype(np.int64)


def recall_at_k(ranks, ks=KS):
    """{k: percentage of queries whose true candidate has rank <= k} (R@K, in %)."""
    ranks = np.asarray(ranks)
    return {int(k): float(100.0 * np.mean(ranks <= k)) for k in ks}


def median_rank(ranks):
    """Median of the 1-based ranks (Med r; a half-integer when the middle two differ)."""
    return float(np.median(np.asarray(ranks)))


def rank_metrics(scores, true_index=0, ks=KS):
    """{"r@k": R@K for k in ks, "median_rank": Med r} of one score matrix."""
    return metrics_of_ranks(ranks_from_scores(scores, true_index), ks)


def metrics_of_ranks(ranks, ks=KS):
    """{"r@k": R@K for k in ks, "median_rank": Med r} of 1-based ranks."""
    return {**{f"r@{k}": v for k, v in recall_at_k(ranks, ks).items()},
            "median_rank": median_rank(ranks)}


def content_oracle(shortlist, keys, ks=KS):
    """R@K and Med r of a ranker that knows each image's scene and nothing more.

    It puts the candidates whose key equals the query's true image's key first, and orders
    those at random: what a perfect reading of the caption can reach when a shortlist holds
    several images that the caption describes equally well. With m such candidates
    (the true image among them) the true one's rank is uniform on 1..m.

    Args:
      shortlist: int (n_queries, n_candidates) image indices, column 0 the true image.
      keys: (n_images,) one hashable-as-integer scene key per image (same key: the same
        caption content).
      ks: the K of R@K.

    Returns:
      {"r@k": expected R@K in %, "median_rank": the median of the ranks' mixture (the least
       r with P(rank <= r) >= 1/2), "mean_equals": mean m, "median_equals": median m}.
    """
    keys = np.asarray(keys)
    shortlist = np.asarray(shortlist)
    m = np.sum(keys[shortlist] == keys[shortlist[:, :1]], axis=1)  # >= 1: the true image

    def at_most(r):  # P(rank <= r), over the queries and the random order among equals
        return float(np.mean(np.minimum(1.0, r / m)))

    median = next(r for r in range(1, shortlist.shape[1] + 1) if at_most(r) >= 0.5)
    return {**{f"r@{k}": 100.0 * at_most(k) for k in ks}, "median_rank": float(median),
            "mean_equals": float(np.mean(m)), "median_equals": float(np.median(m))}


def scene_ranks(scores, shortlist, keys):
    """1-based rank of each query's true candidate among the candidates of OTHER scenes.

    The candidates whose key equals the true image's (the same scene, which the caption
    describes as well) are left out: rank 1 means the score puts the true image above
    every image of another scene, which a perfect reading of the caption does.

    Args:
      scores: (n_queries, n_candidates), higher is better, column 0 the true image.
      shortlist: int (n_queries, n_candidates) image indices, as scores.
      keys: (n_images,) scene keys (content_oracle).

    Returns:
      int64 (n_queries,).
    """
    scores, keys = np.asarray(scores, np.float64), np.asarray(keys)
    shortlist = np.asarray(shortlist)
    other = keys[shortlist] != keys[shortlist[:, :1]]
    return 1 + np.sum(other & (scores > scores[:, :1]), axis=1).astype(np.int64)


# ------------------------------------------------------------------ shortlists


def shortlists(features, num_candidates=100, seed=0, queries=None):
    """Shortlist of each query: itself and its num_candidates - 1 nearest neighbours.

    Args:
      features: (n, ...) one feature vector (or image, flattened here) per image of the
        split; pixel space is the images themselves. Distances are squared L2.
      num_candidates: shortlist size, at most n.
      seed: exact distance ties (duplicate images) are broken by a fixed random order
        drawn with this seed, not in favour of low indices.
      queries: shortlists for the first `queries` images only (None: all n); their
        neighbours are still sought among all n images, so each row is the row the whole
        split would give.

    Returns:
      int64 (queries, num_candidates): row i is i, then its neighbours nearest first.
    """
    n = len(features)
    if not 1 <= num_candidates <= n:
        raise ValueError(f"num_candidates={num_candidates} outside 1..{n}")
    queries = n if queries is None else queries
    if not 1 <= queries <= n:
        raise ValueError(f"queries={queries} outside 1..{n}")
    rows = np.arange(queries, dtype=np.int64)[:, None]
    if num_candidates == 1:
        return rows
    tie_key = np.random.default_rng(seed).permutation(n)
    idx, _ = nearest.k_nearest(features[:queries], features, num_candidates - 1,
                               exclude_self=True, tie_key=tie_key)
    return np.concatenate([rows, idx], axis=1)


# ------------------------------------------------------------------ model scores


def _pad_rows(a, size):
    """a (r, ...) with its last row repeated up to `size` rows: every call of a compiled
    function sees one batch shape, so the last, short batch does not compile it again."""
    return np.concatenate([a, np.repeat(a[-1:], size - len(a), axis=0)]) if len(a) < size else a


def _to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x), np.float64)


def image_noise(model, image_index, num_samples, seed):
    """Standard normal (T, K P, z_dim) for the P images image_index: row k P + p is sample k
    of image image_index[p], one fixed draw per (seed, image) whichever call scores it.

    This is what makes the noise common to every score of one image (the module
    docstring); pixel models ignore it (ExactLikelihood has T = z_dim = 1).
    """
    shape = (num_samples, model.steps, model.z_dim)
    draws = np.stack([np.random.default_rng((seed, int(i))).standard_normal(shape, np.float32)
                      for i in np.asarray(image_index).reshape(-1)], axis=1)  # (K, P, T, z)
    return draws.reshape((-1,) + shape[1:]).transpose(1, 0, 2)


def caption_scores(model, data, shortlist, num_samples=1, batch_size=500, seed=0):
    """log p(x_c | y_j) for every caption j and every candidate c of its shortlist.

    Args:
      model: a built caption model with log_importance_weight(images, ids, mask, eps).
      data: dict of images (n, B, A), ids (n, L), mask (n, L); caption j describes image j.
      shortlist: int (q, C) image indices for each of the first q <= n captions (see
        shortlists).
      num_samples: K of the importance-sampled estimate
        log (1/K sum_k p(x, z_k | y) / q(z_k | x, y)); K = 1 is the ELBO.
      batch_size: (caption, candidate) pairs per compiled call; each call runs
        K batch_size rows (the last call padded to the same shape, so it compiles once).
      seed: noise seed; the noise of candidate c is image_noise of its image index.

    Returns:
      float64 (q, C): the estimates in nats (higher is more likely).
    """
    log_weight = jit.compile_method(model, model.log_importance_weight)
    images, ids, mask = (np.asarray(data[k]) for k in _CAPTIONED)
    shortlist = np.asarray(shortlist, np.int64)
    n, c = shortlist.shape
    flat = shortlist.reshape(-1)  # pair p = j C + c
    out = np.empty(n * c, np.float64)
    size = min(batch_size, n * c)
    for index, start in enumerate(range(0, n * c, size)):
        pairs = np.arange(start, min(start + size, n * c))
        padded = _pad_rows(pairs, size)
        args = (images[flat[padded]], ids[padded // c].astype(np.int32),
                mask[padded // c].astype(bool))
        # (K P, ...): sample k of pair p at row k P + p.
        tiled = [np.tile(a, (num_samples,) + (1,) * (a.ndim - 1)) for a in args]
        eps = image_noise(model, flat[padded], num_samples, seed)
        w = _to_numpy(log_weight(*tiled, eps))
        out[pairs] = likelihood.log_mean_exp(w.reshape(num_samples, size))[:len(pairs)]
    return out.reshape(n, c)


def mean_sentence(model, ids, mask, batch_size=1000):
    """y_mean: the mean over captions of h_lang averaged over each caption's real words.

    Args:
      ids, mask: (N, L) the TRAINING captions.

    Returns:
      float64 (m,), m = the caption encoder's output size.
    """
    pool = jit.compile_method(
        model, lambda i, k: caption_encoder.pooled(model.encoder(i, k), k))
    total, size = 0.0, min(batch_size, len(ids))
    for start in range(0, len(ids), size):
        i = np.asarray(ids[start:start + size], np.int32)
        k = np.asarray(mask[start:start + size], bool)
        total = total + _to_numpy(pool(_pad_rows(i, size), _pad_rows(k, size)))[:len(i)].sum(0)
    return total / len(ids)


def mean_caption_lang(model, y_mean, batch):
    """The caption memory of the mean sentence for `batch` images (numpy arrays).

    alignDRAW: h_lang (batch, 1, m) = y_mean, mask (batch, 1) all true and the alignment's
    keys of that one word, so alpha = 1 and s_t = y_mean at every step.
    noalignDRAW and ExactLikelihood: context (batch, m) = y_mean, mask (batch, 1).
    """
    y = np.asarray(y_mean, np.float32).reshape(1, -1)
    mask = np.ones((batch, 1), bool)
    cell = getattr(model, "cell", None)  # ExactLikelihood has none: it takes the context
    if cell is None or cell.alignment is None:
        return {"context": np.repeat(y, batch, axis=0), "mask": mask}
    keys = _to_numpy(model.cell.alignment.precompute(y[:, None, :])).astype(np.float32)
    return {"h_lang": np.repeat(y[:, None, :], batch, axis=0), "mask": mask,
            "keys": np.repeat(keys, batch, axis=0)}


def mean_caption_scores(model, images, y_mean, num_samples=1, batch_size=500, seed=0,
                        image_index=None):
    """log p(x_i | y_mean) for every image i: float64 (n,), estimated as caption_scores.

    model: an alignDRAW model, or a pixel model seen through ExactLikelihood (each has
    log_importance_weight_from_lang(images, lang, eps)).
    image_index: (n,) the images' indices in their split, which pick their noise
    (image_noise); None: 0 .. n - 1.
    """
    log_weight = jit.compile_method(model, model.log_importance_weight_from_lang)
    images = np.asarray(images)
    out = np.empty(len(images), np.float64)
    size = min(batch_size, len(images))
    image_index = np.arange(len(images)) if image_index is None else np.asarray(image_index)
    lang = mean_caption_lang(model, y_mean, num_samples * size)
    for start in range(0, len(images), size):
        x = images[start:start + size]
        tiled = np.tile(_pad_rows(x, size), (num_samples,) + (1,) * (x.ndim - 1))
        eps = image_noise(model, _pad_rows(image_index[start:start + size], size),
                          num_samples, seed)
        w = _to_numpy(log_weight(tiled, lang, eps))
        out[start:start + len(x)] = likelihood.log_mean_exp(w.reshape(num_samples, size))[:len(x)]
    return out


class ExactLikelihood:
    """A pixel model (with nll and nll_from_lang) seen as the caption models of this module.

    log_importance_weight(images, ids, mask, eps) = log p(x | y) = -nll, exact; eps is
    ignored (steps = z_dim = 1 keep image_noise's placeholder small). Retrieval with
    num_samples = 1 ranks by the exact log-likelihood.
    log_importance_weight_from_lang(images, lang, eps): log p(x | mean sentence) with
    lang = {"context": (batch, m), "mask": (batch, 1)} from mean_caption_lang, given to the
    model as a one-word caption memory h_lang = context[:, None, :].

    Args:
      model: a built AlignPixelRNN or AlignPixelCNN.
    """

    steps = 1
    z_dim = 1

    def __init__(self, model):
        self.model = model
        self.encoder = model.encoder  # mean_sentence pools its output

    @property
    def weights(self):  # what t2i_tf.jit hands to the compiled function
        return self.model.weights

    def log_importance_weight(self, images, ids, mask, eps):
        del eps
        return -self.model.nll(images, ids, mask)

    def log_importance_weight_from_lang(self, images, lang, eps):
        del eps
        h_lang = keras.ops.expand_dims(keras.ops.convert_to_tensor(lang["context"]), 1)
        return -self.model.nll_from_lang(images, h_lang, lang["mask"])


# ------------------------------------------------------------------ the whole protocol


def retrieval(model, data, y_mean, shortlist=None, num_candidates=100, num_samples=1,
              batch_size=500, seed=0, ks=KS, queries=None):
    """The retrieval protocol of the module docstring on one split.

    Args:
      model, data: as caption_scores.
      y_mean: (m,) from mean_sentence on the training captions.
      shortlist: (q, C) with the true image in column 0, row j for caption j; None builds
        the pixel-space one with num_candidates.
      queries: without a shortlist, rank the first `queries` captions only (None: all),
        each among its candidates from the whole split (see shortlists): an unbiased
        subsample of the whole split's ranks, at queries / n of the cost.

    Returns:
      dict: ratio and likelihood, each {"r@1", "r@5", "r@10", "r@50", "median_rank"}
      (R@K in %), for the rankings by log p(x|y) - log p(x|y_mean) and by log p(x|y);
      num_candidates, num_samples, feature_space ("pixels", or "given" for a shortlist
      passed in); and the arrays shortlist (q, C),
      scores (q, C) = log p(x_c | y_j) and mean_scores (q, C) = log p(x_c | y_mean).
    """
    feature_space = "given" if shortlist is not None else "pixels"
    if shortlist is None:
        shortlist = shortlists(data["images"], num_candidates, seed, queries)
    shortlist = np.asarray(shortlist)
    scores = caption_scores(model, data, shortlist, num_samples, batch_size, seed)
    needed = np.unique(shortlist)  # log p(x | y_mean) of the images some shortlist holds
    per_image = np.full(len(data["images"]), np.nan)
    per_image[needed] = mean_caption_scores(model, np.asarray(data["images"])[needed], y_mean,
                                            num_samples, batch_size, seed, image_index=needed)
    mean_scores = per_image[shortlist]
    return {
        "ratio": rank_metrics(scores - mean_scores, 0, ks),
        "likelihood": rank_metrics(scores, 0, ks),
        "num_candidates": int(shortlist.shape[1]),
        "num_samples": int(num_samples),
        "feature_space": feature_space,
        "shortlist": shortlist, "scores": scores, "mean_scores": mean_scores,
    }
