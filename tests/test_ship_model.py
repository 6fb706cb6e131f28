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
