"""The data sets by name, and what each one is: the one table that train, evaluate and
t2i_tf/data/datasets.py read (which models train on which: t2i_tf/models/registry.py).
Plain Python: the binaries read it before anything heavy is imported."""

import dataclasses


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """Attributes:
      captioned: examples carry captions (ids, mask).
      levels: V of integer pixel images (the pixel models' data); None: images in [0, 1].
      coco: read from COCO's own layout (t2i_tf/data/coco_data.py), captions tokenised
        with the Treebank tokenizer.
    """

    captioned: bool
    levels: int | None = None
    coco: bool = False


DATA = {
    "binarized_mnist": DataSpec(captioned=False),
    # MNIST has no validation file; the last 10,000 training images serve.
    "mnist": DataSpec(captioned=False),
    "captioned_mnist": DataSpec(captioned=True),
    "coco_32_rgb": DataSpec(captioned=True, coco=True),  # COCO, RGB 32x32, for alignDRAW
    "captioned_mnist_32": DataSpec(captioned=True, levels=256),  # 8-bit 32x32
    "captioned_mnist_32_binary": DataSpec(captioned=True, levels=2),
    "coco_32": DataSpec(captioned=True, levels=256, coco=True),  # grayscale 32x32, 8-bit
}


def scoring_data(model_data, levels=None, coco=False):
    """The data sets a model can be scored on, the default first: those of `model_data`
    (the registry's) that match its pixel levels (None: not a pixel model) and whether it
    reads COCO captions."""
    return tuple(name for name in model_data
                 if DATA[name].coco == coco and DATA[name].levels == levels)
