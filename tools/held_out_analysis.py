"""Where does alignDRAW go wrong on a held-out corner caption? Step by step, for the 40 corner
captions of MNIST with captions (4 of them held out of training, captioned_mnist.HELD_OUT).

  KERAS_BACKEND=jax python tools/held_out_analysis.py [--model=aligndraw_mnist_captions]
      [--samples=40] [--temperature=1] [--out=docs/results/held_out_analysis.json]
      [--images=docs/images/held_out]

For every corner caption it draws --samples images from the prior and measures
(t2i_tf/metrics/composition.py): the caption metric per caption (the 4 x 10 table of corners
by digits) and which digit is drawn instead; after each of the T steps, what the corner's box
holds (the digit classifier's probability of the named digit), the ink that step adds in the
box, whether the write window's centre lies in the corner's quadrant, and the word weights
(the digit word, the corner's two words); the digit word's weight while ink is laid down.

Then an exchange of memory rows (--transplant): the caption memory of a held-out caption
(D, C) with the digit word's row h_lang_2 taken from a seen caption (D, C') of the same
digit at another corner. The forward half of that row has read "the digit D" alone, the same
in every corner caption; its backward half has read the rest of the caption, which for the
held-out caption holds a combination never seen. If the glyph then comes right, the digit
word's row, as the BiLSTM wrote it for the unseen sentence, is what misleads the drawing.

And sharpened word weights (--sharpen): the alignment's scores multiplied by a factor beta
(the weight they are linear in, v of eq. 7 or Luong's W, scaled while drawing): does a model
that attends more to some words draw the held-out glyphs better, without training?

Writes the JSON (with command, machine and date) and small PNGs: steps.png (canvases every
second step with the write window boxed, a held-out caption beside seen ones) and
attention.png (words x steps maps).
"""

import datetime
import json
import os
import platform
import shlex
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from absl import flags  # noqa: E402

from t2i_tf import cli  # noqa: E402

FLAGS = flags.FLAGS
flags.DEFINE_string("model", "aligndraw_mnist_captions", "An alignDRAW model folder or name.")
flags.DEFINE_integer("samples", 40, "Prior samples per caption.")
flags.DEFINE_float("temperature", 1.0, "Prior temperature (z = mu + T sigma eps).")
flags.DEFINE_integer("seed", 0, "Noise seed.")
flags.DEFINE_bool("transplant", True, "Also exchange the digit word's memory row.")
flags.DEFINE_list("sharpen", ["3", "10"], "Also draw with the alignment's scores multiplied by "
                  "each of these factors (sharper word weights; none: skip).")
flags.DEFINE_string("out", os.path.join(ROOT, "docs", "results", "held_out_analysis.json"),
                    "The JSON file to write.")
flags.DEFINE_string("images", None, "Folder for steps.png and attention.png (none: no pictures).")
flags.register_validator("samples", lambda v: v > 0, message="must be positive")
flags.register_validator("temperature", lambda v: v >= 0, message="must be >= 0")


def _mean(x):
    return [round(float(v), 4) for v in x]


def draw_corner(model, sampler, vocabulary, corner, seed):
    """Samples for the 10 captions (d, corner), d = 0..9: (ids, mask, sampler output)."""
    import numpy as np

    from t2i_tf.data import captioned_mnist as cm

    captions = [cm.caption_for(d, corner) for d in range(10)]
    ids, mask = vocabulary.pad_batch([vocabulary.encode(cm.tokenize(c)) for c in captions],
                                     length=cm.CAPTION_LENGTH)
    rows = np.repeat(np.arange(10), FLAGS.samples)
    return ids[rows], mask[rows], sampler(ids[rows], mask[rows], seed=seed)


