"""TensorBoard summaries of training, on either backend, and the pictures they show.

`open_writer(log_dir)` returns the first writer that this machine can run:
  "tf"           tf.summary, when TensorFlow is importable;
  "tensorboard"  the `tensorboard` package's own event-file writer and protos (no TensorFlow:
                 the JAX-only machines), images PNG-encoded with Pillow;
and, with neither, a writer that says so once and writes nothing (the scalars still reach
the workdir's metrics.jsonl). Both real writers write events.out.tfevents.* files that
`tensorboard --logdir` and its event readers read: scalars as scalars, images as images.

`pictures` turns a sampler's and a trace's numpy outputs into the epoch's images: the
canvas sequence of samples with the write window boxed, canvases of the inference pass with
the read (green) and write (red) windows boxed, and the word-attention maps (words x steps).
"""

import io
import time

import numpy as np

from t2i_tf import visualize

KINDS = ("tf", "tensorboard")


class _TfWriter:
    """tf.summary scalars and images."""

    def __init__(self, log_dir):
        import tensorflow as tf

        self._tf = tf
        self._writer = tf.summary.create_file_writer(log_dir)

    def scalars(self, step, values):
        with self._writer.as_default(step=step):
            for tag, value in values.items():
                self._tf.summary.scalar(tag, float(value))
        self._writer.flush()

    def images(self, step, images):
        with self._writer.as_default(step=step):
            for tag, image in images.items():
                self._tf.summary.image(tag, _hwc(image)[None])
        self._writer.flush()

    def close(self):
        self._writer.close()


class _EventWriter:
    """The same events through tensorboard.summary.writer, which needs no TensorFlow."""

    def __init__(self, log_dir):
        from tensorboard.compat.proto import event_pb2, summary_pb2
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self._event, self._summary = event_pb2.Event, summary_pb2.Summary
        self._writer = EventFileWriter(log_dir)

    def _write(self, step, values):
        self._writer.add_event(self._event(wall_time=time.time(), step=step,
                                           summary=self._summary(value=values)))
        self._writer.flush()

    def scalars(self, step, values):
        self._write(step, [self._summary.Value(tag=tag, simple_value=float(value))
                           for tag, value in values.items()])

    def images(self, step, images):
        from PIL import Image

        values = []
        for tag, image in images.items():
            image = _hwc(image)
            png = io.BytesIO()
            Image.fromarray(image.squeeze(-1) if image.shape[-1] == 1 else image).save(
                png, format="PNG")
            values.append(self._summary.Value(tag=tag, image=self._summary.Image(
                height=image.shape[0], width=image.shape[1], colorspace=image.shape[2],
                encoded_image_string=png.getvalue())))
        self._write(step, values)

    def close(self):
        self._writer.close()


class _NoWriter:
    def scalars(self, step, values):
        pass

    def images(self, step, images):
        pass

    def close(self):
        pass


_WRITERS = {"tf": _TfWriter, "tensorboard": _EventWriter}


def open_writer(log_dir, kinds=KINDS):
    """The first writer of `kinds` ("tf", "tensorboard") whose package imports.

    With none, prints one line saying so and returns a writer that writes nothing.
    Every writer has scalars(step, {tag: number}), images(step, {tag: uint8 (H, W) or
    (H, W, 3)}) and close().
    """
    for kind in kinds:
        try:
            return _WRITERS[kind](log_dir)
        except ImportError:
            continue
    print(f"neither TensorFlow nor tensorboard is installed: no TensorBoard events in "
          f"{log_dir} (metrics.jsonl has the scalars)")
    return _NoWriter()


def _hwc(image):
    image = np.asarray(image, np.uint8)
    return image[:, :, None] if image.ndim == 2 else image


def _steps(total, columns):
    """Up to `columns` step indices spread over 0..total-1, the last one included."""
    return np.unique(np.linspace(0, total - 1, min(columns, total)).round().astype(int))


def step_grid(canvases, boxes=(), rows=4, columns=8, scale=2):
    """An RGB grid: row i is image i's canvas at `columns` steps, left to right.

    Args:
      canvases: (T, n, B, A) in [0, 1].
      boxes: (windows (T, n, 5), N, colour) triples boxed on each canvas (see
        visualize.boxed_grid).
    """
    steps = _steps(len(canvases), columns)
    rows = min(rows, canvases.shape[1])
    pick = lambda a: np.swapaxes(a[steps, :rows], 0, 1).reshape(-1, *a.shape[2:])
    return visualize.boxed_grid(pick(canvases), [(pick(w), n, c) for w, n, c in boxes],
                                columns=len(steps), scale=scale)


def attention_maps(alpha, words, rows=4):
    """The word weights of the first `rows` captions, words x steps, stacked: alpha
    (T, n, L) and words (n lists of each caption's words). Returns uint8 (H, W)."""
    return visualize.stack([visualize.attention_map(alpha[:, i, :len(w)].T, w)
                            for i, w in enumerate(words[:rows])])


def pictures(samples, trace=None, words=None, read_n=None, write_n=None, rows=4, columns=8):
    """The epoch's pictures, {tag: uint8 image}.

    Args:
      samples: a DRAW-family sampler's numpy output for the fixed validation captions (or
        the prior): canvases (T, n, B, A), windows (T, n, 5), and alpha (T, n, L) for
        caption models.
      trace: the model's `trace` of validation images (numpy): canvases, read_windows and
        write_windows.
      words: the validation captions' words, for the attention maps (None: no maps; nor
        without an alignment, whose alpha are all zero).
      read_n, write_n: the read and write grids' N; None without attention (no boxes).
    Tags: canvas_sequence, read_write_windows, attention.
    """
    write = [(samples["windows"], write_n, visualize.WRITE_COLOUR)] if write_n else []
    out = {"canvas_sequence": step_grid(samples["canvases"], write, rows, columns)}
    if trace is not None:
        boxes = [] if not (read_n and write_n) else [
            (trace["read_windows"], read_n, visualize.READ_COLOUR),
            (trace["write_windows"], write_n, visualize.WRITE_COLOUR)]
        out["read_write_windows"] = step_grid(trace["canvases"], boxes, rows, columns)
    if words is not None and np.any(samples.get("alpha", 0)):
        out["attention"] = attention_maps(samples["alpha"], words, rows)
    return out
