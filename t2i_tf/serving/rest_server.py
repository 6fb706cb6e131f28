"""TF Serving's REST API for one exported model, on aiohttp, with TensorFlow's SavedModel
loader (no Keras model in the process).

  GET  /v1/models/NAME[/versions/N]             status  {"model_version_status": [...]}
  GET  /v1/models/NAME[/versions/N]/metadata    {"model_spec": ..., "metadata":
                                                 {"signature_def": {"signature_def": ...}}}
  POST /v1/models/NAME[/versions/N]:predict     rows or columns (t2i_tf/serving/rest_codec.py)

Errors are {"error": "..."}: 400 for a malformed or ill-typed request, a batch or caption
over the limits, a caption with no known word, or input the graph refuses; 404 for an
unknown model, version or path; 405 for a wrong method; 408 for a body that does not
arrive in time; 413 for a body over the size limit; 429 when the queue is full and 503
when a request waited past its deadline (both overload: retry later); 500 only for a bug.

The model runs in one worker thread, so the event loop keeps answering (status, metadata,
refusals) while it works, and calls to the model are serialized: on a CPU one call already
uses every core, and each request's images depend only on its own seed. The answer's JSON is
also built in that thread. At most Admission.max_queue predict requests wait for it or run;
a request whose deadline passes before the model takes it up is dropped.

The exported graph pads the rows of a call to a power of two and the words to a power of
two of at least 8 (t2i_tf/serving/saved_model.py), so XLA compiles once per bucket: warm_up runs
every bucket that the Limits admit before the server listens, and no request waits for a
compilation.
"""

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import os
import re
import time

import numpy as np
from aiohttp import web

from t2i_tf.data import caption_input
from t2i_tf.serving import rest_codec

SERVING_DEFAULT = "serving_default"
_PATH = re.compile(r"([^/:]+)(?:/versions/(\d+)|/labels/([^/:]+))?(/metadata|:[a-z]+)?")


class ServingError(Exception):
    """The export folder cannot be served (no version, unreadable SavedModel)."""


@dataclasses.dataclass(frozen=True)
class Limits:
    """What one predict request may ask for.

    max_batch: images (rows times num_samples) per request.
    max_caption_chars: characters per caption (after UTF-8 decoding).
    max_words: whitespace-separated words per caption, and columns of `ids`.
    """

    max_batch: int = 64
    max_caption_chars: int = 1000
    max_words: int = 64


@dataclasses.dataclass(frozen=True)
class Admission:
    """How the server keeps answering under load and with slow or vanishing clients.

    max_queue: predict requests at once (waiting for the model or running); the next is
      refused with 429.
    request_timeout_s: the most a predict request waits for the model and runs; past it the
      answer is 503, and the request is dropped if the model has not taken it up.
    body_timeout_s: the most a client may take to send its body; past it, 408.
    """

    max_queue: int = 32
    request_timeout_s: float = 30.0
    body_timeout_s: float = 10.0


# What the exported graph pads to (t2i_tf/serving/saved_model.py, _Generator).
MIN_LENGTH_BUCKET = 8


def row_buckets(max_rows):
    """The row counts the graph pads to for up to max_rows rows: 1, 2, 4, ... >= max_rows."""
    buckets = [1]
    while buckets[-1] < max_rows:
        buckets.append(2 * buckets[-1])
    return buckets


