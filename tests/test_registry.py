"""The registry (t2i_tf/models/registry.py) and the data catalog (t2i_tf/data/catalog.py):
the one table of models and the one table of data sets."""

import types

import pytest

from t2i_tf.data import catalog
from t2i_tf.models import registry

# train's flag defaults, as the object config_from_flags reads.
FLAGS = types.SimpleNamespace(glimpses=64, enc_units=256, dec_units=256, z_dim=100, read_n=2,
                              write_n=5, attention=True, seed=0, embed_dim=128, lang_units=128,
                              align_units=512, init_stddev=0.0, pixel_embed_dim=64,
                              state_grad_clip=0.0, filters=64, num_layers=8, kernel_size=5)


def test_every_entry_names_its_class_and_data():
    for name, spec in registry.MODELS.items():
        assert spec.name == name and spec.cls.registry_name == name
        assert spec.family in (registry.VARIATIONAL, registry.AUTOREGRESSIVE)
        assert spec.data and set(spec.data) <= set(catalog.DATA)
        # a caption model trains on captioned data, a pixel model on integer pixels
        assert {catalog.DATA[d].captioned for d in spec.data} == {spec.captioned}
        assert all(bool(catalog.DATA[d].levels) == spec.pixel for d in spec.data)


def test_unknown_model_is_one_line():
    with pytest.raises(ValueError, match="unknown model 'nope'; known: "):
        registry.spec("nope")


def test_configs_from_flags():
    draw = registry.spec("draw").config_from_flags(FLAGS, (28, 28))
    assert draw == dict(image_shape=(28, 28), steps=64, enc_units=256, dec_units=256,
                        z_dim=100, read_n=2, write_n=5, attention=True, seed=0)
    align = registry.spec("align_draw").config_from_flags(FLAGS, (60, 60), 24)
    assert align == {**draw, "image_shape": (60, 60), "vocab_size": 24, "embed_dim": 128,
                     "lang_units": 128, "align_units": 512, "init_stddev": None}
    rnn = registry.spec("align_pixel_rnn").config_from_flags(FLAGS, (32, 32), 24, 2)
    assert rnn == dict(image_shape=(32, 32), levels=2, vocab_size=24, embed_dim=128,
                       lang_units=128, pixel_embed_dim=64, seed=0, units=256)
    clipped = types.SimpleNamespace(**{**vars(FLAGS), "state_grad_clip": 1.0})
    assert registry.spec("align_pixel_rnn").config_from_flags(
        clipped, (32, 32), 24)["state_grad_clip"] == 1.0
    cnn = registry.spec("align_pixel_cnn").config_from_flags(FLAGS, (32, 32), 24)
    assert cnn == {**{k: v for k, v in rnn.items() if k != "units"}, "levels": 256,
                   "filters": 64, "num_layers": 8, "kernel_size": 5}


def test_built_model_knows_its_spec():
    config = registry.spec("draw").config_from_flags(
        types.SimpleNamespace(**{**vars(FLAGS), "glimpses": 2, "enc_units": 4,
                                 "dec_units": 4, "z_dim": 3}), (28, 28))
    model = registry.build("draw", config)
    assert registry.spec_of(model) is registry.MODELS["draw"]
    assert model.get_config()["steps"] == 2


@pytest.mark.parametrize("name,levels,coco,expected", [
    ("draw", None, False, ("binarized_mnist", "mnist")),
    ("align_draw", None, False, ("captioned_mnist",)),
    ("align_draw", None, True, ("coco_32_rgb",)),
    ("align_pixel_rnn", 256, False, ("captioned_mnist_32",)),
    ("align_pixel_rnn", 2, False, ("captioned_mnist_32_binary",)),
    ("align_pixel_cnn", 256, True, ("coco_32",)),
])
def test_the_data_a_model_is_scored_on(name, levels, coco, expected):
    assert catalog.scoring_data(registry.spec(name).data, levels, coco) == expected
