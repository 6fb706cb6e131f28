"""tools/ship_model.py: what it copies into models/NAME/ and what the card says."""

import json
import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def test_card_states_how_many_captions_the_caption_metrics_scored(tmp_path):
    work, models = tmp_path / "run", tmp_path / "models"
    work.mkdir()
    (work / "config.json").write_text(json.dumps({"model": "align_draw", "config": {"z": 1}}))
    (work / "weights.npz").write_bytes(b"w" * 1000)
    (work / "metrics.jsonl").write_text(json.dumps(
        {"step": 200, "wall_s": 7200.0, "valid/loss": 190.0, "valid/reconstruction": 165.0,
         "valid/kl": 25.0}) + "\n")
    base = {"data": "captioned_mnist", "split": "test", "images": 10000, "backend": "jax",
            "command": "python -m t2i_tf.evaluate", "neg_elbo_nats": 196.6, "neg_elbo_sem": 0.9,
            "reconstruction_nats": 171.0, "kl_nats": 25.6}
    paths = []
    for name, extra in (("part", {"queries": 300}), ("whole", {"queries": 10000}), ("elbo", {}),
                        ("cool", {"queries": 300, "temperature": 0.5})):
        paths.append(str(tmp_path / f"{name}.json"))
        with open(paths[-1], "w") as f:
            json.dump({**base, **extra}, f)
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "ship_model.py"),
                    f"--workdir={work}", "--name=m", "--command=python -m train",
                    "--machine=cpu", f"--eval_json={','.join(paths)}", f"--models_dir={models}"],
                   check=True, capture_output=True, env={**os.environ, "KERAS_BACKEND": "numpy"})
    card = (models / "m" / "README.md").read_text()
    assert sorted(os.listdir(models / "m")) == ["README.md", "config.json",
                                                "training_curve.jsonl", "weights.npz"]
    assert "### test split (10,000 examples; caption metrics on the first 300)" in card
    assert card.count("### test split (10,000 examples)\n") == 2  # whole split, and ELBO only
    assert ("### test split (10,000 examples; caption metrics on the first 300; samples at "
            "temperature 0.5)") in card
    assert "- Steps: 200 at batch size 100 (2.0 epochs of 10,000)" in card
    assert "| negative ELBO | 196.60 ± 0.90 |" in card


def _ship_pixel_model(tmp_path, *extra):
    """Ships a stand-in 8-bit pixel model as tmp_path/models/m8; returns that folder."""
    work, models = tmp_path / "run", tmp_path / "models"
    work.mkdir(exist_ok=True)
    (work / "config.json").write_text(json.dumps({"model": "align_pixel_rnn", "config": {}}))
    (work / "weights.npz").write_bytes(b"w" * 10)
    (work / "checkpoint.npz").write_bytes(b"c" * 20)
    (work / "vocabulary.json").write_text("[]")
    (work / "metrics.jsonl").write_text(json.dumps(
        {"step": 500, "wall_s": 300.0, "valid/loss": 600.0, "valid/bits_per_dim": 0.85}) + "\n")
    result = {"data": "captioned_mnist_32", "split": "valid", "images": 256, "backend": "jax",
              "command": "python -m t2i_tf.evaluate", "nll_nats": 600.0, "nll_sem": 5.0,
              "bits_per_dim": 0.85, "bits_per_dim_sem": 0.01}
    (tmp_path / "e.json").write_text(json.dumps(result))
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "ship_model.py"),
                    f"--workdir={work}", "--name=m8", "--command=python -m t2i_tf.train",
                    "--machine=cpu", f"--eval_json={tmp_path / 'e.json'}", *extra,
                    f"--models_dir={models}"],
                   check=True, capture_output=True, env={**os.environ, "KERAS_BACKEND": "numpy"})
    return models / "m8"


def test_with_checkpoint_ships_the_optimizer_state_and_says_how_to_resume(tmp_path):
    shipped = _ship_pixel_model(tmp_path, "--with_checkpoint")
    assert sorted(os.listdir(shipped)) == ["README.md", "checkpoint.npz", "config.json",
                                           "training_curve.jsonl", "vocabulary.json",
                                           "weights.npz"]
    assert (shipped / "checkpoint.npz").read_bytes() == b"c" * 20
    card = (shipped / "README.md").read_text()
    assert ("- Resume: the command above with `--init_from=m8` goes on from the shipped "
            "training state (`checkpoint.npz`, exact)") in card
    assert "All runs behind" not in card  # one run only


def test_shipping_again_without_checkpoint_removes_the_earlier_one(tmp_path):
    _ship_pixel_model(tmp_path, "--with_checkpoint")
    shipped = _ship_pixel_model(tmp_path)  # the finished model: weights only
    assert sorted(os.listdir(shipped)) == ["README.md", "config.json", "training_curve.jsonl",
                                           "vocabulary.json", "weights.npz"]
    assert "Resume:" not in (shipped / "README.md").read_text()


def test_card_counts_every_run_behind_the_weights_and_says_how_to_go_on(tmp_path):
    work, models = tmp_path / "run", tmp_path / "models"
    work.mkdir()
    (work / "config.json").write_text(json.dumps({"model": "draw", "config": {"z": 1}}))
    (work / "weights.npz").write_bytes(b"w" * 1000)
    (work / "checkpoint.npz").write_bytes(b"c" * 3000)
    (work / "earlier_curve.jsonl").write_text(json.dumps(
        {"step": 300, "wall_s": 3600.0, "valid/loss": 100.0, "run": 0}) + "\n")
    (work / "metrics.jsonl").write_text(json.dumps(
        {"step": 200, "wall_s": 7200.0, "valid/loss": 90.0, "valid/reconstruction": 65.0,
         "valid/kl": 25.0}) + "\n")
    result = tmp_path / "elbo.json"
    result.write_text(json.dumps(
        {"data": "binarized_mnist", "split": "test", "images": 10000, "backend": "jax",
         "command": "python -m t2i_tf.evaluate", "neg_elbo_nats": 91.0, "neg_elbo_sem": 0.3,
         "reconstruction_nats": 66.0, "kl_nats": 25.0}))
    subprocess.run([sys.executable, os.path.join(ROOT, "tools", "ship_model.py"),
                    f"--workdir={work}", "--name=m", "--command=python -m train",
                    "--machine=cpu", f"--eval_json={result}", f"--models_dir={models}",
                    "--with_checkpoint"],
                   check=True, capture_output=True, env={**os.environ, "KERAS_BACKEND": "numpy"})
    card = (models / "m" / "README.md").read_text()
    assert sorted(os.listdir(models / "m")) == [
        "README.md", "checkpoint.npz", "config.json", "earlier_curve.jsonl",
        "training_curve.jsonl", "weights.npz"]
    assert "- Steps: 200 at batch size 100 (0.4 epochs of 50,000)" in card
    assert ("- All runs behind these weights (2, each started from the last one's weights; "
            "`earlier_curve.jsonl`): 500 steps (1.0 epochs), 3.00 wall hours") in card
    assert "`--init_from=m` goes on from the shipped training state (`checkpoint.npz`, exact)" in card
