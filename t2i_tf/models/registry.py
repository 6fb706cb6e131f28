"""One place that knows each model: per registry name, its class, its family, whether it
takes captions, the data it trains on and how the training flags become its constructor
arguments. A checkpoint's config.json names its model here; the binaries ask here what a
model is instead of probing its methods.

Adding a model: its file under t2i_tf/models/ (with `registry_name`), one `ModelSpec` in
MODELS below, and a flagfile under flags/ (docs/ARCHITECTURE.md).

Importing this module imports no Keras (the binaries read it before they choose a
backend); a model's class is imported when it is first built.
"""

import dataclasses
import importlib
from typing import Callable

VARIATIONAL = "variational"  # the DRAW family: a bound on -log p(x), T canvases, prior noise
AUTOREGRESSIVE = "autoregressive"  # the pixel models: exact -log p(x | y), pixel by pixel


def _draw_config(options, image_shape, vocab_size=None, levels=None):
    """draw and align_draw: the DRAW cell's sizes (+ the caption side for align_draw)."""
    del vocab_size, levels
    return dict(image_shape=tuple(image_shape), steps=options.glimpses,
                enc_units=options.enc_units, dec_units=options.dec_units,
                z_dim=options.z_dim, read_n=options.read_n, write_n=options.write_n,
                attention=options.attention, seed=options.seed)


# alignDRAW's options beyond the paper (docs/HELD_OUT.md), with the paper's values: a
# config holds one only when set otherwise, so that the config.json of a model trained
# without them still matches (resume, --init_from, shipped models).
ALIGN_DRAW_OPTIONS = {"align_score": "bahdanau", "write_context": False,
                      "memory_embedding": False}


def _align_draw_config(options, image_shape, vocab_size=None, levels=None):
    changed = {k: getattr(options, k) for k, paper in ALIGN_DRAW_OPTIONS.items()
               if getattr(options, k, paper) != paper}
    return {**_draw_config(options, image_shape),
            "vocab_size": vocab_size, "embed_dim": options.embed_dim,
            "lang_units": options.lang_units, "align_units": options.align_units,
            "init_stddev": options.init_stddev or None, **changed}


def _pixel_config(options, image_shape, vocab_size=None, levels=256):
    return dict(image_shape=tuple(image_shape), levels=levels, vocab_size=vocab_size,
                embed_dim=options.embed_dim, lang_units=options.lang_units,
                pixel_embed_dim=options.pixel_embed_dim, seed=options.seed)


def _pixel_rnn_config(options, image_shape, vocab_size=None, levels=256):
    config = {**_pixel_config(options, image_shape, vocab_size, levels),
              "units": options.dec_units}
    if options.state_grad_clip:
        config["state_grad_clip"] = options.state_grad_clip
    return config


def _pixel_cnn_config(options, image_shape, vocab_size=None, levels=256):
    return {**_pixel_config(options, image_shape, vocab_size, levels),
            "filters": options.filters, "num_layers": options.num_layers,
            "kernel_size": options.kernel_size}


@dataclasses.dataclass(frozen=True)
class ModelSpec:
    """What the rest of the package may know of a model.

    Attributes:
      name: the registry name (config.json's "model", train's --model).
      class_path: "module:Class" of its keras.Model.
      family: VARIATIONAL or AUTOREGRESSIVE.
      captioned: whether it draws from captions.
      data: the data sets it trains on (t2i_tf/data/catalog.py), the default first.
      config_from_flags: (options, image_shape, vocab_size, levels) -> constructor
        arguments; options is any object with the train binary's flags as attributes.
    """

    name: str
    class_path: str
    family: str
    captioned: bool
    data: tuple
    config_from_flags: Callable

    @property
    def cls(self):
        module, name = self.class_path.split(":")
        return getattr(importlib.import_module(module), name)

    @property
    def pixel(self):
        """An autoregressive pixel model (integer pixel values, next_pixel)."""
        return self.family == AUTOREGRESSIVE


_PIXEL_DATA = ("captioned_mnist_32", "captioned_mnist_32_binary", "coco_32")
MODELS = {spec.name: spec for spec in (
    ModelSpec("draw", "t2i_tf.models.draw:Draw", VARIATIONAL, False,
              ("binarized_mnist", "mnist"), _draw_config),
    ModelSpec("align_draw", "t2i_tf.models.align_draw:AlignDraw", VARIATIONAL, True,
              ("captioned_mnist", "coco_32_rgb"), _align_draw_config),
    ModelSpec("align_pixel_rnn", "t2i_tf.models.align_pixel_rnn:AlignPixelRNN",
              AUTOREGRESSIVE, True, _PIXEL_DATA, _pixel_rnn_config),
    ModelSpec("align_pixel_cnn", "t2i_tf.models.align_pixel_cnn:AlignPixelCNN",
              AUTOREGRESSIVE, True, _PIXEL_DATA, _pixel_cnn_config),
)}


def spec(name):
    """The ModelSpec of a registry name; ValueError (one line) if unknown."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    return MODELS[name]


def spec_of(model):
    """The ModelSpec of a built model (by its class's `registry_name`)."""
    return spec(model.registry_name)


def build(name, config):
    """Returns the model `name` built from `config` (its variables exist)."""
    model = spec(name).cls(**config)
    model.build()
    return model
