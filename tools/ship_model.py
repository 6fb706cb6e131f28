"""Copies a training workdir's model into models/NAME/ with a model card.

  python tools/ship_model.py --workdir=runs/draw_mnist --name=draw_mnist \
      --command="KERAS_BACKEND=jax python -m t2i_tf.train --flagfile=flags/draw_mnist ..." \
      --eval_json=runs/draw_mnist/eval_test.json --eval_command="..." --machine="..."

Only config.json, weights.npz, (caption models) vocabulary.json and the training curve
(training_curve.jsonl: the workdir's metrics.jsonl) travel, no optimizer state, so the
folder stays small. --with_checkpoint also ships checkpoint.npz (the optimizer's state too),
for a model still in training: the card then says how to resume it in a fresh checkout.
--compact_checkpoint ships it smaller (checkpoint.compact_checkpoint: no weights, Adam's
second moments in bfloat16, no first moments) where the whole state passes --max_mb.
Shipping again without it removes the checkpoint.npz an earlier shipping left.
The card's figures come from the workdir's metrics.jsonl and the evaluate JSON files (one
per split; --eval_json is a comma-separated list).
"""

import datetime
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from t2i_tf.training import checkpoint  # noqa: E402

FLAGS = flags.FLAGS
TRAINING_CURVE = "training_curve.jsonl"
flags.DEFINE_string("workdir", None, "Training folder.", required=True)
flags.DEFINE_string("name", None, "Name under models/.", required=True)
flags.DEFINE_string("command", None, "The command that trained it.", required=True)
flags.DEFINE_list("eval_json", [], "Files written by `evaluate --json_out` or by "
                  "tools/make_results.py, one per split; none: copy the model only.")
flags.DEFINE_string("eval_command", None, "The command that wrote eval_json (SPLIT stands for "
                    "each file's split); default: the file's own `command` field.")
flags.DEFINE_string("machine", None, "Where it trained.", required=True)
flags.DEFINE_string("paper", "", "The paper's figure to set beside ours.")
flags.DEFINE_string("notes", "", "Anything a user must know (Markdown).")
flags.DEFINE_bool("with_checkpoint", False, "Also ship checkpoint.npz, so that training "
                  "resumes from models/NAME/ (for a model still in training).")
flags.DEFINE_bool("compact_checkpoint", False, "Ship checkpoint.npz compacted (implies "
                  "--with_checkpoint): for a run whose whole state passes --max_mb.")
flags.DEFINE_float("max_mb", 20.0, "Largest shipped model folder, in MB (2^20 bytes).")
flags.DEFINE_integer("batch_size", 100, "Training batch size (for the epoch count).")
flags.DEFINE_string("models_dir", checkpoint.SHIPPED_MODELS_DIR, "Where NAME/ is written.")

DATA = {
    "binarized_mnist": ("binarized MNIST train (50,000 images, the fixed binarization of "
                        "Larochelle & Murray), validation on the first 1,000 images of the "
                        "validation split.", 50000),
    "captioned_mnist": ("MNIST with captions (t2i_tf/data/captioned_mnist.py): a fresh, seeded "
                        "set of 10,000 60x60 canvases per epoch from the first 50,000 MNIST "
                        "training digits, the 12 held-out combinations never shown; validation "
                        "on 1,000 canvases from the last 10,000 training digits.", 10000),
    "captioned_mnist_32_binary": (
        "MNIST with captions downsampled to 32x32 (cv2.INTER_AREA) and binarized at 0.5 "
        "(t2i_tf/data/pixel_data.py): the same fresh, seeded 10,000 canvases per epoch, the "
        "held-out combinations never shown; validation on the first --valid_images canvases "
        "of the validation split.", 10000),
    "captioned_mnist_32": (
        "MNIST with captions downsampled to 32x32 8-bit grayscale (cv2.INTER_AREA, "
        "t2i_tf/data/pixel_data.py): the same fresh, seeded 10,000 canvases per epoch; "
        "validation on the first --valid_images canvases of the validation split.", 10000),
}


