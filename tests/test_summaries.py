"""TensorBoard summaries: each writer (tf.summary; tensorboard's own writer in a process where
TensorFlow cannot be imported; none) read back with TensorBoard's event reader, and the
epoch's pictures."""

import io
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from t2i_tf import visualize
from t2i_tf.training import summaries

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SCALARS = {"train/loss": 12.5, "valid/kl": 3.25}
IMAGES = {"samples": np.arange(35, dtype=np.uint8).reshape(5, 7),
          "windows": np.full((4, 6, 3), 200, np.uint8)}


def read_events(log_dir):
    """{tag: {step: value}} from the event files under log_dir, as TensorBoard reads them:
    scalars as floats, images as uint8 arrays (H, W, C)."""
    from PIL import Image
    from tensorboard.backend.event_processing import plugin_event_accumulator as pea
    from tensorboard.util import tensor_util

    reader = pea.EventAccumulator(log_dir, size_guidance={pea.TENSORS: 0})
    reader.Reload()
    out = {}
    for tag in reader.Tags()["tensors"]:
        plugin = reader.SummaryMetadata(tag).plugin_data.plugin_name
        for event in reader.Tensors(tag):
            value = tensor_util.make_ndarray(event.tensor_proto)
            if plugin == "images":  # [width, height, PNG...]
                image = np.asarray(Image.open(io.BytesIO(value[2])))
                assert (int(value[0]), int(value[1])) == (image.shape[1], image.shape[0])
                value = image if image.ndim == 3 else image[:, :, None]
            else:
                assert plugin == "scalars", (tag, plugin)
                value = float(value)
            out.setdefault(tag, {})[event.step] = value
    return out


def assert_training_summaries(workdir, captioned):
    """What t2i_tf.train writes after each epoch (its workdir's logs/): every scalar of
    metrics.jsonl, the samples, the canvas sequence with the write windows, the inference
    canvases with the read and write windows, and for caption models the word weights."""
    events = read_events(os.path.join(workdir, "logs"))
    with open(os.path.join(workdir, "metrics.jsonl")) as f:
        records = [json.loads(line) for line in f]
    with open(os.path.join(workdir, "config.json")) as f:
        config = json.load(f)["config"]
    steps = {r["step"] for r in records}
    for record in records:
        for tag, value in record.items():
            if "/" in tag:
                assert events[tag][record["step"]] == pytest.approx(value, rel=1e-6), tag
    assert {"train/loss", "train/reconstruction", "train/kl", "valid/loss"} <= set(events)
    pictures = {"samples", "canvas_sequence", "read_write_windows"}
    assert pictures | ({"attention"} if captioned else set()) <= set(events)
    assert ("attention" in events) == captioned
    height, width = config["image_shape"]
    columns = min(8, config["steps"])
    for tag in pictures | ({"attention"} if captioned else set()):
        assert set(events[tag]) == steps, tag
    for tag in ("canvas_sequence", "read_write_windows"):
        image = events[tag][max(steps)]
        assert image.shape == ((4 * (height + 1) + 1) * 2, (columns * (width + 1) + 1) * 2, 3)
        has = lambda c: np.all(image == c, axis=-1).any()
        assert has(visualize.WRITE_COLOUR)
        assert has(visualize.READ_COLOUR) == (tag == "read_write_windows")
    if captioned:
        assert events["attention"][max(steps)].max() > 0


def write_some(log_dir, kinds):
    writer = summaries.open_writer(log_dir, kinds)
    writer.scalars(7, SCALARS)
    writer.images(7, IMAGES)
    writer.scalars(9, {"train/loss": 11.0})
    writer.close()
    return writer


def assert_read_back(log_dir):
    events = read_events(log_dir)
    assert set(events) == set(SCALARS) | set(IMAGES)
    assert events["train/loss"] == {7: 12.5, 9: 11.0} and events["valid/kl"] == {7: 3.25}
    np.testing.assert_array_equal(events["samples"][7], IMAGES["samples"][:, :, None])
    np.testing.assert_array_equal(events["windows"][7], IMAGES["windows"])


