"""Properties of the REST request path without a server or TensorFlow: any JSON body is
either a PredictRequest that fits the signature or the codec's RequestError (then the
server's limit checks likewise), never another exception. The signatures are those of an
exported alignDRAW (t2i_tf/serving/saved_model.py)."""

import json

import numpy as np
from hypothesis import given, settings, strategies as st

from t2i_tf.data.captioned_mnist import VOCABULARY
from t2i_tf.serving import rest_codec, rest_server

INFO = rest_codec.TensorInfo
SCALARS = {"num_samples": INFO("num_samples", np.int32, ()), "seed": INFO("seed", np.int32, ())}
DEFAULTS = {"num_samples": np.int32(1), "seed": np.int32(0)}
IMAGES = {"images": INFO("images", np.uint8, (None, 60, 60)),
          "attention": INFO("attention", np.float32, (None, 32, None))}
SIGNATURES = {
    "serving_default": rest_codec.Signature(
        "serving_default", {"captions": INFO("captions", object, (None,)), **SCALARS},
        IMAGES, DEFAULTS),
    "from_ids": rest_codec.Signature(
        "from_ids", {"ids": INFO("ids", np.int32, (None, None)),
                     "mask": INFO("mask", np.bool_, (None, None)), **SCALARS},
        IMAGES, DEFAULTS),
}
LIMITS = rest_server.Limits(max_batch=8, max_caption_chars=100, max_words=16)

LEAVES = st.one_of(st.none(), st.booleans(), st.integers(-2 ** 40, 2 ** 40),
                   st.floats(allow_nan=True), st.text(max_size=30),
                   st.sampled_from(["the digit 3", "zebra", "", "  "]),
                   st.builds(lambda s: {"b64": s}, st.sampled_from(["dGhlIDM=", "!!", "", "Zg"])))
JSON = st.recursive(LEAVES, lambda inner: st.one_of(
    st.lists(inner, max_size=4),
    st.dictionaries(st.sampled_from(["captions", "ids", "mask", "seed", "num_samples", "b64",
                                     "x"]), inner, max_size=4)), max_leaves=20)
# Near-valid bodies too, so that many reach the limit checks: captions of known and unknown
# words, small ints, ids and masks of (possibly ragged) lists.
CAPTION = st.one_of(st.text(max_size=40), st.lists(st.sampled_from(
    VOCABULARY.words[:20] + ["zebra", ""]), max_size=20).map(" ".join))
INT = st.one_of(st.integers(-3, 10), LEAVES)
ROW = st.lists(st.one_of(st.integers(-1, len(VOCABULARY) + 1), LEAVES), max_size=5)
INSTANCES = st.lists(st.one_of(CAPTION, st.fixed_dictionaries(
    {"captions": st.one_of(CAPTION, LEAVES)}, optional={"seed": INT, "num_samples": INT})),
    max_size=5)
COLUMNS = st.one_of(
    st.fixed_dictionaries({"captions": st.lists(CAPTION, max_size=5)},
                          optional={"seed": INT, "num_samples": INT}),
    st.fixed_dictionaries({"ids": st.lists(ROW, max_size=4),
                           "mask": st.lists(st.lists(st.booleans(), max_size=5), max_size=4)},
                          optional={"seed": INT, "num_samples": INT}))
NAME = st.sampled_from(["serving_default", "from_ids", "nope", 3])
BODIES = st.one_of(
    JSON,
    st.fixed_dictionaries({}, optional={"signature_name": NAME, "instances": JSON,
                                        "inputs": JSON}),
    st.fixed_dictionaries({"instances": INSTANCES}, optional={"signature_name": NAME}),
    st.fixed_dictionaries({"inputs": COLUMNS}, optional={"signature_name": NAME}),
)


def _check_decoded(decoded):
    for key, info in decoded.signature.inputs.items():
        array = np.asarray(decoded.inputs[key])
        assert array.dtype == np.dtype(info.dtype)
        assert array.ndim == len(info.shape)
        if info.is_string:
            assert all(isinstance(b, bytes) for b in array.ravel())


@settings(max_examples=120, deadline=None)
@given(BODIES)
def test_any_json_body_is_decoded_or_refused_with_request_error(body):
    body = json.loads(json.dumps(body))  # what the server's json.loads hands over
    try:
        decoded = rest_codec.parse_predict(body, SIGNATURES)
    except rest_codec.RequestError as e:
        assert str(e)
        return
    _check_decoded(decoded)
    try:
        rest_server.check_limits(decoded, LIMITS, VOCABULARY)
    except rest_codec.RequestError as e:
        assert str(e)
        return
    rows = len(next(iter(v for k, v in decoded.inputs.items()
                         if decoded.signature.inputs[k].batched)))
    assert 0 < rows * int(decoded.inputs["num_samples"]) <= LIMITS.max_batch


@settings(max_examples=100, deadline=None)
@given(st.lists(st.text(max_size=40), min_size=1, max_size=4), st.integers(-5, 12),
       st.integers(-2 ** 31, 2 ** 31 - 1))
def test_caption_requests_pass_the_limits_exactly_when_sample_would_draw_them(
        captions, samples, seed):
    from t2i_tf.data import caption_input

    body = {"inputs": {"captions": captions, "num_samples": samples, "seed": seed}}
    decoded = rest_codec.parse_predict(body, SIGNATURES)
    problems = [caption_input.caption_problem(c, caption_input.tokenize(c), VOCABULARY,
                                              LIMITS.max_caption_chars, LIMITS.max_words)
                for c in captions]
    fits = 1 <= samples and len(captions) * samples <= LIMITS.max_batch
    try:
        rest_server.check_limits(decoded, LIMITS, VOCABULARY)
        assert fits and not any(problems)
    except rest_codec.RequestError:
        assert not fits or any(problems)
