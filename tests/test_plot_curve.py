"""tools/plot_curve.py: the curve of every run behind a model, drawn to scale."""

import json
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, os.path.join(ROOT, "tools"))

import plot_curve  # noqa: E402

from t2i_tf.training import checkpoint  # noqa: E402


def test_points_follow_both_runs_to_scale(tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / checkpoint.EARLIER_CURVE).write_text(
        json.dumps({"step": 500, "wall_s": 1800.0, "valid/loss": 120.0, "run": 0}) + "\n")
    (folder / checkpoint.METRICS).write_text("".join(
        json.dumps({"step": s, "wall_s": w, "valid/loss": v}) + "\n"
        for s, w, v in ((500, 1800.0, 100.0), (1000, 5400.0, 90.0))))
    label, points, paper = plot_curve.read_curve(f"{folder}:80.97", "valid/loss", 100, 50000)
    # steps 500, 1000, 1500 of 100 images: epochs 1, 2, 3; wall 0.5, 1 and 2 hours.
    assert label == "run" and paper == 80.97
    assert points == [(1.0, 0.5, 120.0), (2.0, 1.0, 100.0), (3.0, 2.0, 90.0)]
    svg = plot_curve.render([(label, points, paper)], "t")
    by_epoch, by_hour = re.findall(r'class="curve"[^>]*points="([^"]*)"', svg)
    epoch_xy = [tuple(map(float, p.split(","))) for p in by_epoch.split()]
    hour_xy = [tuple(map(float, p.split(","))) for p in by_hour.split()]
    # x is linear in the epoch (1, 2, 3 equally spaced, the last at the panel's edge) and
    # in the hour (0.5, 1, 2); y falls with the bound, the same in both panels.
    left = plot_curve.MARGIN
    assert epoch_xy[2][0] == left + plot_curve.PANEL_W
    assert abs((epoch_xy[1][0] - epoch_xy[0][0]) - (epoch_xy[2][0] - epoch_xy[1][0])) < 0.2
    assert abs(2 * (hour_xy[1][0] - hour_xy[0][0]) - (hour_xy[2][0] - hour_xy[1][0])) < 0.2
    assert [y for _, y in epoch_xy] == [y for _, y in hour_xy]
    assert epoch_xy[0][1] < epoch_xy[1][1] < epoch_xy[2][1]
    paper_y = float(re.search(r'class="paper"[^>]*y1="([\d.]+)"', svg).group(1))
    assert paper_y > epoch_xy[2][1]  # 80.97 lies below 90 nats
    assert "90.00 nats after 3.0 epochs, 2.0 h; paper (dashed) 80.97" in svg


def test_ticks_are_round_and_inside():
    assert plot_curve._ticks(75.3, 181.0, count=8) == [80, 100, 120, 140, 160, 180]
    assert plot_curve._ticks(0, 3.9) == [0, 1, 2, 3]
