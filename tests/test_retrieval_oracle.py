"""tools/retrieval_oracle.py: the content oracle's rows on the generalization split, and bad
flags as one line."""

import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TOOL = os.path.join(ROOT, "tools", "retrieval_oracle.py")


def run(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "jax"}
    return subprocess.run([sys.executable, TOOL, *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=600)


def test_oracle_rows_on_the_generalization_split(tmp_path):
    out = tmp_path / "oracle.json"
    result = run("--splits=generalization", "--queries=50,0", f"--out={out}")
    assert result.returncode == 0, result.stderr
    rows = json.loads(out.read_text())["rows"]
    assert [(r["split"], r["images"], r["queries"]) for r in rows] == [
        ("generalization", 1000, 50), ("generalization", 1000, 1000)]
    # the held-out list: 4 two-digit scenes (each written both ways) and 4 corners
    assert {r["scenes"] for r in rows} == {8}
    for r in rows:
        recalls = [r[f"r@{k}"] for k in (1, 5, 10, 50)]
        assert recalls == sorted(recalls) and 0 < recalls[0] and recalls[-1] <= 100
        # about 1,000 / 8 images per scene: a shortlist of 100 holds many of the true one's
        assert r["mean_equals"] > 10


def test_digit_cnn_shortlists_get_their_own_rows(tmp_path):
    out = tmp_path / "oracle.json"
    result = run("--splits=generalization", "--queries=50", "--features=pixels,digit_cnn",
                 "--cnn_epochs=1", "--cnn_examples=200", f"--out={out}")
    assert result.returncode == 0, result.stderr
    written = json.loads(out.read_text())
    rows = written["rows"]
    assert [(r["split"], r["features"], r["queries"]) for r in rows] == [
        ("generalization", "pixels", 50), ("generalization", "digit_cnn", 50)]
    assert written["digit_cnn"]["epochs"] == 1
    assert 0.0 <= written["digit_cnn"]["valid_digit_sets_right"] <= 100.0
    for r in rows:
        recalls = [r[f"r@{k}"] for k in (1, 5, 10, 50)]
        assert recalls == sorted(recalls) and 0 < recalls[0] and recalls[-1] <= 100


@pytest.mark.parametrize("flag, error", [
    ("--splits=tset",
     "--splits: unknown split tset (splits: train, valid, test, generalization)"),
    ("--features=pixels,vgg",
     "--features: unknown feature space vgg (spaces: pixels, digit_cnn)"),
])
def test_bad_flags_are_one_line(tmp_path, flag, error):
    result = run(flag, f"--out={tmp_path / 'o.json'}")
    assert result.returncode == 1
    assert result.stderr.strip().splitlines()[-1] == f"error: {error}"
    assert not (tmp_path / "o.json").exists()
