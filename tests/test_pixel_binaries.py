"""End-to-end runs of the binaries with a pixel model: train flags/smoke_pixelrnn (a tiny
alignPixelRNN on captioned MNIST at 32x32) -> resume -> sample (beam search, ancestral
sampling on the NumPy backend) -> evaluate (exact NLL, retrieval, SSIM, attention), and the
one-line errors for pixel models on the wrong data and flags that do not fit (COCO:
tests/test_coco_binaries.py).

Runs on the JAX backend (train's own choice for a pixel model when KERAS_BACKEND is unset),
which compiles the 1,024-step loops several times faster than TensorFlow's XLA on CPU. The helpers are those of tests/test_binaries.py.
"""

import glob
import json
import math
import os
import shutil

import numpy as np
import pytest

from test_binaries import assert_one_line_error, records, run, run_batch

CAPTIONS = ("the digit 3 is at the top of the digit 1 .",
            "the digit 7 is at the bottom left of the image .")


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("smoke_pixelrnn"))
    # KERAS_BACKEND unset: train picks jax for a pixel model itself.
    result = run("t2i_tf.train", "--flagfile=flags/smoke_pixelrnn", f"--workdir={folder}",
                 backend=None)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "note: training the pixel model on jax" in result.stdout
    assert "backend jax" in result.stdout
    return folder


def test_train_writes_checkpoint_events_and_samples(workdir):
    for name in ("config.json", "weights.npz", "checkpoint.npz", "vocabulary.json"):
        assert os.path.exists(os.path.join(workdir, name))
    with open(os.path.join(workdir, "config.json")) as f:
        config = json.load(f)
    assert config["model"] == "align_pixel_rnn"
    assert config["config"]["image_shape"] == [32, 32] and config["config"]["levels"] == 256
    assert config["config"]["units"] == 16 and config["config"]["pixel_embed_dim"] == 4
    assert glob.glob(os.path.join(workdir, "logs", "events.out.tfevents.*"))
    assert len(glob.glob(os.path.join(workdir, "samples", "step_*.png"))) == 2
    steps = records(workdir)
    assert [r["step"] for r in steps] == [1, 2]
    # bits/dim is the loss (nats per image) over H W ln 2; near 8 bits for an untrained model.
    for r in steps:
        assert r["valid/bits_per_dim"] == pytest.approx(
            r["valid/loss"] / (1024 * math.log(2.0)), rel=1e-4)
        assert 6.0 < r["valid/bits_per_dim"] < 8.5


def test_train_resumes_from_checkpoint(workdir, tmp_path):
    copy = str(tmp_path / "resumed")
    shutil.copytree(workdir, copy)
    result = run("t2i_tf.train", "--flagfile=flags/smoke_pixelrnn", f"--workdir={copy}",
                 "--train_steps=4", backend="jax")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming from" in result.stdout and "at step 2" in result.stdout
    assert [r["step"] for r in records(copy)] == [1, 2, 3, 4]


def read_scores(path):
    with open(path) as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("# caption")
    return [(caption, [float(v) for v in values.split()])
            for caption, values in (line.split("\t") for line in lines[1:])]


def test_sample_beam(workdir, tmp_path):
    # No KERAS_BACKEND: sample picks JAX for a pixel model by itself.
    result = run("t2i_tf.sample", f"--model={workdir}", f"--caption={CAPTIONS[0]}",
                 f"--caption={CAPTIONS[1]}", "--beam=2", f"--out={tmp_path}", backend=None)
    assert result.returncode == 0, result.stderr[-3000:]
    assert sorted(os.listdir(tmp_path)) == ["samples.png", "scores.txt"]
    scores = read_scores(tmp_path / "scores.txt")
    assert [caption for caption, _ in scores] == list(CAPTIONS)
    for _, values in scores:  # one image per caption, a finite log-probability
        assert len(values) == 1 and -1024 * math.log(256) * 1.5 < values[0] < 0
    from PIL import Image

    width, height = Image.open(tmp_path / "samples.png").size
    assert height == (2 * 33 + 1) * 4  # one row per caption, 32x32 at --scale=4
    assert width > (33 + 1) * 4  # the caption labels on the left


