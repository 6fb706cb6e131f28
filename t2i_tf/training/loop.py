"""The training loop behind `python -m t2i_tf.train`: Keras fit in chunks of
`steps_per_epoch` steps, an atomic checkpoint after each chunk, resume from the last one.

Interruptions: SIGINT and SIGTERM (and the wall-time budget) end the current step, write a
checkpoint and return; running the same command again resumes from it, with the same
batches the uninterrupted run would have used (see t2i_tf.data.datasets).

Divergence: a chunk whose training or validation loss is not finite writes nothing (no
checkpoint, record, summary or samples) and raises TrainingDiverged, so the last good
checkpoint is kept: a NaN once written over it would have lost the whole run.

Distributed runs (t2i_tf.training.distribute) call `train` inside the strategy's scope in every
process; only the chief writes to the workdir, and every process resumes from it.
"""

import functools
import json
import os
import signal
import sys
import time

import keras
import numpy as np

from t2i_tf import errors, jit, visualize
from t2i_tf.models import registry
from t2i_tf.sampling import samplers
from t2i_tf.training import checkpoint, distribute, summaries

METRICS = checkpoint.METRICS


class TrainingDiverged(errors.RunError):
    """A chunk of training ended with a loss that is not finite; nothing of it was written."""


class _Progress(keras.callbacks.Callback):
    """One live line: step, steps/s, the time left. On a terminal it is redrawn after
    every step; in a log, written every `log_seconds`. Counts only the steps that ran."""

    def __init__(self, train_steps, step, log_seconds=60.0):
        super().__init__()
        self.train_steps = train_steps
        self.step = step
        self.tty = sys.stdout.isatty()
        self.log_seconds = log_seconds
        self.start = self.last = None
        self.start_step = step
        self.drawn = False

    def on_train_batch_end(self, batch, logs=None):
        now = time.time()
        self.step += 1
        if self.start is None:  # the first step of a run includes its compilation
            self.start, self.start_step, self.last = now, self.step, now
            return
        rate = (self.step - self.start_step) / max(now - self.start, 1e-9)
        if not self.tty and now - self.last < self.log_seconds:
            return
        self.last = now
        left = (self.train_steps - self.step) / max(rate, 1e-9)
        loss = "" if not logs or "loss" not in logs else f", loss {float(logs['loss']):.2f}"
        line = (f"step {self.step:,}/{self.train_steps:,}, {rate:.2f} steps/s{loss}, "
                f"{_duration(left)} left")
        if self.tty:
            sys.stdout.write("\r" + line + "\033[K")
            self.drawn = True
        else:
            sys.stdout.write(line + "\n")
        sys.stdout.flush()

    def clear(self):
        if self.drawn:
            sys.stdout.write("\r\033[K")
            sys.stdout.flush()
            self.drawn = False


def _duration(seconds):
    seconds = int(seconds)
    if seconds >= 3600:
        return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"
    return f"{seconds // 60}m{seconds % 60:02d}s"


class _Stopper(keras.callbacks.Callback):
    """Ends fit() after the current batch on SIGINT/SIGTERM, when the budget is spent, or
    when a wall-clock checkpoint is due (`checkpoint_due`; training then goes on)."""

    def __init__(self, deadline, checkpoint_seconds=None):
        super().__init__()
        self.deadline = deadline
        self.checkpoint_seconds = checkpoint_seconds
        self.reason = None
        self.checkpoint_due = False
        self.last_checkpoint = time.time()

    def request(self, reason):
        self.reason = reason

    def checkpointed(self):
        self.checkpoint_due = False
        self.last_checkpoint = time.time()

    def on_train_batch_end(self, batch, logs=None):
        now = time.time()
        if self.reason is None and self.deadline is not None and now > self.deadline:
            self.reason = "wall-time budget spent"
        if (self.checkpoint_seconds is not None
                and now - self.last_checkpoint > self.checkpoint_seconds):
            self.checkpoint_due = True
        if self.reason is not None or self.checkpoint_due:
            self.model.stop_training = True


class _KeepNoise:
    """Restores the model's noise state on exit: validation and previews draw noise too,
    and must not move the training noise, so that a run checkpointed (or interrupted) at
    any step draws exactly the noise of an uninterrupted run."""

    def __init__(self, model):
        self.state = model.seed_generator.state
        self.value = None

    def __enter__(self):
        self.value = np.array(self.state.numpy())

    def __exit__(self, *exc):
        self.state.assign(self.value)


def _records(workdir):
    """The metrics records, without a torn last line (a kill in the middle of its write)."""
    path = os.path.join(workdir, METRICS)
    if not os.path.exists(path):
        return []
    records = []
    with open(path) as f:
        for line in f:
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
    return [r for r in records if isinstance(r, dict)]


