"""TF Serving's REST predict format <-> numpy arrays, checked against a signature.

https://www.tensorflow.org/tfx/serving/api_rest describes the two request formats:
  row       {"signature_name": "...", "instances": [instance, ...]}
            an instance is an object {input: value} or, when the signature has one batched
            input, that input's value; values are stacked along a new first axis
  columnar  {"signature_name": "...", "inputs": {input: value} or value}
and the answers {"predictions": [row, ...]} (row format; a row is an object {output:
value}, or the bare value when there is one output) and {"outputs": {output: value}}
(columnar; the bare value when there is one output). Strings may be sent as {"b64": "..."}.

Two liberties, both for scalar inputs (rank 0, like num_samples and seed): in the row
format an instance may carry them, and every instance that does must give the same value;
and an input left out takes the default that the SignatureDef stores (TF Serving 2.x does
the same for signatures with defaults).

Everything here is plain Python and numpy: no TensorFlow, no web framework. Bad input
raises RequestError, whose message is the {"error": ...} of a 400 answer.
"""

import base64
import binascii
import dataclasses

import numpy as np


class RequestError(ValueError):
    """A request that does not fit the API or the signature (HTTP 400)."""


# DataType enum values of tensorflow/core/framework/types.proto that signatures here use.
DTYPES = {1: ("DT_FLOAT", np.float32), 2: ("DT_DOUBLE", np.float64), 3: ("DT_INT32", np.int32),
          4: ("DT_UINT8", np.uint8), 7: ("DT_STRING", object), 9: ("DT_INT64", np.int64),
          10: ("DT_BOOL", np.bool_)}


@dataclasses.dataclass(frozen=True)
class TensorInfo:
    """One input or output of a signature: numpy dtype ("object" for strings) and shape
    (None for an unknown dimension; shape None for an unknown rank)."""

    name: str
    dtype: object
    shape: tuple | None

    @property
    def is_string(self):
        return self.dtype is object

    @property
    def batched(self):
        """True if the first axis is the batch: rank >= 1 and a free first dimension."""
        return bool(self.shape) and self.shape[0] is None


@dataclasses.dataclass(frozen=True)
class Signature:
    name: str
    inputs: dict  # name -> TensorInfo
    outputs: dict  # name -> TensorInfo
    defaults: dict  # input name -> numpy value


@dataclasses.dataclass(frozen=True)
class PredictRequest:
    signature: Signature
    inputs: dict  # name -> numpy array, every input of the signature
    row_format: bool


def _check_int(value, dtype, where):
    if isinstance(value, bool) or not isinstance(value, int):
        raise RequestError(f"{where}: expected an integer, got {_json_type(value)}")
    info = np.iinfo(dtype)
    if not info.min <= value <= info.max:
        raise RequestError(f"{where}: {value} is outside the range of {np.dtype(dtype).name}")
    return value


def _leaf(value, info, where):
    """One element of a tensor, checked against the input's dtype."""
    if info.is_string:
        if isinstance(value, dict):
            if set(value) != {"b64"} or not isinstance(value["b64"], str):
                raise RequestError(f"{where}: a binary value is {{\"b64\": \"...\"}}")
            try:
                return base64.b64decode(value["b64"], validate=True)
            except (binascii.Error, ValueError):
                raise RequestError(f"{where}: invalid base64") from None
        if not isinstance(value, str):
            raise RequestError(f"{where}: expected a string, got {_json_type(value)}")
        try:
            return value.encode("utf-8")
        except UnicodeEncodeError:
            raise RequestError(f"{where}: not valid Unicode (a lone surrogate)") from None
    if info.dtype is np.bool_:
        if not isinstance(value, bool):
            raise RequestError(f"{where}: expected true or false, got {_json_type(value)}")
        return value
    if np.issubdtype(info.dtype, np.integer):
        return _check_int(value, info.dtype, where)
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise RequestError(f"{where}: expected a number, got {_json_type(value)}")
    return value


def _json_type(value):
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean",
            int: "an integer", float: "a number", type(None): "null"}.get(type(value), "?")


def to_array(value, info, where):
    """A JSON value (nested lists of leaves) -> numpy array of the input's dtype.

    Raises RequestError for a wrong type, a ragged list or a shape the signature refuses.
    """
    shape = []
    probe = value
    while isinstance(probe, list):
        shape.append(len(probe))
        if not probe:
            break
        probe = probe[0]
    if info.shape is not None and len(shape) != len(info.shape):
        raise RequestError(f"{where}: expected a tensor of rank {len(info.shape)} "
                           f"(shape {_shape_text(info.shape)}), got {len(shape)} nested lists")
    flat = []

    def walk(v, depth, path):
        if depth == len(shape):
            if isinstance(v, list):
                raise RequestError(f"{where}{path}: lists nest unevenly")
            flat.append(_leaf(v, info, f"{where}{path}"))
            return
        if not isinstance(v, list) or len(v) != shape[depth]:
            raise RequestError(f"{where}{path}: lists of unequal length (a ragged tensor)")
        for i, item in enumerate(v):
            walk(item, depth + 1, f"{path}[{i}]")

    walk(value, 0, "")
    array = np.empty(len(flat), dtype=info.dtype) if info.is_string else None
    if info.is_string:
        array[:] = flat
    else:
        array = np.asarray(flat, dtype=info.dtype)
    array = array.reshape(shape)
    _check_shape(array, info, where)
    return array


def _check_shape(array, info, where):
    if info.shape is None:
        return
    if array.ndim != len(info.shape):
        raise RequestError(f"{where}: expected a tensor of rank {len(info.shape)} "
                           f"(shape {_shape_text(info.shape)}), got shape {list(array.shape)}")
    for got, want in zip(array.shape, info.shape):
        if want is not None and got != want:
            raise RequestError(f"{where}: expected shape {_shape_text(info.shape)}, "
                               f"got {list(array.shape)}")