def test_sample_ancestral_on_the_numpy_backend(workdir, tmp_path):
    result = run("t2i_tf.sample", f"--model={workdir}", f"--caption={CAPTIONS[0]}",
                 "--method=sample", "--num_samples=3", "--temperature=0.9", "--scale=1",
                 f"--out={tmp_path}", backend="numpy")
    assert result.returncode == 0, result.stderr[-3000:]
    (caption, values), = read_scores(tmp_path / "scores.txt")
    assert caption == CAPTIONS[0] and len(values) == 3 and all(np.isfinite(values))
    from PIL import Image

    image = np.asarray(Image.open(tmp_path / "samples.png"))
    assert image.shape[0] == 33 + 1 and image.shape[1] > 3 * 33 + 1


def test_evaluate_exact_nll_retrieval_ssim_and_attention(workdir, tmp_path):
    result = run("t2i_tf.evaluate", f"--model={workdir}", "--split=test", "--max_images=6",
                 "--batch_size=3", "--metrics=nll,retrieval,ssim,attention",
                 "--retrieval_candidates=4", "--ssim_samples=2", "--attention_samples=2",
                 f"--out_dir={tmp_path}", f"--json_out={tmp_path}/eval.json", backend="jax")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["data"] == "captioned_mnist_32" and summary["images"] == 6
    assert summary["bits_per_dim"] == pytest.approx(
        summary["nll_nats"] / (1024 * math.log(2.0)), rel=1e-6)
    assert 6.0 < summary["bits_per_dim"] < 8.5
    assert summary["retrieval"]["exact_likelihood"] and summary["retrieval"]["num_samples"] == 1
    assert summary["retrieval"]["num_candidates"] == 4
    assert 1 <= summary["retrieval"]["likelihood"]["median_rank"] <= 4
    assert -1 <= summary["ssim_mean"] <= 1 and summary["ssim_samples"] == 2
    assert set(summary["seconds"]) == {"nll", "retrieval", "ssim", "attention"}
    top = summary["attention_top_words"]
    assert top and all(0 < w["mean_weight"] <= 1 for w in top)
    assert [w["mean_weight"] for w in top] == sorted((w["mean_weight"] for w in top),
                                                     reverse=True)
    with open(tmp_path / "attention.txt") as f:  # words by weight, one caption a line
        ranked = f.read().splitlines()
    assert len(ranked) == 6 and all(len(line.split()) >= 10 for line in ranked)
    assert os.path.exists(tmp_path / "attention.png")
    assert "| -log p(x | y), exact, nats" in result.stdout


def test_pixel_model_on_60x60_data_is_one_line(tmp_path):
    # flags/mnist_captions_pixelrnn parses: the data check runs after every flag is read.
    pixel_on_60, draw_on_32 = run_batch(
        "t2i_tf.train",
        ["--flagfile=flags/mnist_captions_pixelrnn", "--data=captioned_mnist",
         f"--workdir={tmp_path}"],
        ["--flagfile=flags/smoke_aligndraw", "--data=captioned_mnist_32",
         f"--workdir={tmp_path}"], backend="jax")
    assert_one_line_error(pixel_on_60, "--model=align_pixel_rnn trains on",
                          "--data=captioned_mnist_32", "not --data=captioned_mnist")
    assert_one_line_error(draw_on_32, "--model=align_draw trains on --data=captioned_mnist or",
                          "not --data=captioned_mnist_32")


def test_flags_that_do_not_fit_a_pixel_model_are_one_line(workdir, tmp_path):
    wrong_data, elbo = run_batch("t2i_tf.evaluate",
                                 [f"--model={workdir}", "--data=captioned_mnist"],
                                 [f"--model={workdir}", "--metrics=elbo,nll"], backend="jax")
    assert_one_line_error(wrong_data, "cannot be scored on captioned_mnist",
                          "--data=captioned_mnist_32")
    assert_one_line_error(elbo, "elbo", "--metrics=nll")
    model, caption, out = f"--model={workdir}", f"--caption={CAPTIONS[0]}", f"--out={tmp_path}"
    greedy_beam, zero, no_caption = run_batch(
        "t2i_tf.sample", [model, caption, "--method=greedy", "--beam=2", out],
        [model, caption, "--temperature=0", out], [model, out], backend="jax")
    assert_one_line_error(greedy_beam, "--beam=2")
    assert_one_line_error(zero, "--temperature=0", "--method=greedy")
    assert_one_line_error(no_caption, "--caption")
