"""Copies a training workdir's model into models/NAME/ with a model card.

  python tools/ship_model.py --workdir=runs/draw_mnist --name=draw_mnist \
      --command="KERAS_BACKEND=jax python -m t2i_tf.train --flagfile=flags/draw_mnist ..." \
      --eval_json=runs/draw_mnist/eval_test.json --machine="..."

Only config.json and weights.npz travel (no optimizer state), so the folder stays small.
The card's figures come from the workdir's metrics.jsonl and the evaluate JSON.
"""

import datetime
import json
import os
import shutil
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from absl import app, flags  # noqa: E402

from t2i_tf import checkpoint  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("workdir", None, "Training folder.", required=True)
flags.DEFINE_string("name", None, "Name under models/.", required=True)
flags.DEFINE_string("command", None, "The command that trained it.", required=True)
flags.DEFINE_string("eval_json", None, "File written by `evaluate --json_out`.", required=True)
flags.DEFINE_string("eval_command", None, "The command that wrote eval_json.", required=True)
flags.DEFINE_string("machine", None, "Where it trained.", required=True)
flags.DEFINE_string("paper", "", "The paper's figure to set beside ours.")
flags.DEFINE_string("notes", "", "Anything a user must know (Markdown).")


def main(argv):
    del argv
    target = os.path.join(checkpoint.SHIPPED_MODELS_DIR, FLAGS.name)
    os.makedirs(target, exist_ok=True)
    for name in (checkpoint.CONFIG, checkpoint.WEIGHTS):
        shutil.copyfile(os.path.join(FLAGS.workdir, name), os.path.join(target, name))
    with open(os.path.join(FLAGS.workdir, "metrics.jsonl")) as f:
        last = [json.loads(line) for line in f if line.strip()][-1]
    with open(FLAGS.eval_json) as f:
        result = json.loads(f.read())
    with open(os.path.join(target, checkpoint.CONFIG)) as f:
        config = json.load(f)
    size_mb = os.path.getsize(os.path.join(target, checkpoint.WEIGHTS)) / 2**20
    iw = ""
    if "iw_nll_nats" in result:
        iw = (f"| -log p(x), importance-sampled, K={result['iw_samples']}, first "
              f"{result['iw_images']:,} test images | "
              f"{result['iw_nll_nats']:.2f} ± {result['iw_nll_sem']:.2f} |\n")
        if "iw_images_neg_elbo_nats" in result:
            iw += (f"| negative ELBO on those {result['iw_images']:,} images | "
                   f"{result['iw_images_neg_elbo_nats']:.2f} ± "
                   f"{result['iw_images_neg_elbo_sem']:.2f} |\n")
    card = f"""# {FLAGS.name}

{config['model']} with `{json.dumps(config['config'], sort_keys=True)}`
({size_mb:.1f} MB of float32 weights).

## Training

- Command: `{FLAGS.command}`
- Data: binarized MNIST train (50,000 images, the fixed binarization of Larochelle &
  Murray), validation on the first 1,000 images of the validation split.
- Steps: {last['step']:,} at batch size 100 ({last['step'] * 100 / 50000:.1f} epochs)
- Wall time: {last['wall_s'] / 3600:.2f} h
- Machine: {FLAGS.machine}
- Last validation: negative ELBO {last['valid/loss']:.2f} nats
  (reconstruction {last['valid/reconstruction']:.2f}, KL {last['valid/kl']:.2f})

## Test figures

Command: `{FLAGS.eval_command}` ({result['images']:,} test images, backend {result['backend']},
{datetime.date.today().isoformat()}).

| metric (nats per image) | value |
| --- | ---: |
| negative ELBO | {result['neg_elbo_nats']:.2f} ± {result['neg_elbo_sem']:.2f} |
| reconstruction | {result['reconstruction_nats']:.2f} |
| KL | {result['kl_nats']:.2f} |
{iw}{('| paper | ' + FLAGS.paper + ' |') if FLAGS.paper else ''}

{FLAGS.notes}
"""
    with open(os.path.join(target, "README.md"), "w") as f:
        f.write(card)
    print(target)


if __name__ == "__main__":
    app.run(main)
