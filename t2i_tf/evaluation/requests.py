"""What an evaluation may ask for, checked before any work: the metrics, the data set a
model can be scored on, and the output paths. Plain Python (the binary defines its flags
from these names before anything heavy is imported)."""

import dataclasses
import os

from t2i_tf.data import catalog
from t2i_tf.errors import UsageError
from t2i_tf.models import registry

# The metrics, as --metrics names them.
METRICS = ("elbo", "iw_nll", "nll", "retrieval", "ssim", "attention", "nearest", "captions")
CAPTION_ONLY = ("retrieval", "ssim", "attention", "captions")
BOUNDS = ("elbo", "iw_nll")  # the DRAW models' variational estimates
DEFAULT_METRICS = {registry.VARIATIONAL: ("elbo", "iw_nll"), registry.AUTOREGRESSIVE: ("nll",)}
SPLITS = ("train", "valid", "test", "generalization")


@dataclasses.dataclass
class Options:
    """An evaluation's settings (t2i_tf.evaluate's flags, which document each one).

    metrics: the metrics asked for, or None for the model family's DEFAULT_METRICS."""

    model: str = "draw_mnist"
    split: str = "test"
    data: str | None = None
    data_dir: str | None = None
    metrics: tuple | None = None
    iw_samples: int = 50
    iw_max_images: int = 0
    retrieval_candidates: int = 100
    retrieval_samples: int = 1
    ssim_samples: int = 50
    attention_samples: int = 10
    caption_samples: int = 10
    temperature: float = 1.0
    max_images: int = 0
    max_queries: int = 0
    batch_size: int = 100
    seed: int = 0
    json_out: str | None = None
    out_dir: str | None = None


def check_outputs(options):
    """UsageError (one line) if --metrics is empty or --json_out cannot be written: found
    before any model is loaded, not after the whole evaluation."""
    if options.metrics is not None and not options.metrics:
        raise UsageError(f"--metrics is empty: name one or more of {', '.join(METRICS)}")
    path = options.json_out
    if path is None:
        return
    folder = os.path.dirname(os.path.abspath(path))
    if os.path.isdir(path):
        raise UsageError(f"--json_out={path} is a folder, not a file")
    if not os.path.isdir(folder):
        raise UsageError(f"--json_out={path}: no folder {folder}")
    if not os.access(path if os.path.exists(path) else folder, os.W_OK):
        raise UsageError(f"--json_out={path} is not writable")


def scoring_data(spec, levels=None, coco=False):
    """The data sets a model of ModelSpec `spec` can be scored on, the default first."""
    return catalog.scoring_data(spec.data, levels if spec.pixel else None, coco)


def check_request(options, spec, allowed):
    """(data set name, the metrics to compute in METRICS order) for a model of ModelSpec
    `spec` that can be scored on `allowed` (scoring_data); UsageError (one line) for a
    request that does not fit the model."""
    data_name = options.data or allowed[0]
    if data_name not in allowed:
        raise UsageError(f"{options.model} cannot be scored on {data_name}"
                         + (f" (it takes --data={allowed[0]})" if spec.pixel else ""))
    requested = (DEFAULT_METRICS[spec.family] if options.metrics is None
                 else options.metrics)
    wanted = [m for m in METRICS if m in requested]
    if not spec.captioned and set(wanted) & set(CAPTION_ONLY):
        raise UsageError(f"{', '.join(sorted(set(wanted) & set(CAPTION_ONLY)))} need a "
                         "caption model")
    if spec.pixel and set(wanted) & set(BOUNDS):
        raise UsageError(f"{', '.join(m for m in wanted if m in BOUNDS)}: variational "
                         "bounds of the DRAW models; a pixel model's likelihood is exact: "
                         "--metrics=nll")
    if not spec.pixel and "nll" in wanted:
        raise UsageError("nll is the pixel models' exact likelihood; DRAW models have "
                         "elbo and iw_nll")
    if catalog.DATA[data_name].coco and "captions" in wanted:
        raise UsageError("captions reads the digits of captioned MNIST; COCO has none")
    if spec.pixel and options.temperature == 0:
        raise UsageError("--temperature=0: a pixel model's softmax temperature must be "
                         "positive (greedy decoding is sample --method=greedy)")
    return data_name, wanted
