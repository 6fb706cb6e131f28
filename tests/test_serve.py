"""The shipped alignDRAW (models/aligndraw_mnist_captions) end to end: exported once for the
module, shown and run with TensorFlow's saved_model_cli, served on a free loopback port in a
subprocess, asked in both of TF Serving's formats with a seed and compared with the
in-process model, fed bad input (the server goes on serving), and stopped by a signal.
Also the request codec (t2i_tf/serving/rest_codec.py) on its own. Nothing here depends on the
shipped weights beyond their architecture."""

import asyncio
import base64
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

import numpy as np
import pytest

from test_binaries import ROOT, assert_one_line_error, run, run_batch
from test_export import assert_images_close, saved_model_cli, saved_model_cli_run

MODEL = os.path.join(ROOT, "models", "aligndraw_mnist_captions")
NAME = "aligndraw"
CAPTION = "the digit 3 is at the top of the digit 1 ."
OTHER = "The digit 7 is on the LEFT of the zebra"
# Small limits: 4 batch x 2 caption-length buckets to compile at start-up.
LIMITS = ["--max_batch=8", "--max_caption_chars=200", "--max_words=16",
          "--max_request_bytes=20000", "--body_timeout_s=2"]


@pytest.fixture(scope="module")
def export_dir(tmp_path_factory):
    base = str(tmp_path_factory.mktemp("exports") / NAME)
    result = run("t2i_tf.export", f"--model={MODEL}", f"--export_dir={base}", backend=None)
    assert result.returncode == 0, result.stderr[-3000:]
    return base


def start_server(export_dir, *flags):
    return launch_server(f"--export_dir={export_dir}", *flags)


def launch_server(*flags):
    """Starts t2i_tf.serve with these flags on a free port; (process, the model's URL). The
    server's log (stderr) is in the file process.log_path."""
    env = {**os.environ, "PYTHONPATH": ROOT, "TF_CPP_MIN_LOG_LEVEL": "3"}
    log = tempfile.NamedTemporaryFile("w+", prefix="serve-", suffix=".log", delete=False)
    proc = subprocess.Popen([sys.executable, "-m", "t2i_tf.serve", "--port=0", *flags],
                            cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=log, text=True)
    proc.log_path = log.name
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
    pytest.fail(f"server did not start: {server_log(proc)[-3000:]}")


def server_log(proc):
    with open(proc.log_path) as f:
        return f.read()


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
def shipped():
    from t2i_tf.training import checkpoint

    return checkpoint.load_model(MODEL), checkpoint.load_vocabulary(MODEL)


@pytest.fixture(scope="module")
def reference(shipped):
    from t2i_tf.serving import saved_model

    model, vocabulary = shipped
    return lambda captions, **kw: saved_model.reference_outputs(
        model, captions=captions, vocabulary=vocabulary, **kw)


def uint8(values):
    """A JSON answer's pixel values as uint8, checking that they are."""
    values = np.asarray(values)
    assert values.dtype.kind == "i" and values.min() >= 0 and values.max() <= 255
    return values.astype(np.uint8)


def assert_served_images(got, want):
    assert_images_close(uint8(got), want, max_fraction=0.01)


def test_saved_model_cli_shows_and_runs_the_export(export_dir, reference, tmp_path):
    version_dir = os.path.join(export_dir, "1")
    text = saved_model_cli("show", "--all", "--dir", version_dir)
    default = text[text.index("signature_def['serving_default']"):].split("signature_def[")[1]
    from_ids = text[text.index("signature_def['from_ids']"):].split("signature_def[")[1]
    for fragment in ("inputs['captions']", "dtype: DT_STRING", "inputs['num_samples']",
                     "inputs['seed']", "outputs['images']", "dtype: DT_UINT8",
                     "shape: (-1, 60, 60)", "outputs['attention']",
                     "Method name is: tensorflow/serving/predict"):
        assert fragment in default, fragment
    for fragment in ("inputs['ids']", "dtype: DT_INT32", "inputs['mask']", "dtype: DT_BOOL",
                     "outputs['images']", "outputs['attention']"):
        assert fragment in from_ids, fragment
    out = saved_model_cli_run(version_dir, tmp_path,
                              f'captions=["{CAPTION}", "{OTHER}"];num_samples=2;seed=7')
    want = reference([CAPTION, OTHER], seed=7, num_samples=2)
    assert out["images"].shape == (4, 60, 60)
    assert_images_close(out["images"], want["images"], max_fraction=0.01)
    assert want["images"].max() > 200 and want["images"].min() < 50  # digits, not grey
    assert out["attention"].shape == (4, 32, len(CAPTION.split()))  # the longer caption
    np.testing.assert_allclose(out["attention"], want["attention"], atol=1e-5)
    np.testing.assert_allclose(out["attention"].sum(-1), 1.0, atol=1e-5)


