"""Model folders and training checkpoints, backend-neutral (numpy .npz) and atomic.

A model folder (what `--model` points at, and what models/NAME/ ships) holds
  config.json   {"model": registry name, "config": the model's constructor arguments}
  weights.npz   one array per model variable, keyed by its path under the model
  vocabulary.json  the caption vocabulary (caption models only)
  text.json     how captions become tokens (t2i_tf.data.caption_text.CaptionText; COCO
                models); without it, captioned MNIST's lower-cased whitespace split.
A training folder (--workdir) holds the same two files and checkpoint.npz, which adds the
optimizer's variables (the step count among them), so training resumes where it stopped.
Every file is written to a temporary name in the same folder and renamed into place, so an
interruption leaves either the old file or the new one, never half of one.
"""

import json
import os
import tempfile
import zipfile

import numpy as np

CONFIG = "config.json"
WEIGHTS = "weights.npz"
CHECKPOINT = "checkpoint.npz"
VOCABULARY = "vocabulary.json"
TEXT = "text.json"
SHIPPED_MODELS_DIR = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))),
                                  "models")


class CheckpointError(Exception):
    """A model folder or checkpoint is missing, unreadable or belongs to another model."""


def _atomic_write(path, write):
    folder = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=folder, prefix=".tmp-", suffix=os.path.basename(path))
    except OSError as e:
        raise CheckpointError(f"cannot write to {folder}: {e.strerror}") from None
    try:
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp makes 0600 files
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.remove(tmp)
        raise


def _key(variable):
    # Paths start with the model's own name ("draw/cell/..."); drop it so a renamed
    # instance still matches.
    return variable.path.split("/", 1)[-1]


def _optimizer_key(index):
    return f"optimizer/{index:05d}"


def _optimizer_state(optimizer):
    """The optimizer variables a checkpoint holds: the step count and the slots, in their
    (stable) order. Not the learning rate: a constant rate is a variable and a schedule is
    not, and the rate is the command line's to set, so a run can resume with a rate
    schedule different from the one it started with."""
    return [v for v in optimizer.variables if not v.path.endswith("/learning_rate")]


# The state of the model's noise generator, so a resumed run draws the noise that the
# uninterrupted run would have drawn.
_RNG_KEY = "rng/seed_generator"


def model_config(model):
    config = model.get_config()
    for key in ("name", "trainable", "dtype"):
        config.pop(key, None)
    return {"model": model.registry_name, "config": config}


def save_model(folder, model, optimizer=None):
    """Writes config.json and weights.npz; with an optimizer also checkpoint.npz."""
    model_arrays = {f"model/{_key(v)}": np.asarray(v.numpy()) for v in model.weights}
    config = json.dumps(model_config(model), indent=2, sort_keys=True).encode()
    _atomic_write(os.path.join(folder, CONFIG), lambda f: f.write(config))
    if optimizer is not None:
        arrays = dict(model_arrays)
        # Optimizer variable paths embed instance names ("adam_1/draw_1_cell_..."); their
        # order (step, then slots in trainable-variable order) is stable.
        arrays.update({_optimizer_key(i): np.asarray(v.numpy())
                       for i, v in enumerate(_optimizer_state(optimizer))})
        arrays[_RNG_KEY] = np.asarray(model.seed_generator.state.numpy())
        _atomic_write(os.path.join(folder, CHECKPOINT), lambda f: np.savez(f, **arrays))
    _atomic_write(os.path.join(folder, WEIGHTS), lambda f: np.savez(f, **model_arrays))


def save_vocabulary(folder, vocabulary):
    """Writes the caption vocabulary beside the weights (caption models only)."""
    text = vocabulary.to_json().encode()
    _atomic_write(os.path.join(folder, VOCABULARY), lambda f: f.write(text))


def save_text(folder, text):
    """Writes how captions are tokenised (a CaptionText) beside the vocabulary."""
    data = text.to_json().encode()
    _atomic_write(os.path.join(folder, TEXT), lambda f: f.write(data))


def load_text(name_or_path):
    """The model's CaptionText; captioned MNIST's whitespace split if it has no text.json."""
    from t2i_tf.data import caption_text

    path = os.path.join(resolve(name_or_path), TEXT)
    try:
        with open(path) as f:
            return caption_text.CaptionText.from_json(f.read())
    except FileNotFoundError:
        return caption_text.WHITESPACE
    except (ValueError, TypeError) as e:
        raise CheckpointError(f"{path} is not a valid text config: {e}") from None


