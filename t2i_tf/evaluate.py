"""Scores a trained model; prints a Markdown table and, as its last line, one JSON object.

  python -m t2i_tf.evaluate --model=draw_mnist --split=test
  python -m t2i_tf.evaluate --model=aligndraw_mnist_captions --split=test \
      --metrics=elbo,iw_nll,retrieval,ssim,attention,nearest --out_dir=eval/

  python -m t2i_tf.evaluate --model=runs/alignpixelrnn --split=test \
      --metrics=nll,retrieval,ssim,nearest,captions      # a pixel model (default: nll)

Metrics (nats per image; the papers' protocols, see docs/RESULTS.md):
  elbo       DRAW models: the negative variational bound, one z per image (DRAW's bound
             column; alignDRAW eqs. 14-15).
  iw_nll     DRAW models: -log p(x) (or -log p(x | y)) importance-sampled with
             K = --iw_samples.
  nll        pixel models: the exact -log p(x | y) (alignPixelRNN eq. 5), and bits per
             dimension, nll / (H W ln 2). elbo and iw_nll do not apply to them.
  retrieval  caption models: for each caption, its true image among --retrieval_candidates
             candidates (the true one and its nearest neighbours in pixel space), ranked by
             log p(x | y) - log p(x | y_mean) and by log p(x | y); R@1/5/10/50, median rank.
             Pixel models rank by their exact log p(x | y) (--retrieval_samples unused).
             Captioned MNIST adds retrieval.scenes: the ceiling of a ranker that knows each
             image's scene (content_oracle), and the ratio's ranks among the candidates
             of other scenes only (scene_ranks; R@1 there: the true image above them all).
  ssim       caption models: --ssim_samples prior samples per caption against its image
             (pixel models: ancestral samples at temperature 1, in [0, 1] as v / (V - 1)).
  attention  caption models: words by attention weight, and which words draw it most,
             over --attention_samples samples per caption; with --out_dir, words x steps
             maps (pixel models: words x image rows, each pixel's alpha averaged over the
             pixels of its row and over the samples).
  nearest    samples beside their closest training image in pixel L2 (no copying).
  captions   captioned MNIST: --caption_samples prior samples per caption read by a digit
             classifier (models/mnist_digit_classifier): are the named digits drawn, and
             where the caption puts them? The data set's own images are scored beside.
             A pixel model's 32x32 images (and the data's own, beside them) are resized to
             60x60 first, so its numbers compare with the data's at 32x32, not with
             alignDRAW's.

--max_queries=N scores the caption metrics (retrieval, ssim, attention, captions) on the
first N captions of the split only, while retrieval still seeks each one's shortlist among
all the split's images (or the first --max_images): each ranked caption faces exactly the
candidates of a whole-split run, so its R@K estimate the whole split's at N / n of the cost.

Pixel models are scored on captioned_mnist_32 (256 levels) or captioned_mnist_32_binary (2),
the split's 60x60 canvases downsampled as in training (t2i_tf/data/pixel_data.py). Their
compiled loops run over 1,024 pixels: on CPU, KERAS_BACKEND=jax compiles them several times
faster than TensorFlow's XLA.

COCO models (their text.json names the Treebank tokenizer) are scored on COCO by default:
coco_32_rgb for alignDRAW, coco_32 for the pixel models, read as in training
(t2i_tf/data/coco_data.py; --data_dir as for train). valid and test are both val2014 (or
val2017), train is train2014 (or 2017). One example per image, with its first caption, so
that no image competes with itself in retrieval; the training set behind retrieval's mean
caption and `nearest` is likewise one caption per training image. A retrieval shortlist
cannot hold more images than the split: --retrieval_candidates is cut to the split's size
(said on stderr and as retrieval.num_candidates in the JSON); on the 79 captioned val2017
images of ../shared/data/coco, shortlists are 79 long, not the papers' 100, so R@K there is
not comparable with the papers'. The captions metric reads digits: captioned MNIST only.
"""

