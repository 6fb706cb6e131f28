"""Every shipped model (models/NAME) loads its weights and draws, with fixed inputs, the
numbers stored in tests/data/shipped_outputs.npz: a guard that code moves and refactors
change no model's behaviour. Floats agree to a relative 1e-5 (another CPU's BLAS kernels
may round sums differently), everything else exactly.

DRAW models draw from fixed NumPy noise and score their own drawings (the variational bound's
terms); the pixel models score fixed images (exact -log p(x | y)) and draw the first PIXELS
pixels for two captions, greedily and with beam search of width 2. The stored values belong
to the Keras backend that wrote them (the file says which); on another backend the test is
skipped. The outputs are computed in a subprocess on Keras's NumPy backend (the backend of
`sample`, and the fastest one for these few small calls: seconds, where TensorFlow's eager
ops take a minute). To write them anew, on purpose only (a model re-shipped):

  KERAS_BACKEND=numpy PYTHONPATH=. python tests/test_shipped_models.py --write
"""

import hashlib
import os
import subprocess
import sys

import keras
import numpy as np
import pytest

from t2i_tf.data import captioned_mnist
from t2i_tf.sampling import step_samplers
from t2i_tf.training import checkpoint

SHIPPED = ("draw_mnist", "draw_mnist_noattn", "aligndraw_mnist_captions",
           "noaligndraw_mnist_captions", "alignpixelrnn_mnist_captions",
           "alignpixelrnn_mnist_captions_8bit")
CAPTIONS = ("the digit 3 is at the top of the digit 1 .",
            "the digit 7 is on the left of the image .")
HERE = os.path.dirname(os.path.abspath(__file__))
REFERENCE = os.path.join(HERE, "data", "shipped_outputs.npz")
BACKEND = "numpy"
DRAWN = 3  # images drawn by a DRAW model without captions
PIXELS = 16  # the first pixels a pixel model draws (greedy, beam of width 2)


def weights_digest(model):
    """sha256 of every weight's path and bytes, in the model's variable order."""
    digest = hashlib.sha256()
    for v in model.weights:
        digest.update(v.path.split("/", 1)[-1].encode())
        digest.update(np.ascontiguousarray(keras.ops.convert_to_numpy(v.value)).tobytes())
    return digest.hexdigest()


def caption_batch():
    vocabulary = captioned_mnist.VOCABULARY
    return vocabulary.pad_batch([vocabulary.encode(captioned_mnist.tokenize(c))
                                 for c in CAPTIONS], length=captioned_mnist.CAPTION_LENGTH)


def to_numpy(x):
    return np.asarray(keras.ops.convert_to_numpy(x))


def numpy(tree):
    return {k: to_numpy(v) for k, v in tree.items()}


def outputs(name):
    """{key: array} of one shipped model with fixed inputs; keys are prefixed by `name`."""
    model = checkpoint.load_model(name)
    out = {"weights_sha256": np.asarray(weights_digest(model))}
    ids, mask = caption_batch()
    if model.registry_name in ("draw", "align_draw"):
        rows = DRAWN if model.registry_name == "draw" else len(ids)
        eps = np.random.default_rng(0).standard_normal(
            (model.steps, rows, model.z_dim)).astype(np.float32)
        if model.registry_name == "draw":
            drawn = numpy(model.generate(0.5 * eps))
        else:
            drawn = numpy(model.generate(ids, mask, 0.5 * eps))
        images = (drawn["canvases"][-1] > 0.5).astype(np.float32)
        if model.registry_name == "draw":
            terms = numpy(model.loss_terms(images, eps))
        else:
            terms = numpy(model.loss_terms(images, ids, mask, eps))
        drawn["canvases"] = drawn["canvases"][-1]  # the final canvas
        out.update({f"drawn_{k}": v for k, v in drawn.items()})
        out.update({f"terms_{k}": v for k, v in terms.items()})
    else:
        images = np.random.default_rng(0).integers(0, model.levels, (len(ids),
                                                                     *model.image_shape))
        out["nll"] = to_numpy(model.nll(images, ids, mask))
        state, start = model.generation_state(ids, mask), model.start_token
        tokens, score = step_samplers.greedy(model.next_pixel, state, PIXELS, start)
        out.update(greedy_tokens=to_numpy(tokens), greedy_score=to_numpy(score))
        tokens, score = step_samplers.beam_search(model.next_pixel, state, PIXELS, start, 2)
        out.update(beam_tokens=to_numpy(tokens), beam_score=to_numpy(score))
    return {f"{name}/{k}": v for k, v in out.items()}


def read(path):
    with np.load(path) as data:
        return {k: data[k] for k in data.files}


@pytest.fixture(scope="module")
def reference():
    stored = read(REFERENCE)
    assert str(stored.pop("backend")) == BACKEND
    return stored


@pytest.fixture(scope="module")
def computed(tmp_path_factory):
    """Every shipped model's outputs, computed now on the NumPy backend."""
    path = tmp_path_factory.mktemp("shipped") / "outputs.npz"
    root = os.path.dirname(HERE)
    env = dict(os.environ, KERAS_BACKEND=BACKEND,
               PYTHONPATH=os.pathsep.join(filter(None, [root, os.environ.get("PYTHONPATH")])))
    p = subprocess.run([sys.executable, os.path.abspath(__file__), "--write", str(path)],
                       cwd=root, env=env, capture_output=True, text=True, timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    out = read(path)
    assert str(out.pop("backend")) == BACKEND
    return out


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_model_draws_as_stored(name, reference, computed):
    got = {k: v for k, v in computed.items() if k.startswith(name + "/")}
    expected = {k: v for k, v in reference.items() if k.startswith(name + "/")}
    assert sorted(got) == sorted(expected)
    assert str(got[f"{name}/weights_sha256"]) == str(expected[f"{name}/weights_sha256"])
    for key in sorted(expected):
        if np.issubdtype(expected[key].dtype, np.floating):
            # Float sums may round differently on another CPU's BLAS kernels (the stored
            # values come from one machine); a change of behaviour moves them far more.
            np.testing.assert_allclose(got[key], expected[key], rtol=1e-5, atol=1e-5,
                                       err_msg=key)
        else:  # drawn pixels, digests: exactly
            np.testing.assert_array_equal(got[key], expected[key], err_msg=key)


def test_every_shipped_model_is_guarded():
    shipped = {d for d in os.listdir(checkpoint.SHIPPED_MODELS_DIR)
               if os.path.exists(os.path.join(checkpoint.SHIPPED_MODELS_DIR, d,
                                              checkpoint.CONFIG))}
    assert shipped - {"mnist_digit_classifier"} == set(SHIPPED)


if __name__ == "__main__":
    if sys.argv[1:2] != ["--write"] or len(sys.argv) > 3:
        sys.exit(__doc__)
    target = sys.argv[2] if len(sys.argv) == 3 else REFERENCE
    if keras.backend.backend() != BACKEND:
        sys.exit(f"run it with KERAS_BACKEND={BACKEND}")
    np.seterr(over="ignore")  # NumPy's sigmoid of a far negative canvas: exp overflows, 0 is right
    arrays = {"backend": np.asarray(keras.backend.backend())}
    for model_name in SHIPPED:
        arrays.update(outputs(model_name))
    os.makedirs(os.path.dirname(os.path.abspath(target)), exist_ok=True)
    np.savez_compressed(target, **arrays)
    print(target, f"{os.path.getsize(target):,} bytes")
