"""The export binary and its SavedModels: they draw what the in-process Keras model draws for
the same seed (saved_model_cli runs them here and, on the shipped alignDRAW, in test_serve.py).

Uses a tiny alignDRAW trained with flags/smoke_aligndraw on the JAX backend in a process
where TensorFlow cannot be imported, as on the JAX-only machines (export runs on TensorFlow
whichever backend trained the model; the training's TensorBoard events are checked here
too), and the shipped models/draw_mnist.
"""

import os
import subprocess
import sys

import numpy as np
import pytest

from test_binaries import ROOT, assert_one_line_error, run, run_batch
from test_summaries import assert_training_summaries

CAPTION = "the digit 3 is at the top of the digit 1 ."
SAVED_MODEL_CLI = os.path.join(os.path.dirname(sys.executable), "saved_model_cli")


def saved_model_cli(*args):
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    result = subprocess.run([SAVED_MODEL_CLI, *args], cwd=ROOT, env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    return result.stdout


def export(tmp_path_factory, model, name):
    export_dir = str(tmp_path_factory.mktemp(name))
    # backend=None: KERAS_BACKEND unset, the binary picks tensorflow itself.
    result = run("t2i_tf.export", f"--model={model}", f"--export_dir={export_dir}", backend=None)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.strip() == os.path.join(export_dir, "1")
    return export_dir


def saved_model_cli_run(version_dir, out, input_exprs, signature="serving_default"):
    saved_model_cli("run", "--dir", version_dir, "--tag_set", "serve", "--signature_def",
                    signature, "--input_exprs", input_exprs, "--outdir", str(out))
    return {name[:-4]: np.load(os.path.join(out, name)) for name in os.listdir(out)}


def assert_images_close(got, want, max_fraction=None):
    """uint8 images equal up to float rounding: off by at most one, in at most max_fraction
    of the pixels. (The smoke model's pixels all sit near 0.5, 127.5 after scaling: right
    on a rounding boundary, so there the fraction is not bounded.)"""
    assert got.dtype == np.uint8 and got.shape == want.shape
    diff = np.abs(got.astype(int) - want.astype(int))
    assert diff.max() <= 1
    if max_fraction is not None:
        assert diff.mean() <= max_fraction


@pytest.fixture(scope="module")
def align_model_dir(tmp_path_factory):
    folder = str(tmp_path_factory.mktemp("smoke_aligndraw"))
    result = run("t2i_tf.train", "--flagfile=flags/smoke_aligndraw", f"--workdir={folder}",
                 backend="jax", hide_tensorflow=True)
    assert result.returncode == 0, result.stderr[-3000:]
    return folder


def test_training_without_tensorflow_writes_tensorboard_events(align_model_dir):
    assert_training_summaries(align_model_dir, captioned=True)


@pytest.fixture(scope="module")
def align_export(tmp_path_factory, align_model_dir):
    return export(tmp_path_factory, align_model_dir, "align_export")


@pytest.fixture(scope="module")
def draw_export(tmp_path_factory):
    return export(tmp_path_factory, "draw_mnist", "draw_export")


@pytest.fixture(scope="module")
def align_model(align_model_dir):
    from t2i_tf.training import checkpoint

    return (checkpoint.load_model(align_model_dir),
            checkpoint.load_vocabulary(align_model_dir))


@pytest.fixture(scope="module")
def align_signatures(align_export):
    import tensorflow as tf

    loaded = tf.saved_model.load(os.path.join(align_export, "1"))
    return loaded, loaded.signatures


def test_draw_export_matches_in_process(draw_export, tmp_path):
    from t2i_tf.serving import saved_model
    from t2i_tf.training import checkpoint

    version_dir = os.path.join(draw_export, "1")
    text = saved_model_cli("show", "--all", "--dir", version_dir)
    assert "inputs['num_samples']" in text and "inputs['seed']" in text
    assert "shape: (-1, 28, 28)" in text and "captions" not in text
    out = saved_model_cli_run(version_dir, tmp_path, "num_samples=3;seed=5")
    want = saved_model.reference_outputs(checkpoint.load_model("draw_mnist"), seed=5,
                                            num_samples=3)
    assert_images_close(out["images"], want["images"], max_fraction=0.01)
    assert out["images"].max() > 200 and out["images"].min() < 50  # digits, not grey


def signature_defaults(export_dir, version="1"):
    """{signature name: its stored input defaults (TensorProtos by input name)}, read from
    the SavedModel's saved_model.pb as TF Serving reads them."""
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    with open(os.path.join(export_dir, version, "saved_model.pb"), "rb") as f:
        proto.ParseFromString(f.read())
    return {name: signature.defaults
            for name, signature in proto.meta_graphs[0].signature_def.items()}


def test_signature_defaults_are_stored(align_export):
    stored = signature_defaults(align_export)
    for name in ("serving_default", "from_ids", "drawing"):
        defaults = stored[name]
        assert defaults["num_samples"].int_val == [1] and defaults["seed"].int_val == [0]
    assert stored["drawing"]["temperature"].float_val == [1]


def call(signatures, captions, num_samples=1, seed=0, name="serving_default", **inputs):
    import tensorflow as tf

    if captions is not None:
        inputs["captions"] = tf.constant(captions)
    out = signatures[name](num_samples=tf.constant(num_samples), seed=tf.constant(seed),
                           **inputs)
    return {k: v.numpy() for k, v in out.items()}


def test_export_of_a_jax_trained_model_matches_in_process(align_signatures, align_model):
    # saved_model_cli runs the shipped alignDRAW's export in test_serve.py.
    from t2i_tf.serving import saved_model

    _, signatures = align_signatures
    model, vocabulary = align_model
    captions = [CAPTION, "The DIGIT zebra"]
    out = call(signatures, captions, num_samples=2, seed=7)
    want = saved_model.reference_outputs(model, seed=7, num_samples=2, captions=captions,
                                            vocabulary=vocabulary)
    assert out["images"].shape == (4, 60, 60)
    assert_images_close(out["images"], want["images"])
    assert out["attention"].shape == (4, model.steps, len(CAPTION.split()))
    np.testing.assert_allclose(out["attention"], want["attention"], atol=1e-5)
    np.testing.assert_allclose(out["attention"].sum(-1), 1.0, atol=1e-5)


def test_tokenisation_in_the_graph(align_signatures, align_model):
    import tensorflow as tf

    from t2i_tf.data.vocabulary import UNK_ID

    _, signatures = align_signatures
    _, vocabulary = align_model
    plain = call(signatures, ["the digit 3 <unk>"], seed=3)
    for caption in ("The  DIGIT 3 zebra", "the digit 3 <pad>", "\tthe digit 3 ZEBRA\n"):
        other = call(signatures, [caption], seed=3)
        np.testing.assert_array_equal(other["images"], plain["images"])
        np.testing.assert_array_equal(other["attention"], plain["attention"])
    ids = np.array([vocabulary.encode(["the", "digit", "3"]) + [UNK_ID]], np.int32)
    from_ids = call(signatures, None, seed=3, name="from_ids", ids=tf.constant(ids),
                    mask=tf.constant(np.ones_like(ids, bool)))
    assert_images_close(from_ids["images"], plain["images"])


def test_seed_fixes_the_images_whatever_the_batch(align_signatures):
    _, signatures = align_signatures
    alone = call(signatures, [CAPTION], num_samples=2, seed=11)
    again = call(signatures, [CAPTION], num_samples=2, seed=11)
    np.testing.assert_array_equal(alone["images"], again["images"])
    among = call(signatures, ["the digit 7 is on the left", CAPTION, "1"], num_samples=2,
                 seed=11)
    assert_images_close(among["images"][2:4], alone["images"])
    np.testing.assert_allclose(among["attention"][2:4], alone["attention"], atol=1e-5)
    other = call(signatures, [CAPTION], num_samples=2, seed=12)
    assert not np.allclose(other["attention"], alone["attention"], atol=1e-6)


def test_graph_refuses_bad_input(align_signatures):
    import tensorflow as tf

    _, signatures = align_signatures
    with pytest.raises(tf.errors.InvalidArgumentError, match="a caption has no word"):
        call(signatures, [CAPTION, "   "])
    with pytest.raises(tf.errors.InvalidArgumentError, match="num_samples must be >= 1"):
        call(signatures, [CAPTION], num_samples=0)
    with pytest.raises(tf.errors.InvalidArgumentError, match="outside the vocabulary"):
        call(signatures, None, name="from_ids", ids=tf.constant([[2, 999]]),
             mask=tf.constant([[True, True]]))


def test_prior_noise_depends_on_seed_and_sample_only():
    from t2i_tf.serving.saved_model import prior_noise

    one = prior_noise(5, 3, num_rows=1, num_samples=2, seed=4).numpy()  # (T, 2, z)
    three = prior_noise(5, 3, num_rows=3, num_samples=2, seed=4).numpy()  # (T, 6, z)
    assert one.shape == (5, 2, 3) and three.shape == (5, 6, 3)
    for row in range(3):
        np.testing.assert_array_equal(three[:, 2 * row:2 * row + 2], one)
    assert not np.allclose(one[:, 0], one[:, 1])
    assert not np.allclose(prior_noise(5, 3, 1, 2, seed=5).numpy(), one)


def test_export_errors_are_one_line(align_export, align_model_dir, tmp_path):
    result = run("t2i_tf.export", f"--model={align_model_dir}", f"--export_dir={tmp_path}",
                 backend="jax")
    assert_one_line_error(result, "KERAS_BACKEND=jax")
    exists, unknown = run_batch(
        "t2i_tf.export", [f"--model={align_model_dir}", f"--export_dir={align_export}"],
        ["--model=no_such_model", f"--export_dir={tmp_path}"], backend=None)
    assert_one_line_error(exists, "exists")
    assert_one_line_error(unknown, "no_such_model")


def decode_strips(pngs, steps):
    """canvases_png (rows,) -> uint8 (rows, T, H, W)."""
    import io

    from PIL import Image

    strips = np.stack([np.asarray(Image.open(io.BytesIO(png))) for png in pngs])
    rows, height, width = strips.shape
    return strips.reshape(rows, steps, height // steps, width)


def assert_drawing_close(out, want):
    assert set(out) == set(want) - {"canvases"} | {"canvases_png"}
    steps = want["canvases"].shape[1]
    assert_images_close(decode_strips(out["canvases_png"], steps), want["canvases"])
    if "windows" in want:
        np.testing.assert_allclose(out["windows"], want["windows"], rtol=1e-4, atol=1e-3)
    if "attention" in want:
        np.testing.assert_allclose(out["attention"], want["attention"], atol=1e-5)


def test_drawing_signature_matches_in_process(align_export, align_signatures, align_model):
    import json

    import tensorflow as tf

    from t2i_tf.serving import saved_model

    _, signatures = align_signatures
    model, vocabulary = align_model
    captions = [CAPTION, "The DIGIT zebra"]
    out = call(signatures, captions, num_samples=2, seed=7, name="drawing",
               temperature=tf.constant(0.5))
    want = saved_model.reference_drawing(model, seed=7, num_samples=2, temperature=0.5,
                                            captions=captions, vocabulary=vocabulary)
    assert want["canvases"].shape == (4, model.steps, 60, 60)
    assert out["windows"].shape == (4, model.steps, 4)
    assert_drawing_close(out, want)
    # At temperature 1 the last step is serving_default's image.
    default = call(signatures, captions, num_samples=2, seed=7)
    last = decode_strips(call(signatures, captions, num_samples=2, seed=7, name="drawing",
                              temperature=tf.constant(1.0))["canvases_png"], model.steps)[:, -1]
    assert_images_close(last, default["images"])
    for bad in (-0.5, float("nan"), float("inf")):
        with pytest.raises(tf.errors.InvalidArgumentError, match="temperature must be"):
            call(signatures, [CAPTION], name="drawing", temperature=tf.constant(bad))
    with open(os.path.join(align_export, "1", saved_model.MODEL_INFO)) as f:
        info = json.load(f)
    assert info["vocabulary"] == vocabulary.tokens and info["write_n"] == model.cell.write_n
    assert info["model"] == "align_draw" and info["steps"] == model.steps


def test_write_box_is_the_box_that_visualize_draws():
    from t2i_tf import visualize
    from t2i_tf.serving import saved_model

    windows = np.array([[30.5, 12.0, 2.5, 4.0, 1.0], [1.0, 60.0, 0.5, 0.25, 2.0]], np.float32)
    got = saved_model.write_box(windows, 8).numpy()
    for row, window in zip(got, windows):
        left, top, right, bottom = visualize.window_box(window, 8)
        x, y, width, sigma = row
        np.testing.assert_allclose([x - width / 2, y - width / 2, x + width / 2,
                                    y + width / 2], [left, top, right, bottom], atol=1e-5)
        assert sigma == pytest.approx(np.sqrt(window[3]))
    np.testing.assert_allclose(got[0], [29.5, 11.0, 17.5, 2.0])  # by hand: 7 * 2.5


def test_draw_export_drawing_and_model_info(draw_export):
    import json

    import tensorflow as tf

    from t2i_tf.serving import saved_model
    from t2i_tf.training import checkpoint

    version_dir = os.path.join(draw_export, "1")
    signatures = tf.saved_model.load(version_dir).signatures
    out = call(signatures, None, num_samples=2, seed=5, name="drawing",
               temperature=tf.constant(0.8))
    model = checkpoint.load_model("draw_mnist")
    want = saved_model.reference_drawing(model, seed=5, num_samples=2, temperature=0.8)
    assert want["canvases"].shape == (2, 64, 28, 28) and "attention" not in want
    assert_drawing_close(out, want)
    with open(os.path.join(version_dir, saved_model.MODEL_INFO)) as f:
        assert json.load(f) == {"model": "draw", "steps": 64, "image_shape": [28, 28],
                                "write_n": 5, "vocabulary": None}
