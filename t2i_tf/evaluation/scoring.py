"""Scores a model: one function per metric, each returning its part of the JSON result and
its rows of the table; `evaluate` runs the ones asked for (the protocols: t2i_tf/evaluate.py
and docs/RESULTS.md)."""

import dataclasses
import os
import sys
import time

import keras
import numpy as np

from t2i_tf import visualize
from t2i_tf.data import captioned_mnist, catalog
from t2i_tf.evaluation import examples, requests
from t2i_tf.metrics import (attention_report, caption_accuracy, likelihood, nearest,
                            retrieval, ssim)
from t2i_tf.models import registry
from t2i_tf.sampling import samplers
from t2i_tf.training import checkpoint


@dataclasses.dataclass
class Scoring:
    """What every metric reads: the model, the examples and the options.

    data: the examples ({images, ids, mask, captions} for caption models, else images);
    images: their images in [0, 1]; train: the training set or None; head: the first
    `queries` examples, which the caption metrics score."""

    model: object
    spec: registry.ModelSpec
    options: requests.Options
    data_name: str
    data: object
    images: np.ndarray
    train: dict | None
    vocabulary: object
    queries: int = 0
    head: dict | None = None

    @property
    def batch_size(self):
        return self.options.batch_size


@dataclasses.dataclass
class Report:
    """title and rows (name, value, spread or None) of the table; result: the JSON object."""

    title: str
    rows: list
    result: dict


def score_elbo(s):
    elbo = likelihood.negative_elbo(s.model, s.data, s.batch_size, s.options.seed)
    part = dict(neg_elbo_nats=elbo["total"][0], neg_elbo_sem=elbo["total"][1],
                reconstruction_nats=elbo["reconstruction"][0], kl_nats=elbo["kl"][0])
    return part, [("negative ELBO (L^x + L^z), nats", *elbo["total"]),
                  ("  reconstruction L^x", *elbo["reconstruction"]),
                  ("  latent L^z", *elbo["kl"])]


def score_iw_nll(s):
    k, n = s.options.iw_samples, min(s.options.iw_max_images or len(s.images), len(s.images))
    captioned = s.spec.captioned
    subset = {key: v[:n] for key, v in s.data.items()} if captioned else s.data[:n]
    nll = likelihood.importance_sampled_nll(s.model, subset, k, s.batch_size, s.options.seed)
    part = dict(iw_nll_nats=nll[0], iw_nll_sem=nll[1], iw_samples=k, iw_images=n)
    rows = [(f"-log p(x{' | y' if captioned else ''}), importance-sampled, K={k}, "
             f"first {n} examples", *nll)]
    if n < len(s.images):  # the bound on the same examples, to compare with
        sub = likelihood.negative_elbo(s.model, subset, s.batch_size, s.options.seed)["total"]
        part.update(iw_images_neg_elbo_nats=sub[0], iw_images_neg_elbo_sem=sub[1])
        rows.append((f"negative ELBO on the same first {n} examples", *sub))
    return part, rows


def score_nll(s):
    nats = likelihood.exact_nll(s.model, s.data, s.batch_size)
    nll, bpd = likelihood.mean_and_sem(nats), likelihood.mean_and_sem(
        likelihood.bits_per_dim(nats, s.model.num_pixels))
    part = dict(nll_nats=nll[0], nll_sem=nll[1], bits_per_dim=bpd[0], bits_per_dim_sem=bpd[1])
    return part, [("-log p(x | y), exact, nats", *nll), ("  bits per dimension", *bpd)]


