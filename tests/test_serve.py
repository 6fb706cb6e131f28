"""The REST server end to end: a tiny alignDRAW exported, served on a free loopback port in a
subprocess, asked in both of TF Serving's formats, fed bad input, and stopped by a signal.
Also the request codec (t2i_tf/rest_codec.py) on its own."""

import base64
import json
import os
import select
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from test_binaries import ROOT, assert_one_line_error, run

CAPTION = "the digit 3 is at the top of the digit 1 ."
OTHER = "The digit 7 is on the LEFT of the zebra"
WORDS = list("0123456789") + ["the", "digit", "is", "on", "at", "left", "right", "bottom",
                              "top", "of", "image", "."]
LIMITS = ["--max_batch=8", "--max_caption_chars=200", "--max_request_bytes=20000"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    """A tiny untrained alignDRAW with large random weights, so its images are not flat."""
    from t2i_tf import checkpoint
    from t2i_tf.data.vocabulary import Vocabulary
    from t2i_tf.models import registry

    folder = str(tmp_path_factory.mktemp("tiny_align"))
    vocabulary = Vocabulary(WORDS)
    model = registry.build("align_draw", dict(
        image_shape=(20, 20), steps=3, enc_units=8, dec_units=8, z_dim=4, read_n=3, write_n=3,
        vocab_size=len(vocabulary), embed_dim=8, lang_units=8, align_units=8,
        init_stddev=0.5, seed=1))
    checkpoint.save_model(folder, model)
    checkpoint.save_vocabulary(folder, vocabulary)
    return folder


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory, model_dir):
    base = str(tmp_path_factory.mktemp("exports") / "tiny")
    result = run("t2i_tf.export", f"--model={model_dir}", f"--export_dir={base}", backend=None)
    assert result.returncode == 0, result.stderr[-3000:]
    return base


def start_server(export_dir, *flags):
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    proc = subprocess.Popen([sys.executable, "-m", "t2i_tf.serve", f"--export_dir={export_dir}",
                             "--port=0", *flags], cwd=ROOT, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline:
        ready, _, _ = select.select([proc.stdout], [], [], 1.0)
        if ready:
            line = proc.stdout.readline()
            if line.startswith("serving "):
                return proc, line.split(" at ")[1].strip()
            if not line:
                break
    proc.kill()
    pytest.fail(f"server did not start: {proc.stderr.read()[-3000:]}")


@pytest.fixture(scope="module")
def server(export_dir):
    proc, url = start_server(export_dir, *LIMITS)
    yield proc, url
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def request(url, body=None, method=None, raw=None):
    """(status, decoded JSON answer) of a request; body is JSON-encoded, raw sent as is."""
    data = raw if raw is not None else (None if body is None else json.dumps(body).encode())
    req = urllib.request.Request(url, data=data, method=method,
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=120) as answer:
            return answer.status, json.loads(answer.read())
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read())


@pytest.fixture(scope="module")
def reference(model_dir):
    from t2i_tf import checkpoint, serving_module

    model = checkpoint.load_model(model_dir)
    vocabulary = checkpoint.load_vocabulary(model_dir)
    return lambda captions, **kw: serving_module.reference_outputs(
        model, captions=captions, vocabulary=vocabulary, **kw)


def assert_images_close(got, want):
    got = np.asarray(got)
    assert got.shape == want.shape
    diff = np.abs(got - want.astype(int))
    assert diff.max() <= 1 and diff.mean() <= 0.01


def test_status_and_metadata(server):
    _, url = server
    assert url.endswith("/v1/models/tiny")
    status, answer = request(url)
    assert status == 200
    assert answer == {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {
        "error_code": "OK", "error_message": ""}}]}
    assert request(url + "/versions/1")[0] == 200
    status, answer = request(url + "/metadata")
    assert status == 200
    assert answer["model_spec"] == {"name": "tiny", "signature_name": "", "version": "1"}
    signatures = answer["metadata"]["signature_def"]["signature_def"]
    default = signatures["serving_default"]
    assert default["method_name"] == "tensorflow/serving/predict"
    assert default["inputs"]["captions"]["dtype"] == "DT_STRING"
    assert default["inputs"]["captions"]["tensor_shape"]["dim"] == [{"size": "-1", "name": ""}]
    assert default["outputs"]["images"]["dtype"] == "DT_UINT8"
    assert set(signatures["from_ids"]["inputs"]) == {"ids", "mask", "num_samples", "seed"}