def caption_stats(out, rows, corner, digit, classify):
    """The per-caption numbers of one caption's samples (rows of the sampler's output)."""
    import numpy as np

    from t2i_tf.metrics import composition as comp

    canvases, windows = out["canvases"][:, rows], out["windows"][:, rows]
    alpha = out["alpha"][:, rows]  # (T, S, L)
    read, inside, right = comp.corner_scenes(canvases[-1], corner, digit, classify)
    ink = comp.ink_added(canvases, corner)  # (T, S)
    reads = comp.step_reads(canvases, corner, classify)  # (T, S, 10)
    corner_alpha = alpha[:, :, list(comp.CORNER_WORDS)].sum(-1)
    return {
        "scene_right": float(right.mean()),
        "ink_in_place": float(inside.mean()),
        "read": np.bincount(read, minlength=10).tolist(),
        "p_named_by_step": _mean(reads[:, :, digit].mean(1)),
        "ink_by_step": _mean(ink.mean(1)),
        "window_in_quadrant_by_step": _mean(comp.window_in_quadrant(windows, corner).mean(1)),
        "alpha_digit_by_step": _mean(alpha[:, :, comp.DIGIT_WORD].mean(1)),
        "alpha_corner_by_step": _mean(corner_alpha.mean(1)),
        "alpha_digit_while_inking": float(np.nanmean(
            comp.ink_weighted_attention(alpha[:, :, comp.DIGIT_WORD], ink))),
        "alpha_corner_while_inking": float(np.nanmean(
            comp.ink_weighted_attention(corner_alpha, ink))),
        "alpha_entropy_by_step": _mean(comp.entropy(alpha).mean(1)),
    }


def score_weight(align):
    """The weight an alignment's scores are linear in: v (eq. 7) or Luong's W."""
    from t2i_tf.layers import alignment

    return align.v if isinstance(align, alignment.BahdanauAlignment) else align.kernel


def corner_pass(model, sampler, vocabulary, classify, held):
    """caption_stats of every corner caption: {caption: stats}, and each caption's first
    sample (canvases, windows) and mean words x steps map."""
    import numpy as np

    from t2i_tf.data import captioned_mnist as cm

    per_caption, examples, maps = {}, {}, {}
    for k, corner in enumerate(cm.CORNERS):
        ids, mask, out = draw_corner(model, sampler, vocabulary, corner, 1000 * FLAGS.seed + k)
        for digit in range(10):
            rows = np.arange(digit * FLAGS.samples, (digit + 1) * FLAGS.samples)
            key = cm.caption_for(digit, corner)
            per_caption[key] = {"digit": digit, "corner": corner,
                                "held_out": (digit, corner) in held,
                                **caption_stats(out, rows, corner, digit, classify)}
            examples[key] = (out["canvases"][:, rows[0]], out["windows"][:, rows[0]])
            maps[key] = out["alpha"][:, rows].mean(1).T  # (L, T)
    return per_caption, examples, maps


def summarize(per_caption):
    """Means over the held-out and over the seen captions of every number of caption_stats."""
    import numpy as np

    groups = {"held out": [v for v in per_caption.values() if v["held_out"]],
              "seen": [v for v in per_caption.values() if not v["held_out"]]}
    return {name: {key: _mean(np.mean([r[key] for r in rows], axis=0))
                   if isinstance(rows[0][key], list) else float(np.mean([r[key] for r in rows]))
                   for key in rows[0] if key not in ("digit", "corner", "held_out", "read")}
            for name, rows in groups.items()}


def sharpened(model, sampler, vocabulary, classify, held, beta):
    """Scene accuracy and word-weight entropy with the alignment's scores times beta."""
    import numpy as np

    weight = score_weight(model.cell.alignment)
    original = np.array(weight.numpy())
    weight.assign(beta * original)
    try:
        per_caption, _, _ = corner_pass(model, sampler, vocabulary, classify, held)
    finally:
        weight.assign(original)
    summary = summarize(per_caption)
    row = {"beta": beta, **{f"{g} scene_right": summary[g]["scene_right"] for g in summary},
           **{f"{g} entropy (mean over steps)": float(np.mean(summary[g]["alpha_entropy_by_step"]))
              for g in summary},
           **{f"{g} digit weight while inking": summary[g]["alpha_digit_while_inking"]
              for g in summary},
           "held out by caption": {k: v["scene_right"] for k, v in per_caption.items()
                                   if v["held_out"]}}
    print(f"sharpen x{beta:g}: held out {100 * row['held out scene_right']:.0f}%, seen "
          f"{100 * row['seen scene_right']:.0f}%", flush=True)
    return row


