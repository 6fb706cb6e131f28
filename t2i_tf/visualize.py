"""Image grids and drawing-sequence animations (DRAW Figs. 1, 6, 7, 10), numpy and Pillow."""

import math

import numpy as np
from PIL import Image, ImageDraw


def grid(images, columns=None, pad=1, scale=1):
    """Tiles (n, H, W) images in [0, 1] into one uint8 (rows*(H+pad)+pad, ...) array;
    (n, H, W, 3) colour images into an (..., 3) RGB array."""
    images = np.asarray(images)
    n, h, w = images.shape[:3]
    columns = columns or int(math.ceil(math.sqrt(n)))
    rows = int(math.ceil(n / columns))
    out = np.full((rows * (h + pad) + pad, columns * (w + pad) + pad, *images.shape[3:]), 0.5,
                  np.float32)
    for k, image in enumerate(images):
        r, c = divmod(k, columns)
        out[pad + r * (h + pad):pad + r * (h + pad) + h, pad + c * (w + pad):pad + c * (w + pad) + w] = image
    out = np.clip(out * 255.0 + 0.5, 0, 255).astype(np.uint8)
    if scale > 1:
        out = out.repeat(scale, axis=0).repeat(scale, axis=1)
    return out


# GIF frames are palette images: grey levels 0..254, and index 255 is the red of the boxes;
# no per-frame colour quantization is needed.
_RED = 255
_PALETTE = [v for g in range(255) for v in (g, g, g)] + [255, 0, 0]


def window_box(window, n):
    """The (left, top, right, bottom) pixel box, 0-indexed, covered by an N x N filter grid.

    window = (g_X, g_Y, delta, sigma^2, gamma) with 1-indexed centres (see filterbank.py);
    the box spans the outermost filter centres g +- (N-1)/2 delta.
    """
    gx, gy, delta = window[0] - 1.0, window[1] - 1.0, window[2]
    half = (n - 1) / 2.0 * delta
    return gx - half, gy - half, gx + half, gy + half


def _draw_boxes(draw, windows, n, columns, image_shape, pad, scale, colour):
    """Boxes window k (of windows (count, 5), an N = n grid) on cell k of a grid, clipped to
    the cell: a window wider than the canvas shows as the canvas's edge, none outside it."""
    h, w = image_shape
    for k, window in enumerate(windows):
        r, c = divmod(k, columns)
        x0, y0 = (pad + c * (w + pad)) * scale, (pad + r * (h + pad)) * scale
        left, top, right, bottom = window_box(window, n)
        if right < 0 or bottom < 0 or left > w - 1 or top > h - 1:
            continue  # wholly off the canvas
        left, top = max(left, 0.0), max(top, 0.0)
        right, bottom = min(right, w - 1.0), min(bottom, h - 1.0)
        draw.rectangle([x0 + left * scale, y0 + top * scale,
                        x0 + right * scale, y0 + bottom * scale], outline=colour)


READ_COLOUR, WRITE_COLOUR = (0, 255, 0), (255, 0, 0)


def boxed_grid(images, boxes=(), columns=None, pad=1, scale=2):
    """An RGB grid of (n, H, W) or (n, H, W, 3) images in [0, 1] with attention windows boxed.

    Args:
      boxes: (windows (n, 5), N, (r, g, b)) triples, e.g. the read windows in READ_COLOUR
        and the write windows in WRITE_COLOUR.
    Returns: uint8 (rows*(H+pad)+pad, ..., 3) scaled by `scale`.
    """
    images = np.asarray(images)
    columns = columns or int(math.ceil(math.sqrt(len(images))))
    frame = Image.fromarray(grid(images, columns, pad, scale)).convert("RGB")
    draw = ImageDraw.Draw(frame)
    for windows, n, colour in boxes:
        _draw_boxes(draw, windows, n, columns, images.shape[1:3], pad, scale, colour)
    return np.asarray(frame)


def drawing_frames(canvases, windows=None, write_n=None, columns=None, scale=4):
    """One palette frame per step: the grid of canvases at step t with each write window boxed
    in red.

    Args:
      canvases: (T, n, H, W) in [0, 1].
      windows: (T, n, 5) or None (no attention: no boxes).
      write_n: N of the write grid.
    """
    steps, n, h, w = canvases.shape[:4]
    pad = 1
    columns = columns or int(math.ceil(math.sqrt(n)))
    frames = []
    colour = canvases.ndim == 5  # (T, n, H, W, 3): RGB frames, GIF quantizes them
    red = (255, 0, 0) if colour else _RED
    for t in range(steps):
        if colour:
            frame = Image.fromarray(grid(canvases[t], columns, pad, scale), "RGB")
        else:
            frame = Image.fromarray(np.minimum(grid(canvases[t], columns, pad, scale), 254), "P")
            frame.putpalette(_PALETTE)
        if windows is not None and write_n:
            _draw_boxes(ImageDraw.Draw(frame), windows[t], write_n, columns, (h, w), pad,
                        scale, red)
        frames.append(frame)
    return frames


def save_png(path, array):
    Image.fromarray(array).save(path)


def save_gif(path, frames, frame_ms=60, final_ms=1500):
    durations = [frame_ms] * (len(frames) - 1) + [final_ms]
    frames[0].save(path, save_all=True, append_images=frames[1:], duration=durations, loop=0)


def attention_map(weights, words, cell=12):
    """A words x steps heat map (alignDRAW Fig. 6): weights (n_words, T) in [0, 1], the
    words written on the left. Returns a uint8 (H, W) array."""
    n_words, steps = weights.shape
    label_width = 8 * max(len(w) for w in words) + 6
    image = Image.new("L", (label_width + steps * cell, n_words * cell), 0)
    draw = ImageDraw.Draw(image)
    peak = max(float(np.max(weights)), 1e-8)
    for k, word in enumerate(words):
        draw.text((2, k * cell), word, fill=255)
        for t in range(steps):
            shade = int(255 * weights[k, t] / peak)
            draw.rectangle([label_width + t * cell, k * cell,
                            label_width + (t + 1) * cell - 1, (k + 1) * cell - 1], fill=shade)
    return np.asarray(image)


def label_rows(image, labels, row_height, pad=1):
    """Writes labels[r] to the left of row r of a grid (uint8 (H, W) or (H, W, 3), rows of
    row_height pixels after a top pad, as `grid` makes them). Returns the wider uint8 array."""
    width = 6 * max(len(label) for label in labels) + 8
    strip = Image.new("L", (width, image.shape[0]), 0)
    draw = ImageDraw.Draw(strip)
    for r, label in enumerate(labels):
        draw.text((4, pad + r * row_height + row_height // 2 - 5), label, fill=255)
    strip = np.asarray(strip)
    if image.ndim == 3:
        strip = np.repeat(strip[..., None], image.shape[2], axis=2)
    return np.concatenate([strip, image], axis=1)


def stack(arrays, gap=6):
    """Stacks uint8 (H_i, W_i) arrays vertically, left-aligned, on black."""
    width = max(a.shape[1] for a in arrays)
    out = np.zeros((sum(a.shape[0] for a in arrays) + gap * (len(arrays) - 1), width), np.uint8)
    top = 0
    for a in arrays:
        out[top:top + a.shape[0], :a.shape[1]] = a
        top += a.shape[0] + gap
    return out