def length_buckets(max_words):
    """Caption lengths that reach every length bucket of up to max_words words: the multiples
    of 8 up to max_words rounded up (powers of two >= 8 in this project's exports; the
    multiples cover exports that pad to them)."""
    top = -(-max_words // MIN_LENGTH_BUCKET) * MIN_LENGTH_BUCKET
    return list(range(MIN_LENGTH_BUCKET, top + 1, MIN_LENGTH_BUCKET))


def find_versions(export_dir):
    """Version numbers under export_dir that hold a saved_model.pb, ascending."""
    try:
        names = os.listdir(export_dir)
    except OSError as e:
        raise ServingError(f"cannot read {export_dir}: {e.strerror}") from None
    return sorted(int(n) for n in names if n.isdigit()
                  and os.path.isfile(os.path.join(export_dir, n, "saved_model.pb")))


def _signature_defs(path):
    from tensorflow.core.protobuf import saved_model_pb2

    proto = saved_model_pb2.SavedModel()
    try:
        with open(os.path.join(path, "saved_model.pb"), "rb") as f:
            proto.ParseFromString(f.read())
    except Exception as e:  # noqa: BLE001  (protobuf raises its own DecodeError)
        raise ServingError(f"{path}/saved_model.pb is unreadable: {e}") from None
    for meta_graph in proto.meta_graphs:
        if "serve" in meta_graph.meta_info_def.tags:
            return meta_graph.signature_def
    raise ServingError(f"{path} has no MetaGraph tagged 'serve'")


def _tensor_info(name, proto):
    if proto.dtype not in rest_codec.DTYPES:
        raise ServingError(f"input or output {name} has an unsupported dtype ({proto.dtype})")
    shape = None
    if not proto.tensor_shape.unknown_rank:
        shape = tuple(None if d.size < 0 else d.size for d in proto.tensor_shape.dim)
    return rest_codec.TensorInfo(name, rest_codec.DTYPES[proto.dtype][1], shape)


class ServedModel:
    """The highest version of the SavedModels under export_dir (TF Serving's default policy),
    loaded with tf.saved_model.load.

    Attributes: version (int), signatures ({name: rest_codec.Signature}), signature_defs
    (the SignatureDef protos, for the metadata), vocabulary (the caption model's
    Vocabulary from assets.extra/vocabulary.json, or None), tokenize (caption -> tokens,
    the model's training tokenisation from assets.extra/text.json; captioned MNIST's
    whitespace split for an export without it).
    """

    def __init__(self, export_dir):
        import tensorflow as tf

        versions = find_versions(export_dir)
        if not versions:
            raise ServingError(f"{export_dir} holds no version (a folder N/ with "
                               "saved_model.pb); run python -m t2i_tf.export first")
        self.version = versions[-1]
        path = os.path.join(export_dir, str(self.version))
        self.signature_defs = _signature_defs(path)
        self.signatures = {}
        for key, sig in self.signature_defs.items():
            if key.startswith("__"):  # __saved_model_init_op
                continue
            self.signatures[key] = rest_codec.Signature(
                key,
                {k: _tensor_info(k, v) for k, v in sig.inputs.items()},
                {k: _tensor_info(k, v) for k, v in sig.outputs.items()},
                {k: tf.make_ndarray(v) for k, v in sig.defaults.items()})
        self.vocabulary = _read_vocabulary(path)
        self.tokenize = _read_tokenizer(path)
        self._loaded = tf.saved_model.load(path)
        self._functions = {k: self._loaded.signatures[k] for k in self.signatures}
        self._tf = tf

    def predict(self, signature_name, inputs):
        """{input: numpy} -> {output: numpy}; tf.errors.InvalidArgumentError for input the
        graph refuses."""
        tf = self._tf
        signature = self.signatures[signature_name]
        tensors = {k: tf.constant(v, dtype=tf.string if signature.inputs[k].is_string
                                  else tf.as_dtype(signature.inputs[k].dtype))
                   for k, v in inputs.items()}
        out = self._functions[signature_name](**tensors)
        return {k: v.numpy() for k, v in out.items()}

    def warm_up(self, limits=Limits()):
        """Runs serving_default once per shape bucket that `limits` admit (row_buckets up to
        limits.max_batch images, times length_buckets up to limits.max_words words), so XLA
        compiles them all before the first request. Returns the number of calls."""
        signature = self.signatures.get(SERVING_DEFAULT)
        if signature is None or not set(signature.inputs) <= set(signature.defaults) | {
                "captions"} or "num_samples" not in signature.inputs:
            return 0
        lengths = length_buckets(limits.max_words) if "captions" in signature.inputs else [0]
        calls = 0
        for rows in row_buckets(limits.max_batch):
            for words in lengths:
                inputs = dict(signature.defaults, num_samples=np.int32(rows))
                if words:
                    inputs["captions"] = np.array([" ".join(["the"] * words).encode()], object)
                self.predict(SERVING_DEFAULT, inputs)
                calls += 1
        return calls

    def metadata(self, name):
        """TF Serving's GetModelMetadata answer: the SignatureDefMap as proto3 JSON."""
        from google.protobuf import json_format

        signature_map = {key: json_format.MessageToDict(
            sig, preserving_proto_field_name=True, always_print_fields_with_no_presence=True)
            for key, sig in self.signature_defs.items()}
        return {
            "model_spec": {"name": name, "signature_name": "", "version": str(self.version)},
            "metadata": {"signature_def": {"signature_def": signature_map}},
        }


def _read_vocabulary(path):
    from t2i_tf.data.vocabulary import Vocabulary

    try:
        with open(os.path.join(path, "assets.extra", "vocabulary.json")) as f:
            return Vocabulary.from_json(f.read())
    except FileNotFoundError:
        return None  # an export without it: the graph alone checks captions
    except (OSError, ValueError) as e:
        raise ServingError(f"{path}/assets.extra/vocabulary.json is unreadable: {e}") from None


def _read_tokenizer(path):
    text_path = os.path.join(path, "assets.extra", "text.json")
    try:
        with open(text_path) as f:
            stored = f.read()
    except FileNotFoundError:
        return caption_input.tokenize
    except OSError as e:
        raise ServingError(f"{text_path} is unreadable: {e.strerror}") from None
    from t2i_tf.data import caption_text

    try:
        return caption_text.CaptionText.from_json(stored).tokenize
    except (ValueError, TypeError) as e:
        raise ServingError(f"{text_path} is not a valid text config: {e}") from None


def check_limits(request, limits, vocabulary=None, tokenize=caption_input.tokenize):
    """Refuses (RequestError) a request over the limits or with a caption that `sample`
    refuses (caption_input.caption_problem on the tokens of `tokenize`, the model's
    tokenisation: no word, too long, no word in `vocabulary`)."""
    inputs = request.signature.inputs
    rows = None
    for key, info in inputs.items():
        if info.batched:
            n = len(request.inputs[key])
            if rows is not None and n != rows:
                raise rest_codec.RequestError(f"batched inputs differ in length ({rows} and "
                                              f"{n} rows)")
            rows = n
    if rows == 0:
        raise rest_codec.RequestError("the request has no rows")
    samples = int(request.inputs["num_samples"]) if "num_samples" in inputs else 1
    if samples < 1:
        raise rest_codec.RequestError(f"num_samples must be >= 1, got {samples}")
    images = (rows or 1) * samples
    if images > limits.max_batch:
        raise rest_codec.RequestError(
            f"the request asks for {images} images ({rows or 1} rows x {samples} samples), "
            f"over this server's limit of {limits.max_batch} (--max_batch)")
    for key, info in inputs.items():
        value = request.inputs[key]
        if info.is_string and key == "captions":  # not a pixel model's method
            for i, raw in enumerate(np.ravel(value)):
                _check_caption(raw, f"{key}[{i}]", limits, vocabulary, tokenize)
        elif key == "ids" and value.ndim == 2 and value.shape[1] > limits.max_words:
            raise rest_codec.RequestError(f"ids has {value.shape[1]} columns, over the limit of "
                                          f"{limits.max_words} words (--max_words)")


def _check_caption(raw, where, limits, vocabulary, tokenize):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise rest_codec.RequestError(f"{where} is not UTF-8 text") from None
    problem = caption_input.caption_problem(text, tokenize(text), vocabulary,
                                            limits.max_caption_chars, limits.max_words)
    if problem and "over the limit" in problem:
        problem += " (--max_caption_chars, --max_words)"
    if problem:
        raise rest_codec.RequestError(f"{where}: {problem}")


def _error(status, message):
    return web.json_response({"error": message}, status=status)


def _overloaded(status, message):
    """429 or 503: the server is busy, the client may retry."""
    return web.json_response({"error": message}, status=status, headers={"Retry-After": "1"})


def _peer(request):
    return request.remote or "client"


class _Gone(Exception):
    """The client closed its connection before the answer."""


def _graph_message(error):
    """The readable part of a TensorFlow error: the assertion's text, or the first line."""
    text = getattr(error, "message", str(error))
    found = re.search(r"assertion failed: \[([^\]]*)\]", text)
    return found.group(1) if found else text.strip().splitlines()[0]


@web.middleware
async def _json_errors(request, handler):
    """Every refusal as {"error": ...}, aiohttp's own (404, 405, 413) included."""
    try:
        return await handler(request)
    except web.HTTPException as e:
        if e.status < 400:
            raise
        return _error(e.status, e.text if e.text and not e.text.startswith(f"{e.status}:")
                      else e.reason)
    except (_Gone, ConnectionError) as e:  # nobody reads the answer: one line in the log
        logging.getLogger("t2i_tf.serve").warning(
            "%s %s: the client went away (%s)", request.method, request.path,
            str(e) or type(e).__name__)
        return _error(400, "the client went away")
    except Exception as e:  # noqa: BLE001  (a bug: log it, answer, keep serving)
        logging.getLogger("t2i_tf.serve").exception("%s %s failed", request.method,
                                                   request.path)
        return _error(500, f"internal error: {type(e).__name__}")


class _Handlers:
    def __init__(self, model, model_name, limits, executor, admission=Admission(),
                 max_request_bytes=1 << 20):
        self.model = model
        self.name = model_name
        self.limits = limits
        self.executor = executor
        self.admission = admission
        self.max_request_bytes = max_request_bytes
        self.admitted = 0  # predict requests waiting for the model or running
        self.log = logging.getLogger("t2i_tf.serve")

    async def route(self, request):
        match = _PATH.fullmatch(request.match_info["path"])
        if not match:
            return _error(404, f"Malformed request: {request.method} {request.path}")
        name, version, label, tail = match.groups()
        if label is not None:
            return _error(404, "version labels are not supported here; use /versions/N")
        # Versions compare as digit strings: int() of thousands of digits raises.
        if name != self.name or (version is not None
                                 and (version.lstrip("0") or "0") != str(self.model.version)):
            if version is not None and len(version) > 20:
                version = version[:20] + "..."
            spec = f"Specific({name}, {version})" if version is not None else f"Latest({name})"
            return _error(404, f"Servable not found for request: {spec}")
        if tail is None or tail == "/metadata":
            if request.method != "GET":
                return _error(405, f"{request.method} not allowed here; use GET")
            if tail is None:
                return web.json_response({"model_version_status": [{
                    "version": str(self.model.version), "state": "AVAILABLE",
                    "status": {"error_code": "OK", "error_message": ""}}]})
            return web.json_response(self.model.metadata(self.name))
        if tail in (":classify", ":regress"):
            return _error(400, f"this server only predicts; {tail[1:]} is not supported")
        if tail != ":predict":
            return _error(404, f"Malformed request: {request.method} {request.path}")
        if request.method != "POST":
            return _error(405, f"{request.method} not allowed here; use POST")
        return await self.predict(request)

    async def predict(self, request):
        body = await self.read_body(request)
        if isinstance(body, web.Response):
            return body
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
            return _error(400, f"JSON Parse error: {e}")
        try:
            predict_request = rest_codec.parse_predict(parsed, self.model.signatures)
            check_limits(predict_request, self.limits, self.model.vocabulary,
                         self.model.tokenize)
        except rest_codec.RequestError as e:
            return _error(400, str(e))
        if self.admitted >= self.admission.max_queue:
            return _overloaded(429, f"the server is busy ({self.admitted} requests queued, "
                                    f"the limit of --max_queue); retry later")
        return await self.run_admitted(request, predict_request)

    async def read_body(self, request):
        """The request body, or the refusal (a web.Response) of one that is declared over
        the size limit or does not arrive within Admission.body_timeout_s; raises _Gone
        when the client hangs up."""
        if (request.content_length or 0) > self.max_request_bytes:
            return _error(413, f"the body of {request.content_length} bytes is over this "
                               f"server's limit of {self.max_request_bytes} "
                               "(--max_request_bytes)")
        timeout = self.admission.body_timeout_s
        try:
            return await asyncio.wait_for(request.read(), timeout)
        except TimeoutError:
            self.log.warning("%s: slow client, the body did not arrive within %g s "
                             "(--body_timeout_s); answered 408", _peer(request), timeout)
            return _error(408, f"the request body did not arrive within {timeout:g} s")
        except ConnectionError as e:
            raise _Gone(f"{_peer(request)} hung up while sending the body") from e

    async def run_admitted(self, request, predict_request):
        """Runs an admitted request in the model thread before its deadline; the answer."""
        loop = asyncio.get_running_loop()
        timeout = self.admission.request_timeout_s
        deadline = time.monotonic() + timeout
        self.admitted += 1
        try:
            answer = await asyncio.wait_for(loop.run_in_executor(
                self.executor, self._run_before, deadline, request.transport, predict_request),
                timeout)
        except (TimeoutError, _Expired):
            self.log.warning("%s: no answer within %g s (--request_timeout_s); answered 503",
                             _peer(request), timeout)
            return _overloaded(503, f"the server is overloaded: no answer within {timeout:g} "
                                    "s (--request_timeout_s); retry later")
        except rest_codec.RequestError as e:
            return _error(400, str(e))
        except _Gone:
            raise
        except Exception as e:  # noqa: BLE001
            import tensorflow as tf

            if isinstance(e, tf.errors.InvalidArgumentError):
                return _error(400, _graph_message(e))
            if isinstance(e, tf.errors.ResourceExhaustedError):
                return _overloaded(503, f"the server is out of memory: {_graph_message(e)}")
            self.log.exception("predict failed")
            return _error(500, f"{type(e).__name__}: {_graph_message(e)}")
        finally:
            self.admitted -= 1
        return web.Response(body=answer, content_type="application/json")

    def _run_before(self, deadline, transport, predict_request):
        """_run, unless the deadline has passed or the client has gone while it waited."""
        if time.monotonic() > deadline:
            raise _Expired()
        if transport is None or transport.is_closing():
            raise _Gone("the client hung up while its request waited")
        return self._run(predict_request)

    def _run(self, predict_request):
        """In the model thread: run the model and encode the answer (bytes)."""
        outputs = self.model.predict(predict_request.signature.name, predict_request.inputs)
        answer = rest_codec.format_predict(outputs, predict_request.row_format)
        return json.dumps(answer, separators=(",", ":")).encode()


class _Expired(Exception):
    """A request's deadline passed before the model took it up."""


def make_app(model, model_name, limits=Limits(), max_request_bytes=1 << 20,
             admission=Admission()):
    """The aiohttp application serving `model` (a ServedModel) as `model_name`."""
    executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="model")
    handlers = _Handlers(model, model_name, limits, executor, admission, max_request_bytes)
    app = web.Application(client_max_size=max_request_bytes, middlewares=[_json_errors])
    app.router.add_route("*", "/v1/models/{path:.*}", handlers.route)

    async def stop_executor(app):
        executor.shutdown(wait=True)

    app.on_cleanup.append(stop_executor)
    return app


async def serve(app, host, port, on_ready=print):
    """Serves `app` until SIGINT or SIGTERM, then stops accepting, lets the requests in
    flight finish and returns."""
    import signal

    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    await site.start()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    address = runner.addresses[0]
    on_ready(f"http://{address[0]}:{address[1]}")
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
