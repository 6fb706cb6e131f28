"""End-to-end runs of the binaries in subprocesses: train -> resume -> sample -> evaluate,
and the one-line errors for bad input. Uses flags/smoke (a tiny DRAW) on the real data.
"""

import glob
import json
import os
import subprocess
import sys

import pytest

from test_summaries import ROOT, assert_training_summaries

# `python -m MODULE` in a process where `import tensorflow` fails (the JAX-only machines).
WITHOUT_TENSORFLOW = ("import runpy, sys; sys.modules['tensorflow'] = None; "
                      "runpy.run_module(sys.argv.pop(1), run_name='__main__', alter_sys=True)")


def run(module, *args, backend="tensorflow", env=None, hide_tensorflow=False):
    """Runs `python -m module args`; backend None leaves KERAS_BACKEND unset (the binary's
    own default); hide_tensorflow runs it as if TensorFlow were not installed."""
    full_env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    full_env.pop("KERAS_BACKEND", None)
    if backend:
        full_env["KERAS_BACKEND"] = backend
    start = ["-c", WITHOUT_TENSORFLOW] if hide_tensorflow else ["-m"]
    return subprocess.run([sys.executable, *start, module, *args], cwd=ROOT, env=full_env,
                          capture_output=True, text=True, timeout=600)


def run_batch(module, *cases, backend="tensorflow"):
    """run() for several cases of one binary in one process (tests/binary_batch.py), for
    cases that stop early (bad input, --help): a case is a list of arguments, or (arguments,
    environment changes). Returns one CompletedProcess per case."""
    import tempfile

    cases = [{"args": list(c[0]), "env": c[1]} if isinstance(c, tuple) else {"args": list(c)}
             for c in cases]
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    env.pop("KERAS_BACKEND", None)
    if backend:
        env["KERAS_BACKEND"] = backend
    with tempfile.TemporaryDirectory() as folder:
        cases_path, results_path = (os.path.join(folder, n) for n in ("in.json", "out.json"))
        with open(cases_path, "w") as f:
            json.dump(cases, f)
        process = subprocess.run(
            [sys.executable, os.path.join(ROOT, "tests", "binary_batch.py"), module,
             cases_path, results_path], cwd=ROOT, env=env, capture_output=True, text=True,
            timeout=600)
        assert process.returncode == 0, process.stderr[-3000:]
        with open(results_path) as f:
            results = json.load(f)
    return [subprocess.CompletedProcess([module, *c["args"]], r["returncode"], r["stdout"],
                                        r["stderr"]) for c, r in zip(cases, results)]


def assert_one_line_error(result, *fragments):
    assert result.returncode != 0
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(lines) == 1, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def train_smoke(tmp_path_factory, flagfile):
    folder = str(tmp_path_factory.mktemp(os.path.basename(flagfile)))
    result = run("t2i_tf.train", f"--flagfile={flagfile}", f"--workdir={folder}")
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    return train_smoke(tmp_path_factory, "flags/smoke")


def records(folder):
    with open(os.path.join(folder, "metrics.jsonl")) as f:
        return [json.loads(line) for line in f]


def test_train_writes_checkpoint_events_and_samples(workdir):
    for name in ("config.json", "weights.npz", "checkpoint.npz"):
        assert os.path.exists(os.path.join(workdir, name))
    assert len(glob.glob(os.path.join(workdir, "samples", "step_*.png"))) == 2
    assert [r["step"] for r in records(workdir)] == [2, 4]
    assert_training_summaries(workdir, captioned=False)
    assert not glob.glob(os.path.join(workdir, ".tmp-*"))


def test_train_resumes_from_checkpoint(workdir, tmp_path):
    # Same run continued to 6 steps in a copy of the workdir, on the JAX backend: the
    # checkpoint is backend-neutral.
    import shutil

    copy = str(tmp_path / "resumed")
    shutil.copytree(workdir, copy)
    # A rate schedule where the first leg had a constant rate: the checkpoint holds no rate.
    result = run("t2i_tf.train", "--flagfile=flags/smoke", f"--workdir={copy}",
                 "--train_steps=6", "--learning_rate_drop_step=5", backend="jax")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "resuming from" in result.stdout
    assert [r["step"] for r in records(copy)] == [2, 4, 6]