def test_tf_summary_writer_reads_back(tmp_path):
    writer = write_some(str(tmp_path), kinds=("tf",))
    assert type(writer).__name__ == "_TfWriter"
    assert_read_back(str(tmp_path))


def test_tensorboard_writer_needs_no_tensorflow(tmp_path):
    # A process where `import tensorflow` fails, as on the JAX-only machines.
    code = textwrap.dedent(f"""
        import sys
        sys.modules["tensorflow"] = None
        import test_summaries
        writer = test_summaries.write_some({str(tmp_path)!r}, kinds=("tf", "tensorboard"))
        print(type(writer).__name__, "tensorflow" in sys.modules and
              sys.modules["tensorflow"] is not None)
    """)
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([ROOT, os.path.join(ROOT, "tests")])}
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                            text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == ["_EventWriter", "False"]
    assert_read_back(str(tmp_path))


def test_without_any_writer_it_says_so_once(tmp_path, capsys):
    writer = write_some(str(tmp_path), kinds=())
    lines = capsys.readouterr().out.splitlines()
    assert len(lines) == 1 and "no TensorBoard events" in lines[0]
    assert os.listdir(tmp_path) == []
    del writer


def test_pictures_of_an_epoch():
    steps, n, size = 5, 6, 12
    rng = np.random.default_rng(0)
    window = np.array([6.0, 6.0, 2.0, 1.0, 1.0], np.float32)  # a box from pixel 3 to 7
    windows = np.tile(window, (steps, n, 1))
    alpha = rng.random((steps, n, 4)).astype(np.float32)
    samples = {"canvases": rng.random((steps, n, size, size)).astype(np.float32) * 0.5,
               "windows": windows, "alpha": alpha}
    trace = {"canvases": samples["canvases"], "read_windows": windows,
             "write_windows": windows + [1, 1, 0, 0, 0]}
    words = [["the", "digit", "3"], ["a", "b", "c", "d"]] * 3
    out = summaries.pictures(samples, trace, words, read_n=2, write_n=3, rows=4, columns=3)
    assert set(out) == {"canvas_sequence", "read_write_windows", "attention"}
    # 4 rows of images, 3 steps (0, 2, 4) each, pad 1, scale 2; RGB.
    cell = size + 1
    assert out["canvas_sequence"].shape == ((4 * cell + 1) * 2, (3 * cell + 1) * 2, 3)
    assert out["read_write_windows"].shape == out["canvas_sequence"].shape
    colours = lambda image, c: np.all(image == c, axis=-1).sum()
    assert colours(out["canvas_sequence"], visualize.WRITE_COLOUR) > 0
    assert colours(out["canvas_sequence"], visualize.READ_COLOUR) == 0
    assert colours(out["read_write_windows"], visualize.READ_COLOUR) > 0
    assert colours(out["read_write_windows"], visualize.WRITE_COLOUR) > 0
    # One words x steps map per caption, 12-pixel cells, stacked with 6-pixel gaps.
    assert out["attention"].ndim == 2
    assert out["attention"].shape[0] == 12 * (3 + 4 + 3 + 4) + 6 * 3
    # No alignment (alpha all zero) or no captions: no attention maps; no attention: no
    # boxes, and the grid shows canvas t of image i at row i, column t.
    plain = summaries.pictures({**samples, "alpha": 0 * alpha}, None, words, None, None,
                               rows=4, columns=3)
    assert set(plain) == {"canvas_sequence"}
    by_row = np.swapaxes(samples["canvases"][[0, 2, 4], :4], 0, 1).reshape(-1, size, size)
    want = visualize.grid(by_row, columns=3, scale=2)
    for channel in range(3):
        np.testing.assert_array_equal(plain["canvas_sequence"][..., channel], want)