import json
import os
import sys
import time

from absl import flags

from t2i_tf import cli

METRICS = ("elbo", "iw_nll", "nll", "retrieval", "ssim", "attention", "nearest", "captions")
CAPTION_ONLY = ("retrieval", "ssim", "attention", "captions")
BOUNDS = ("elbo", "iw_nll")  # the DRAW models' variational estimates
PIXEL_DATA = ("captioned_mnist_32", "captioned_mnist_32_binary")
COCO_DATA = ("coco_32_rgb", "coco_32")

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "draw_mnist", "A model folder, or the name of one under models/.")
flags.DEFINE_enum("split", "test", ["train", "valid", "test", "generalization"],
                  "Split to score (generalization: captioned MNIST's held-out combinations).")
flags.DEFINE_enum("data", None, ["binarized_mnist", "mnist", "captioned_mnist", *PIXEL_DATA,
                                 *COCO_DATA],
                  "Data set; default binarized_mnist, or captioned_mnist for caption models, "
                  "or captioned_mnist_32(_binary) for pixel models; COCO models: coco_32_rgb "
                  "(alignDRAW) or coco_32 (pixel models).")
flags.DEFINE_string("data_dir", None, "Data folder; default $T2I_DATA_DIR or ../shared/data.")
flags.DEFINE_list("metrics", ["elbo", "iw_nll"], f"Any of {','.join(METRICS)}; the default "
                  "for pixel models is nll.")
flags.DEFINE_integer("iw_samples", 50, "K for the importance-sampled -log p(x).")
flags.DEFINE_integer("iw_max_images", 0, "Importance-sample only the first N examples (0: all).")
flags.DEFINE_integer("retrieval_candidates", 100, "Shortlist size per caption.")
flags.DEFINE_integer("retrieval_samples", 1, "K of the log p(x | y) estimates ranked.")
flags.DEFINE_integer("ssim_samples", 50, "Prior samples per caption for SSIM.")
flags.DEFINE_integer("attention_samples", 10, "Samples per caption for the attention report.")
flags.DEFINE_integer("caption_samples", 10, "Samples per caption for the captions metric.")
flags.DEFINE_float("temperature", 1.0, "Temperature of the samples that ssim, captions, "
                   "attention and nearest draw: DRAW models' prior noise (z = mu + T sigma "
                   "eps; 0 is the prior's mean), pixel models' softmax (> 0). 1 scores the "
                   "model itself, as the papers did.")
flags.DEFINE_integer("max_images", 0, "Score only the first N examples of the split (0: all).")
flags.DEFINE_integer("max_queries", 0, "The caption metrics (retrieval, ssim, attention, "
                     "captions) score only the first N captions (0: every example scored); "
                     "retrieval still draws their shortlists from every example scored, so "
                     "each ranked caption meets the candidates the whole split would give it.")
flags.DEFINE_integer("batch_size", 100, "Examples per batch.")
flags.DEFINE_integer("seed", 0, "Seed of the noise.")
flags.DEFINE_string("json_out", None, "Also write the JSON object to this file.")
flags.DEFINE_string("out_dir", None, "Folder for pictures (nearest.png, attention.png).")
for _name in ("iw_samples", "retrieval_candidates", "retrieval_samples", "ssim_samples",
              "attention_samples", "caption_samples", "batch_size"):
    flags.register_validator(_name, lambda v: v > 0, message="must be positive")
flags.register_validator("max_images", lambda v: v >= 0, message="must be >= 0")
flags.register_validator("max_queries", lambda v: v >= 0, message="must be >= 0")
flags.register_validator("iw_max_images", lambda v: v >= 0, message="must be >= 0")
flags.register_validator("temperature", lambda v: v >= 0, message="must be >= 0")
flags.register_validator("metrics", lambda v: set(v) <= set(METRICS),
                         message=f"metrics are {', '.join(METRICS)}")