def caption_of(words):
    return " ".join((CAPTION.split() * 2)[:words])


def test_every_bucket_is_compiled_before_the_server_listens(server):
    # Each batch bucket (1, 2, 4, 8 images) with each caption-length bucket (8, 16 words)
    # at odd sizes inside it: a compilation takes seconds, a compiled call tens of ms.
    _, url = server
    for captions, samples in ((1, 1), (1, 2), (3, 1), (7, 1)):
        for words in (5, 13):
            body = {"inputs": {"captions": [caption_of(words)] * captions,
                               "num_samples": samples}}
            start = time.perf_counter()
            status, answer = request(url + ":predict", body)
            elapsed = time.perf_counter() - start
            assert status == 200, answer
            assert len(answer["outputs"]["images"]) == captions * samples
            assert elapsed < 1.5, (captions, samples, words, elapsed)


def test_padding_leaves_the_real_rows_unchanged(server):
    # Alone, "the digit 3 is" is 1 row of 4 words (buckets: 1 row, 8 words); beside the
    # others 3 rows of up to 12 words (buckets: 4 rows, 16 words). Its noise depends only
    # on (seed, sample), so its images are the same.
    _, url = server
    short = "the digit 3 is"
    alone = request(url + ":predict", {"inputs": {"captions": [short], "num_samples": 2,
                                                  "seed": 7}})[1]["outputs"]
    beside = request(url + ":predict", {"inputs": {"captions": [CAPTION, short, OTHER],
                                                   "num_samples": 2, "seed": 7}})[1]["outputs"]
    np.testing.assert_array_equal(uint8(alone["images"]), uint8(beside["images"][2:4]))
    np.testing.assert_allclose(alone["attention"], np.asarray(beside["attention"])[2:4, :, :4],
                               atol=1e-6)
    assert np.asarray(beside["attention"]).shape == (6, 32, len(CAPTION.split()))


def test_status_and_metadata(server):
    _, url = server
    assert url.endswith(f"/v1/models/{NAME}")
    status, answer = request(url)
    assert status == 200
    assert answer == {"model_version_status": [{"version": "1", "state": "AVAILABLE", "status": {
        "error_code": "OK", "error_message": ""}}]}
    assert request(url + "/versions/1")[0] == 200
    status, answer = request(url + "/metadata")
    assert status == 200
    assert answer["model_spec"] == {"name": NAME, "signature_name": "", "version": "1"}
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
    assert_served_images([r["images"] for r in rows], want["images"])
    np.testing.assert_allclose([r["attention"] for r in rows], want["attention"], atol=1e-5)
    # Bare instances: captions alone, the signature's defaults (num_samples 1, seed 0).
    status, answer = request(url + "/versions/1:predict", {"instances": [CAPTION]})
    assert status == 200, answer
    assert_served_images([answer["predictions"][0]["images"]],
                        reference([CAPTION], seed=0)["images"])


def test_columnar_format_matches_in_process(server, reference):
    _, url = server
    status, answer = request(url + ":predict", {"inputs": {
        "captions": [CAPTION], "num_samples": 3, "seed": 5}})
    assert status == 200, answer
    want = reference([CAPTION], seed=5, num_samples=3)
    assert_served_images(answer["outputs"]["images"], want["images"])
    np.testing.assert_allclose(answer["outputs"]["attention"], want["attention"], atol=1e-5)
    # The same request again: the seed fixes the images.
    assert request(url + ":predict", {"inputs": {
        "captions": [CAPTION], "num_samples": 3, "seed": 5}})[1] == answer


def test_from_ids_signature(server, reference, shipped):
    _, url = server
    ids = shipped[1].encode(CAPTION.split())
    status, answer = request(url + ":predict", {"signature_name": "from_ids", "inputs": {
        "ids": [ids], "mask": [[True] * len(ids)], "seed": 4}})
    assert status == 200, answer
    assert_served_images(answer["outputs"]["images"], reference([CAPTION], seed=4)["images"])


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
    ("empty caption", ":predict", {"instances": [CAPTION, "   "]}, 400, "empty caption"),
    ("no known word", ":predict", {"instances": [CAPTION, "Zebra giraffe"]}, 400,
     "captions[1]: no word of the caption is in the model's vocabulary"),
    ("too many words", ":predict", {"instances": ["the digit " * 9]}, 400, "--max_words"),
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
     f"Specific({NAME}, 9)"),
    ("version of 5,000 digits", "/versions/" + "9" * 5000 + ":predict",
     {"instances": [CAPTION]}, 404, f"Specific({NAME}, {'9' * 20}...)"),
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
    assert request(f"{base}/{NAME}/labels/stable")[0] == 404
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


