"""What t2i_tf.sample writes: a model's drawings as pictures, and for caption models the
attention over the words (DRAW models) or each image's log-probability (pixel models).

DRAW models: samples.png (final canvases: Bernoulli means, as in DRAW Fig. 6; one row per
caption for caption models), steps.png (canvases every few steps, Fig. 7) and drawing.gif
(the drawing sequence with each write window boxed in red, Figs. 1 and 10); caption models
add attention.png (words x steps, alignDRAW Fig. 6) and attention.txt (words by weight).
Pixel models: samples.png (one row per caption, pixel values v shown as v / (V - 1)) and
scores.txt (log p(x | y) in nats of each image drawn).
"""

import math
import os
import sys

import numpy as np

from t2i_tf import visualize
from t2i_tf.errors import RunError
from t2i_tf.sampling import samplers

CHUNK = 128  # DRAW images per sampler call: memory stays bounded
SHOWN = 16  # samples per caption (64 without captions) in steps.png and drawing.gif
PICTURE_COLUMNS = 64  # samples per caption in samples.png (all of them in samples.npz)
MAX_PICTURE_SIDE = 8192  # pixels: samples.png's scale is lowered to stay within it


def draw_chunked(draw, rows, shown, seed, temperature):
    """Runs draw(start, stop, seed) -> a DRAW sampler's output over `rows` images in
    compiled calls of at most CHUNK images, so that memory stays bounded whatever the
    number of images. Returns the final canvases of every row (rows, H, W), the sampler's
    whole output for the rows in `shown` (sorted), and its windows and word weights (small)
    for every row. One call draws exactly what an unchunked call would; later chunks take
    seeds derived from (seed, chunk).

    Raises RunError, before anything is written, if a canvas is not finite."""
    finals, kept, whole = [], [], {}
    shown = np.asarray(shown)
    for i, start in enumerate(range(0, rows, CHUNK)):
        stop = min(start + CHUNK, rows)
        chunk_seed = seed if i == 0 else int(np.random.SeedSequence([seed, i])
                                             .generate_state(1)[0] >> 1)
        out = draw(start, stop, chunk_seed)
        if not np.all(np.isfinite(out["canvases"][-1])):
            raise RunError(f"the model drew non-finite canvases at --temperature="
                           f"{temperature:g}; nothing was written: try a lower one")
        finals.append(np.array(out["canvases"][-1]))  # a copy: a view would keep every step
        here = shown[(shown >= start) & (shown < stop)] - start
        kept.append(out["canvases"][:, here])
        for key in ("windows", "alpha"):
            if key in out:
                whole.setdefault(key, []).append(out[key])
    whole = {k: np.concatenate(v, axis=1) for k, v in whole.items()}
    return np.concatenate(finals), np.concatenate(kept, axis=1), whole