def _resume_records(workdir, step):
    """The records of the steps up to the checkpoint's `step`, rewritten in place: a torn
    line, or records written after the checkpoint a kill left, are dropped, and the
    checkpoint's own record is added if a kill came before its line was written; returns
    the last one ({} if none)."""
    records = _records(workdir)
    kept = [r for r in records if r.get("step", 0) <= step]
    saved = checkpoint.checkpoint_record(workdir)
    if saved is not None and (not kept or kept[-1].get("step") != saved.get("step")):
        kept.append(saved)
    path = os.path.join(workdir, METRICS)
    if os.path.exists(path):
        with open(path) as f:
            text = f.read()
        wanted = "".join(json.dumps(r) + "\n" for r in kept)
        if text != wanted:
            checkpoint.atomic_write_text(path, wanted)
    return kept[-1] if kept else {}


def _append_record(workdir, record):
    with open(os.path.join(workdir, METRICS), "a") as f:
        f.write(json.dumps(record) + "\n")


def make_optimizer(name, learning_rate, clipnorm, late_learning_rate=None, drop_step=0):
    """Adam (DRAW) or RMSprop (alignDRAW, Appendix B), with the rate dropped to
    late_learning_rate after drop_step steps if drop_step > 0."""
    if drop_step:
        learning_rate = keras.optimizers.schedules.PiecewiseConstantDecay(
            [drop_step], [learning_rate, late_learning_rate])
    optimizers = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}
    return optimizers[name](learning_rate, clipnorm=clipnorm)


def _make_sampler(model, data):
    """The preview's sampler: ancestral sampling for the pixel models, the prior for DRAW,
    the prior given captions for alignDRAW."""
    if registry.spec_of(model).pixel:
        return samplers.PixelCaptionSampler(model, "sample")
    return (samplers.CaptionSampler if data.captioned else samplers.PriorSampler)(model)


def _preview(model, data, sampler, n, seed):
    """n samples in [0, 1] (from the prior, or for the first n validation captions), and
    the sampler's whole output."""
    if not data.captioned:
        out = sampler(n, seed=seed)
        return out["canvases"][-1], out
    x = data.validation(n)
    out = sampler(x["ids"], x["mask"], seed=seed)
    if "images" in out:  # a pixel model's integer pixel values
        return samplers.unit_images(out["images"], model.levels), out
    return out["canvases"][-1], out


def _pictures(model, data, tracer, samples, seed, n=4):
    """The epoch's TensorBoard pictures (summaries.pictures) of a DRAW-family model: the
    samples' canvas sequence and word weights, and the trace of n validation images."""
    if "canvases" not in samples:  # the pixel models draw no canvases
        return {}
    x = data.validation(n)
    eps = keras.random.normal((model.steps, n, model.z_dim), seed=seed)
    args = (x["images"], x["ids"], x["mask"]) if data.captioned else (x,)
    trace = {k: keras.ops.convert_to_numpy(v) for k, v in tracer(*args, eps).items()}
    words = ([data.vocabulary.decode(ids[m]) for ids, m in zip(x["ids"], x["mask"])]
             if data.captioned else None)
    cell = model.cell
    read_n, write_n = (cell.read_n, cell.write_n) if cell.attention else (None, None)
    return summaries.pictures(samples, trace, words, read_n, write_n, rows=n)


def _samples(model, data, sampler, tracer, num_grid_samples, seed):
    """The chunk's sample grid and pictures. They draw their own noise, which the model's
    noise state (saved before them) does not see."""
    with _KeepNoise(model):
        samples, out = _preview(model, data, sampler, num_grid_samples, seed)
        pictures = _pictures(model, data, tracer, out, seed) if tracer else {}
    return visualize.grid(samples, scale=2), pictures


def _write_record(workdir, model, optimizer, record, writer):
    """The chief's record of a chunk: checkpoint, metrics line, scalar summaries.

    The checkpoint holds the record too, so that a kill between the two writes loses
    nothing: a resume appends the record the checkpoint holds if the file lacks it."""
    checkpoint.save_model(workdir, model, optimizer, record=record)
    _append_record(workdir, record)
    writer.scalars(record["step"], {k: v for k, v in record.items() if "/" in k})


def _write_samples(workdir, step, writer, image, pictures):
    """The chief's sample grid (a PNG and a summary) and pictures of a chunk."""
    os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
    visualize.save_png(os.path.join(workdir, "samples", f"step_{step:07d}.png"), image)
    writer.images(step, {"samples": image, **pictures})


