"""The same DRAW and alignDRAW code on the TensorFlow, JAX and NumPy backends (NumPy is
inference only: `sample` uses it by default; it does not train).

Keras fixes its backend per process, so each backend runs in a subprocess: it loads the
same model folders (written here with t2i_tf.training.checkpoint.save_model), evaluates them on the
same x and eps, takes the gradients of the mean loss, runs one training step, and prints
the results as JSON. The gradients of the "align" variant cover the rematerialised
Bahdanau scores, which only the JAX backend uses (t2i_tf/layers/alignment.py).
"""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from t2i_tf.models.align_draw import AlignDraw
from t2i_tf.models.draw import Draw
from t2i_tf.training import checkpoint

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BACKENDS = ("tensorflow", "jax", "numpy")
TRAINING_BACKENDS = ("tensorflow", "jax")
VARIANTS = ("attn", "noattn", "align", "noalign")
CAPTIONED = ("align", "noalign")
IMAGE, STEPS, Z, BATCH = (12, 10), 3, 4, 4

SCRIPT = r"""
import json, sys
import numpy as np
import keras
from keras import ops
from t2i_tf.training import checkpoint

folder = sys.argv[1]
data = np.load(folder + "/inputs.npz")
x, eps, ids, mask = data["x"], data["eps"], data["ids"], data["mask"]
out = {"backend": keras.backend.backend()}


def loss_gradients(model, args, eps):  # d mean(total) / d trainable weights, noise given
    weights = model.trainable_weights
    loss = lambda: ops.mean(model.loss_terms(*args, eps)["total"])
    if out["backend"] == "tensorflow":
        import tensorflow as tf
        with tf.GradientTape() as tape:
            value = loss()
        return tape.gradient(value, [v.value for v in weights])
    import jax

    def pure(values):
        with keras.StatelessScope(state_mapping=list(zip(weights, values))):
            return loss()

    return jax.grad(pure)([v.value for v in weights])


for variant in ("attn", "noattn", "align", "noalign"):
    model = checkpoint.load_model(folder + "/" + variant)
    captioned = variant in ("align", "noalign")
    args = (x, ids, mask) if captioned else (x,)
    to_list = lambda t: np.asarray(ops.convert_to_numpy(t), np.float64).tolist()
    result = {k: to_list(v) for k, v in model.loss_terms(*args, eps).items()}
    result["log_w"] = to_list(model.log_importance_weight(*args, eps))
    generated = model.generate(*args[1:], eps)
    if captioned:
        result["alpha"] = to_list(generated["alpha"])
    result["canvases"] = to_list(generated["canvases"])
    result["windows"] = to_list(generated["windows"])
    if out["backend"] == "numpy":  # inference only
        out[variant] = result
        continue
    result["gradients"] = [to_list(g) for g in loss_gradients(model, args, eps)]
    before = [np.array(v) for v in model.trainable_weights]
    model.compile(optimizer=keras.optimizers.Adam(1e-3))
    inputs = {"images": x, "ids": ids, "mask": mask} if captioned else x
    history = model.fit(inputs, batch_size=len(x), epochs=1, verbose=0)
    result["train_loss"] = [float(v) for v in history.history["loss"]]
    result["steps"] = int(ops.convert_to_numpy(model.optimizer.iterations))
    result["changed"] = sum(
        int(not np.array_equal(b, np.array(v))) for b, v in zip(before, model.trainable_weights))
    result["n_trainable"] = len(before)
    out[variant] = result
print("RESULT:" + json.dumps(out))
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    folder = tmp_path_factory.mktemp("backends")
    rng = np.random.default_rng(0)
    for variant in VARIANTS:
        common = dict(image_shape=IMAGE, steps=STEPS, enc_units=16, dec_units=16, z_dim=Z,
                      read_n=2, write_n=3, seed=0)
        if variant in CAPTIONED:
            model = AlignDraw(embed_dim=8, lang_units=8, vocab_size=24,
                              align_units=16 if variant == "align" else 0, **common)
        else:
            model = Draw(attention=variant == "attn", **common)
        model.build()
        for v in model.weights:  # non-default weights, identical for both backends
            v.assign(rng.normal(0, 0.3, v.shape).astype(np.float32))
        checkpoint.save_model(str(folder / variant), model)
    x = (rng.random((BATCH, *IMAGE)) < 0.3).astype(np.float32)
    eps = rng.standard_normal((STEPS, BATCH, Z)).astype(np.float32)
    ids = rng.integers(2, 24, (BATCH, 6)).astype(np.int32)
    mask = np.arange(6)[None, :] < np.array([6, 3, 1, 5])[:, None]
    np.savez(folder / "inputs.npz", x=x, eps=eps, ids=ids, mask=mask)

    procs = {}
    for backend in BACKENDS:
        env = dict(os.environ, KERAS_BACKEND=backend, JAX_PLATFORMS="cpu",
                   TF_CPP_MIN_LOG_LEVEL="2",
                   PYTHONPATH=os.pathsep.join(
                       [REPO_ROOT] + [p for p in [os.environ.get("PYTHONPATH")] if p]))
        procs[backend] = subprocess.Popen(
            [sys.executable, "-c", SCRIPT, str(folder)], env=env, cwd=str(folder),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    out = {}
    for backend, proc in procs.items():
        stdout, stderr = proc.communicate(timeout=300)
        assert proc.returncode == 0, f"{backend} failed:\n{stderr[-3000:]}"
        lines = [l for l in stdout.splitlines() if l.startswith("RESULT:")]
        assert len(lines) == 1, stdout + stderr[-3000:]
        out[backend] = json.loads(lines[0][len("RESULT:"):])
    return out


def test_each_subprocess_ran_its_backend(results):
    for backend in BACKENDS:
        assert results[backend]["backend"] == backend


@pytest.mark.parametrize("variant", VARIANTS)
@pytest.mark.parametrize("key", ["reconstruction", "kl", "total", "log_w"])
def test_loss_terms_agree(results, variant, key):
    tf_v = np.array(results["tensorflow"][variant][key])
    assert tf_v.shape == (BATCH,)
    assert np.isfinite(tf_v).all()
    for other in BACKENDS[1:]:
        np.testing.assert_allclose(np.array(results[other][variant][key]), tf_v,
                                   rtol=1e-5, atol=1e-6, err_msg=other)


@pytest.mark.parametrize("variant", VARIANTS)
def test_generation_agrees(results, variant):
    keys = {"canvases": (STEPS, BATCH, *IMAGE), "windows": (STEPS, BATCH, 5)}
    if variant == "align":
        keys["alpha"] = (STEPS, BATCH, 6)
    for key, shape in keys.items():
        tf_v = np.array(results["tensorflow"][variant][key])
        assert tf_v.shape == shape
        for other in BACKENDS[1:]:
            np.testing.assert_allclose(np.array(results[other][variant][key]), tf_v,
                                       rtol=1e-5, atol=1e-6, err_msg=f"{key} on {other}")
    windows = np.array(results["tensorflow"][variant]["windows"])
    if variant != "noattn":
        assert (windows[..., 2:] > 0).all()
    else:
        assert (windows == 0).all()


@pytest.mark.parametrize("variant", VARIANTS)
def test_gradients_agree(results, variant):
    """The same gradients from TensorFlow's tape and jax.grad (through jax.checkpoint for
    the alignment of "align"), variable by variable."""
    tf_g, jax_g = (results[b][variant]["gradients"] for b in TRAINING_BACKENDS)
    assert len(tf_g) == len(jax_g) == results["tensorflow"][variant]["n_trainable"]
    for i, (a, b) in enumerate(zip(tf_g, jax_g)):
        a, b = np.array(a), np.array(b)
        assert np.isfinite(a).all() and np.abs(a).max() > 0, f"variable {i}"
        np.testing.assert_allclose(b, a, rtol=1e-4, atol=1e-5 * np.abs(a).max(),
                                   err_msg=f"variable {i}")


@pytest.mark.parametrize("backend", TRAINING_BACKENDS)
@pytest.mark.parametrize("variant", VARIANTS)
def test_one_training_step(results, backend, variant):
    r = results[backend][variant]
    assert len(r["train_loss"]) == 1 and np.isfinite(r["train_loss"][0])
    assert r["steps"] == 1
    assert r["changed"] == r["n_trainable"]  # every trainable variable got an update
    # The training loss is a one-sample estimate of the mean total loss: same ballpark.
    assert abs(r["train_loss"][0] - np.mean(r["total"])) < 0.5 * np.mean(r["total"])
