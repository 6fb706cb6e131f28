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
import shutil
import tempfile
import zipfile

import numpy as np

from t2i_tf.errors import CheckpointError, UsageError

CONFIG = "config.json"
WEIGHTS = "weights.npz"
CHECKPOINT = "checkpoint.npz"
VOCABULARY = "vocabulary.json"
TEXT = "text.json"
METRICS = "metrics.jsonl"  # a workdir's validation records, one JSON line per checkpoint
TRAINING_CURVE = "training_curve.jsonl"  # a shipped model's copy of its metrics.jsonl
# The records of the runs whose weights a run started from (--init_from with a fresh
# optimizer): steps and wall seconds counted from the first run's start, "run" numbering them.
EARLIER_CURVE = "earlier_curve.jsonl"
MODELS_ENV_VAR = "T2I_MODELS_DIR"


def shipped_models_dir():
    """Where shipped model names are looked up: $T2I_MODELS_DIR if set; else the copy of
    models/ that a wheel installs as t2i_tf/_models; else models/ beside the package (a
    checkout, or an editable install of one)."""
    env = os.environ.get(MODELS_ENV_VAR)
    if env:
        return os.path.realpath(os.path.expanduser(env))
    package = os.path.dirname(os.path.dirname(os.path.realpath(__file__)))  # t2i_tf/
    installed = os.path.join(package, "_models")
    return installed if os.path.isdir(installed) else os.path.join(os.path.dirname(package),
                                                                  "models")


SHIPPED_MODELS_DIR = shipped_models_dir()


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


def atomic_write_text(path, text):
    """Writes `text` to `path` atomically (a temporary file renamed into place)."""
    data = text.encode()
    _atomic_write(path, lambda f: f.write(data))


def remove_stale_temporaries(folder):
    """Removes the temporary files that a kill in the middle of a write left behind."""
    for name in os.listdir(folder):
        if name.startswith(".tmp-"):
            try:
                os.remove(os.path.join(folder, name))
            except OSError:
                pass


# The metrics record of the step a checkpoint holds, as JSON.
_RECORD_KEY = "record/json"


def save_model(folder, model, optimizer=None, record=None):
    """Writes config.json and weights.npz; with an optimizer also checkpoint.npz (with
    `record`, the metrics record of its step, if given)."""
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
        if record is not None:
            arrays[_RECORD_KEY] = np.asarray(json.dumps(record))
        _atomic_write(os.path.join(folder, CHECKPOINT), lambda f: np.savez(f, **arrays))
    _atomic_write(os.path.join(folder, WEIGHTS), lambda f: np.savez(f, **model_arrays))


# A compact checkpoint (compact_checkpoint) says here what it left out or rounded.
_COMPACT_KEY = "compact/json"


def _to_bfloat16_bits(x):
    """float32 -> the upper 16 bits of each value rounded to nearest even (bfloat16)."""
    bits = np.ascontiguousarray(x, np.float32).view(np.uint32).astype(np.uint64)
    return ((bits + 0x7FFF + ((bits >> 16) & 1)) >> 16).astype(np.uint16)


def _from_bfloat16_bits(bits):
    return (bits.astype(np.uint32) << 16).view(np.float32)


def compact_checkpoint(folder, path):
    """Writes a smaller copy of `folder`'s checkpoint.npz (an Adam run's) to `path`.

    For shipping a run whose whole state would pass the size limit of a shipped model: the
    model weights are left out (weights.npz beside it holds them exactly), Adam's second
    moments are rounded to bfloat16, its first moments left out (restored as zeros: at
    beta_1 = 0.9 they refill within a few tens of steps); the step count, the noise state
    and the metrics record stay exact. A run resumed from it follows the uninterrupted one
    closely, not bit for bit. restore_training reads both kinds.
    """
    source = os.path.join(folder, CHECKPOINT)
    arrays = _load_arrays(source)
    step, *slots = sorted(k for k in arrays if k.startswith("optimizer/"))
    # Keras's Adam: the step count, then (momentum, velocity) of each trainable variable.
    momenta, velocities = slots[::2], slots[1::2]
    if (arrays[step].ndim or len(slots) % 2 or
            any(arrays[m].shape != arrays[v].shape for m, v in zip(momenta, velocities))):
        raise CheckpointError(f"{source} does not hold an Adam state: it cannot be compacted")
    out = {k: v for k, v in arrays.items() if not k.startswith(("model/", "optimizer/"))}
    out[step] = arrays[step]
    out.update({f"{v}/bfloat16": _to_bfloat16_bits(arrays[v]) for v in velocities})
    out[_COMPACT_KEY] = np.asarray(json.dumps(
        {"weights": WEIGHTS, "zeros": momenta, "bfloat16": velocities}))
    _atomic_write(path, lambda f: np.savez(f, **out))


def _expand_compact(arrays, folder):
    """A compact checkpoint's arrays as a full one's (see compact_checkpoint)."""
    if _COMPACT_KEY not in arrays:
        return arrays
    how = json.loads(str(arrays[_COMPACT_KEY]))
    full = {k: v for k, v in arrays.items() if not k.endswith("/bfloat16")}
    full.update(_load_arrays(os.path.join(folder, how["weights"])))
    for velocity, momentum in zip(how["bfloat16"], how["zeros"]):
        full[velocity] = _from_bfloat16_bits(arrays[f"{velocity}/bfloat16"])
        full[momentum] = np.zeros_like(full[velocity])
    return full


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
                          f"under {SHIPPED_MODELS_DIR} (${MODELS_ENV_VAR} sets that folder)")


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