async def _raw_request(url, suffix, head_only=False, drop=False, body=None):
    """A POST over a bare socket: its status, or None. head_only sends the headers and 10 of
    the 100 bytes they announce, then waits (a stalled upload); drop closes the connection
    after sending (the whole request, or with head_only the part)."""
    host, port = url.split("//")[1].split("/")[0].split(":")
    path = "/" + url.split("//")[1].split("/", 1)[1] + suffix
    reader, writer = await asyncio.open_connection(host, int(port))
    body = body or json.dumps({"instances": [CAPTION]}).encode()
    length = 100 if head_only else len(body)
    writer.write(f"POST {path} HTTP/1.1\r\nHost: {host}\r\nContent-Length: {length}\r\n"
                 f"Content-Type: application/json\r\n\r\n".encode() + body[:10 if head_only
                                                                        else None])
    await writer.drain()
    if drop:
        writer.close()
        return None
    try:
        line = await asyncio.wait_for(reader.readline(), 30)
    finally:
        writer.close()
    return int(line.split()[1])


def test_soak_bad_traffic_never_hurts_good_requests(server):
    # 300 requests from 8 concurrent clients, a third of them bad: every good one answered
    # 200 with its seed's images, every bad one its 4xx, never a 5xx, nothing in the log
    # but one line per slow or vanished client, and the server alive at the end.
    import aiohttp

    proc, url = server
    captions = [CAPTION, OTHER, "the digit 5 is at the bottom"]
    bad = [  # (suffix, raw body, expected status)
        (":predict", b'{"instances": [', 400),
        ("/versions/" + "7" * 5000 + ":predict", None, 404),
        ("/versions/0:predict", None, 404),
        ("x:predict", None, 404),
        (":predict", json.dumps({"instances": ["x" * 30000]}).encode(), 413),
        (":predict", json.dumps({"instances": ["zebras and giraffes"]}).encode(), 400),
        (":predict", json.dumps({"inputs": {"captions": [CAPTION] * 9}}).encode(), 400),
        (":predict", b"\xff\xfe", 400),
    ]
    seen, statuses, good_failures = {}, [], []

    async def good(session, i):
        caption, seed = captions[i % 3], i % 4
        body = {"inputs": {"captions": [caption], "seed": seed}}
        async with session.post(url + ":predict", json=body) as answer:
            statuses.append(answer.status)
            payload = await answer.json()
        if answer.status != 200:
            good_failures.append((i, answer.status, payload))
            return
        images = payload["outputs"]["images"]
        if seen.setdefault((caption, seed), images) != images:
            good_failures.append((i, "images differ"))

    async def refused(session, i):
        suffix, raw, code = bad[i % len(bad)]
        raw = raw or json.dumps({"instances": [CAPTION]}).encode()
        async with session.post(url + suffix, data=raw) as answer:
            statuses.append(answer.status)
            payload = await answer.json()
        assert answer.status == code and set(payload) == {"error"}, (suffix[:30], payload)

    async def soak():
        clients = asyncio.Semaphore(8)
        async with aiohttp.ClientSession() as session:
            async def one(i):
                async with clients:
                    kind = i % 12
                    if kind < 8:
                        await good(session, i)
                    elif kind < 10:
                        await refused(session, i // 12 * 2 + kind - 8)
                    elif kind == 10:  # a stalled upload: answered 408 after --body_timeout_s
                        statuses.append(await _raw_request(url, ":predict", head_only=True))
                        assert statuses[-1] == 408
                    else:  # a vanished client, mid-body or while its request waits
                        await _raw_request(url, ":predict", head_only=i // 12 % 2 == 0,
                                           drop=True)
            await asyncio.gather(*(one(i) for i in range(300)))

    start = time.monotonic()
    asyncio.run(soak())
    elapsed = time.monotonic() - start
    assert not good_failures, good_failures[:5]
    assert all(status < 500 for status in statuses), sorted(set(statuses))
    assert statuses.count(200) == 200 and 408 in statuses and elapsed < 30, elapsed
    assert proc.poll() is None and request(url)[0] == 200
    assert request(url + ":predict", {"instances": [CAPTION]})[0] == 200
    log = server_log(proc)
    assert "Traceback" not in log and "slow client" in log and "went away" in log


def test_sigint_stops_the_server_cleanly(server):
    proc, url = server
    proc.send_signal(signal.SIGINT)
    out, _ = proc.communicate(timeout=60)
    assert proc.returncode == 0, server_log(proc)[-3000:]
    assert "stopped" in out
    assert "Traceback" not in server_log(proc)
    with pytest.raises(urllib.error.URLError):
        urllib.request.urlopen(url, timeout=5)


def test_overload_is_429_and_503_and_sigterm_stops_the_server(export_dir):
    # Without warm-up the first call compiles for seconds: of 6 requests at once, 2 are
    # admitted (--max_queue=2) and pass their deadline (503), the others find the queue
    # full (429; or 503 if one comes after the first two gave up); both ask to retry. Once compiled, a request is answered in time.
    import concurrent.futures

    proc, url = start_server(export_dir, "--nowarmup", "--max_queue=2",
                             "--request_timeout_s=0.2")
    assert request(url)[0] == 200
    body = json.dumps({"instances": [CAPTION]}).encode()

    def predict(_):
        req = urllib.request.Request(url + ":predict", data=body)
        try:
            with urllib.request.urlopen(req, timeout=60) as answer:
                return answer.status, None, None
        except urllib.error.HTTPError as e:
            return e.code, e.headers.get("Retry-After"), json.loads(e.read())

    with concurrent.futures.ThreadPoolExecutor(6) as pool:
        answers = list(pool.map(predict, range(6)))
    statuses = sorted(status for status, _, _ in answers)
    assert set(statuses) == {429, 503} and statuses.count(503) >= 2, answers
    assert all(retry == "1" and set(error) == {"error"} for _, retry, error in answers)
    deadline = time.monotonic() + 120
    while predict(0)[0] != 200:
        assert time.monotonic() < deadline
        time.sleep(1)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=60)
    assert proc.returncode == 0, server_log(proc)[-3000:]
    log = server_log(proc)
    assert "Traceback" not in log and "(--request_timeout_s); answered 503" in log


