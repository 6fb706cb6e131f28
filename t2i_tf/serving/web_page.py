"""The web page of `python -m t2i_tf.serve`: type a caption, watch the model draw it.

  GET /                  the page (t2i_tf/serving/static/index.html, page.js, page.css; no CDN)
  GET /static/FILE       its files
  GET /page/model.json   what the page needs to know of the served model:
                         {"name", "version", "signatures", "drawing" (the name of the
                          drawing signature, or null), "captions" (whether it takes captions),
                          "draws" ("canvases": the DRAW family's T canvases; "rows": a
                          pixel model's image, row by row; null without the signature),
                          "model", "steps" (T, or a pixel model's H image rows),
                          "image_shape", "vocabulary", "levels" and "methods" (a pixel
                          model's; null for the DRAW family) (from the export's
                          assets.extra/t2i_tf_model.json; null when the export has none)}

The page draws with TF Serving's predict API (rest_server.py) on the SavedModel's drawing
signature: POST /v1/models/NAME:predict with {"signature_name": "drawing", "instances":
[{"captions": ..., "num_samples": ..., "seed": ..., "temperature": ...}]} (and "method" for
a pixel model), one answer row per sample: canvases_png, windows and attention for the DRAW
family (t2i_tf/serving/saved_model.py), image_png, attention per image row and log_prob for
a pixel model (t2i_tf/serving/pixel_saved_model.py).

Plain Python and aiohttp here (and TensorFlow through the ServedModel): no Keras, no model code.
"""

import json
import os
import subprocess
import sys

import numpy as np
from aiohttp import web

DRAWING = "drawing"  # serving.common.DRAWING (not imported: this module imports no export code)
MODEL_INFO = os.path.join("assets.extra", "t2i_tf_model.json")  # serving_module.MODEL_INFO
ROW_IMAGE = "image_png"  # the output of a drawing filled row by row (pixel_saved_model)
STATIC = os.path.join(os.path.dirname(os.path.abspath(__file__)), "static")
# What the page asks for unless told otherwise (index.html's fields hold the same values).
DEFAULT_SAMPLES = 8
DEFAULT_TEMPERATURE = 0.5


class ExportError(Exception):
    """The model given to `export_model` could not be exported (its one-line reason)."""


def model_info(model, name, version_dir):
    """The answer of GET /page/model.json for `model` (a rest_server.ServedModel)."""
    signature = model.signatures.get(DRAWING)
    draws = None
    if signature is not None:
        draws = "rows" if ROW_IMAGE in signature.outputs else "canvases"
    info = {"name": name, "version": model.version, "signatures": sorted(model.signatures),
            "drawing": DRAWING if signature is not None else None,
            "captions": bool(signature is not None and "captions" in signature.inputs),
            "draws": draws, "model": None, "steps": None, "image_shape": None,
            "vocabulary": None, "levels": None, "methods": None}
    try:
        with open(os.path.join(version_dir, MODEL_INFO)) as f:
            stored = json.load(f)
    except (OSError, ValueError):
        return info
    for key in ("model", "steps", "image_shape", "vocabulary", "levels", "methods"):
        info[key] = stored.get(key)
    if draws == "rows" and info["image_shape"]:
        info["steps"] = info["image_shape"][0]  # the page's steps: the image rows
    return info


def add_routes(app, model, name, version_dir):
    """Adds the page's routes to `app` (rest_server.make_app's application)."""
    info = model_info(model, name, version_dir)

    async def index(request):
        return web.FileResponse(os.path.join(STATIC, "index.html"))

    async def described(request):
        return web.json_response(info)

    app.router.add_get("/", index)
    app.router.add_get("/page/model.json", described)
    app.router.add_static("/static/", STATIC)


def warm_up(model, num_samples=DEFAULT_SAMPLES):
    """Runs the drawing signature as the page first calls it (num_samples images, captions
    of up to 8 and of up to 16 words), so XLA compiles those shapes before the first
    request. Does nothing for a model without the signature."""
    signature = model.signatures.get(DRAWING)
    if signature is None:
        return
    inputs = dict(signature.defaults)
    inputs["num_samples"] = np.int32(num_samples)
    inputs["temperature"] = np.float32(DEFAULT_TEMPERATURE)
    if "captions" not in signature.inputs:
        model.predict(DRAWING, inputs)
        return
    for words in (1, 9):
        inputs["captions"] = np.array([" ".join(["the"] * words).encode()], object)
        model.predict(DRAWING, inputs)


def export_model(model, export_dir):
    """Exports `model` (a name under models/ or a model folder) to export_dir/1 with
    `python -m t2i_tf.export`, in a child process so that this one needs no Keras.

    Raises ExportError with the exporter's one-line reason."""
    env = {k: v for k, v in os.environ.items() if k != "KERAS_BACKEND"}
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
    env.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    result = subprocess.run([sys.executable, "-m", "t2i_tf.export", f"--model={model}",
                             f"--export_dir={export_dir}"], env=env, capture_output=True,
                            text=True)
    if result.returncode != 0:
        lines = [line for line in result.stderr.splitlines() if line.startswith("error: ")]
        reason = lines[-1][len("error: "):] if lines else (
            f"export of {model} failed (exit status {result.returncode}): "
            f"{result.stderr.strip().splitlines()[-1] if result.stderr.strip() else ''}")
        raise ExportError(reason)