def _load(captioned, data_name, need_train):
    """(data for the metrics, its images, the training set or None, vocabulary or None).

    The training set (for retrieval's mean caption and for `nearest`) is read only if needed.
    """
    from t2i_tf.training import checkpoint
    from t2i_tf.data import captioned_mnist, datasets

    limit = FLAGS.max_images or None
    if captioned:
        split = captioned_mnist.load_split(FLAGS.split, FLAGS.data_dir, limit)
        data = {k: split[k] for k in ("images", "ids", "mask", "captions")}
        train = captioned_mnist.load_split("train", FLAGS.data_dir, 10000) if need_train else None
        return data, data["images"], train, checkpoint.load_vocabulary(FLAGS.model)
    if FLAGS.split == "generalization":
        raise cli.UsageError("the generalization split belongs to captioned_mnist")
    images = datasets.load_images(data_name, FLAGS.split, FLAGS.data_dir)[:limit]
    train = ({"images": datasets.load_images(data_name, "train", FLAGS.data_dir)}
             if need_train else None)
    return images, images, train, None


def _load_pixel(model, data_name, need_train):
    """_load for a pixel model: images as its integer pixel values; the training set (for
    retrieval's mean caption and `nearest`) with its images in [0, 1]."""
    from t2i_tf.training import checkpoint
    from t2i_tf.sampling import samplers
    from t2i_tf.data import pixel_data

    limit = FLAGS.max_images or None
    size, binary = model.image_shape[0], data_name.endswith("_binary")
    split = pixel_data.load_captioned_mnist(FLAGS.split, FLAGS.data_dir, limit, size=size,
                                            binary=binary)
    data = {k: split[k] for k in ("images", "ids", "mask", "captions")}
    train = None
    if need_train:
        train = pixel_data.load_captioned_mnist("train", FLAGS.data_dir, 10000, size=size,
                                                binary=binary)
        train = {**train, "images": samplers.unit_images(train["images"], model.levels)}
    return data, data["images"], train, checkpoint.load_vocabulary(FLAGS.model)


def _load_coco(model, data_name, need_train):
    """_load for a COCO model: one example per image (its first caption), images as the
    model reads them; the training set's images in [0, 1]."""
    from t2i_tf.training import checkpoint
    from t2i_tf.sampling import samplers
    from t2i_tf.data import coco_data

    if FLAGS.split == "generalization":
        raise cli.UsageError("the generalization split belongs to captioned_mnist")
    vocabulary, text = checkpoint.load_vocabulary(FLAGS.model), checkpoint.load_text(FLAGS.model)

    def examples(split, limit=None):
        out = coco_data.load_examples(data_name, split, vocabulary, text, FLAGS.data_dir,
                                      per_image=1, max_images=limit)
        return {k: out[k] for k in ("images", "ids", "mask", "captions")}

    data = examples(FLAGS.split, FLAGS.max_images or None)
    train = examples("train") if need_train else None
    if train is not None and hasattr(model, "next_pixel"):
        train["images"] = samplers.unit_images(train["images"], model.levels)
    return data, data["images"], train, vocabulary


def _data_for(model):
    """The data sets a model can be scored on, the default first."""
    from t2i_tf.training import checkpoint

    if checkpoint.load_text(FLAGS.model).tokenizer == "treebank":
        return COCO_DATA[1:] if hasattr(model, "next_pixel") else COCO_DATA[:1]
    if hasattr(model, "next_pixel"):
        return PIXEL_DATA[1:] if model.levels == 2 else PIXEL_DATA[:1]
    if hasattr(model, "encode_caption"):
        return ("captioned_mnist",)
    return ("binarized_mnist", "mnist")


