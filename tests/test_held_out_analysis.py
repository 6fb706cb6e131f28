"""tools/held_out_analysis.py end to end on a tiny untrained alignDRAW (2 steps): the JSON
holds the 40 corner captions, the held-out / seen summary, the memory-row exchanges and the
sharpened passes; the pictures are written; a model without alignment is refused in one line."""

import json
import os
import subprocess
import sys

import numpy as np

from t2i_tf.training import checkpoint
from t2i_tf.data import captioned_mnist as cm
from t2i_tf.models.align_draw import AlignDraw
from test_binaries import assert_one_line_error
from test_summaries import ROOT


def run(*args):
    env = {**os.environ, "PYTHONPATH": ROOT, "KERAS_BACKEND": "jax", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, os.path.join(ROOT, "tools", "held_out_analysis.py"),
                           *args], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=600)


def tiny_model(folder, align_units):
    model = AlignDraw(image_shape=(60, 60), steps=2, enc_units=8, dec_units=8, z_dim=2,
                      read_n=2, write_n=3, embed_dim=4, lang_units=4,
                      align_units=align_units, seed=0)
    model.build()
    checkpoint.save_model(str(folder), model)
    checkpoint.save_vocabulary(str(folder), cm.VOCABULARY)
    return str(folder)


def test_analysis_writes_numbers_and_pictures(tmp_path):
    folder = tiny_model(tmp_path / "model", 8)
    out, images = tmp_path / "analysis.json", tmp_path / "pictures"
    result = run(f"--model={folder}", "--samples=1", "--sharpen=3", f"--out={out}",
                 f"--images={images}")
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads(out.read_text())
    assert len(report["captions"]) == 40
    held = [k for k, v in report["captions"].items() if v["held_out"]]
    assert sorted(held) == sorted(cm.caption_for(a, r) for a, r, b in cm.HELD_OUT if b is None)
    for group in ("held out", "seen"):
        stats = report["summary"][group]
        assert 0 <= stats["scene_right"] <= 1
        assert len(stats["p_named_by_step"]) == len(stats["alpha_entropy_by_step"]) == 2
        assert np.all(np.array(stats["alpha_entropy_by_step"]) <= np.log(12) + 1e-6)
    assert len(report["transplant"]) == 4 * 4  # 3 donor corners and one control each
    assert [row["beta"] for row in report["sharpen"]] == [3.0]
    assert {"command", "machine", "date", "wall_s"} <= set(report)
    for name in ("steps.png", "attention.png"):
        assert os.path.getsize(images / name) > 0


def test_analysis_refuses_a_model_without_alignment(tmp_path):
    folder = tiny_model(tmp_path / "noalign", 0)
    result = run(f"--model={folder}", f"--out={tmp_path / 'x.json'}")
    assert_one_line_error(result, "not an alignDRAW model with word alignment")
    assert not (tmp_path / "x.json").exists()
