"""The validation bound of training runs against epochs and wall hours, as an SVG picture.

  python tools/plot_curve.py --curve=draw_mnist:80.97 --curve=draw_mnist_noattn:87.40 \
      --out=docs/images/draw_curve.svg

Each --curve is MODEL[:PAPER_NATS]: a shipped model's name or a folder (a shipped model's
training_curve.jsonl, or a workdir's metrics.jsonl), with the runs its weights started from
(earlier_curve.jsonl; t2i_tf.checkpoint.full_curve); PAPER_NATS draws the paper's figure as a
dashed line of the same colour. Two panels: the bound by epoch (steps x --batch_size /
--epoch_size) and by wall hour. Plain SVG, no plotting library.
"""

import math
import os
import sys
from xml.sax.saxutils import escape

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import argparse  # noqa: E402  (not absl: tests import this module beside the binaries)

from t2i_tf.training import checkpoint  # noqa: E402

COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd")
PANEL_W, PANEL_H, MARGIN = 420, 280, 55


def read_curve(spec, metric, batch_size, epoch_size):
    """(label, [(epoch, hours, value)], paper value or None) of one --curve."""
    name, _, paper = spec.partition(":")
    folder = checkpoint.resolve(name)
    own = (checkpoint.TRAINING_CURVE
           if os.path.exists(os.path.join(folder, checkpoint.TRAINING_CURVE))
           else checkpoint.METRICS)
    records = [r for r in checkpoint.full_curve(folder, own) if metric in r]
    if not records:
        raise SystemExit(f"error: {folder} holds no {metric} records")
    points = [(r["step"] * batch_size / epoch_size, r.get("wall_s", 0.0) / 3600, r[metric])
              for r in records]
    return os.path.basename(os.path.normpath(name)), points, float(paper) if paper else None


def _ticks(low, high, count=5):
    """About `count` round values (1, 2 or 5 times a power of ten apart) within [low, high]."""
    raw = (high - low) / count or 1.0
    power = 10 ** math.floor(math.log10(raw))
    step = next(f * power for f in (1, 2, 5, 10) if f * power >= raw)
    first = math.ceil(low / step) * step
    return [first + i * step for i in range(int((high - first) / step + 1e-9) + 1)]


def render(curves, title, metric_label="nats"):
    """The SVG text of two panels (by epoch, by wall hour) for `curves` from read_curve."""
    values = [p[2] for _, points, _ in curves for p in points]
    values += [paper for _, _, paper in curves if paper is not None]
    y_low, y_high = min(values), max(values)
    pad = 0.05 * (y_high - y_low or 1)
    y_low, y_high = y_low - pad, y_high + pad
    width = 2 * (PANEL_W + MARGIN) + MARGIN
    height = PANEL_H + 2 * MARGIN + 20 * len(curves)
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
           f'font-family="sans-serif" font-size="12">',
           f'<rect width="{width}" height="{height}" fill="white"/>',
           f'<text x="{width / 2}" y="18" text-anchor="middle" font-size="14">'
           f'{escape(title)}</text>']
    for panel, (axis, label) in enumerate(((0, "epochs"), (1, "wall hours"))):
        x0, y0 = MARGIN + panel * (PANEL_W + MARGIN), MARGIN // 2 + 10
        x_high = max(p[axis] for _, points, _ in curves for p in points) or 1.0
        sx = lambda v, x0=x0, x_high=x_high: x0 + PANEL_W * v / x_high
        sy = lambda v, y0=y0: y0 + PANEL_H * (y_high - v) / (y_high - y_low)
        out.append(f'<rect x="{x0}" y="{y0}" width="{PANEL_W}" height="{PANEL_H}" '
                   'fill="none" stroke="#444"/>')
        for tick in _ticks(y_low, y_high, count=8):
            out.append(f'<line x1="{x0}" x2="{x0 + PANEL_W}" y1="{sy(tick):.1f}" '
                       f'y2="{sy(tick):.1f}" stroke="#ddd"/>'
                       f'<text x="{x0 - 4}" y="{sy(tick) + 4:.1f}" text-anchor="end">'
                       f'{tick:g}</text>')
        for tick in _ticks(0, x_high):
            out.append(f'<text x="{sx(tick):.1f}" y="{y0 + PANEL_H + 15}" '
                       f'text-anchor="middle">{tick:g}</text>')
        out.append(f'<text x="{x0 + PANEL_W / 2}" y="{y0 + PANEL_H + 32}" '
                   f'text-anchor="middle">{label}</text>')
        for index, (name, points, paper) in enumerate(curves):
            colour = COLOURS[index % len(COLOURS)]
            path = " ".join(f"{sx(p[axis]):.1f},{sy(p[2]):.1f}" for p in points)
            out.append(f'<polyline class="curve" data-model="{escape(name)}" points="{path}" '
                       f'fill="none" stroke="{colour}" stroke-width="1.8"/>')
            if paper is not None:
                out.append(f'<line class="paper" data-model="{escape(name)}" x1="{x0}" '
                           f'x2="{x0 + PANEL_W}" y1="{sy(paper):.1f}" y2="{sy(paper):.1f}" '
                           f'stroke="{colour}" stroke-dasharray="6,4"/>')
    for index, (name, points, paper) in enumerate(curves):
        y = MARGIN // 2 + 10 + PANEL_H + 50 + 20 * index
        colour = COLOURS[index % len(COLOURS)]
        last = points[-1]
        text = (f"{name}: {last[2]:.2f} {metric_label} after {last[0]:.1f} epochs, "
                f"{last[1]:.1f} h" + (f"; paper (dashed) {paper:g}" if paper else ""))
        out.append(f'<line x1="{MARGIN}" x2="{MARGIN + 30}" y1="{y - 4}" y2="{y - 4}" '
                   f'stroke="{colour}" stroke-width="2"/>'
                   f'<text x="{MARGIN + 38}" y="{y}">{escape(text)}</text>')
    out.append("</svg>")
    return "\n".join(out) + "\n"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--curve", action="append", default=[],
                        help="MODEL[:PAPER_NATS]; repeat for several models")
    parser.add_argument("--out", required=True, help="the SVG file to write")
    parser.add_argument("--metric", default="valid/loss", help="the record field on the y axis")
    parser.add_argument("--batch_size", type=int, default=100, help="images per training step")
    parser.add_argument("--epoch_size", type=int, default=50000, help="training images per epoch")
    parser.add_argument("--title", default="negative variational bound on validation (nats)")
    args = parser.parse_args()
    if not args.curve:
        parser.error("give at least one --curve=MODEL[:PAPER_NATS]")
    try:
        curves = [read_curve(spec, args.metric, args.batch_size, args.epoch_size)
                  for spec in args.curve]
    except (checkpoint.CheckpointError, ValueError) as e:
        parser.error(str(e))
    checkpoint.atomic_write_text(args.out, render(curves, args.title))
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
