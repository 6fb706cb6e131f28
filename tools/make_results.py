"""Regenerates the measured tables of docs/RESULTS.md from the shipped checkpoints.

  python tools/make_results.py                    # every evaluation below, then the tables
  python tools/make_results.py --tables_only      # the tables from docs/results/*.json
  python tools/make_results.py --only=aligndraw_mnist_captions --heavy_max_images=300
  python tools/make_results.py --full=retrieval --only=aligndraw_mnist_captions --splits=test
  python tools/make_results.py --missing_only       # only the runs without a JSON yet
  python tools/make_results.py --runs='*_8bit.valid,*_8bit.generalization.*'   # by name
  python tools/make_results.py --full=all --splits=generalization   # every caption of it

Each evaluation is one `python -m t2i_tf.evaluate` run in a subprocess (its exact command,
wall time, machine and date are kept in docs/results/MODEL.SPLIT.json beside its figures,
and its pictures in docs/results/MODEL.SPLIT/). The tables are then written between the
`<!-- make_results:begin -->` and `<!-- make_results:end -->` lines of docs/RESULTS.md,
with the papers' rows beside ours. A model that is not shipped is skipped with a note.
"""

import datetime
import fnmatch
import json
import os
import platform
import shlex
import subprocess
import sys
import time

from absl import app, flags

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
BEGIN, END = "<!-- make_results:begin -->", "<!-- make_results:end -->"
CAPTION_METRICS = "elbo,iw_nll,retrieval,ssim,attention,nearest,captions"
PIXEL_METRICS = "nll,retrieval,ssim,attention,nearest,captions"

FLAGS = flags.FLAGS
flags.DEFINE_string("results_dir", os.path.join(ROOT, "docs", "results"),
                    "Folder of the JSON files and pictures.")
flags.DEFINE_string("doc", os.path.join(ROOT, "docs", "RESULTS.md"), "The file to update.")
flags.DEFINE_bool("tables_only", False, "Only rewrite the tables from the saved JSON files.")
flags.DEFINE_list("only", [], "Evaluate only these models (default: every one below).")
flags.DEFINE_integer("max_images", 0, "Score only the first N examples of each split (0: all).")
flags.DEFINE_integer("heavy_max_images", 1000, "Captions scored by the retrieval, SSIM, "
                     "caption and importance-sampling runs (0: the whole split).")
flags.DEFINE_list("full", [], "Run instead the whole-split evaluations (FULL_SPLITS; no "
                  "--heavy_max_images cut) of these parts: retrieval, samples, or all; "
                  "parts are separate runs, so two can go side by side on two cores.")
flags.DEFINE_list("splits", [], "Run only the evaluations of these splits (default: all).")
flags.DEFINE_list("runs", [], "Run only the evaluations whose name (the JSON's, without "
                  ".json: MODEL.SPLIT[.METRICS][.tTEMPERATURE]) matches one of these shell "
                  "patterns, e.g. '*_8bit.test.*.t0.*'; with --only and --splits, all must hold.")
flags.DEFINE_bool("missing_only", False, "Run only the evaluations whose JSON is not in "
                  "--results_dir yet: one newly added below, or the rest of an interrupted run.")
flags.DEFINE_string("backend", "jax", "KERAS_BACKEND of the evaluations.")
flags.DEFINE_string("machine", None, "Machine description for the tables; default: detected.")

# (model, split, evaluate flags): what docs/RESULTS.md reports. The ELBO runs over whole
# splits; the costly caption metrics (100 likelihoods per caption for retrieval, 50 samples
# per caption for SSIM) over the first --heavy_max_images captions of the test and the
# generalization split, to fit the CPU (--max_images=N sets N for every run instead).
_CAPTION_FULL = [f"--metrics={CAPTION_METRICS}"]
EVALUATIONS = [
    ("draw_mnist", "test", ["--metrics=elbo,iw_nll,nearest", "--iw_max_images=1000"]),
    ("draw_mnist_noattn", "test", ["--metrics=elbo,iw_nll,nearest", "--iw_max_images=1000"]),
]
TEMPERATURES = (0.5,)  # besides 1: the samples' metrics at a lower prior temperature
PIXEL_TEMPERATURES = (0.8, 0.6)  # besides 1: the pixel models' samples, softmax temperature
for _model in ("aligndraw_mnist_captions", "noaligndraw_mnist_captions"):
    EVALUATIONS += [(_model, "valid", ["--metrics=elbo"]), (_model, "test", ["--metrics=elbo"]),
                    (_model, "test", _CAPTION_FULL),
                    (_model, "generalization", [f"--metrics={CAPTION_METRICS}"])]
    EVALUATIONS += [(_model, split, ["--metrics=ssim,captions", f"--temperature={t:g}"])
                    for t in TEMPERATURES for split in ("test", "generalization")]