def test_train_stops_on_divergence_and_keeps_the_last_checkpoint(workdir, tmp_path):
    # Adam at a rate of 1e30 sends the weights to +-1e30 in one step: the loss is not finite.
    import shutil

    copy = str(tmp_path / "diverged")
    shutil.copytree(workdir, copy)
    with open(os.path.join(copy, "checkpoint.npz"), "rb") as f:
        before = f.read()
    result = run("t2i_tf.train", "--flagfile=flags/smoke", f"--workdir={copy}",
                 "--train_steps=6", "--learning_rate=1e30", backend="jax")
    assert_one_line_error(result, "diverged between steps 4 and 6",
                          "keeps the checkpoint of step 4")
    with open(os.path.join(copy, "checkpoint.npz"), "rb") as f:
        assert f.read() == before
    assert [r["step"] for r in records(copy)] == [2, 4]


def test_train_without_xla_on_tensorflow(tmp_path):
    result = run("t2i_tf.train", "--flagfile=flags/smoke", f"--workdir={tmp_path}",
                 "--train_steps=2", "--nojit_compile")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "no XLA" in result.stdout
    assert [r["step"] for r in records(str(tmp_path))] == [2]


SHIPPED_COPIES = ("noaligndraw_mnist_captions", "draw_mnist")
TEMPERATURES = ("inf", "1e40", "nan", "-1")  # absurd values of sample's --temperature


def sha256_sums(folder):
    import hashlib

    return {n: hashlib.sha256(open(os.path.join(folder, n), "rb").read()).hexdigest()
            for n in sorted(os.listdir(folder))}


@pytest.fixture(scope="module")
def stops(workdir, align_workdir, tmp_path_factory):
    """This file's cases that stop before any work (bad input, --help), run in one process
    per binary (run_batch): {case name: CompletedProcess}, with "tmp" the folder they used
    and "sums" the SHA-256 sums of the shipped models' copies before the runs."""
    import shutil

    tmp = tmp_path_factory.mktemp("stops")
    blocker = tmp / "file"
    blocker.write_text("x")
    corrupt = tmp / "corrupt"
    (corrupt / "binarized_mnist").mkdir(parents=True)
    (corrupt / "binarized_mnist" / "binarized_mnist_test.amat.gz").write_bytes(b"not gzip at all")
    (tmp / "empty").mkdir()
    (tmp / "blank.txt").write_text("  \n\n")
    # A model shipped without its training state (noaligndraw_mnist_captions) and one with
    # it (draw_mnist, whose checkpoint belongs to other flags than flags/smoke's).
    copies = {name: str(tmp / name) for name in SHIPPED_COPIES}
    for name, copy in copies.items():
        shutil.copytree(os.path.join(ROOT, "models", name), copy)
    out = {"tmp": tmp, "sums": {copy: sha256_sums(copy) for copy in copies.values()}}
    smoke = "--flagfile=flags/smoke"
    cases = {
        "train": {
            "another model": [smoke, f"--workdir={workdir}", "--z_dim=9"],
            "missing data": ([smoke, f"--workdir={tmp / 'empty'}"],
                             {"T2I_DATA_DIR": str(tmp / "empty")}),
            "unwritable": [smoke, f"--workdir={blocker}/sub"],
            "bare model": [smoke, f"--workdir={copies['noaligndraw_mnist_captions']}"],
            "model with state": [smoke, f"--workdir={copies['draw_mnist']}"],
            "shipped": [smoke, "--workdir=models/draw_mnist"],
        },
        "sample": {
            "unwritable": [f"--model={workdir}", f"--out={blocker}/sub"],
            "unknown model": ["--model=no_such_model"],
            "no caption": [f"--model={align_workdir}"],
            "blank captions file": [f"--model={align_workdir}",
                                    f"--captions_file={tmp / 'blank.txt'}",
                                    f"--out={tmp / 'out_blank'}"],
            **{f"temperature {v}": [f"--model={workdir}", f"--temperature={v}",
                                    f"--out={tmp / ('out_' + v)}"] for v in TEMPERATURES},
        },
        "evaluate": {
            "corrupt data": [f"--model={workdir}", f"--data_dir={corrupt}"],
            "caption metrics": [f"--model={workdir}", "--metrics=ssim"],
        },
        "export": {},
        "serve": {},
    }
    required = {"train": [f"--workdir={tmp}"], "export": ["--model=x", "--export_dir=y"],
                "serve": ["--export_dir=y"]}
    for binary, named in cases.items():
        named["help"] = ["--help"]
        named["stray"] = ["stray words", *required.get(binary, [])]
        results = run_batch(f"t2i_tf.{binary}", *named.values())
        out.update({f"{binary} {name}": r for name, r in zip(named, results)})
    return out