def transplant(model, generate, vocabulary, classify, held, seed):
    """Scene accuracy of each held-out (d, corner) with the digit word's memory row taken
    from a seen caption (d, donor corner); and the same exchange between two seen captions
    of that digit as a control."""
    import keras
    import numpy as np

    from t2i_tf.data import captioned_mnist as cm
    from t2i_tf.metrics import composition as comp
    from t2i_tf.metrics import likelihood

    def memory(captions):
        ids, mask = vocabulary.pad_batch([vocabulary.encode(cm.tokenize(c)) for c in captions],
                                         length=cm.CAPTION_LENGTH)
        lang = model.encode_caption(ids, mask.astype(bool))
        return keras.ops.convert_to_numpy(lang["h_lang"]), mask.astype(bool)

    rows = []
    for k, (digit, corner) in enumerate(held):
        seen = [c for c in cm.CORNERS if (digit, c) not in held]
        pairs = [(corner, donor, "held out") for donor in seen]
        pairs.append((seen[0], seen[1], "seen (control)"))
        for j, (target, donor, kind) in enumerate(pairs):
            h_target, mask = memory([cm.caption_for(digit, target)] * FLAGS.samples)
            h_donor, _ = memory([cm.caption_for(digit, donor)])
            h = comp.transplant_row(h_target, comp.DIGIT_WORD, h_donor[0, comp.DIGIT_WORD])
            eps = FLAGS.temperature * likelihood.noise(model, FLAGS.samples, seed, 100 * k + j)
            canvases = keras.ops.convert_to_numpy(
                generate(model.memory(h, mask), eps)["canvases"])[-1]
            read, inside, right = comp.corner_scenes(canvases, target, digit, classify)
            _, donor_inside, _ = comp.corner_scenes(canvases, donor, digit, classify)
            rows.append({"digit": digit, "corner": target, "row_from": donor, "kind": kind,
                         "scene_right": float(right.mean()),
                         "ink_in_corner": float(inside.mean()),
                         "ink_in_donor_corner": float(donor_inside.mean()),
                         "read": np.bincount(read, minlength=10).tolist()})
            print(f"transplant {kind}: {digit} at {target}, digit row from {donor}: "
                  f"{100 * rows[-1]['scene_right']:.0f}% right", flush=True)
    return rows


def heat_map(weights, words, title, peak, row=10, column=5):
    """A words x steps map (weights (L, T)) on the shared scale 0..peak, words on the left and
    a title above, each word `row` pixels high and each step `column` wide: uint8 (H, W)."""
    import numpy as np
    from PIL import Image, ImageDraw

    shades = np.clip(255 * np.asarray(weights) / peak, 0, 255).astype(np.uint8)
    cells = shades.repeat(row, 0).repeat(column, 1)
    label, top = 6 * max(len(w) for w in words) + 6, 14
    image = Image.new("L", (label + cells.shape[1], top + cells.shape[0]), 0)
    image.paste(Image.fromarray(cells), (label, top))
    draw = ImageDraw.Draw(image)
    draw.text((2, 1), title, fill=255)
    for k, word in enumerate(words):
        draw.text((2, top + k * row - 1), word, fill=255)
    return np.asarray(image)