for _model in ("alignpixelrnn_mnist_captions", "alignpixelrnn_mnist_captions_8bit"):
    EVALUATIONS += [(_model, "valid", ["--metrics=nll"]), (_model, "test", ["--metrics=nll"]),
                    (_model, "test", [f"--metrics={PIXEL_METRICS}"]),
                    (_model, "generalization", [f"--metrics={PIXEL_METRICS}"])]
    EVALUATIONS += [(_model, "test", ["--metrics=ssim,captions", f"--temperature={t:g}"])
                    for t in PIXEL_TEMPERATURES]

# Whole splits (issue 4: every caption, no --heavy_max_images cut), each in two parts of
# about equal cost on the CPU: retrieval (100 likelihoods per caption: a million on the
# 10,000 captions of test), and everything else. Parts are separate runs, so two can go side
# by side on two cores. The generalization split holds 1,000 captions.
FULL_PARTS = ("retrieval", "samples")
FULL_SPLITS = {  # model -> (its caption metrics, the splits scored whole)
    "aligndraw_mnist_captions": (CAPTION_METRICS, ("test", "generalization")),
    "noaligndraw_mnist_captions": (CAPTION_METRICS, ("test", "generalization")),
    "alignpixelrnn_mnist_captions": (PIXEL_METRICS, ("test", "generalization"))}
SPLITS = ("valid", "test", "generalization")


def _full_metrics(metrics, part):
    """The --metrics of one part of a whole-split run: retrieval, or all the others."""
    return "retrieval" if part == "retrieval" else ",".join(
        m for m in metrics.split(",") if m != "retrieval")


FULL_EVALUATIONS = [(model, split, [f"--metrics={_full_metrics(metrics, part)}"], part)
                    for model, (metrics, splits) in FULL_SPLITS.items() for split in splits
                    for part in FULL_PARTS]
FULL_TAG = ".full-"
ORACLE_TOOL, ORACLE_JSON = "tools/retrieval_oracle.py", "retrieval_oracle.json"
ORACLE_SHORTLISTS = {"pixels": "the 60x60 pixel-space shortlists",
                     "digit_cnn": "shortlists in a digit CNN's last fully-connected layer"}

DATA_NAMES = {  # evaluate's "data" -> how the tables name it
    "captioned_mnist": "MNIST with captions",
    "captioned_mnist_32": "MNIST with captions, 32x32 8-bit",
    "captioned_mnist_32_binary": "MNIST with captions, 32x32 binary",
}

PAPER_BOUNDS = {  # model -> (paper figure, where)
    "draw_mnist": ("<= 80.97", "DRAW Table 2"),
    "draw_mnist_noattn": ("<= 87.40", "DRAW Table 2"),
}
PAPER_RETRIEVAL = [  # the rows issue 4 sets beside ours
    ("alignPixelRNN (Table 2 of its paper)", "MNIST with captions", 4.3, 53.6, 63.1, 88.0, None,
     "0.356 ± 0.35"),
    ("alignDRAW (Table 1 of its paper)", "MS COCO", 3.0, 14.0, 22.9, 68.5, 31, "0.156"),
]


def _machine():
    return FLAGS.machine or (f"{platform.machine()}, {os.cpu_count()} CPU cores, no GPU, "
                             f"Python {platform.python_version()}")