def test_train_refuses_checkpoint_of_another_model(stops):
    assert_one_line_error(stops["train another model"], "another model")


def test_sample_writes_png_and_gif(workdir, tmp_path):
    out = str(tmp_path / "out")
    result = run("t2i_tf.sample", f"--model={workdir}", "--num_samples=4", f"--out={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    from PIL import Image

    assert Image.open(os.path.join(out, "samples.png")).size[0] > 28
    gif = Image.open(os.path.join(out, "drawing.gif"))
    assert gif.n_frames == 4  # one frame per DRAW step (T=4 in flags/smoke)


def test_evaluate_prints_table_and_json(workdir):
    result = run("t2i_tf.evaluate", f"--model={workdir}", "--max_images=40",
                 "--iw_samples=3", "--batch_size=20")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "| negative ELBO" in result.stdout
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    assert summary["images"] == 40 and summary["iw_samples"] == 3
    # The importance-sampled estimate is a tighter bound than the ELBO (up to noise).
    assert summary["iw_nll_nats"] < summary["neg_elbo_nats"] + 1.0
    assert summary["neg_elbo_nats"] == pytest.approx(
        summary["reconstruction_nats"] + summary["kl_nats"], rel=1e-6)


def test_missing_data_is_one_line(stops):
    assert_one_line_error(stops["train missing data"], "binarized_mnist_train.amat")


def test_corrupt_data_is_one_line(stops):
    assert_one_line_error(stops["evaluate corrupt data"], "binarized_mnist_test.amat.gz")


def test_unwritable_output_is_one_line(stops):
    blocker = str(stops["tmp"] / "file")
    assert_one_line_error(stops["sample unwritable"], blocker)
    assert_one_line_error(stops["train unwritable"], blocker)


def test_caption_metrics_need_a_caption_model(stops):
    assert_one_line_error(stops["evaluate caption metrics"], "caption model")


def test_unknown_model_is_one_line(stops):
    assert_one_line_error(stops["sample unknown model"], "no_such_model")


SHIPPED = sorted(glob.glob(os.path.join(ROOT, "models", "*", "config.json")))


@pytest.mark.parametrize("config", SHIPPED, ids=lambda p: os.path.basename(os.path.dirname(p)))
def test_shipped_model_samples(config, tmp_path):
    name = os.path.basename(os.path.dirname(config))
    with open(config) as f:
        height, width = json.load(f)["config"]["image_shape"]
    captioned = os.path.exists(os.path.join(os.path.dirname(config), "vocabulary.json"))
    caption = ["--caption=the digit 3 is on the left of the digit 8 ."] if captioned else []
    result = run("t2i_tf.sample", f"--model={name}", "--num_samples=16", f"--out={tmp_path}",
                 *caption, backend=None)  # the binary's default backend
    assert result.returncode == 0, result.stderr[-3000:]
    from PIL import Image
    import numpy as np

    grid = np.asarray(Image.open(tmp_path / "samples.png"), dtype=np.float32) / 255.0
    if captioned:  # one row of 16, the caption written on its left: keep the pictures
        grid = grid[:, -(16 * (width + 1) + 1) * 4:]
    # A trained model draws mostly-dark digits with bright strokes, not noise or a blank.
    assert (0.02 if captioned else 0.05) < grid.mean() < 0.5


@pytest.fixture(scope="module")
def align_workdir(tmp_path_factory):
    return train_smoke(tmp_path_factory, "flags/smoke_aligndraw")


def test_aligndraw_trains_and_draws_captions(align_workdir, tmp_path):
    assert os.path.exists(os.path.join(align_workdir, "vocabulary.json"))
    assert [r["step"] for r in records(align_workdir)] == [2, 4]
    assert_training_summaries(align_workdir, captioned=True)
    result = run("t2i_tf.sample", f"--model={align_workdir}", "--num_samples=2",
                 "--caption=the digit 3 is at the top of the digit 1 .",
                 "--caption=the digit 7 is at the bottom left of the zebra .", f"--out={tmp_path}")
    assert result.returncode == 0, result.stderr[-3000:]
    assert "drawn as <unk>: zebra" in result.stderr
    with open(tmp_path / "attention.txt") as f:
        lines = f.read().splitlines()
    assert lines[0] == "the digit 3 is at the top of the digit 1 ."
    assert sorted(w.rsplit(":", 1)[0] for w in lines[1].split()) == sorted(lines[0].split())
    from PIL import Image

    assert Image.open(tmp_path / "drawing.gif").n_frames == 3  # T = 3 in the smoke flags
    assert Image.open(tmp_path / "attention.png").size[1] > 0


def test_caption_model_without_caption_is_one_line(stops):
    assert_one_line_error(stops["sample no caption"], "--caption")


def test_evaluate_caption_model_on_generalization_split(align_workdir, tmp_path):
    result = run("t2i_tf.evaluate", f"--model={align_workdir}", "--split=generalization",
                 "--max_images=20", "--max_queries=8", "--iw_samples=2", "--batch_size=10",
                 "--metrics=elbo,iw_nll,retrieval,ssim,attention,nearest,captions",
                 "--retrieval_candidates=10", "--ssim_samples=2", "--attention_samples=2",
                 "--caption_samples=2", "--temperature=0.5",
                 f"--out_dir={tmp_path}", f"--json_out={tmp_path}/eval.json")
    assert result.returncode == 0, result.stderr[-3000:]
    summary = json.loads(result.stdout.strip().splitlines()[-1])
    with open(tmp_path / "eval.json") as f:
        assert json.load(f) == summary
    assert summary["data"] == "captioned_mnist" and summary["images"] == 20
    assert summary["queries"] == 8  # the caption metrics: the first 8 captions of the 20
    assert summary["temperature"] == 0.5  # of the samples ssim, captions and nearest drew
    assert summary["retrieval"]["num_candidates"] == 10
    assert 0 <= summary["retrieval"]["ratio"]["r@1"] <= summary["retrieval"]["ratio"]["r@5"] <= 100
    scenes = summary["retrieval"]["scenes"]
    assert 0 < scenes["oracle"]["r@1"] <= 100 and scenes["oracle"]["mean_equals"] >= 1
    # leaving out the true scene's other images can only raise the true image's rank
    for k in (1, 5, 10, 50):
        assert (scenes["ratio_among_other_scenes"][f"r@{k}"]
                >= summary["retrieval"]["ratio"][f"r@{k}"])
    assert -1 <= summary["ssim_mean"] <= 1
    assert set(summary["seconds"]) == {"elbo", "iw_nll", "retrieval", "ssim", "attention",
                                       "nearest", "captions"}
    assert summary["captions"]["samples"]["canvases"] == 16  # 8 captions, 2 samples each
    assert summary["captions"]["data"]["ink_in_place"] == pytest.approx(1.0)
    for name in ("attention.png", "attention.txt", "nearest.png"):
        assert (tmp_path / name).exists()
    assert summary["neg_elbo_nats"] == pytest.approx(
        summary["reconstruction_nats"] + summary["kl_nats"], rel=1e-6)


def test_sample_draws_the_good_lines_of_a_bad_captions_file(align_workdir, tmp_path):
    captions = tmp_path / "captions.txt"
    captions.write_bytes(b"the digit 1 is at the top left of the image .\n"
                         b"zebra giraffe okapi\n" + b"the " * 2500 + b"\n"
                         b"the digit \xff\xfe 2 .\n"
                         b"THE DIGIT 4 IS ON THE LEFT OF THE DIGIT 5 .\n")
    out = tmp_path / "out"
    result = run("t2i_tf.sample", f"--model={align_workdir}", "--num_samples=2", "--caption=",
                 f"--captions_file={captions}", f"--out={out}", backend=None)  # NumPy
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert len(errors) == 4, result.stderr
    assert any("--caption 1: empty caption" in e for e in errors)
    assert any(f"{captions}:2: no word" in e for e in errors)
    assert any(f"{captions}:3: caption of 10000 characters" in e for e in errors)
    assert any(f"{captions}:4: not UTF-8" in e for e in errors)
    with open(out / "attention.txt") as f:
        drawn = [line for line in f.read().splitlines() if not line.startswith(" ")]
    assert [line.lower() for line in drawn] == ["the digit 1 is at the top left of the image .",
                                                "the digit 4 is on the left of the digit 5 ."]


def test_sample_with_nothing_drawable_fails_without_traceback(align_workdir, tmp_path):
    captions = tmp_path / "captions.txt"
    captions.write_bytes(b"\xff\xfe\n" + b"x" * 10000 + b"\n")
    result = run("t2i_tf.sample", f"--model={align_workdir}", f"--captions_file={captions}",
                 "--caption=zebra", f"--out={tmp_path / 'out'}", backend=None)
    assert result.returncode != 0 and "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("error:")]
    assert errors[-1] == "error: no caption could be drawn", result.stderr
    assert len(errors) == 4  # one per bad caption, then the verdict
    assert not (tmp_path / "out" / "samples.png").exists()


def test_a_blank_captions_file_is_one_line(stops):
    assert_one_line_error(stops["sample blank captions file"], "blank.txt holds no caption")


def test_train_never_overwrites_a_model(stops):
    bare, with_state = (str(stops["tmp"] / name) for name in SHIPPED_COPIES)
    assert not os.path.exists(os.path.join(bare, "checkpoint.npz"))
    assert os.path.exists(os.path.join(with_state, "checkpoint.npz"))
    assert_one_line_error(stops["train bare model"], "holds a model but no training checkpoint",
                          "--init_from")
    assert_one_line_error(stops["train model with state"], "holds a checkpoint of another model",
                          "new --workdir")
    assert_one_line_error(stops["train shipped"], "is a shipped model", "--init_from=draw_mnist")
    assert {folder: sha256_sums(folder) for folder in (bare, with_state)} == stops["sums"]


@pytest.mark.parametrize("binary", ["train", "sample", "evaluate", "export", "serve"])
def test_help_exits_zero_and_leftover_arguments_are_refused(binary, stops):
    help_ = stops[f"{binary} help"]
    assert help_.returncode == 0 and "--" in help_.stdout + help_.stderr
    assert_one_line_error(stops[f"{binary} stray"], "unexpected argument 'stray words'")


@pytest.mark.parametrize("value", TEMPERATURES)
def test_sample_refuses_absurd_temperatures_and_writes_nothing(stops, value):
    assert_one_line_error(stops[f"sample temperature {value}"], "--temperature")
    assert not (stops["tmp"] / f"out_{value}").exists()


def test_sample_draws_in_chunks(workdir, tmp_path):
    # 300 images: three sampler calls (t2i_tf.sampling.drawing.CHUNK = 128); steps.png and
    # drawing.gif show the first 64, samples.png every one.
    from PIL import Image

    out = tmp_path / "out"
    result = run("t2i_tf.sample", f"--model={workdir}", "--num_samples=300", "--scale=1",
                 f"--out={out}")
    assert result.returncode == 0, result.stderr[-3000:]
    width, height = Image.open(out / "samples.png").size
    assert (width, height) == (18 * 29 + 1, 17 * 29 + 1)  # ceil(sqrt(300)) = 18 columns
    assert Image.open(out / "drawing.gif").size == (8 * 29 + 1, 8 * 29 + 1)
