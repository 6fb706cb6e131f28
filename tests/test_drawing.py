"""What sample writes (t2i_tf/sampling/drawing.py), called as functions: the chunked DRAW
calls, the picture scale, the attention files, and the pixel models' scores.txt."""

import os

import numpy as np
import pytest

from t2i_tf.errors import RunError
from t2i_tf.sampling import drawing


def fake_draw(calls):
    """A DRAW sampler's output whose canvases record (image row, seed): (T=2, n, 1, 2)."""
    def draw(start, stop, seed):
        calls.append((start, stop, seed))
        rows = np.arange(start, stop, dtype=np.float32)
        canvases = np.stack([rows, np.full_like(rows, seed)], -1)[None, :, None, :]
        canvases = np.repeat(canvases, 2, axis=0)
        return {"canvases": canvases, "windows": np.zeros((2, stop - start, 5)),
                "alpha": np.ones((2, stop - start, 3))}
    return draw


def test_draws_in_chunks_with_derived_seeds(monkeypatch):
    monkeypatch.setattr(drawing, "CHUNK", 4)
    calls = []
    final, kept, whole = drawing.draw_chunked(fake_draw(calls), 10, [0, 5, 9], seed=7,
                                              temperature=0.5)
    assert [c[:2] for c in calls] == [(0, 4), (4, 8), (8, 10)]
    seeds = [c[2] for c in calls]
    assert seeds[0] == 7
    assert seeds[1] == int(np.random.SeedSequence([7, 1]).generate_state(1)[0] >> 1)
    np.testing.assert_array_equal(final[:, 0, 0], np.arange(10))  # every row, in order
    np.testing.assert_array_equal(kept[0, :, 0, 0], [0, 5, 9])  # the shown rows only
    assert whole["windows"].shape == (2, 10, 5) and whole["alpha"].shape == (2, 10, 3)


def test_non_finite_canvases_stop_before_anything_is_written():
    def draw(start, stop, seed):
        return {"canvases": np.full((1, stop - start, 2, 2), np.nan)}
    with pytest.raises(RunError, match="non-finite canvases at --temperature=3"):
        drawing.draw_chunked(draw, 2, [0], seed=0, temperature=3.0)


def test_picture_scale_stays_within_the_limit(capsys):
    assert drawing.picture_scale(16, None, 28, 4) == 4  # 4 x 29 x 4 pixels
    # 64 columns of 61 pixels: 3,904 at scale 1, so at most 2 (8,192 // 3,904).
    assert drawing.picture_scale(128, 64, 60, 4) == 2
    assert "drawn at --scale=2" in capsys.readouterr().err


def test_attention_files(tmp_path):
    alpha = np.zeros((3, 1, 4))  # (T, captions, L)
    alpha[:, 0, 1] = 0.75
    alpha[:, 0, 0] = 0.25
    kept = [("--caption 1", "the digit 3 .", ["the", "digit", "3"])]
    paths = drawing.write_attention(str(tmp_path), alpha, kept)
    assert [os.path.basename(p) for p in paths] == ["attention.png", "attention.txt"]
    with open(paths[1]) as f:
        assert f.read() == "the digit 3 .\n  digit:0.750 the:0.250 3:0.000\n"


class FakePixelModel:
    """What draw_pixel_captions reads of a pixel model, drawn by a fake sampler."""

    levels, num_pixels = 2, 4


def test_pixel_scores(tmp_path, monkeypatch):
    class Sampler:
        def __init__(self, model, method, beam_width=1, temperature=1.0):
            self.method = method

        def __call__(self, ids, mask, seed=0):
            n = len(ids)
            return {"images": np.ones((n, 2, 2), np.int32),
                    "log_prob": -np.arange(1, n + 1, dtype=np.float32)}

    monkeypatch.setattr(drawing.samplers, "PixelCaptionSampler", Sampler)
    kept = [("a", "first  caption", ["first"]), ("b", "second", ["second"])]
    ids, mask = np.ones((2, 3), np.int32), np.ones((2, 3), bool)
    paths = drawing.draw_pixel_captions(FakePixelModel(), str(tmp_path), kept, ids, mask,
                                        "sample", 1, 2, 0, 0.5, 1)
    with open(paths[1]) as f:
        lines = f.read().splitlines()
    assert lines[0].startswith("# caption<TAB>log p(x | y) in nats of each image drawn "
                               "(sample at temperature 0.5; summed over the 4 pixels)")
    assert lines[1:] == ["first caption\t-1.000 -2.000", "second\t-3.000 -4.000"]
    assert os.path.getsize(paths[0]) > 0