def _shape_text(shape):
    return "[" + ", ".join("-1" if d is None else str(d) for d in shape) + "]"


def parse_predict(body, signatures, default_signature="serving_default"):
    """A parsed JSON request body -> PredictRequest.

    Args:
      body: the decoded JSON (any type: it is checked here).
      signatures: {name: Signature} of the model.
    """
    if not isinstance(body, dict):
        raise RequestError("the request body must be a JSON object")
    name = body.get("signature_name", default_signature)
    if not isinstance(name, str):
        raise RequestError("signature_name must be a string")
    if name not in signatures:
        raise RequestError(f"Serving signature name: \"{name}\" not found in signature def; "
                           f"the model has: {', '.join(sorted(signatures))}")
    signature = signatures[name]
    unknown = set(body) - {"signature_name", "instances", "inputs"}
    if unknown:
        raise RequestError(f"unknown request keys: {', '.join(sorted(unknown))}")
    if ("instances" in body) == ("inputs" in body):
        raise RequestError("a request has exactly one of \"instances\" (row format) and "
                           "\"inputs\" (columnar format)")
    if "instances" in body:
        values = _from_rows(body["instances"], signature)
    else:
        values = _from_columns(body["inputs"], signature)
    inputs = {}
    for key, info in signature.inputs.items():
        if key in values:
            inputs[key] = to_array(values[key], info, key) if not isinstance(
                values[key], np.ndarray) else values[key]
        elif key in signature.defaults:
            inputs[key] = signature.defaults[key]
        else:
            raise RequestError(f"missing input {key!r} (it has no default)")
    return PredictRequest(signature, inputs, "instances" in body)


def _batched_inputs(signature):
    return [key for key, info in signature.inputs.items() if info.batched]


def _from_rows(instances, signature):
    if not isinstance(instances, list) or not instances:
        raise RequestError("\"instances\" must be a non-empty list")
    batched = _batched_inputs(signature)
    objects = [isinstance(x, dict) and not (set(x) == {"b64"}) for x in instances]
    if any(objects) and not all(objects):
        raise RequestError("instances mix objects and bare values")
    if not objects[0]:
        if len(batched) != 1:
            raise RequestError(f"bare instances need a signature with one batched input; "
                               f"this one takes {', '.join(sorted(signature.inputs))}: send "
                               "objects")
        instances = [{batched[0]: x} for x in instances]
    values = {}
    for i, instance in enumerate(instances):
        unknown = set(instance) - set(signature.inputs)
        if unknown:
            raise RequestError(f"instances[{i}] has unknown inputs: "
                               f"{', '.join(sorted(unknown))}")
    for key, info in signature.inputs.items():
        given = [(i, x[key]) for i, x in enumerate(instances) if key in x]
        if not given:
            continue
        if info.batched:
            if len(given) != len(instances):
                missing = next(i for i, x in enumerate(instances) if key not in x)
                raise RequestError(f"instances[{missing}] lacks input {key!r}")
            row = TensorInfo(key, info.dtype, info.shape[1:])
            arrays = [to_array(v, row, f"instances[{i}].{key}") for i, v in given]
            if len({a.shape for a in arrays}) > 1:
                raise RequestError(f"instances give {key} of different shapes; pad them to "
                                   "one shape (or use the columnar format)")
            values[key] = np.stack(arrays)
        else:
            arrays = [to_array(v, info, f"instances[{i}].{key}") for i, v in given]
            if any(not np.array_equal(a, arrays[0]) for a in arrays[1:]):
                raise RequestError(f"{key} is one value for the whole request (a scalar of "
                                   "the signature): instances that give it must agree")
            values[key] = arrays[0]
    return values


def _from_columns(inputs, signature):
    if isinstance(inputs, dict) and not set(inputs) == {"b64"}:
        unknown = set(inputs) - set(signature.inputs)
        if unknown:
            raise RequestError(f"unknown inputs: {', '.join(sorted(unknown))}; the signature "
                               f"takes {', '.join(sorted(signature.inputs))}")
        return dict(inputs)
    batched = _batched_inputs(signature)
    if len(batched) != 1:
        raise RequestError("a bare \"inputs\" value needs a signature with one batched input; "
                           "send an object of named inputs")
    return {batched[0]: inputs}


def _jsonable(array):
    if array.dtype == object:  # strings: text if UTF-8, else base64 as TF Serving does
        def text(b):
            try:
                return b.decode("utf-8")
            except UnicodeDecodeError:
                return {"b64": base64.b64encode(b).decode("ascii")}
        return np.vectorize(text, otypes=[object])(array).tolist()
    return array.tolist()


def format_predict(outputs, row_format):
    """{name: numpy array} -> the JSON-ready answer of TF Serving's predict."""
    names = sorted(outputs)
    if not row_format:
        if len(names) == 1:
            return {"outputs": _jsonable(outputs[names[0]])}
        return {"outputs": {k: _jsonable(outputs[k]) for k in names}}
    rows = {len(outputs[k]) for k in names if outputs[k].ndim}
    if len(rows) != 1 or any(outputs[k].ndim == 0 for k in names):
        raise RequestError("outputs of unequal batch size cannot be returned as rows; "
                           "use the columnar format")
    listed = {k: _jsonable(outputs[k]) for k in names}
    if len(names) == 1:
        return {"predictions": listed[names[0]]}
    return {"predictions": [{k: listed[k][i] for k in names} for i in range(rows.pop())]}