def _figures(result):
    """Markdown table rows (metric, value) of one evaluate JSON."""
    rows = []
    if "neg_elbo_nats" in result:
        rows += [("negative ELBO", f"{result['neg_elbo_nats']:.2f} ± {result['neg_elbo_sem']:.2f}"),
                 ("reconstruction", f"{result['reconstruction_nats']:.2f}"),
                 ("KL", f"{result['kl_nats']:.2f}")]
    if "nll_nats" in result:  # a pixel model's exact likelihood
        rows += [("-log p(x \\| y), exact", f"{result['nll_nats']:.2f} ± {result['nll_sem']:.2f}"),
                 ("bits per dimension", f"{result['bits_per_dim']:.4f} ± "
                                        f"{result['bits_per_dim_sem']:.4f}")]
    if "iw_nll_nats" in result:
        rows.append((f"-log p(x), importance-sampled, K={result['iw_samples']}, first "
                     f"{result['iw_images']:,} images",
                     f"{result['iw_nll_nats']:.2f} ± {result['iw_nll_sem']:.2f}"))
        if "iw_images_neg_elbo_nats" in result:
            rows.append((f"negative ELBO on those {result['iw_images']:,} images",
                         f"{result['iw_images_neg_elbo_nats']:.2f} ± "
                         f"{result['iw_images_neg_elbo_sem']:.2f}"))
    if "retrieval" in result:
        m = result["retrieval"]["ratio"]
        rows.append((f"retrieval among {result['retrieval']['num_candidates']}, ratio ranking: "
                     "R@1 / R@5 / R@10 / R@50 (%), median rank",
                     " / ".join(f"{m[f'r@{k}']:.1f}" for k in (1, 5, 10, 50))
                     + f", {m['median_rank']:g}"))
    if "ssim_mean" in result:
        rows.append((f"SSIM, {result['ssim_samples']} samples per caption",
                     f"{result['ssim_mean']:.3f} ± {result['ssim_std']:.3f} (std)"))
    if "captions" in result:
        m, d = result["captions"]["samples"], result["captions"]["data"]
        rows.append(("scenes drawn right (named digits read by the digit classifier, in "
                     "place); the data's own images",
                     f"{100 * m['scene_right']:.1f}%; {100 * d['scene_right']:.1f}%"))
    return rows


def _last_validation(record):
    """The training run's last validation figures, as the card states them."""
    if "valid/reconstruction" in record:
        return (f"negative ELBO {record['valid/loss']:.2f} nats (reconstruction "
                f"{record['valid/reconstruction']:.2f}, KL {record['valid/kl']:.2f})")
    return (f"exact -log p(x | y) {record['valid/loss']:.2f} nats, "
            f"{record['valid/bits_per_dim']:.4f} bits per dimension")


