"""The shipped alignPixelRNN (models/alignpixelrnn_mnist_captions) exported once for the
module: saved_model_cli shows and runs it, the reloaded SavedModel draws what the in-process
sampler draws for every method (greedy, sample with a seed and a temperature, beam search of
several widths) and its drawing signature (what the web page animates) the same sampled
images as PNGs with each image row's mean attention, and `python -m t2i_tf.serve` answers a
TF Serving predict with "method": "beam", "beam_width": 4 with the image that
`python -m t2i_tf.sample --beam=4` draws for that caption."""

import os

import numpy as np
import pytest

from test_binaries import ROOT, run
from test_export import saved_model_cli, saved_model_cli_run, signature_defaults
from test_serve import request, start_server

MODEL = os.path.join(ROOT, "models", "alignpixelrnn_mnist_captions")
CAPTION = "the digit 3 is at the top of the digit 1 ."
OTHER = "The digit 7 is on the LEFT of the zebra"
# One image or two, of up to 16 words: 2 x 1 shapes to compile at start-up.
LIMITS = ["--max_batch=2", "--max_words=16", "--max_caption_chars=200"]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("exports") / "pixelrnn")
    result = run("t2i_tf.export", f"--model={MODEL}", f"--export_dir={base}", backend=None)
    assert result.returncode == 0, result.stderr[-3000:]
    return base


@pytest.fixture(scope="module")
def loaded(export_dir):
    import tensorflow as tf

    return tf.saved_model.load(os.path.join(export_dir, "1"))


@pytest.fixture(scope="module")
def served(loaded):
    return loaded.signatures["serving_default"]


@pytest.fixture(scope="module")
def shipped():
    from t2i_tf.training import checkpoint

    return checkpoint.load_model(MODEL), checkpoint.load_vocabulary(MODEL)


def reference(shipped, captions, **kw):
    from t2i_tf.serving import pixel_saved_model

    model, vocabulary = shipped
    return pixel_saved_model.reference_outputs(model, vocabulary, captions, **kw)


# The signatures' defaults (stored in the SignatureDef for TF Serving; a loaded signature
# function wants every input).
DEFAULTS = {"method": "sample", "num_samples": 1, "seed": 0, "temperature": 1.0,
            "beam_width": 4}


def call(signature, captions, **kw):
    import tensorflow as tf

    scalars = {k: tf.constant(v, tf.float32 if k == "temperature" else None)
               for k, v in {**DEFAULTS, **kw}.items()}
    return {k: v.numpy() for k, v in signature(captions=tf.constant(captions),
                                              **scalars).items()}


def assert_same_drawing(got, want):
    np.testing.assert_array_equal(got["images"], want["images"])
    np.testing.assert_allclose(got["log_prob"], want["log_prob"], rtol=1e-4, atol=1e-3)
    np.testing.assert_allclose(got["attention"], want["attention"], atol=1e-5)


def test_saved_model_cli_shows_and_runs_the_export(export_dir, shipped, tmp_path):
    version_dir = os.path.join(export_dir, "1")
    text = saved_model_cli("show", "--all", "--dir", version_dir)
    default = text[text.index("signature_def['serving_default']"):].split("signature_def[")[1]
    for fragment in ("inputs['captions']", "inputs['method']", "inputs['num_samples']",
                     "inputs['seed']", "inputs['temperature']", "inputs['beam_width']",
                     "outputs['images']", "dtype: DT_UINT8", "shape: (-1, 32, 32)",
                     "outputs['log_prob']", "outputs['attention']", "shape: (-1, 1024, -1)"):
        assert fragment in default, fragment
    out = saved_model_cli_run(version_dir, tmp_path,
                              f'captions=["{CAPTION}"];method="sample";num_samples=1;'
                              "seed=3;temperature=1.0;beam_width=1")
    want = reference(shipped, [CAPTION], method="sample", seed=3)
    assert_same_drawing(out, want)
    # a binary model: black and white, some strokes (greedy's likeliest pixels are all black)
    assert 0 < want["images"].mean() < 128 and set(np.unique(want["images"])) == {0, 255}


def test_the_defaults_are_stored_for_tf_serving(export_dir):
    signatures = signature_defaults(export_dir)
    for name in ("serving_default", "from_ids", "drawing"):
        defaults = signatures[name]
        stored = {"method": defaults["method"].string_val[0].decode(),
                  "num_samples": defaults["num_samples"].int_val[0],
                  "seed": defaults["seed"].int_val[0],
                  "temperature": defaults["temperature"].float_val[0],
                  "beam_width": defaults["beam_width"].int_val[0]}
        assert stored == DEFAULTS