def main(argv):
    del argv
    import keras
    import numpy as np

    from t2i_tf import visualize
    from t2i_tf.training import checkpoint
    from t2i_tf.sampling import samplers
    from t2i_tf.data import captioned_mnist
    from t2i_tf.metrics import (attention_report, caption_accuracy, likelihood, nearest,
                                retrieval, ssim)

    model = checkpoint.load_model(FLAGS.model)
    pixel = hasattr(model, "next_pixel")  # exact likelihood, integer pixel values
    captioned = pixel or hasattr(model, "encode_caption")
    allowed = _data_for(model)
    data_name = FLAGS.data or allowed[0]
    if data_name not in allowed:
        raise cli.UsageError(f"{FLAGS.model} cannot be scored on {data_name}"
                             + (f" (it takes --data={allowed[0]})" if pixel else ""))
    requested = FLAGS.metrics if FLAGS["metrics"].present or not pixel else ["nll"]
    wanted = [m for m in METRICS if m in requested]
    if not captioned and set(wanted) & set(CAPTION_ONLY):
        raise cli.UsageError(f"{', '.join(sorted(set(wanted) & set(CAPTION_ONLY)))} need a "
                             "caption model")
    if pixel and set(wanted) & set(BOUNDS):
        raise cli.UsageError(f"{', '.join(m for m in wanted if m in BOUNDS)}: variational "
                             "bounds of the DRAW models; a pixel model's likelihood is exact: "
                             "--metrics=nll")
    if not pixel and "nll" in wanted:
        raise cli.UsageError("nll is the pixel models' exact likelihood; DRAW models have "
                             "elbo and iw_nll")
    if data_name in COCO_DATA and "captions" in wanted:
        raise cli.UsageError("captions reads the digits of captioned MNIST; COCO has none")
    if FLAGS.out_dir:
        os.makedirs(FLAGS.out_dir, exist_ok=True)
    need_train = bool({"retrieval", "nearest"} & set(wanted))
    if data_name in COCO_DATA:
        data, images, train, vocabulary = _load_coco(model, data_name, need_train)
    elif pixel:
        data, images, train, vocabulary = _load_pixel(model, data_name, need_train)
    else:
        data, images, train, vocabulary = _load(captioned, data_name, need_train)
    if pixel:
        images = samplers.unit_images(images, model.levels)  # in [0, 1], for the pictures
    bs, seed, temperature = FLAGS.batch_size, FLAGS.seed, FLAGS.temperature
    if pixel and temperature == 0:
        raise cli.UsageError("--temperature=0: a pixel model's softmax temperature must be "
                             "positive (greedy decoding is sample --method=greedy)")
    result = {"model": FLAGS.model, "data": data_name, "split": FLAGS.split,
              "images": len(images), "backend": keras.backend.backend()}
    if set(wanted) & {"ssim", "attention", "captions", "nearest"}:
        result["temperature"] = temperature  # of the samples these metrics draw
    if captioned:  # the captions the caption metrics score: the first `queries`
        queries = min(FLAGS.max_queries or len(images), len(images))
        head = {k: v[:queries] for k, v in data.items()}
        if set(wanted) & set(CAPTION_ONLY):
            result["queries"] = queries
    rows, seconds = [], {}

    def timed(name, fn):
        start = time.time()
        out = fn()
        seconds[name] = round(time.time() - start, 1)
        return out

    if "elbo" in wanted:
        elbo = timed("elbo", lambda: likelihood.negative_elbo(model, data, bs, seed))
        result.update(neg_elbo_nats=elbo["total"][0], neg_elbo_sem=elbo["total"][1],
                      reconstruction_nats=elbo["reconstruction"][0], kl_nats=elbo["kl"][0])
        rows += [("negative ELBO (L^x + L^z), nats", *elbo["total"]),
                 ("  reconstruction L^x", *elbo["reconstruction"]),
                 ("  latent L^z", *elbo["kl"])]
    if "iw_nll" in wanted:
        k, n = FLAGS.iw_samples, min(FLAGS.iw_max_images or len(images), len(images))
        subset = {key: v[:n] for key, v in data.items()} if captioned else data[:n]
        nll = timed("iw_nll", lambda: likelihood.importance_sampled_nll(model, subset, k, bs, seed))
        result.update(iw_nll_nats=nll[0], iw_nll_sem=nll[1], iw_samples=k, iw_images=n)
        rows.append((f"-log p(x{' | y' if captioned else ''}), importance-sampled, K={k}, "
                     f"first {n} examples", *nll))
        if n < len(images):  # the bound on the same examples, to compare with
            sub = likelihood.negative_elbo(model, subset, bs, seed)["total"]
            result.update(iw_images_neg_elbo_nats=sub[0], iw_images_neg_elbo_sem=sub[1])
            rows.append((f"negative ELBO on the same first {n} examples", *sub))
    if "nll" in wanted:
        nats = timed("nll", lambda: likelihood.exact_nll(model, data, bs))
        nll, bpd = likelihood.mean_and_sem(nats), likelihood.mean_and_sem(
            likelihood.bits_per_dim(nats, model.num_pixels))
        result.update(nll_nats=nll[0], nll_sem=nll[1], bits_per_dim=bpd[0],
                      bits_per_dim_sem=bpd[1])
        rows += [("-log p(x | y), exact, nats", *nll), ("  bits per dimension", *bpd)]
    if "retrieval" in wanted:
        # A pixel model's exact log p(x | y) through the same protocol: one "sample", and
        # smaller calls (each scores every pixel of bs images at once).
        scorer = retrieval.ExactLikelihood(model) if pixel else model
        samples, per_call = (1, bs) if pixel else (FLAGS.retrieval_samples, 5 * bs)

        candidates = min(FLAGS.retrieval_candidates, len(images))
        if candidates < FLAGS.retrieval_candidates:
            print(f"note: retrieval shortlists of {candidates} candidates, not "
                  f"{FLAGS.retrieval_candidates}: the split has {len(images)} images",
                  file=sys.stderr)

        def run_retrieval():
            y_mean = retrieval.mean_sentence(scorer, train["ids"], train["mask"])
            return retrieval.retrieval(scorer, data, y_mean, None, candidates, samples,
                                       per_call, seed, queries=queries)
        r = timed("retrieval", run_retrieval)
        result["retrieval"] = {k: r[k] for k in ("ratio", "likelihood", "num_candidates",
                                                 "num_samples", "feature_space")}
        if pixel:
            result["retrieval"]["exact_likelihood"] = True
        if data_name not in COCO_DATA:  # captioned MNIST: how much of the ranking reads scenes
            keys = captioned_mnist.scene_keys(data["captions"])
            other = retrieval.scene_ranks(r["scores"] - r["mean_scores"], r["shortlist"], keys)
            result["retrieval"]["scenes"] = {
                "oracle": retrieval.content_oracle(r["shortlist"], keys),
                "ratio_among_other_scenes": retrieval.metrics_of_ranks(other)}
            rows.append(("retrieval by ratio: true image above every other scene's, %",
                         result["retrieval"]["scenes"]["ratio_among_other_scenes"]["r@1"], None))
        for ranking in ("ratio", "likelihood"):
            m = r[ranking]
            rows += [(f"retrieval by {ranking}: R@{k}, %", m[f"r@{k}"], None) for k in (1, 5, 10, 50)]
            rows.append((f"retrieval by {ranking}: median rank", m["median_rank"], None))
    if "ssim" in wanted:
        unit = {**head, "images": images[:queries]}  # a pixel model's in [0, 1]
        s = timed("ssim", lambda: ssim.caption_ssim(model, unit, FLAGS.ssim_samples, 5 * bs,
                                                    seed, temperature))
        result.update(ssim_mean=s["mean"], ssim_std=s["std"], ssim_samples=FLAGS.ssim_samples)
        rows.append((f"SSIM, {FLAGS.ssim_samples} samples per caption (mean, std)", s["mean"], s["std"]))
    if "attention" in wanted:
        def run_attention():
            sample = (attention_report.sample_pixel_alpha if pixel
                      else attention_report.sample_alpha)
            alpha = sample(model, head["ids"], head["mask"], FLAGS.attention_samples, 5 * bs,
                           seed, temperature)
            weights = attention_report.word_weights(alpha)
            return alpha, weights, attention_report.attention_summary(
                weights, head["ids"], head["mask"], vocabulary)
        alpha, weights, summary = timed("attention", run_attention)
        result["attention_top_words"] = summary[:8]
        for entry in summary[:5]:
            rows.append((f"attention: '{entry['word']}' mean weight (top-word rate)",
                         entry["mean_weight"], entry["top_rate"]))
        if FLAGS.out_dir:
            maps = attention_report.word_step_maps(alpha)
            pictures, ranked = [], []
            for j in range(min(8, len(maps))):
                report = attention_report.caption_report(weights[j], maps[j], data["ids"][j],
                                                         data["mask"][j], vocabulary)
                pictures.append(visualize.attention_map(report["map"], report["words"]))
                ranked.append(" ".join(f"{w}:{v:.3f}" for w, _, v in report["ranked"]))
            with open(os.path.join(FLAGS.out_dir, "attention.txt"), "w") as f:
                f.write("\n".join(ranked) + "\n")
            if pictures:
                visualize.save_png(os.path.join(FLAGS.out_dir, "attention.png"),
                                   visualize.stack(pictures))
    if "captions" in wanted:
        def run_captions():
            classify = caption_accuracy.load_classifier()
            tensors = {k: head[k] for k in ("ids", "mask")}
            return (caption_accuracy.model_caption_accuracy(
                        model, tensors, head["captions"], classify, FLAGS.caption_samples,
                        5 * bs, seed, temperature),
                    caption_accuracy.caption_accuracy(images[:queries], head["captions"],
                                                      classify))
        drawn, real = timed("captions", run_captions)
        result["captions"] = {"samples": drawn, "data": real,
                              "samples_per_caption": FLAGS.caption_samples}
        if images.shape[1:] != (60, 60):
            result["captions"]["resized_from"] = list(images.shape[1:])
        for key in ("scene_right", "digit_accuracy", "ink_in_place"):
            rows.append((f"captions: {key} of samples, % (the data's own images)",
                         100 * drawn[key], 100 * real[key]))
    if "nearest" in wanted:
        def run_nearest():
            n = min(8, len(images))
            if pixel:
                out = samplers.PixelCaptionSampler(model, "sample", temperature=temperature)(
                    data["ids"][:n], data["mask"][:n], seed=seed)
                samples = samplers.unit_images(out["images"], model.levels)
            elif captioned:
                out = samplers.CaptionSampler(model, temperature)(data["ids"][:n],
                                                                  data["mask"][:n], seed=seed)
                samples = out["canvases"][-1]
            else:
                samples = samplers.PriorSampler(model, temperature)(16, seed=seed)["canvases"][-1]
            idx, dist = nearest.nearest_training(samples, train["images"])
            return samples, idx, dist
        samples, idx, dist = timed("nearest", run_nearest)
        result["nearest_l2_mean"] = float(np.mean(dist))
        rows.append(("nearest training image, pixel L2 (mean over samples)", float(np.mean(dist)), None))
        if FLAGS.out_dir:
            visualize.save_png(os.path.join(FLAGS.out_dir, "nearest.png"),
                               nearest.side_by_side(samples, train["images"], idx, scale=2))
    result["seconds"] = seconds

    print(f"{FLAGS.model} on {data_name} {FLAGS.split} ({len(images)} examples)\n")
    print("| metric | value | ± |\n| --- | ---: | ---: |")
    for name, value, spread in rows:
        print(f"| {name} | {value:.3f} | {'' if spread is None else f'{spread:.3f}'} |")
    line = json.dumps(result)
    if FLAGS.json_out:
        with open(FLAGS.json_out, "w") as f:
            f.write(line + "\n")
    print(line)


def run():
    """`t2i-evaluate`, the same as `python -m t2i_tf.evaluate`."""
    cli.run(main)


if __name__ == "__main__":
    run()
