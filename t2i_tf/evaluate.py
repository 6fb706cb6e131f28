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

import dataclasses
import json

from absl import flags

from t2i_tf import cli
from t2i_tf.data import catalog
from t2i_tf.evaluation import requests
from t2i_tf.evaluation.requests import METRICS

FLAGS = flags.FLAGS
cli.define_model_flag("draw_mnist")
flags.DEFINE_enum("split", "test", list(requests.SPLITS),
                  "Split to score (generalization: captioned MNIST's held-out combinations).")
flags.DEFINE_enum("data", None, list(catalog.DATA),
                  "Data set; default binarized_mnist, or captioned_mnist for caption models, "
                  "or captioned_mnist_32(_binary) for pixel models; COCO models: coco_32_rgb "
                  "(alignDRAW) or coco_32 (pixel models).")
cli.define_data_dir_flag()
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


def main(argv):
    del argv
    names = [f.name for f in dataclasses.fields(requests.Options)]
    options = requests.Options(**{name: FLAGS[name].value for name in names if name in FLAGS})
    if not FLAGS["metrics"].present:
        options.metrics = None  # the model family's default
    requests.check_outputs(options)  # before the slow part
    from t2i_tf.evaluation import scoring, table

    report = scoring.evaluate(options)
    print(table.markdown(report.title, report.rows))
    line = json.dumps(report.result)
    if options.json_out:
        with open(options.json_out, "w") as f:
            f.write(line + "\n")
    print(line)


def run():
    """`t2i-evaluate`, the same as `python -m t2i_tf.evaluate`."""
    cli.run(main)


if __name__ == "__main__":
    run()
