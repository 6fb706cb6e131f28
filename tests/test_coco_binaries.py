"""The card's COCO flagfiles end to end on the real subset (../shared/data/coco): train
flags/coco_pixelrnn and flags/coco_aligndraw for one step (tiny sizes through flag
overrides; the data, text and batching are the flagfiles' own) -> checkpoint -> sample
(docs/captions_coco_flips.txt, the paper's desert caption; sample's own backend choice:
NumPy for alignDRAW, JAX for the pixel model) -> evaluate (the bound and retrieval, with
shortlists cut to the split's size), and a missing COCO folder as one line. JAX backend.
"""

import json
import os

import pytest
from PIL import Image

from test_binaries import assert_one_line_error, records, run

from t2i_tf.data.locate import default_data_dir

COCO = os.path.join(default_data_dir(), "coco")
DESERT = "a person skiing on sand clad vast desert ."
TINY = {
    "coco_pixelrnn": ("--embed_dim=8", "--lang_units=8", "--dec_units=16",
                      "--pixel_embed_dim=4"),
    "coco_aligndraw": ("--glimpses=2", "--enc_units=8", "--dec_units=8", "--z_dim=2",
                       "--read_n=2", "--write_n=2", "--embed_dim=4", "--lang_units=4",
                       "--align_units=8", "--batch_size=20"),
}
pytestmark = pytest.mark.skipif(not os.path.isdir(COCO), reason="no COCO subset")


def train(folder, flagfile, *extra):
    return run("t2i_tf.train", f"--flagfile=flags/{flagfile}", f"--data_dir={COCO}",
               f"--workdir={folder}", "--train_steps=1", "--steps_per_epoch=1",
               "--valid_images=8", *TINY[flagfile], *extra, backend="jax")


@pytest.fixture(scope="module", params=["coco_pixelrnn", "coco_aligndraw"])
def workdir(request, tmp_path_factory):
    folder = str(tmp_path_factory.mktemp(request.param))
    result = train(folder, request.param)
    assert result.returncode == 0, result.stderr[-3000:]
    return request.param, folder


def read_json(folder, name):
    with open(os.path.join(folder, name)) as f:
        return json.load(f)


def test_flagfile_trains_and_checkpoints(workdir):
    flagfile, folder = workdir
    for name in ("config.json", "weights.npz", "checkpoint.npz", "vocabulary.json",
                 "text.json", "samples/step_0000001.png"):
        assert os.path.exists(os.path.join(folder, name)), name
    config, text = read_json(folder, "config.json"), read_json(folder, "text.json")
    vocabulary = read_json(folder, "vocabulary.json")
    assert [r["step"] for r in records(folder)] == [1]
    if flagfile == "coco_pixelrnn":  # grayscale 8-bit, colour words gone, cut-off 5
        assert config["config"]["image_shape"] == [32, 32] and config["config"]["levels"] == 256
        assert text == {"tokenizer": "treebank", "drop_colours": True}
        assert "red" not in vocabulary and "white" not in vocabulary
    else:  # RGB, colour words kept, cut-off 1 (every training word)
        assert config["model"] == "align_draw"
        assert config["config"]["image_shape"] == [32, 32, 3]
        assert text == {"tokenizer": "treebank", "drop_colours": False}
        assert {"red", "white", "kitchen"} <= set(vocabulary)


def test_sample_draws_the_flips_and_the_desert(workdir, tmp_path):
    flagfile, folder = workdir
    out = str(tmp_path / "out")
    result = run("t2i_tf.sample", f"--model={folder}", "--captions_file=docs/captions_coco_flips.txt",
                 f"--caption={DESERT}", "--num_samples=1", f"--out={out}", backend=None)
    assert result.returncode == 0, result.stderr[-3000:]
    picture = Image.open(os.path.join(out, "samples.png"))
    assert picture.mode == ("L" if flagfile == "coco_pixelrnn" else "RGB")
    with open("docs/captions_coco_flips.txt") as f:
        flips = [line for line in f if line.strip()]
    rows = 1 + len(flips)
    assert picture.size[1] == rows * (32 + 1) * 4 + 4  # one row per caption, --scale=4
    if flagfile == "coco_pixelrnn":  # colour words are dropped as in training
        assert "trained without colour words" in result.stderr
        with open(os.path.join(out, "scores.txt")) as f:
            assert len(f.read().splitlines()) == 1 + rows
    else:
        assert os.path.exists(os.path.join(out, "attention.txt"))


def test_evaluate_cuts_shortlists_to_the_split(workdir):
    flagfile, folder = workdir
    metrics = "nll,retrieval" if flagfile == "coco_pixelrnn" else "elbo,retrieval"
    limit = "--max_images=6" if flagfile == "coco_pixelrnn" else "--max_images=0"
    result = run("t2i_tf.evaluate", f"--model={folder}", f"--data_dir={COCO}",
                 f"--metrics={metrics}", limit, backend="jax")
    assert result.returncode == 0, result.stderr[-3000:]
    out = json.loads(result.stdout.strip().splitlines()[-1])
    images = 6 if flagfile == "coco_pixelrnn" else 79  # captioned val2017 images: 79
    assert out["images"] == images and out["split"] == "test"
    assert out["data"] == ("coco_32" if flagfile == "coco_pixelrnn" else "coco_32_rgb")
    assert out["retrieval"]["num_candidates"] == images
    assert f"shortlists of {images} candidates, not 100" in result.stderr
    assert 0 <= out["retrieval"]["ratio"]["r@5"] <= 100


def test_missing_coco_is_one_line(tmp_path):
    result = train(str(tmp_path / "run"), "coco_pixelrnn", f"--data_dir={tmp_path}")
    assert_one_line_error(result, "no COCO layout in", str(tmp_path))