def test_row_format_matches_in_process(server, reference):
    _, url = server
    b64 = base64.b64encode(OTHER.encode()).decode()
    status, answer = request(url + ":predict", {"instances": [
        {"captions": CAPTION, "num_samples": 2, "seed": 7},
        {"captions": {"b64": b64}, "num_samples": 2, "seed": 7}]})
    assert status == 200, answer
    rows = answer["predictions"]
    assert len(rows) == 4 and set(rows[0]) == {"images", "attention"}
    want = reference([CAPTION, OTHER], seed=7, num_samples=2)
    assert want["images"].std() > 5  # the tiny model's images are not flat
    assert_images_close([r["images"] for r in rows], want["images"])
    np.testing.assert_allclose([r["attention"] for r in rows], want["attention"], atol=1e-5)
    # Bare instances: captions alone, the signature's defaults (num_samples 1, seed 0).
    status, answer = request(url + "/versions/1:predict", {"instances": [CAPTION]})
    assert status == 200, answer
    assert_images_close([answer["predictions"][0]["images"]],
                        reference([CAPTION], seed=0)["images"])


def test_columnar_format_matches_in_process(server, reference):
    _, url = server
    status, answer = request(url + ":predict", {"inputs": {
        "captions": [CAPTION], "num_samples": 3, "seed": 5}})
    assert status == 200, answer
    want = reference([CAPTION], seed=5, num_samples=3)
    assert_images_close(answer["outputs"]["images"], want["images"])
    np.testing.assert_allclose(answer["outputs"]["attention"], want["attention"], atol=1e-5)
    # The same request again: the seed fixes the images.
    assert request(url + ":predict", {"inputs": {
        "captions": [CAPTION], "num_samples": 3, "seed": 5}})[1] == answer


def test_from_ids_signature(server, reference):
    from t2i_tf.data.vocabulary import Vocabulary

    _, url = server
    ids = Vocabulary(WORDS).encode(CAPTION.split())
    status, answer = request(url + ":predict", {"signature_name": "from_ids", "inputs": {
        "ids": [ids], "mask": [[True] * len(ids)], "seed": 4}})
    assert status == 200, answer
    assert_images_close(answer["outputs"]["images"], reference([CAPTION], seed=4)["images"])


BAD_REQUESTS = [
    # (what, path suffix, body or raw bytes, expected status, a fragment of the error)
    ("malformed JSON", ":predict", b'{"instances": [', 400, "JSON Parse error"),
    ("not an object", ":predict", [1, 2], 400, "JSON object"),
    ("neither format", ":predict", {"signature_name": "serving_default"}, 400, "exactly one"),
    ("both formats", ":predict", {"instances": [CAPTION], "inputs": [CAPTION]}, 400,
     "exactly one"),
    ("unknown signature", ":predict", {"signature_name": "nope", "instances": [CAPTION]}, 400,
     "nope"),
    ("caption not a string", ":predict", {"instances": [{"captions": 3}]}, 400,
     "expected a string"),
    ("seed not an integer", ":predict", {"inputs": {"captions": [CAPTION], "seed": 1.5}}, 400,
     "expected an integer"),
    ("seed out of int32", ":predict", {"inputs": {"captions": [CAPTION], "seed": 2 ** 40}}, 400,
     "outside the range"),
    ("num_samples a string", ":predict", {"inputs": {"captions": [CAPTION],
                                                     "num_samples": "2"}}, 400, "integer"),
    ("unknown input", ":predict", {"inputs": {"captions": [CAPTION], "temp": 1}}, 400, "temp"),
    ("ragged captions", ":predict", {"inputs": {"captions": [[CAPTION], []]}}, 400, ""),
    ("instances disagree on seed", ":predict",
     {"instances": [{"captions": CAPTION, "seed": 1}, {"captions": CAPTION, "seed": 2}]}, 400,
     "must agree"),
    ("bad base64", ":predict", {"instances": [{"b64": "not base64!"}]}, 400, "base64"),
    ("empty caption", ":predict", {"instances": [CAPTION, "   "]}, 400, "no word"),
    ("no instances", ":predict", {"instances": []}, 400, "non-empty"),
    ("batch over the limit", ":predict", {"inputs": {"captions": [CAPTION] * 3,
                                                     "num_samples": 3}}, 400, "max_batch"),
    ("num_samples zero", ":predict", {"inputs": {"captions": [CAPTION], "num_samples": 0}},
     400, "num_samples"),
    ("caption over the limit", ":predict", {"instances": ["the " * 60]}, 400,
     "max_caption_chars"),
    ("id outside the vocabulary", ":predict", {"signature_name": "from_ids", "inputs": {
        "ids": [[2, 999]], "mask": [[True, True]]}}, 400, "outside the vocabulary"),
    ("body over the limit", ":predict", {"instances": ["x" * 30000]}, 413, ""),
    ("unknown version", "/versions/9:predict", {"instances": [CAPTION]}, 404,
     "Specific(tiny, 9)"),
    ("classify", ":classify", {"instances": [CAPTION]}, 400, "only predicts"),
]