def train(model, data, workdir, optimizer, batch_size=100, train_steps=1000,
          steps_per_epoch=500, valid_images=1000, max_wall_seconds=None, seed=0,
          num_grid_samples=64, distribution=None, checkpoint_minutes=None,
          init_weights=None, callbacks=()):
    """Trains `model` on `data` (t2i_tf.data.datasets) and checkpoints into `workdir`.

    batch_size is the global batch. distribution: a t2i_tf.training.distribute.Distribution whose
    scope holds the model and this call; None trains on one device. Only its chief writes
    checkpoints, metrics, summaries and samples. A checkpoint (with a validation record) is
    written every `steps_per_epoch` steps, and also after `checkpoint_minutes` of wall time
    since the last one, if set and the run has one process (processes would stop at
    different steps); either way the run's trajectory is the same.
    init_weights: a model folder whose weights a new run starts from (prepare_workdir).
    callbacks: more Keras callbacks for fit.
    Returns the last record (the one written to metrics.jsonl by the chief).
    """
    distribution = distribution or distribute.Distribution("none")
    chief = distribution.is_chief
    os.makedirs(workdir, exist_ok=True)  # an unwritable workdir fails before the slow part
    if chief:
        checkpoint.remove_stale_temporaries(workdir)
    valid_x = distribution.arrays(data.validation(valid_images), batch_size)
    distribution.compile(model, optimizer)
    # The checkpoint holds no learning rate: the one asked for now (a constant or a schedule
    # of the step) applies, so a resumed run can lower it or change its schedule.
    resumed = checkpoint.restore_training(workdir, model, optimizer)
    step = int(optimizer.iterations.numpy())
    if resumed:
        if step >= train_steps:
            print(f"{workdir} is finished: it trained {step:,} of --train_steps={train_steps:,} "
                  "steps; raise --train_steps to train on")
            return _resume_records(workdir, step) if chief else {}
        print(f"resuming from {workdir} at step {step}")
    else:
        if init_weights is not None:
            checkpoint.load_weights(init_weights, model)
        optimizer.build(model.trainable_variables)
        if chief:  # the step-0 checkpoint: from now on the workdir resumes, never restarts
            checkpoint.save_model(workdir, model, optimizer)
    if data.captioned and chief:
        checkpoint.save_vocabulary(workdir, data.vocabulary)
    if getattr(data, "text", None) is not None and chief:
        checkpoint.save_text(workdir, data.text)

    if distribution.processes > 1:
        checkpoint_minutes = None
    stopper = _Stopper(None if max_wall_seconds is None else time.time() + max_wall_seconds,
                       None if checkpoint_minutes is None else 60.0 * checkpoint_minutes)
    previous = {s: signal.signal(s, lambda *_: stopper.request("interrupted"))
                for s in (signal.SIGINT, signal.SIGTERM)}
    writer = summaries.open_writer(os.path.join(workdir, "logs")) if chief else None
    # The samples are the chief's to write; every JAX process of a multi-process run draws
    # them, since each takes part in every computation over the model's weights.
    draws = chief or (distribution.name == "data_parallel" and distribution.processes > 1)
    sampler = _make_sampler(model, data) if draws else None
    variational = registry.spec_of(model).family == registry.VARIATIONAL  # they trace
    tracer = jit.compile_method(model, model.trace) if draws and variational else None
    record = _resume_records(workdir, step) if resumed else {}
    if not resumed and chief and os.path.exists(os.path.join(workdir, METRICS)):
        os.remove(os.path.join(workdir, METRICS))  # an earlier run's records, not this one's
    wall_before = record.get("wall_s", 0.0)  # wall time of the runs this one resumes
    start = time.time()
    progress = _Progress(train_steps, step)
    try:
        while step < train_steps and stopper.reason is None:
            good_step = step
            chunk = min(steps_per_epoch - step % steps_per_epoch, train_steps - step)
            make_stream = functools.partial(data.train_batches, batch_size, seed,
                                            start_step=step)
            stream = distribution.batches(make_stream, getattr(data, "variable_length", False))
            history = model.fit(stream, steps_per_epoch=chunk, epochs=1, verbose=0,
                                shuffle=False, callbacks=[stopper, progress, *callbacks])
            step = int(optimizer.iterations.numpy())
            with _KeepNoise(model):
                valid = model.evaluate(valid_x, batch_size=batch_size, verbose=0,
                                       return_dict=True)  # (a tf.data input is batched already)
            record = {
                "step": step,
                "wall_s": round(wall_before + time.time() - start, 1),
                **{f"train/{k}": float(v[-1]) for k, v in history.history.items()},
                **{f"valid/{k}": float(v) for k, v in valid.items()},
            }
            bad = sorted(k for k, v in record.items() if k != "step" and not np.isfinite(v))
            if bad:
                raise TrainingDiverged(
                    f"training diverged between steps {good_step} and {step} ({', '.join(bad)} "
                    f"not finite); nothing of those steps was written, and {workdir} keeps "
                    + (f"the checkpoint of step {good_step}" if good_step else
                       "the initial weights")
                    + ": lower --learning_rate or --clipnorm and run again")
            if chief:
                _write_record(workdir, model, optimizer, record, writer)
            if draws:
                image, pictures = _samples(model, data, sampler, tracer, num_grid_samples, seed)
                if chief:
                    _write_samples(workdir, step, writer, image, pictures)
            stopper.checkpointed()
            progress.clear()
            print(json.dumps(record), flush=True)
    finally:
        progress.clear()
        if writer is not None:
            writer.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if stopper.reason:
        print(f"stopped at step {step} ({stopper.reason}); checkpoint in {workdir}; "
              "run the same command to resume", flush=True)
        if stopper.reason == "interrupted":
            raise KeyboardInterrupt  # the binary exits with 130, as after any Ctrl-C
    elif chief:
        print(f"finished: {step:,} steps; the model is in {workdir}")
    return record