def pictures(folder, examples, maps, write_n):
    """steps.png: each example's canvases every second step, write window boxed in red;
    attention.png: each example's words x steps map (mean over samples), three to a row, on
    one scale (white: the largest weight of any map)."""
    import numpy as np
    from PIL import Image

    from t2i_tf import visualize

    os.makedirs(folder, exist_ok=True)
    frames = np.concatenate([canvases[1::2] for _, canvases, _ in examples])
    windows = np.concatenate([w[1::2] for _, _, w in examples])
    columns = examples[0][1][1::2].shape[0]
    image = visualize.boxed_grid(frames, [(windows, write_n, visualize.WRITE_COLOUR)],
                                 columns=columns, scale=1)
    image = visualize.label_rows(image, [label for label, _, _ in examples], 61)
    # greys and the red of the boxes: a 64-colour palette keeps the file small
    Image.fromarray(image).quantize(64).save(os.path.join(folder, "steps.png"))
    words = "the digit D is at the C1 C2 of the image .".split()
    peak = max(float(np.max(m)) for _, m in maps)
    tiles = [heat_map(m, words, label, peak) for label, m in maps]
    rows = []
    for start in range(0, len(tiles), 3):
        row = tiles[start:start + 3]
        gap = np.zeros((row[0].shape[0], 10), np.uint8)
        rows.append(np.concatenate([x for t in row for x in (t, gap)][:-1], axis=1))
    visualize.save_png(os.path.join(folder, "attention.png"), visualize.stack(rows))


def main(argv):
    del argv
    from t2i_tf import jit
    from t2i_tf.sampling import samplers
    from t2i_tf.training import checkpoint
    from t2i_tf.data import captioned_mnist as cm
    from t2i_tf.metrics import caption_accuracy

    start = time.time()
    model = checkpoint.load_model(FLAGS.model)
    if not hasattr(model, "encode_caption") or getattr(model.cell, "alignment", None) is None:
        raise cli.UsageError(f"{FLAGS.model} is not an alignDRAW model with word alignment")
    vocabulary = checkpoint.load_vocabulary(FLAGS.model)
    classify = caption_accuracy.load_classifier()
    sampler = samplers.CaptionSampler(model, FLAGS.temperature)
    held = [(a, r) for a, r, b in cm.HELD_OUT if b is None]
    try:
        betas = [float(b) for b in FLAGS.sharpen]
    except ValueError:
        raise cli.UsageError(f"--sharpen: numbers, got {','.join(FLAGS.sharpen)}") from None
    per_caption, examples, maps = corner_pass(model, sampler, vocabulary, classify, held)
    for corner in cm.CORNERS:
        print(f"{corner}: " + " ".join(
            f"{d}:{100 * per_caption[cm.caption_for(d, corner)]['scene_right']:.0f}%"
            for d in range(10)), flush=True)
    summary = summarize(per_caption)
    result = {"model": FLAGS.model, "samples_per_caption": FLAGS.samples,
              "temperature": FLAGS.temperature, "steps": model.steps, "summary": summary,
              "captions": per_caption}
    if FLAGS.transplant:
        generate = jit.compile_method(model, model.generate_from_lang)
        result["transplant"] = transplant(model, generate, vocabulary, classify, held,
                                          FLAGS.seed)
    result["sharpen"] = [sharpened(model, sampler, vocabulary, classify, held, b)
                         for b in betas]
    if FLAGS.images:
        chosen = []
        for digit, corner in held:
            other = next(c for c in cm.CORNERS if (digit, c) not in held and c != corner)
            fellow = next(d for d in range(10) if (d, corner) not in held)
            chosen += [(digit, corner), (digit, other), (fellow, corner)]
        keys = [cm.caption_for(d, c) for d, c in chosen]
        labels = [f"{d} {c}{' (held out)' if (d, c) in held else ''}" for d, c in chosen]
        pictures(FLAGS.images, [(lab, *examples[k]) for lab, k in zip(labels, keys)],
                 [(lab, maps[k]) for lab, k in zip(labels, keys)], model.cell.write_n)
    result.update(
        command=" ".join(["python tools/held_out_analysis.py", *map(shlex.quote, sys.argv[1:])]),
        wall_s=round(time.time() - start, 1),
        machine=f"{platform.machine()}, {os.cpu_count()} CPU cores, Python "
                f"{platform.python_version()}",
        date=datetime.date.today().isoformat())
    os.makedirs(os.path.dirname(os.path.abspath(FLAGS.out)), exist_ok=True)
    with open(FLAGS.out + ".tmp", "w") as f:
        f.write(json.dumps(result, indent=1) + "\n")
    os.replace(FLAGS.out + ".tmp", FLAGS.out)
    print(json.dumps(summary))
    print(FLAGS.out)


if __name__ == "__main__":
    cli.run(main)