def score_retrieval(s):
    # A pixel model's exact log p(x | y) through the same protocol: one "sample", and
    # smaller calls (each scores every pixel of bs images at once).
    options, bs = s.options, s.batch_size
    scorer = retrieval.ExactLikelihood(s.model) if s.spec.pixel else s.model
    samples, per_call = (1, bs) if s.spec.pixel else (options.retrieval_samples, 5 * bs)
    candidates = min(options.retrieval_candidates, len(s.images))
    if candidates < options.retrieval_candidates:
        print(f"note: retrieval shortlists of {candidates} candidates, not "
              f"{options.retrieval_candidates}: the split has {len(s.images)} images",
              file=sys.stderr)
    y_mean = retrieval.mean_sentence(scorer, s.train["ids"], s.train["mask"])
    r = retrieval.retrieval(scorer, s.data, y_mean, None, candidates, samples, per_call,
                            options.seed, queries=s.queries)
    part = {k: r[k] for k in ("ratio", "likelihood", "num_candidates", "num_samples",
                              "feature_space")}
    rows = []
    if s.spec.pixel:
        part["exact_likelihood"] = True
    if not catalog.DATA[s.data_name].coco:  # captioned MNIST: how much ranking reads scenes
        keys = captioned_mnist.scene_keys(s.data["captions"])
        other = retrieval.scene_ranks(r["scores"] - r["mean_scores"], r["shortlist"], keys)
        part["scenes"] = {"oracle": retrieval.content_oracle(r["shortlist"], keys),
                          "ratio_among_other_scenes": retrieval.metrics_of_ranks(other)}
        rows.append(("retrieval by ratio: true image above every other scene's, %",
                     part["scenes"]["ratio_among_other_scenes"]["r@1"], None))
    for ranking in ("ratio", "likelihood"):
        m = r[ranking]
        rows += [(f"retrieval by {ranking}: R@{k}, %", m[f"r@{k}"], None)
                 for k in (1, 5, 10, 50)]
        rows.append((f"retrieval by {ranking}: median rank", m["median_rank"], None))
    return {"retrieval": part}, rows


def score_ssim(s):
    unit = {**s.head, "images": s.images[:s.queries]}  # a pixel model's in [0, 1]
    n = s.options.ssim_samples
    out = ssim.caption_ssim(s.model, unit, n, 5 * s.batch_size, s.options.seed,
                            s.options.temperature)
    return (dict(ssim_mean=out["mean"], ssim_std=out["std"], ssim_samples=n),
            [(f"SSIM, {n} samples per caption (mean, std)", out["mean"], out["std"])])


def score_attention(s):
    sample = (attention_report.sample_pixel_alpha if s.spec.pixel
              else attention_report.sample_alpha)
    alpha = sample(s.model, s.head["ids"], s.head["mask"], s.options.attention_samples,
                   5 * s.batch_size, s.options.seed, s.options.temperature)
    weights = attention_report.word_weights(alpha)
    summary = attention_report.attention_summary(weights, s.head["ids"], s.head["mask"],
                                                 s.vocabulary)
    rows = [(f"attention: '{entry['word']}' mean weight (top-word rate)",
             entry["mean_weight"], entry["top_rate"]) for entry in summary[:5]]
    if s.options.out_dir:
        write_attention(s, alpha, weights)
    return {"attention_top_words": summary[:8]}, rows


def write_attention(s, alpha, weights):
    """attention.png (words x steps maps) and attention.txt (words by weight) of the first
    8 captions, in options.out_dir."""
    maps = attention_report.word_step_maps(alpha)
    pictures, ranked = [], []
    for j in range(min(8, len(maps))):
        report = attention_report.caption_report(weights[j], maps[j], s.data["ids"][j],
                                                 s.data["mask"][j], s.vocabulary)
        pictures.append(visualize.attention_map(report["map"], report["words"]))
        ranked.append(" ".join(f"{w}:{v:.3f}" for w, _, v in report["ranked"]))
    with open(os.path.join(s.options.out_dir, "attention.txt"), "w") as f:
        f.write("\n".join(ranked) + "\n")
    if pictures:
        visualize.save_png(os.path.join(s.options.out_dir, "attention.png"),
                           visualize.stack(pictures))