def test_serve_errors_are_one_line(tmp_path):
    empty, both, unknown, classifier = run_batch(
        "t2i_tf.serve", [f"--export_dir={tmp_path}"],
        [f"--export_dir={tmp_path}", "--model=draw_mnist"], ["--model=no_such_model"],
        ["--model=mnist_digit_classifier"])
    assert_one_line_error(empty, "holds no version")
    assert_one_line_error(both, "export_dir", "model")
    assert_one_line_error(unknown, "no_such_model")
    # The digit classifier is no generative model (no config.json): --model says so in the
    # exporter's words and serves nothing. (The pixel models export: test_pixel_export.py.)
    assert_one_line_error(classifier, "config.json not found", "not a model folder")


# The codec alone, without a server.

def _signature():
    from t2i_tf.serving import rest_codec

    info = rest_codec.TensorInfo
    return rest_codec.Signature(
        "serving_default",
        {"captions": info("captions", object, (None,)), "seed": info("seed", np.int32, ()),
         "num_samples": info("num_samples", np.int32, ())},
        {"images": info("images", np.uint8, (None, 2))},
        {"seed": np.int32(0), "num_samples": np.int32(1)})


def test_codec_row_and_columnar_requests():
    from t2i_tf.serving import rest_codec

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
    from t2i_tf.serving import rest_codec

    outputs = {"images": np.zeros((2, 1), np.uint8), "attention": np.ones((2, 1), np.float32)}
    assert rest_codec.format_predict(outputs, row_format=True) == {"predictions": [
        {"attention": [1.0], "images": [0]}, {"attention": [1.0], "images": [0]}]}
    assert rest_codec.format_predict(outputs, row_format=False) == {"outputs": {
        "attention": [[1.0], [1.0]], "images": [[0], [0]]}}
    single = {"images": np.zeros((1, 2), np.uint8)}
    assert rest_codec.format_predict(single, True) == {"predictions": [[0, 0]]}
    assert rest_codec.format_predict(single, False) == {"outputs": [[0, 0]]}


# Property: any value of a validated flag is parsed into its range or refused by absl's
# flags.Error, which t2i_tf.cli prints as one line.

from hypothesis import given, settings, strategies as st  # noqa: E402

VALIDATED = {"max_batch": 4096, "max_words": 1024, "max_caption_chars": 1 << 20,
             "max_request_bytes": 1 << 30, "max_queue": 1 << 20, "request_timeout_s": 86400,
             "body_timeout_s": 86400, "port": 65535}
FLAG_VALUES = st.one_of(st.integers(-10, 10), st.integers(), st.floats(allow_nan=True),
                        st.text(max_size=12), st.sampled_from(["9" * 5000, "inf", "-0", "1e3"]))


@settings(max_examples=150, deadline=None)
@given(st.sampled_from(sorted(VALIDATED)), FLAG_VALUES)
def test_serve_flags_take_a_value_in_range_or_refuse_it(name, value):
    from absl import flags

    import t2i_tf.serve  # noqa: F401  (defines the flags)

    values = flags.FLAGS
    try:
        values(["serve", "--export_dir=x", f"--{name}={value}"])
    except flags.Error as e:
        assert str(e)
        return
    finally:
        parsed = values[name].value if values.is_parsed() else None
        values.unparse_flags()
    assert (0 <= parsed if name == "port" else 0 < parsed) and parsed <= VALIDATED[name]
    assert float(str(value)) == parsed