def load_vocabulary(name_or_path):
    from t2i_tf.data.vocabulary import Vocabulary

    path = os.path.join(resolve(name_or_path), VOCABULARY)
    try:
        with open(path) as f:
            return Vocabulary.from_json(f.read())
    except FileNotFoundError:
        raise CheckpointError(f"{path} not found: this model takes no captions") from None
    except ValueError as e:
        raise CheckpointError(f"{path} is not a valid vocabulary: {e}") from None


def resolve(name_or_path):
    """A folder path, or the name of a shipped model under models/."""
    if os.path.isdir(name_or_path):
        return name_or_path
    shipped = os.path.join(SHIPPED_MODELS_DIR, name_or_path)
    if os.path.isdir(shipped):
        return shipped
    raise CheckpointError(f"model {name_or_path!r} is neither a folder nor a shipped model "
                          f"under {SHIPPED_MODELS_DIR}")


def read_config(folder):
    path = os.path.join(folder, CONFIG)
    try:
        with open(path) as f:
            config = json.load(f)
        return config["model"], config["config"]
    except FileNotFoundError:
        raise CheckpointError(f"{path} not found: not a model folder") from None
    except (ValueError, KeyError, TypeError):
        raise CheckpointError(f"{path} is not a valid model config") from None


def _load_arrays(path):
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except FileNotFoundError:
        raise CheckpointError(f"{path} not found") from None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile) as e:
        raise CheckpointError(f"{path} is unreadable ({type(e).__name__}); "
                              "was it written by t2i_tf?") from None


def _assign(variables, arrays, prefix, key, path):
    for v in variables:
        name = f"{prefix}/{key(v)}"
        if name not in arrays:
            raise CheckpointError(f"{path} does not fit this model: it has no {name}")
        if tuple(arrays[name].shape) != tuple(v.shape):
            raise CheckpointError(f"{path} does not fit this model: {name} has shape "
                                  f"{arrays[name].shape}, the model wants {tuple(v.shape)}")
        v.assign(arrays[name])


def load_model(name_or_path):
    """Rebuilds a model from its folder (or shipped name) and loads its weights."""
    from t2i_tf.models import registry  # here: reading a config.json needs no Keras

    folder = resolve(name_or_path)
    name, config = read_config(folder)
    try:
        model = registry.build(name, config)
    except (TypeError, ValueError) as e:
        raise CheckpointError(f"{folder}/{CONFIG} cannot build a model: {e}") from None
    weights = os.path.join(folder, WEIGHTS)
    if not os.path.exists(weights) and os.path.exists(os.path.join(folder, CHECKPOINT)):
        weights = os.path.join(folder, CHECKPOINT)
    _assign(model.weights, _load_arrays(weights), "model", _key, weights)
    return model


def restore_training(folder, model, optimizer):
    """Loads checkpoint.npz into a built model and optimizer; returns False if none exists.

    The learning rate is not restored: it is the optimizer's as built (_optimizer_state).
    Checkpoints written before that rule, which hold a constant rate at index 1 (after the
    step count), still load.

    Raises CheckpointError if the folder holds a checkpoint of a different model.
    """
    path = os.path.join(folder, CHECKPOINT)
    if not os.path.exists(path):
        return False
    name, config = read_config(folder)
    expected = model_config(model)
    if name != expected["model"] or config != json.loads(json.dumps(expected["config"])):
        raise CheckpointError(
            f"{folder} holds a checkpoint of another model ({name}: {json.dumps(config)}); "
            "use a new --workdir or the same flags as that run")
    arrays = _load_arrays(path)
    _assign(model.weights, arrays, "model", _key, path)
    optimizer.build(model.trainable_variables)
    state = _optimizer_state(optimizer)
    # An old checkpoint holds the rate at index 1: `state` from index 1 on sits one further.
    old_layout = sum(k.startswith("optimizer/") for k in arrays) == len(state) + 1
    index = {id(v): i + 1 if old_layout and i >= 1 else i for i, v in enumerate(state)}
    _assign(state, arrays, "optimizer", lambda v: f"{index[id(v)]:05d}", path)
    if _RNG_KEY in arrays:
        model.seed_generator.state.assign(arrays[_RNG_KEY])
    return True