def main(argv):
    del argv
    target = os.path.join(FLAGS.models_dir, FLAGS.name)
    os.makedirs(target, exist_ok=True)
    files = [checkpoint.CONFIG, checkpoint.WEIGHTS]
    with_checkpoint = FLAGS.with_checkpoint or FLAGS.compact_checkpoint
    if FLAGS.with_checkpoint and not FLAGS.compact_checkpoint:
        files.append(checkpoint.CHECKPOINT)
    if os.path.exists(os.path.join(FLAGS.workdir, checkpoint.VOCABULARY)):
        files.append(checkpoint.VOCABULARY)
    for name in files:
        shutil.copyfile(os.path.join(FLAGS.workdir, name), os.path.join(target, name))
    if FLAGS.compact_checkpoint:
        checkpoint.compact_checkpoint(FLAGS.workdir, os.path.join(target, checkpoint.CHECKPOINT))
        files.append(checkpoint.CHECKPOINT)
    stale = os.path.join(target, checkpoint.CHECKPOINT)
    if not with_checkpoint and os.path.exists(stale):
        os.remove(stale)  # an earlier shipping's optimizer state: resuming it would lose steps
        print(f"removed {stale}: it held the optimizer state of an earlier shipping")
    shutil.copyfile(os.path.join(FLAGS.workdir, "metrics.jsonl"),
                    os.path.join(target, TRAINING_CURVE))
    files.append(TRAINING_CURVE)
    earlier = os.path.join(FLAGS.workdir, checkpoint.EARLIER_CURVE)
    if os.path.exists(earlier):  # the runs this one started from (--init_from)
        shutil.copyfile(earlier, os.path.join(target, checkpoint.EARLIER_CURVE))
        files.append(checkpoint.EARLIER_CURVE)
    with open(os.path.join(target, TRAINING_CURVE)) as f:
        last = [json.loads(line) for line in f if line.strip()][-1]
    results = []
    for path in FLAGS.eval_json:
        with open(path) as f:
            results.append(json.loads(f.read()))
    with open(os.path.join(target, checkpoint.CONFIG)) as f:
        config = json.load(f)
    size_mb = sum(os.path.getsize(os.path.join(target, n)) for n in files) / 2**20
    if size_mb > FLAGS.max_mb:
        print(f"warning: {target} holds {size_mb:.1f} MB, more than --max_mb={FLAGS.max_mb:g}"
              + ("; --compact_checkpoint ships the training state smaller"
                 if with_checkpoint and not FLAGS.compact_checkpoint else ""))
    if not results:
        print(f"{target}: model copied; run again with --eval_json for the card")
        return
    data_text, epoch_size = DATA[results[0]["data"]]
    sections = []
    for result in results:
        command = (FLAGS.eval_command.replace("SPLIT", result["split"]) if FLAGS.eval_command
                   else result["command"])
        table = "\n".join(f"| {name} | {value} |" for name, value in _figures(result))
        scored = result.get("queries", result["images"])
        count = (f"{result['images']:,} examples" if scored == result["images"] else
                 f"{result['images']:,} examples; caption metrics on the first {scored:,}")
        if result.get("temperature", 1.0) != 1:
            count += f"; samples at temperature {result['temperature']:g}"
        sections.append(f"""### {result['split']} split ({count})

Command: `{command}` (backend {result['backend']}, {datetime.date.today().isoformat()}).

| metric (nats per image unless stated) | value |
| --- | ---: |
{table}
""")
    paper = f"\nPaper: {FLAGS.paper}\n" if FLAGS.paper else ""
    resume = ""
    if with_checkpoint:
        kind = ("compact: Adam's second moments in bfloat16, its first moments restart at "
                "zero" if FLAGS.compact_checkpoint else "exact")
        resume = (f"- Resume: the command above with `--init_from={FLAGS.name}` goes on from the "
                  f"shipped training state (`{checkpoint.CHECKPOINT}`, {kind})\n")
    history = checkpoint.full_curve(target, TRAINING_CURVE)
    if history[-1].get("run", 0):
        total = history[-1]
        resume += (f"- All runs behind these weights ({total['run'] + 1}, each started from "
                   f"the last one's weights; `{checkpoint.EARLIER_CURVE}`): {total['step']:,} "
                   f"steps ({total['step'] * FLAGS.batch_size / epoch_size:.1f} epochs), "
                   f"{total['wall_s'] / 3600:.2f} wall hours\n")
    figures = "\n".join(sections)
    card = f"""# {FLAGS.name}

{config['model']} with `{json.dumps(config['config'], sort_keys=True)}`
({size_mb:.1f} MB: {', '.join(files)}).

## Training

- Command: `{FLAGS.command}`
- Data: {data_text}
- Steps: {last['step']:,} at batch size {FLAGS.batch_size} \
({last['step'] * FLAGS.batch_size / epoch_size:.1f} epochs of {epoch_size:,})
- Wall time: {last['wall_s'] / 3600:.2f} h
- Machine: {FLAGS.machine}
- Last validation: {_last_validation(last)}
{resume}
## Measured figures
{paper}
{figures}
{FLAGS.notes}
"""
    with open(os.path.join(target, "README.md"), "w") as f:
        f.write(card)
    print(target)


if __name__ == "__main__":
    app.run(main)
