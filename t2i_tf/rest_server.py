"""TF Serving's REST API for one exported model, on aiohttp, with TensorFlow's SavedModel
loader (no Keras model in the process).

  GET  /v1/models/NAME[/versions/N]             status  {"model_version_status": [...]}
  GET  /v1/models/NAME[/versions/N]/metadata    {"model_spec": ..., "metadata":
                                                 {"signature_def": {"signature_def": ...}}}
  POST /v1/models/NAME[/versions/N]:predict     row or columnar format (t2i_tf/rest_codec.py)

Errors are {"error": "..."}: 400 for a malformed or ill-typed request, a batch or caption
over the limits, or input the graph refuses; 404 for an unknown model, version or path;
405 for a wrong method; 413 for a body over the size limit; 500 only for a bug.

The model runs in one worker thread, so the event loop keeps answering (status, metadata,
refusals) while it works, and calls to the model are serialized: on a CPU one call already
uses every core, and each request's images depend only on its own seed. The answer's JSON is
also built in that thread.
"""

import asyncio
import concurrent.futures
import dataclasses
import json
import logging
import os
import re

import numpy as np
from aiohttp import web

from t2i_tf import rest_codec

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
    (the SignatureDef protos, for the metadata).
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

    def warm_up(self):
        """Runs serving_default on small inputs, so XLA compiles the common shapes (one
        caption of up to 8 and of up to 16 words) before the first request."""
        signature = self.signatures.get(SERVING_DEFAULT)
        if signature is None:
            return
        if "captions" in signature.inputs:
            for words in (1, 9):
                inputs = dict(signature.defaults)
                inputs["captions"] = np.array([" ".join(["the"] * words).encode()], object)
                self.predict(SERVING_DEFAULT, inputs)
        elif set(signature.defaults) == set(signature.inputs):
            self.predict(SERVING_DEFAULT, dict(signature.defaults))

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


def check_limits(request, limits):
    """Refuses (RequestError) a request over the limits or with captions that have no word."""
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
        if info.is_string:
            for i, raw in enumerate(np.ravel(value)):
                _check_caption(raw, f"{key}[{i}]", limits)
        elif key == "ids" and value.ndim == 2 and value.shape[1] > limits.max_words:
            raise rest_codec.RequestError(f"ids has {value.shape[1]} columns, over the limit of "
                                          f"{limits.max_words} words (--max_words)")


def _check_caption(raw, where, limits):
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise rest_codec.RequestError(f"{where} is not UTF-8 text") from None
    if len(text) > limits.max_caption_chars:
        raise rest_codec.RequestError(f"{where} has {len(text)} characters, over the limit of "
                                      f"{limits.max_caption_chars} (--max_caption_chars)")
    words = len(text.split())
    if words == 0:
        raise rest_codec.RequestError(f"{where} has no word")
    if words > limits.max_words:
        raise rest_codec.RequestError(f"{where} has {words} words, over the limit of "
                                      f"{limits.max_words} (--max_words)")


def _error(status, message):
    return web.json_response({"error": message}, status=status)


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
    except Exception as e:  # noqa: BLE001  (a bug: log it, answer, keep serving)
        logging.getLogger("t2i_tf.serve").exception("%s %s failed", request.method,
                                                   request.path)
        return _error(500, f"internal error: {type(e).__name__}")


class _Handlers:
    def __init__(self, model, model_name, limits, executor):
        self.model = model
        self.name = model_name
        self.limits = limits
        self.executor = executor
        self.log = logging.getLogger("t2i_tf.serve")

    async def route(self, request):
        match = _PATH.fullmatch(request.match_info["path"])
        if not match:
            return _error(404, f"Malformed request: {request.method} {request.path}")
        name, version, label, tail = match.groups()
        if label is not None:
            return _error(404, "version labels are not supported here; use /versions/N")
        if name != self.name or (version is not None and int(version) != self.model.version):
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
        body = await request.read()
        try:
            parsed = json.loads(body)
        except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
            return _error(400, f"JSON Parse error: {e}")
        try:
            predict_request = rest_codec.parse_predict(parsed, self.model.signatures)
            check_limits(predict_request, self.limits)
        except rest_codec.RequestError as e:
            return _error(400, str(e))
        loop = asyncio.get_running_loop()
        try:
            answer = await loop.run_in_executor(self.executor, self._run, predict_request)
        except rest_codec.RequestError as e:
            return _error(400, str(e))
        except Exception as e:  # noqa: BLE001
            import tensorflow as tf

            if isinstance(e, tf.errors.InvalidArgumentError):
                return _error(400, _graph_message(e))
            self.log.exception("predict failed")
            return _error(500, f"{type(e).__name__}: {_graph_message(e)}")
        return web.Response(body=answer, content_type="application/json")

    def _run(self, predict_request):
        """In the model thread: run the model and encode the answer (bytes)."""
        outputs = self.model.predict(predict_request.signature.name, predict_request.inputs)
        answer = rest_codec.format_predict(outputs, predict_request.row_format)
        return json.dumps(answer, separators=(",", ":")).encode()


def make_app(model, model_name, limits=Limits(), max_request_bytes=1 << 20):
    """The aiohttp application serving `model` (a ServedModel) as `model_name`."""
    executor = concurrent.futures.ThreadPoolExecutor(1, thread_name_prefix="model")
    handlers = _Handlers(model, model_name, limits, executor)
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
