"""Word dropout for training captions: each real word becomes ``<unk>`` with a given
probability, so the model also learns to draw from part of a caption (what a digit word
means without its position words, and the reverse). The image is left as it is; the caption
then says less than the image shows, never something false. Numpy in, numpy out.
"""

import numpy as np

from t2i_tf.data.vocabulary import UNK_ID


def drop_words(ids, mask, rate, rng):
    """ids (n, L) with each real word (mask True) replaced by ``<unk>`` with probability rate.

    Args:
      ids: (n, L) int word ids; mask: (n, L) bool, True on real words.
      rate: probability in [0, 1) of dropping each word, independently.
      rng: numpy Generator; the result depends only on its state and the shapes.

    Returns:
      a new int array like ids; padding and the mask are untouched.
    """
    if not 0.0 <= rate < 1.0:
        raise ValueError(f"word dropout rate {rate}: expected 0 <= rate < 1")
    ids = np.array(ids, copy=True)
    drop = (rng.random(ids.shape) < rate) & np.asarray(mask, bool)
    ids[drop] = UNK_ID
    return ids