def picture_scale(count, columns, side, scale):
    """`scale`, lowered (and said) if samples.png would be wider or taller than
    MAX_PICTURE_SIDE pixels."""
    columns = columns or int(math.ceil(math.sqrt(count)))
    longest = max(columns, math.ceil(count / columns)) * (side + 1)
    lowered = max(1, min(scale, MAX_PICTURE_SIDE // longest))
    if lowered < scale:
        print(f"note: samples.png drawn at --scale={lowered} to stay within "
              f"{MAX_PICTURE_SIDE} pixels", file=sys.stderr)
    return lowered


def write_pictures(out, model, final, canvases, windows, scale, columns=None,
                   shown_columns=None, labels=None):
    """samples.png of the final canvases (n, H, W) in rows of `columns` (one per caption
    with labels); steps.png and drawing.gif of the drawing sequence `canvases` (T, k, H, W)
    with its `windows` (T, k, 5) in rows of `shown_columns`, k <= n."""
    write_n = model.cell.write_n if model.cell.attention else None
    paths = {name: os.path.join(out, name) for name in ("samples.png", "steps.png", "drawing.gif")}
    lowered = picture_scale(len(final), columns, final.shape[1], scale)
    picture = visualize.grid(final, columns, scale=lowered)
    if labels:  # one row per caption: write it on the left
        picture = visualize.label_rows(picture, labels, (final.shape[1] + 1) * lowered, lowered)
    visualize.save_png(paths["samples.png"], picture)
    few = min(8, canvases.shape[1])
    ticks = np.linspace(0, model.steps - 1, min(model.steps, 16)).round().astype(int)
    sequence = np.swapaxes(canvases[ticks, :few], 0, 1).reshape(-1, *canvases.shape[2:])
    visualize.save_png(paths["steps.png"], visualize.grid(sequence, len(ticks), scale=scale))
    frames = visualize.drawing_frames(canvases, windows if write_n else None, write_n,
                                      columns=shown_columns, scale=scale)
    visualize.save_gif(paths["drawing.gif"], frames)
    return list(paths.values())


def draw_prior(model, out, num_samples, seed, temperature, scale):
    """A DRAW model without captions: num_samples images from its prior at `temperature`;
    returns the written paths."""
    sampler = samplers.PriorSampler(model, temperature)
    shown = list(range(min(num_samples, 4 * SHOWN)))
    final, canvases, whole = draw_chunked(
        lambda start, stop, chunk_seed: sampler(stop - start, seed=chunk_seed), num_samples,
        shown, seed, temperature)
    return write_pictures(out, model, final, canvases, whole["windows"][:, shown], scale)


def draw_captions(model, out, kept, ids, mask, num_samples, seed, temperature, scale):
    """An alignDRAW model: num_samples images for each caption of `kept` [(label, caption,
    tokens)] (ids, mask: their encoding) and the attention over its words; returns the
    written paths."""
    n = num_samples
    ids, mask = np.repeat(ids, n, 0), np.repeat(mask, n, 0)
    sampler = samplers.CaptionSampler(model, temperature)
    shown = [c * n + k for c in range(len(kept)) for k in range(min(n, SHOWN))]
    final, canvases, whole = draw_chunked(
        lambda start, stop, chunk_seed: sampler(ids[start:stop], mask[start:stop],
                                                seed=chunk_seed),
        len(ids), shown, seed, temperature)
    columns = min(n, PICTURE_COLUMNS)
    by_caption = final.reshape(len(kept), n, *final.shape[1:])
    paths = write_pictures(out, model, by_caption[:, :columns].reshape(-1, *final.shape[1:]),
                           canvases, whole["windows"][:, shown], scale, columns, min(n, SHOWN),
                           labels=[caption for _, caption, _ in kept])
    if n > columns:  # every sample, as numbers
        paths.append(os.path.join(out, "samples.npz"))
        np.savez_compressed(paths[-1], canvases=by_caption,
                            captions=np.array([caption for _, caption, _ in kept]))
        print(f"note: samples.png shows the first {columns} samples of each caption; "
              f"samples.npz holds all {n}", file=sys.stderr)
    alpha = whole["alpha"].reshape(model.steps, len(kept), n, -1).mean(axis=2)  # (T, c, L)
    return paths + write_attention(out, alpha, kept)


def write_attention(out, alpha, kept):
    """attention.png (words x steps per caption) and attention.txt (its words by mean
    weight) from alpha (T, captions, L), the word weights averaged over the samples."""
    maps, lines = [], []
    for c, (_, caption, words) in enumerate(kept):
        weights = alpha[:, c, :len(words)]  # (T, words)
        maps.append(visualize.attention_map(weights.T, words))
        mean = weights.mean(axis=0)
        order = np.argsort(-mean, kind="stable")
        lines.append(f"{caption}\n  " + " ".join(f"{words[k]}:{mean[k]:.3f}" for k in order))
    paths = [os.path.join(out, "attention.png"), os.path.join(out, "attention.txt")]
    visualize.save_png(paths[0], visualize.stack(maps))
    with open(paths[1], "w") as f:
        f.write("\n".join(lines) + "\n")
    return paths


def draw_pixel_captions(model, out, kept, ids, mask, method, beam_width, num_samples, seed,
                        temperature, scale):
    """A pixel model: for each caption of `kept`, num_samples images by `method` (greedy,
    sample at `temperature`, or beam of `beam_width`; greedy and beam draw one); writes
    samples.png and scores.txt and returns their paths."""
    n = num_samples if method == "sample" else 1  # greedy and beam are deterministic
    sampler = samplers.PixelCaptionSampler(model, method, beam_width=beam_width,
                                           temperature=temperature)
    result = sampler(np.repeat(ids, n, 0), np.repeat(mask, n, 0), seed=seed)
    images = samplers.unit_images(result["images"], model.levels)  # (captions n, H, W)
    lowered = picture_scale(len(images), n, images.shape[1], scale)
    picture = visualize.grid(images, n, scale=lowered)
    picture = visualize.label_rows(picture, [caption for _, caption, _ in kept],
                                   (images.shape[1] + 1) * lowered, lowered)
    paths = [os.path.join(out, "samples.png"), os.path.join(out, "scores.txt")]
    visualize.save_png(paths[0], picture)
    log_prob = result["log_prob"].reshape(len(kept), n)
    how = f"beam search of width {beam_width}" if method == "beam" else method
    if method == "sample":
        how += f" at temperature {temperature:g}"
    lines = [f"# caption<TAB>log p(x | y) in nats of each image drawn ({how}; summed over "
             f"the {model.num_pixels} pixels)"]
    for (_, caption, _), row in zip(kept, log_prob):
        lines.append(" ".join(caption.split()) + "\t" + " ".join(f"{v:.3f}" for v in row))
    with open(paths[1], "w") as f:
        f.write("\n".join(lines) + "\n")
    return paths