def score_captions(s):
    classify = caption_accuracy.load_classifier()
    tensors = {k: s.head[k] for k in ("ids", "mask")}
    n = s.options.caption_samples
    drawn = caption_accuracy.model_caption_accuracy(
        s.model, tensors, s.head["captions"], classify, n, 5 * s.batch_size, s.options.seed,
        s.options.temperature)
    real = caption_accuracy.caption_accuracy(s.images[:s.queries], s.head["captions"], classify)
    part = {"samples": drawn, "data": real, "samples_per_caption": n}
    if s.images.shape[1:] != (60, 60):
        part["resized_from"] = list(s.images.shape[1:])
    rows = [(f"captions: {key} of samples, % (the data's own images)", 100 * drawn[key],
             100 * real[key]) for key in ("scene_right", "digit_accuracy", "ink_in_place")]
    return {"captions": part}, rows


def nearest_samples(s):
    """A few samples in [0, 1]: for the first 8 captions, or 16 from a DRAW prior."""
    seed, temperature, ids, mask = (s.options.seed, s.options.temperature,
                                    s.data["ids"] if s.spec.captioned else None,
                                    s.data["mask"] if s.spec.captioned else None)
    n = min(8, len(s.images))
    if s.spec.pixel:
        out = samplers.PixelCaptionSampler(s.model, "sample", temperature=temperature)(
            ids[:n], mask[:n], seed=seed)
        return samplers.unit_images(out["images"], s.model.levels)
    if s.spec.captioned:
        out = samplers.CaptionSampler(s.model, temperature)(ids[:n], mask[:n], seed=seed)
        return out["canvases"][-1]
    return samplers.PriorSampler(s.model, temperature)(16, seed=seed)["canvases"][-1]


def score_nearest(s):
    samples = nearest_samples(s)
    idx, dist = nearest.nearest_training(samples, s.train["images"])
    if s.options.out_dir:
        visualize.save_png(os.path.join(s.options.out_dir, "nearest.png"),
                           nearest.side_by_side(samples, s.train["images"], idx, scale=2))
    return ({"nearest_l2_mean": float(np.mean(dist))},
            [("nearest training image, pixel L2 (mean over samples)", float(np.mean(dist)),
              None)])


# In the order they are computed and tabled.
SCORERS = {"elbo": score_elbo, "iw_nll": score_iw_nll, "nll": score_nll,
           "retrieval": score_retrieval, "ssim": score_ssim, "attention": score_attention,
           "captions": score_captions, "nearest": score_nearest}


def evaluate(options):
    """Loads options.model, scores it as `options` asks; returns a Report. UsageError (one
    line) for a request that does not fit the model, before the data is read."""
    model = checkpoint.load_model(options.model)
    spec = registry.spec_of(model)
    coco = checkpoint.load_text(options.model).tokenizer == "treebank"
    allowed = requests.scoring_data(spec, getattr(model, "levels", None), coco)
    data_name, wanted = requests.check_request(options, spec, allowed)
    if options.out_dir:
        os.makedirs(options.out_dir, exist_ok=True)
    need_train = bool({"retrieval", "nearest"} & set(wanted))
    data, images, train, vocabulary = examples.load(model, options, data_name, need_train)
    if spec.pixel:
        images = samplers.unit_images(images, model.levels)  # in [0, 1], for the pictures
    s = Scoring(model, spec, options, data_name, data, images, train, vocabulary)
    result = {"model": options.model, "data": data_name, "split": options.split,
              "images": len(images), "backend": keras.backend.backend()}
    if set(wanted) & {"ssim", "attention", "captions", "nearest"}:
        result["temperature"] = options.temperature  # of the samples these metrics draw
    if spec.captioned:  # the captions the caption metrics score: the first `queries`
        s.queries = min(options.max_queries or len(images), len(images))
        s.head = {k: v[:s.queries] for k, v in data.items()}
        if set(wanted) & set(requests.CAPTION_ONLY):
            result["queries"] = s.queries
    rows, seconds = [], {}
    for name, score in SCORERS.items():
        if name in wanted:
            start = time.time()
            part, new_rows = score(s)
            seconds[name] = round(time.time() - start, 1)
            result.update(part)
            rows += new_rows
    result["seconds"] = seconds
    title = f"{options.model} on {data_name} {options.split} ({len(images)} examples)"
    return Report(title, rows, result)