def _check_same_model(folder, model, what, remedy):
    """Raises CheckpointError if `folder`'s config.json describes another model."""
    name, config = read_config(folder)
    expected = model_config(model)
    if name != expected["model"] or config != json.loads(json.dumps(expected["config"])):
        raise CheckpointError(f"{folder} holds {what} ({name}: {json.dumps(config)}); {remedy}")


def load_weights(folder, model):
    """Loads a folder's weights.npz into a built model of the same config."""
    _check_same_model(folder, model, "another model",
                      "train with the same flags as that model, or start from none")
    path = os.path.join(folder, WEIGHTS)
    _assign(model.weights, _load_arrays(path), "model", _key, path)


def checkpoint_record(folder):
    """The metrics record saved in a folder's checkpoint.npz, or None."""
    path = os.path.join(folder, CHECKPOINT)
    if not os.path.exists(path):
        return None
    try:
        with np.load(path) as data:
            return json.loads(str(data[_RECORD_KEY])) if _RECORD_KEY in data.files else None
    except (OSError, ValueError, EOFError, zipfile.BadZipFile):
        return None


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
    _check_same_model(folder, model, "a checkpoint of another model",
                      "use a new --workdir or the same flags as that run")
    arrays = _expand_compact(_load_arrays(path), folder)
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


def _read_jsonl(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [json.loads(line) for line in f if line.strip()]


def full_curve(folder, curve=METRICS):
    """The validation records of every run behind `folder`'s weights, oldest first.

    `folder`'s own records (its `curve` file) follow those of EARLIER_CURVE, their steps
    and wall seconds shifted by where the earlier runs ended; each record says its "run"
    (0 for the first)."""
    earlier = _read_jsonl(os.path.join(folder, EARLIER_CURVE))
    step = earlier[-1]["step"] if earlier else 0
    wall = earlier[-1].get("wall_s", 0.0) if earlier else 0.0
    run = earlier[-1].get("run", 0) + 1 if earlier else 0
    own = [{**record, "step": record["step"] + step,
            "wall_s": record.get("wall_s", 0.0) + wall, "run": run}
           for record in _read_jsonl(os.path.join(folder, curve))]
    return earlier + own


def prepare_workdir(workdir, init_from=None, overwrite=False):
    """Checks that training may write into `workdir`, and seeds it from `init_from`.

    A workdir is trained in only if it is new, or holds a training checkpoint (the run
    resumes). A folder that holds a model but no checkpoint (a shipped model, a model
    shipped without its optimizer state, another program's output) is refused unless
    `overwrite`, and so is any folder under the shipped models/. init_from (a model folder
    or shipped name) starts a new workdir from that model: its whole training state if it
    ships checkpoint.npz (the run goes on where it stopped, its curve copied), else its
    weights with a fresh optimizer.

    Returns (a line saying what was done or None, the folder whose weights `train` starts
    from or None)."""
    has_checkpoint = os.path.exists(os.path.join(workdir, CHECKPOINT))
    has_model = any(os.path.exists(os.path.join(workdir, n)) for n in (CONFIG, WEIGHTS))
    shipped = (os.path.commonpath([os.path.realpath(workdir), SHIPPED_MODELS_DIR])
               == SHIPPED_MODELS_DIR)
    if not overwrite:
        if shipped and (has_model or has_checkpoint):
            raise UsageError(
                f"{workdir} is a shipped model: train into a new --workdir, with "
                f"--init_from={os.path.basename(os.path.normpath(workdir))} to start from it "
                "(or --overwrite to train in place)")
        if has_model and not has_checkpoint:
            raise UsageError(
                f"{workdir} holds a model but no training checkpoint, so training would "
                f"overwrite it: use a new --workdir, with --init_from={workdir} to start "
                "from its weights (or --overwrite to replace it)")
    if init_from is None:
        return None, None
    if has_checkpoint:
        return f"{workdir} has its own checkpoint; --init_from={init_from} is not used", None
    source = resolve(init_from)
    # A shipped model keeps its curve as TRAINING_CURVE, a workdir as METRICS.
    own_curve = (TRAINING_CURVE if os.path.exists(os.path.join(source, TRAINING_CURVE))
                 else METRICS)
    if not os.path.exists(os.path.join(source, CHECKPOINT)):
        history = full_curve(source, own_curve)
        if history:  # the curve goes on across the runs
            os.makedirs(workdir, exist_ok=True)
            atomic_write_text(os.path.join(workdir, EARLIER_CURVE),
                              "".join(json.dumps(r) + "\n" for r in history))
        return f"starting from the weights of {source} (a fresh optimizer)", source
    os.makedirs(workdir, exist_ok=True)
    curve = os.path.join(source, own_curve)
    if os.path.exists(curve):
        shutil.copyfile(curve, os.path.join(workdir, METRICS))
    for name in (EARLIER_CURVE, VOCABULARY, TEXT, CONFIG, WEIGHTS,
                 CHECKPOINT):  # the checkpoint last: it makes this a workdir
        if os.path.exists(os.path.join(source, name)):
            shutil.copyfile(os.path.join(source, name), os.path.join(workdir, name + ".part"))
            os.replace(os.path.join(workdir, name + ".part"), os.path.join(workdir, name))
    return f"going on from the training state of {source}", None
