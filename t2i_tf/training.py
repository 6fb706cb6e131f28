"""The training loop behind `python -m t2i_tf.train`: Keras fit in chunks of
`steps_per_epoch` steps, an atomic checkpoint after each chunk, resume from the last one.

Interruptions: SIGINT and SIGTERM (and the wall-time budget) end the current step, write a
checkpoint and return; running the same command again resumes from it, with the same
batches the uninterrupted run would have used (see t2i_tf.data.datasets).

Divergence: a chunk whose training or validation loss is not finite writes nothing (no
checkpoint, record, summary or samples) and raises TrainingDiverged, so the last good
checkpoint is kept: a NaN once written over it would have lost the whole run.

Distributed runs (t2i_tf.distribute) call `train` inside the strategy's scope in every
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

from t2i_tf import checkpoint, cli, distribute, jit, sampling, summaries, visualize

METRICS = "metrics.jsonl"


class TrainingDiverged(cli.RunError):
    """A chunk of training ended with a loss that is not finite; nothing of it was written."""


class _Stopper(keras.callbacks.Callback):
    """Ends fit() after the current batch on SIGINT/SIGTERM or when the budget is spent."""

    def __init__(self, deadline):
        super().__init__()
        self.deadline = deadline
        self.reason = None

    def request(self, reason):
        self.reason = reason

    def on_train_batch_end(self, batch, logs=None):
        if self.reason is None and self.deadline is not None and time.time() > self.deadline:
            self.reason = "wall-time budget spent"
        if self.reason is not None:
            self.model.stop_training = True


def _last_record(workdir):
    path = os.path.join(workdir, METRICS)
    if not os.path.exists(path):
        return {}
    with open(path) as f:
        lines = [line for line in f if line.strip()]
    return json.loads(lines[-1]) if lines else {}


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
    """The preview's sampler: ancestral sampling for the pixel models (which have
    next_pixel), the prior for DRAW, the prior given captions for alignDRAW."""
    if hasattr(model, "next_pixel"):
        return sampling.PixelCaptionSampler(model, "sample")
    return (sampling.CaptionSampler if data.captioned else sampling.PriorSampler)(model)


def _preview(model, data, sampler, n, seed):
    """n samples in [0, 1] (from the prior, or for the first n validation captions), and
    the sampler's whole output."""
    if not data.captioned:
        out = sampler(n, seed=seed)
        return out["canvases"][-1], out
    x = data.validation(n)
    out = sampler(x["ids"], x["mask"], seed=seed)
    if "images" in out:  # a pixel model's integer pixel values
        return sampling.unit_images(out["images"], model.levels), out
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


def _write_epoch(workdir, model, optimizer, data, record, writer, preview, tracer, seed):
    """The chief's outputs after a chunk: checkpoint, metrics line, summaries, sample grid.

    preview: what _preview returned (the sample grid's images and the sampler's output)."""
    step = record["step"]
    checkpoint.save_model(workdir, model, optimizer)
    _append_record(workdir, record)
    writer.scalars(step, {k: v for k, v in record.items() if "/" in k})
    samples, out = preview
    image = visualize.grid(samples, scale=2)
    os.makedirs(os.path.join(workdir, "samples"), exist_ok=True)
    visualize.save_png(os.path.join(workdir, "samples", f"step_{step:07d}.png"), image)
    pictures = _pictures(model, data, tracer, out, seed) if tracer else {}
    writer.images(step, {"samples": image, **pictures})


def train(model, data, workdir, optimizer, batch_size=100, train_steps=1000,
          steps_per_epoch=500, valid_images=1000, max_wall_seconds=None, seed=0,
          num_grid_samples=64, distribution=None):
    """Trains `model` on `data` (t2i_tf.data.datasets) and checkpoints into `workdir`.

    batch_size is the global batch. distribution: a t2i_tf.distribute.Distribution whose
    scope holds the model and this call; None trains on one device. Only its chief writes
    checkpoints, metrics, summaries and samples.
    Returns the last record (the one written to metrics.jsonl by the chief).
    """
    distribution = distribution or distribute.Distribution("none")
    chief = distribution.is_chief
    os.makedirs(workdir, exist_ok=True)  # an unwritable workdir fails before the slow part
    valid_x = distribution.arrays(data.validation(valid_images), batch_size)
    model.compile(optimizer=optimizer, jit_compile=distribution.jit_compile)
    # The checkpoint holds no learning rate: the one asked for now (a constant or a schedule
    # of the step) applies, so a resumed run can lower it or change its schedule.
    if checkpoint.restore_training(workdir, model, optimizer):
        print(f"resuming from {workdir} at step {int(optimizer.iterations.numpy())}")
    elif chief:
        checkpoint.save_model(workdir, model)  # fails early on an unwritable workdir
    if data.captioned and chief:
        checkpoint.save_vocabulary(workdir, data.vocabulary)
    if getattr(data, "text", None) is not None:
        checkpoint.save_text(workdir, data.text)

    stopper = _Stopper(None if max_wall_seconds is None else time.time() + max_wall_seconds)
    previous = {s: signal.signal(s, lambda *_: stopper.request("interrupted"))
                for s in (signal.SIGINT, signal.SIGTERM)}
    writer = summaries.open_writer(os.path.join(workdir, "logs")) if chief else None
    sampler = _make_sampler(model, data) if chief else None
    tracer = (jit.compile_method(model, model.trace) if chief and hasattr(model, "trace")
              else None)
    record = _last_record(workdir)
    wall_before = record.get("wall_s", 0.0)  # wall time of the runs this one resumes
    start = time.time()
    verbose = 1 if sys.stdout.isatty() else 2  # the progress bar on a terminal
    try:
        step = int(optimizer.iterations.numpy())
        while step < train_steps and stopper.reason is None:
            good_step = step
            chunk = min(steps_per_epoch - step % steps_per_epoch, train_steps - step)
            print(f"steps {step}-{step + chunk} of {train_steps}")
            make_stream = functools.partial(data.train_batches, batch_size, seed,
                                            start_step=step)
            stream = distribution.batches(make_stream, getattr(data, "variable_length", False))
            history = model.fit(stream, steps_per_epoch=chunk, epochs=1, verbose=verbose,
                                shuffle=False, callbacks=[stopper])
            step = int(optimizer.iterations.numpy())
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
                _write_epoch(workdir, model, optimizer, data, record, writer,
                             _preview(model, data, sampler, num_grid_samples, seed), tracer,
                             seed)
            print(json.dumps(record))
    finally:
        if writer is not None:
            writer.close()
        for s, handler in previous.items():
            signal.signal(s, handler)
    if stopper.reason:
        print(f"stopped at step {step} ({stopper.reason}); checkpoint in {workdir}; "
              "run the same command to resume")
    return record