def _run_name(model, split, extra, part=None):
    """MODEL.SPLIT, plus .METRICS when the run measures more than the ELBO; a part of the
    whole-split evaluation is MODEL.SPLIT.full-PART."""
    if part:
        return f"{model}.{split}{FULL_TAG}{part}"
    metrics = next(a.split("=", 1)[1] for a in extra if a.startswith("--metrics="))
    name = f"{model}.{split}"
    if metrics in ("elbo", "nll"):
        return name
    name = f"{name}.{metrics.replace(',', '-')}"
    temperature = [a.split("=", 1)[1] for a in extra if a.startswith("--temperature=")]
    return name + "".join(f".t{t}" for t in temperature)


def _paths(model, split, extra, part=None):
    stem = os.path.join(FLAGS.results_dir, _run_name(model, split, extra, part))
    return stem + ".json", stem


def evaluate(model, split, extra, part=None):
    """Runs one evaluation; returns its JSON object with the run's provenance added.

    part: the FULL_PARTS name of a whole-split run: every caption is scored."""
    json_path, pictures = _paths(model, split, extra, part)
    args = [f"--model={model}", f"--split={split}", *extra]
    if part:
        args += ["--max_queries=0", "--iw_max_images=0"]  # the whole split, said outright
    elif _run_name(model, split, extra) != f"{model}.{split}" and FLAGS.heavy_max_images:
        metrics = next(a for a in extra if a.startswith("--metrics="))
        if any(m in metrics for m in ("retrieval", "ssim", "attention", "captions")):
            # the first N captions; retrieval's shortlists still from the whole split
            args.append(f"--max_queries={FLAGS.heavy_max_images}")
        if "iw_nll" in metrics:
            args.append(f"--iw_max_images={FLAGS.heavy_max_images}")
    if FLAGS.max_images:
        args = [a for a in args if not a.startswith("--max_images")]
        args.append(f"--max_images={FLAGS.max_images}")
    args += [f"--out_dir={os.path.relpath(pictures, ROOT)}"]
    command = f"KERAS_BACKEND={FLAGS.backend} python -m t2i_tf.evaluate " + " ".join(
        shlex.quote(a) for a in args)
    env = {**os.environ, "KERAS_BACKEND": FLAGS.backend, "PYTHONPATH": ROOT,
           "TF_CPP_MIN_LOG_LEVEL": "3"}
    print(f"$ {command}", flush=True)
    start = time.time()
    proc = subprocess.run([sys.executable, "-m", "t2i_tf.evaluate", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True)
    wall = time.time() - start
    if proc.returncode:
        tail = (proc.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise app.UsageError(f"{model} {split}: {tail}")
    result = json.loads(proc.stdout.strip().splitlines()[-1])
    result.update(command=command, wall_s=round(wall, 1), machine=_machine(),
                  date=datetime.date.today().isoformat())
    os.makedirs(FLAGS.results_dir, exist_ok=True)
    with open(json_path + ".tmp", "w") as f:
        f.write(json.dumps(result, indent=1) + "\n")
    os.replace(json_path + ".tmp", json_path)
    print(f"  {wall / 60:.1f} min", flush=True)
    return result


def load_results():
    """{(model, split, run name): JSON object} of the evaluations that have been run."""
    out = {}
    runs = [(*e, None) for e in EVALUATIONS] + FULL_EVALUATIONS
    for model, split, extra, part in runs:
        path, _ = _paths(model, split, extra, part)
        if os.path.exists(path):
            with open(path) as f:
                out[model, split, _run_name(model, split, extra, part)] = json.load(f)
    return out


def merge_parts(results):
    """results with the parts of each whole-split evaluation (MODEL.SPLIT.full-PART) joined
    into one row, MODEL.SPLIT.full, for the tables of figures (provenance keeps the parts)."""
    out = {}
    for (model, split, run), r in results.items():
        if FULL_TAG not in run:
            out[model, split, run] = r
            continue
        key = (model, split, f"{model}.{split}.full")
        merged = out.setdefault(key, {"seconds": {}})
        merged.update({k: v for k, v in r.items() if k != "seconds"})
        merged["seconds"].update(r["seconds"])
    return out


def _pm(value, spread, digits=2):
    return f"{value:.{digits}f} ± {spread:.{digits}f}"


def bound_table(results):
    lines = ["| model | split | examples | negative ELBO | reconstruction | KL | "
             "-log p(x), importance-sampled (K, examples) | ELBO on those examples | paper |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"]
    def bound(model, split, r):
        return model, split, r["images"], r["neg_elbo_nats"]

    with_iw = {bound(model, split, r) for (model, split, *_), r in results.items()
               if "iw_nll_nats" in r}
    for (model, split, *_), r in results.items():
        if "neg_elbo_nats" not in r or ("iw_nll_nats" not in r
                                        and bound(model, split, r) in with_iw):
            continue  # the same bound is in a row with an importance estimate beside it
        iw = same = ""
        if "iw_nll_nats" in r:
            iw = f"{_pm(r['iw_nll_nats'], r['iw_nll_sem'])} ({r['iw_samples']}, {r['iw_images']:,})"
            same = (_pm(r["iw_images_neg_elbo_nats"], r["iw_images_neg_elbo_sem"])
                    if "iw_images_neg_elbo_nats" in r else "same as ELBO column")
        paper = " ".join(PAPER_BOUNDS.get(model, ("",)))
        lines.append(f"| {model} | {split} | {r['images']:,} | "
                     f"{_pm(r['neg_elbo_nats'], r['neg_elbo_sem'])} | "
                     f"{r['reconstruction_nats']:.2f} | {r['kl_nats']:.2f} | {iw} | {same} | "
                     f"{paper} |")
    return lines


def exact_nll_table(results):
    lines = ["| model | data | split | examples | -log p(x \\| y), exact (nats per image) | "
             "bits per dimension |", "| --- | --- | --- | ---: | ---: | ---: |"]
    done = set()
    for (model, split, run), r in results.items():
        if "nll_nats" in r and (model, split) not in done and (
                run == f"{model}.{split}" or (model, split, f"{model}.{split}") not in results):
            done.add((model, split))
            lines.append(f"| {model} | {DATA_NAMES.get(r['data'], r['data'])} | {split} | "
                         f"{r['images']:,} | {_pm(r['nll_nats'], r['nll_sem'])} | "
                         f"{_pm(r['bits_per_dim'], r['bits_per_dim_sem'], 4)} |")
    return lines if len(lines) > 2 else []


def _scored(r):
    """How many captions a row's caption metrics scored: "N" or "N of the split's M"."""
    queries = r.get("queries", r["images"])
    return f"{queries:,}" if queries == r["images"] else f"{queries:,} of {r['images']:,}"


def retrieval_table(results, oracle):
    lines = ["| model | data, split (examples) | ranking | R@1 | R@5 | R@10 | R@50 | Med r | "
             "SSIM (mean ± std) |",
             "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for (model, split, *_), r in results.items():
        if "retrieval" not in r:
            continue
        ssim = _pm(r["ssim_mean"], r["ssim_std"], 3) if "ssim_mean" in r else ""
        for ranking in ("ratio", "likelihood"):
            m = r["retrieval"][ranking]
            name = ("log p(x|y) - log p(x|y_mean)" if ranking == "ratio" else "log p(x|y)")
            data = DATA_NAMES.get(r.get("data"), "MNIST with captions")
            lines.append(f"| {model} | {data}, {split} ({_scored(r)}) | {name} | "
                         + " | ".join(f"{m[f'r@{k}']:.1f}" for k in (1, 5, 10, 50))
                         + f" | {m['median_rank']:g} | {ssim if ranking == 'ratio' else ''} |")
    for r in oracle.get("rows", []):
        space = ORACLE_SHORTLISTS[r.get("features", "pixels")]
        lines.append(f"| content oracle, no model ({ORACLE_TOOL}; {space}) | "
                     "MNIST with captions, "
                     f"{r['split']} ({_scored(r)}) | the true scene first, ties at "
                     "random | " + " | ".join(f"{r[f'r@{k}']:.1f}" for k in (1, 5, 10, 50))
                     + f" | {r['median_rank']:g} | |")
    for name, data, *recalls, med, ssim in PAPER_RETRIEVAL:
        lines.append(f"| **paper**: {name} | {data} | ratio | "
                     + " | ".join(f"{v:.1f}" for v in recalls)
                     + f" | {'' if med is None else med} | {ssim} |")
    return lines


def load_oracle():
    """tools/retrieval_oracle.py's JSON (R@K of a ranker that knows each image's scene), or
    {} before it has run."""
    path = os.path.join(FLAGS.results_dir, ORACLE_JSON)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        return json.load(f)


def _temperature(r):
    """The temperature of a run's samples (evaluate --temperature; 1 before it existed)."""
    return r.get("temperature", 1.0)


def captions_table(results):
    """Caption accuracy of the samples at temperature 1 (lower: temperature_table)."""
    lines = ["| model | split (captions x samples) | scenes right | digits read right | "
             "ink in place | one-digit scenes right | two-digit scenes right |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    done = set()
    for (model, split, *_), r in results.items():
        if "captions" not in r or _temperature(r) != 1:
            continue
        for who, m in (("samples", r["captions"]["samples"]), ("data", r["captions"]["data"])):
            if who == "data" and split in done:
                continue
            name = model if who == "samples" else "*the data set's own images*"
            count = (f"{_scored(r)} x {r['captions']['samples_per_caption']}"
                     if who == "samples" else _scored(r))
            lines.append(f"| {name} | {split} ({count}) | {100 * m['scene_right']:.1f}% | "
                         f"{100 * m['digit_accuracy']:.1f}% | {100 * m['ink_in_place']:.1f}% | "
                         f"{100 * m.get('scene_right (one digit)', float('nan')):.1f}% | "
                         f"{100 * m.get('scene_right (two digits)', float('nan')):.1f}% |")
        done.add(split)
    return lines


def relations_table(results):
    """Scenes right by relation, for the evaluations whose JSON has the breakdown."""
    from t2i_tf.data.captioned_mnist import RELATIONS

    lines = ["| model | split | " + " | ".join(RELATIONS) + " |",
             "| --- | --- |" + " ---: |" * len(RELATIONS)]
    for (model, split, *_), r in results.items():
        by = r.get("captions", {}).get("samples", {}).get("scene_right_by_relation")
        if by:
            t = _temperature(r)
            name = model if t == 1 else f"{model} (temperature {t:g})"
            lines.append(f"| {name} | {split} | " + " | ".join(
                f"{100 * by[k][0]:.0f}% ({by[k][1]})" if k in by else "" for k in RELATIONS)
                + " |")
    return lines if len(lines) > 2 else []


def temperature_table(results):
    """SSIM and scenes right of each caption model's samples by temperature, where a run at
    a temperature other than 1 exists for that model, split and set of captions."""
    runs = {}
    for (model, split, *_), r in results.items():
        if "captions" in r or "ssim_mean" in r:
            scored = r.get("queries", r["images"])
            runs.setdefault((model, split, scored), {})[_temperature(r)] = r
    lines = ["| model | split (captions x samples) | temperature | SSIM (mean ± std) | "
             "scenes right | one-digit scenes right | two-digit scenes right |",
             "| --- | --- | ---: | ---: | ---: | ---: | ---: |"]
    for (model, split, _), by_t in runs.items():
        if len(by_t) < 2:
            continue
        for t in sorted(by_t, reverse=True):
            r = by_t[t]
            ssim = _pm(r["ssim_mean"], r["ssim_std"], 3) if "ssim_mean" in r else ""
            m = r.get("captions", {}).get("samples", {})
            cells = [f"{100 * m[k]:.1f}%" if k in m else "" for k in
                     ("scene_right", "scene_right (one digit)", "scene_right (two digits)")]
            count = (f"{_scored(r)} x {r['captions']['samples_per_caption']}"
                     if "captions" in r else _scored(r))
            lines.append(f"| {model} | {split} ({count}) | {t:g} | {ssim} | "
                         + " | ".join(cells) + " |")
    return lines if len(lines) > 2 else []


def attention_table(results):
    lines = ["| model | split | most attended words: mean weight (share of captions where "
             "it is the top word) |", "| --- | --- | --- |"]
    for (model, split, *_), r in results.items():  # noalignDRAW has no word weights
        if "attention_top_words" in r and any(w["mean_weight"] > 0
                                              for w in r["attention_top_words"]):
            words = ", ".join(f"`{w['word']}` {w['mean_weight']:.3f} ({100 * w['top_rate']:.0f}%)"
                              for w in r["attention_top_words"][:6])
            lines.append(f"| {model} | {split} | {words} |")
    return lines


def curve_table(models, models_dir, every=1000):
    """Validation bound during training, from each shipped model's training_curve.jsonl and
    the runs its weights started from (earlier_curve.jsonl; steps counted from the first
    run's start). A cell holds the record nearest its step, within half a column."""
    from t2i_tf.training import checkpoint

    curves = {}
    for model in models:
        folder = os.path.join(models_dir, model)
        if os.path.exists(os.path.join(folder, checkpoint.TRAINING_CURVE)):
            curves[model] = checkpoint.full_curve(folder, checkpoint.TRAINING_CURVE)
    if not curves:
        return []
    last_step = max(curve[-1]["step"] for curve in curves.values())
    milestones = range(every, last_step + 1, every)
    lines = ["| model | " + " | ".join(f"{m:,}" for m in milestones) + " | final (step, hours) |",
             "| --- |" + " ---: |" * (len(milestones) + 1)]
    for model, curve in curves.items():
        at = {r["step"]: r["valid/loss"] for r in curve}  # a resumed step: the later record

        def cell(m):
            near = min(at, key=lambda step: (abs(step - m), -step))
            return f"{at[near]:.1f}" if abs(near - m) <= every // 2 else ""

        cells = [cell(m) for m in milestones]
        end = curve[-1]
        cells.append(f"{end['valid/loss']:.1f} ({end['step']:,}, {end['wall_s'] / 3600:.1f} h)")
        lines.append(f"| {model} | " + " | ".join(cells) + " |")
    return lines


def provenance(results, oracle):
    lines = ["| model | split | command | wall time | machine | date |",
             "| --- | --- | --- | ---: | --- | --- |"]
    for (model, split, *_), r in results.items():
        lines.append(f"| {model} | {split} | `{r['command']}` | {r['wall_s'] / 60:.1f} min "
                     f"({', '.join(f'{k} {v:.0f} s' for k, v in r['seconds'].items())}) | "
                     f"{r['machine']} | {r['date']} |")
    if oracle:
        splits = ", ".join(dict.fromkeys(r["split"] for r in oracle["rows"]))
        lines.append(f"| content oracle (no model) | {splits} | `{oracle['command']}` | "
                     f"{oracle['wall_s'] / 60:.1f} min | {oracle['machine']} | "
                     f"{oracle['date']} |")
    return lines


def render(results):
    raw, results, oracle = results, merge_parts(results), load_oracle()
    parts = [BEGIN, "",
             "_Generated by `python tools/make_results.py` from docs/results/*.json; do not "
             "edit by hand._", "",
             "### Likelihood (nats per image)", "", *bound_table(results), ""]
    pixel = exact_nll_table(results)
    if pixel:
        parts += ["Pixel models, exact likelihood (their images are 32x32, not the 60x60 "
                  "canvases of the bounds above, so the two do not compare):", "", *pixel, ""]
    if any("retrieval" in r for r in results.values()):
        parts += ["### Retrieval and SSIM on MNIST with captions", "",
                  "Shortlists of 100: the true image and its 99 nearest neighbours in pixel "
                  "space among the split's images (see t2i_tf/metrics/retrieval.py); SSIM: "
                  "tf.image.ssim's arithmetic (11x11 Gaussian window, sigma 1.5, K1 0.01, "
                  "K2 0.03, data range 1; t2i_tf/metrics/ssim.py, tested against "
                  "tf.image.ssim), 50 prior samples per caption against its image.", "",
                  *retrieval_table(results, oracle), "",
                  "### Do the samples show what the captions say?", "",
                  "A digit classifier (models/mnist_digit_classifier, 97.4% on MNIST t10k) "
                  "reads each named digit from the box where the caption puts it "
                  "(t2i_tf/metrics/caption_accuracy.py). A scene is right when every named "
                  "digit is read right and at least 80% of the ink lies in the caption's "
                  "boxes; the data set's own images give the ceiling of this reader.", "",
                  *captions_table(results), ""]
        by_relation = relations_table(results)
        if by_relation:
            from t2i_tf.data.captioned_mnist import HELD_OUT

            corners = ", ".join(f"{d} {r}" for d, r, second in HELD_OUT if second is None)
            parts += ["Scenes right by the caption's relation (share of the samples, their "
                      "number in brackets). On the generalization split each corner is one "
                      f"held-out combination ({corners}) and each two-digit relation two of "
                      "them (t2i_tf/data/captioned_mnist.py, HELD_OUT).", "", *by_relation,
                      ""]
        by_temperature = temperature_table(results)
        if by_temperature:
            parts += ["### Samples at a lower prior temperature", "",
                      "Every figure above scores samples of the model's own prior, as the "
                      "papers did. `sample --temperature=T` (and `evaluate --temperature`) "
                      "draws z_t = mu_t + T sigma_t eps_t instead: below 1 the samples move "
                      "toward the prior's mean, cleaner and more often right, less varied. "
                      "For the pixel models T divides the logits of each pixel's softmax: "
                      "below 1 each pixel leans to its most likely value (T -> 0 is greedy "
                      "decoding, which draws empty canvases: after a background prefix the "
                      "likeliest next pixel is background). The same captions, seeds and "
                      "reader as above:",
                      "", *by_temperature, ""]
        parts += ["### Attention", "",
                  *attention_table(results), ""]
    models = dict.fromkeys(model for model, _, _ in EVALUATIONS)
    models_dir = os.path.join(ROOT, "models")
    curves = curve_table([m for m in models if "pixel" not in m], models_dir)
    if curves:
        parts += ["### Validation bound during training", "",
                  "Negative ELBO in nats on the first 1,000 validation examples, by training "
                  "step (models/NAME/training_curve.jsonl, written by the training run, after the "
                  "runs its weights started from: earlier_curve.jsonl).", "",
                  *curves, ""]
    curves = curve_table([m for m in models if "pixel" in m], models_dir)
    if curves:
        parts += ["Pixel models: exact -log p(x | y) in nats of their 32x32 images on the "
                  "validation examples their flagfile names (--valid_images), by step (of "
                  "their own batch size, 16).", "", *curves, ""]
    parts += ["### How each row was measured", "", *provenance(raw, oracle), "", END]
    return "\n".join(parts)


def write_tables(results):
    with open(FLAGS.doc) as f:
        text = f.read()
    block = render(results)
    if BEGIN in text and END in text:
        head, rest = text.split(BEGIN, 1)
        text = head + block + rest.split(END, 1)[1]
    else:
        text = text.rstrip("\n") + "\n\n## Measured tables\n\n" + block + "\n"
    with open(FLAGS.doc + ".tmp", "w") as f:
        f.write(text)
    os.replace(FLAGS.doc + ".tmp", FLAGS.doc)


def main(argv):
    del argv
    from t2i_tf.training import checkpoint

    unknown = set(FLAGS.full) - {*FULL_PARTS, "all"}
    if unknown:
        raise app.UsageError(f"--full: unknown part {', '.join(sorted(unknown))} (parts: "
                             f"{', '.join(FULL_PARTS)}, or all)")
    unknown = set(FLAGS.splits) - set(SPLITS)
    if unknown:
        raise app.UsageError(f"--splits: unknown split {', '.join(sorted(unknown))} (splits: "
                             f"{', '.join(SPLITS)})")
    if FLAGS.full:
        runs = [e for e in FULL_EVALUATIONS if "all" in FLAGS.full or e[3] in FLAGS.full]
    else:
        runs = [(*e, None) for e in EVALUATIONS]
    if not FLAGS.tables_only:
        for model, split, extra, part in runs:
            if (FLAGS.only and model not in FLAGS.only) or (FLAGS.splits and
                                                            split not in FLAGS.splits):
                continue
            name = _run_name(model, split, extra, part)
            if FLAGS.runs and not any(fnmatch.fnmatchcase(name, p) for p in FLAGS.runs):
                continue
            if FLAGS.missing_only and os.path.exists(_paths(model, split, extra, part)[0]):
                continue
            if not os.path.isdir(os.path.join(checkpoint.SHIPPED_MODELS_DIR, model)):
                print(f"skipped {model}: not shipped under models/", flush=True)
                continue
            evaluate(model, split, extra, part)
    write_tables(load_results())
    print(FLAGS.doc)


if __name__ == "__main__":
    app.run(main)
