"""Maps a model name to its class, so a checkpoint's config.json can rebuild it."""

from t2i_tf.models.align_draw import AlignDraw
from t2i_tf.models.align_pixel_cnn import AlignPixelCNN
from t2i_tf.models.align_pixel_rnn import AlignPixelRNN
from t2i_tf.models.draw import Draw

MODELS = {"draw": Draw, "align_draw": AlignDraw, "align_pixel_rnn": AlignPixelRNN,
          "align_pixel_cnn": AlignPixelCNN}


def build(name, config):
    """Returns MODELS[name](**config), built (its variables exist)."""
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; known: {sorted(MODELS)}")
    model = MODELS[name](**config)
    model.build()
    return model