@pytest.mark.parametrize("what,suffix,body,code,fragment", BAD_REQUESTS,
                         ids=[b[0] for b in BAD_REQUESTS])
def test_bad_request_is_refused_and_server_goes_on(server, what, suffix, body, code, fragment):
    _, url = server
    raw = body if isinstance(body, bytes) else None
    status, answer = request(url + suffix, None if raw else body, raw=raw, method="POST")
    assert status == code, answer
    assert set(answer) == {"error"} and fragment in answer["error"], answer
    assert request(url)[0] == 200


def test_unknown_model_path_and_method(server):
    _, url = server
    base = url.rsplit("/", 1)[0]
    status, answer = request(base + "/other:predict", {"instances": [CAPTION]})
    assert status == 404 and answer == {"error": "Servable not found for request: Latest(other)"}
    assert request(base + "/tiny/labels/stable")[0] == 404
    assert request(url + ":predict", method="GET")[0] == 405
    status, answer = request(url.split("/v1/")[0] + "/elsewhere")
    assert status == 404 and "error" in answer
    status, answer = request(url + ":predict", {"instances": [CAPTION]})
    assert status == 200


def test_concurrent_requests_all_answered(server):
    import concurrent.futures

    _, url = server
    body = {"instances": [{"captions": CAPTION, "seed": 3}]}
    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(lambda _: request(url + ":predict", body), range(12)))
    assert all(status == 200 for status, _ in answers)
    assert all(answer == answers[0][1] for _, answer in answers)


def test_sigint_stops_the_server_cleanly(server):
    proc, url = server
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]
    assert "stopped" in out
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)


def test_sigterm_stops_the_server_cleanly(export_dir):
    proc, url = start_server(export_dir, "--nowarmup")
    assert request(url)[0] == 200
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 0, err[-3000:]


def test_serve_errors_are_one_line(tmp_path):
    result = run("t2i_tf.serve", f"--export_dir={tmp_path}")
    assert_one_line_error(result, "holds no version")


# The codec alone, without a server.

def _signature():
    from t2i_tf import rest_codec

    info = rest_codec.TensorInfo
    return rest_codec.Signature(
        "serving_default",
        {"captions": info("captions", object, (None,)), "seed": info("seed", np.int32, ()),
         "num_samples": info("num_samples", np.int32, ())},
        {"images": info("images", np.uint8, (None, 2))},
        {"seed": np.int32(0), "num_samples": np.int32(1)})


def test_codec_row_and_columnar_requests():
    from t2i_tf import rest_codec

    signatures = {"serving_default": _signature()}
    row = rest_codec.parse_predict({"instances": ["a", {"b64": "Yg=="}]}, signatures)
    assert row.row_format and row.inputs["captions"].tolist() == [b"a", b"b"]
    assert row.inputs["seed"] == 0 and row.inputs["num_samples"] == 1
    objects = rest_codec.parse_predict({"instances": [{"captions": "a", "seed": 4},
                                                      {"captions": "b"}]}, signatures)
    assert objects.inputs["seed"] == 4
    columns = rest_codec.parse_predict({"inputs": {"captions": ["a"], "num_samples": 2}},
                                       signatures)
    assert not columns.row_format and columns.inputs["num_samples"] == 2
    with pytest.raises(rest_codec.RequestError, match="rank 1"):
        rest_codec.parse_predict({"inputs": {"captions": "a"}}, signatures)
    with pytest.raises(rest_codec.RequestError, match="true or false"):
        rest_codec.to_array([1], rest_codec.TensorInfo("mask", np.bool_, (None,)), "mask")


def test_codec_answers():
    from t2i_tf import rest_codec

    outputs = {"images": np.zeros((2, 1), np.uint8), "attention": np.ones((2, 1), np.float32)}
    assert rest_codec.format_predict(outputs, row_format=True) == {"predictions": [
        {"attention": [1.0], "images": [0]}, {"attention": [1.0], "images": [0]}]}
    assert rest_codec.format_predict(outputs, row_format=False) == {"outputs": {
        "attention": [[1.0], [1.0]], "images": [[0], [0]]}}
    single = {"images": np.zeros((1, 2), np.uint8)}
    assert rest_codec.format_predict(single, True) == {"predictions": [[0, 0]]}
    assert rest_codec.format_predict(single, False) == {"outputs": [[0, 0]]}