@pytest.mark.parametrize("method, kw", [
    ("greedy", {"num_samples": 2}),
    ("sample", {"num_samples": 2, "seed": 5, "temperature": 0.8}),
    ("beam", {"beam_width": 4}),
    ("beam", {"beam_width": 3}),  # 3 live beams in 4 slots
])
def test_every_method_draws_what_the_in_process_sampler_draws(served, shipped, method, kw,
                                                             loaded):
    got = call(served, [CAPTION, OTHER], method=method, **kw)
    want = reference(shipped, [CAPTION, OTHER], method=method, **kw)
    rows = 2 * kw.get("num_samples", 1)
    assert got["images"].shape == (rows, 32, 32) and got["attention"].shape[:2] == (rows, 1024)
    assert_same_drawing(got, want)
    np.testing.assert_allclose(got["attention"].sum(-1), 1.0, atol=1e-5)
    if method == "sample":  # the web page's default: its drawing signature draws the same
        assert_same_row_drawing(call(loaded.signatures["drawing"], [CAPTION, OTHER],
                                     method=method, **kw), want)


def assert_same_row_drawing(got, want):
    """The drawing signature's answer: the images as PNGs, each image row's mean attention."""
    import tensorflow as tf

    pixels = np.stack([tf.io.decode_png(png).numpy()[..., 0] for png in got["image_png"]])
    np.testing.assert_array_equal(pixels, want["images"])
    np.testing.assert_allclose(got["log_prob"], want["log_prob"], rtol=1e-4, atol=1e-3)
    rows = want["attention"].reshape(len(pixels), 32, 32, -1).mean(2)  # (rows, H, L)
    assert got["attention"].shape == rows.shape
    np.testing.assert_allclose(got["attention"], rows, atol=1e-5)


def test_sampling_depends_on_the_seed_only(served):
    first = call(served, [CAPTION], method="sample", num_samples=2, seed=1)
    again = call(served, [OTHER, CAPTION], method="sample", num_samples=2, seed=1)
    other = call(served, [CAPTION], method="sample", num_samples=2, seed=2)
    np.testing.assert_array_equal(first["images"], again["images"][2:])
    assert not np.array_equal(first["images"], other["images"])
    assert not np.array_equal(first["images"][0], first["images"][1])


def test_a_wider_beam_finds_a_likelier_image(served):
    scores = [call(served, [CAPTION], method="beam", beam_width=w)["log_prob"][0]
              for w in (1, 4)]
    greedy = call(served, [CAPTION], method="greedy")["log_prob"][0]
    assert scores[0] == pytest.approx(greedy, abs=1e-4)  # width 1 is greedy
    assert scores[1] >= scores[0] - 1e-4


@pytest.mark.parametrize("kw, message", [
    ({"method": "fancy"}, "method must be one of greedy, sample, beam"),
    ({"method": "beam", "beam_width": 0}, "beam_width must be in 1..16"),
    ({"method": "beam", "beam_width": 17}, "beam_width must be in 1..16"),
    ({"temperature": 0.0}, "temperature must be a finite number > 0"),
    ({"num_samples": 0}, "num_samples must be >= 1"),
])
def test_bad_scalars_are_refused(served, kw, message):
    import tensorflow as tf

    with pytest.raises(tf.errors.InvalidArgumentError, match=message):
        call(served, [CAPTION], **kw)


@pytest.fixture(scope="module")
def server(export_dir):
    proc, url = start_server(export_dir, *LIMITS)
    try:
        yield url
    finally:
        proc.kill()  # a no-op on a process that has ended
        proc.wait()


def test_served_beam_search_draws_what_sample_beam_4_draws(server, tmp_path):
    from PIL import Image

    url = server
    status, answer = request(url + ":predict", {"instances": [
        {"captions": CAPTION, "method": "beam", "beam_width": 4}]})
    assert status == 200, answer
    (row,) = answer["predictions"]
    result = run("t2i_tf.sample", f"--caption={CAPTION}", "--beam=4", "--scale=1",
                 f"--out={tmp_path}", backend=None)  # alignpixelrnn_mnist_captions, on JAX
    assert result.returncode == 0, result.stderr[-3000:]
    picture = np.asarray(Image.open(tmp_path / "samples.png"))
    drawn = picture[1:33, -33:-1]  # the one 32x32 cell of the grid, after the label
    np.testing.assert_array_equal(np.asarray(row["images"], np.uint8), drawn)
    scores = (tmp_path / "scores.txt").read_text().splitlines()[1]
    assert float(scores.split("\t")[1]) == pytest.approx(row["log_prob"], abs=2e-3)


def test_served_methods_and_refusals(server, shipped):
    url = server
    body = {"inputs": {"captions": [CAPTION], "method": "sample", "num_samples": 2, "seed": 9,
                       "temperature": 0.9}}
    status, answer = request(url + ":predict", body)
    assert status == 200, answer
    want = reference(shipped, [CAPTION], method="sample", num_samples=2, seed=9,
                     temperature=0.9)
    np.testing.assert_array_equal(np.asarray(answer["outputs"]["images"], np.uint8),
                                  want["images"])
    status, answer = request(url + ":predict", {"instances": [
        {"captions": CAPTION, "method": "beam", "beam_width": 99}]})
    assert status == 400 and answer["error"] == "beam_width must be in 1..16", answer
    status, answer = request(url + ":predict", {"instances": [{"captions": CAPTION,
                                                              "method": "best"}]})
    assert status == 400 and "method must be one of greedy, sample, beam" in answer["error"]
