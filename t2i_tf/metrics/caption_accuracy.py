"""Does a generated picture show what its caption says? A digit classifier reads it.

For MNIST with captions the caption fixes where each digit must be (the placement rule of
t2i_tf/data/captioned_mnist.py):

- a corner: the digit's 28x28 box is exactly that corner of the 60x60 canvas, and its ink
  lies in that 30x30 quadrant;
- left/right (top/bottom): the two boxes are at columns (rows) 0-27 and 32-59, sharing a
  row (column) offset in 0..32; the ink of each digit lies in its half of the canvas.

`read_canvas` crops, for each digit the caption names, its 28x28 box: for a corner the
corner box itself; for a pair, in the digit's band (columns 0-27 or 32-59 for left/right,
rows for top/bottom) the window centred on the band's centre of ink mass, as MNIST centres
its digits. The classifier names each crop. Per canvas:

- digits_right: every named digit is read as the caption's digit;
- ink_in_place: the share of the canvas's ink inside those boxes (1.0 on the data itself);
- scene_right: digits_right and ink_in_place >= 0.8.

The classifier is a small MLP (784-256-10) trained on MNIST training digits [0:50000], with
blurred copies (Gaussian, sigma up to 1.5) since generated digits are Bernoulli means,
softer than the data; `tools/train_digit_classifier.py` trains it and ships it as
models/mnist_digit_classifier (its card gives its test accuracy on MNIST t10k).
"""

import os

import numpy as np

from t2i_tf.data import captioned_mnist as cm

CLASSIFIER = "mnist_digit_classifier"
PLACE_THRESHOLD = 0.8


# ------------------------------------------------------------------ the classifier


def build_classifier(hidden=256, seed=0):
    """784 -> hidden (relu) -> 10 logits, a keras.Sequential over (batch, 28, 28) in [0, 1]."""
    import keras

    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((28, 28)), keras.layers.Flatten(),
                             keras.layers.Dense(hidden, activation="relu"),
                             keras.layers.Dense(10)])


def blur(images, sigma):
    """Gaussian blur of (n, 28, 28) float images, one sigma per image (0: unchanged)."""
    import cv2

    out = np.array(images, np.float32, copy=True)
    for i, s in enumerate(np.broadcast_to(sigma, (len(out),))):
        if s > 0:
            out[i] = cv2.GaussianBlur(out[i], (0, 0), float(s))
    return out


def train_classifier(images, labels, epochs=4, seed=0, hidden=256):
    """Trains the classifier on (n, 28, 28) images in [0, 1] and their copies blurred with a
    random sigma in [0, 1.5]; returns the keras model."""
    import keras

    rng = np.random.default_rng(seed)
    blurred = blur(images, rng.uniform(0.0, 1.5, len(images)))
    x = np.concatenate([images, blurred]).astype(np.float32)
    y = np.concatenate([labels, labels]).astype(np.int32)
    model = build_classifier(hidden, seed)
    model.compile(optimizer=keras.optimizers.Adam(1e-3),
                  loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
                  metrics=["accuracy"])
    model.fit(x, y, batch_size=128, epochs=epochs, shuffle=True, verbose=0)
    return model


def save_classifier(folder, model):
    os.makedirs(folder, exist_ok=True)
    arrays = {f"w{i}": np.asarray(w) for i, w in enumerate(model.get_weights())}
    np.savez(os.path.join(folder, "weights.npz.tmp.npz"), **arrays)
    os.replace(os.path.join(folder, "weights.npz.tmp.npz"), os.path.join(folder, "weights.npz"))


def load_classifier(name_or_path=CLASSIFIER):
    """The shipped classifier (or one saved with save_classifier) as a numpy function
    images (n, 28, 28) -> logits (n, 10)."""
    from t2i_tf.training import checkpoint

    path = os.path.join(checkpoint.resolve(name_or_path), "weights.npz")
    try:
        with np.load(path) as f:
            w0, b0, w1, b1 = (f[f"w{i}"] for i in range(4))
    except (OSError, KeyError, ValueError) as e:
        raise checkpoint.CheckpointError(f"cannot read the digit classifier {path}: {e}") from None
    return lambda x: np.maximum(np.reshape(x, (len(x), -1)) @ w0 + b0, 0.0) @ w1 + b1


# ------------------------------------------------------------------ reading canvases


def _centred_window(region, along):
    """Offset (0..len-28) along axis `along` of the 28-wide window of `region` centred on its
    ink's centre of mass (MNIST centres each digit's mass in its 28x28 box)."""
    profile = region.sum(axis=1 - along)
    length = profile.shape[0]
    if profile.sum() <= 0:
        return (length - cm.DIGIT) // 2
    centre = float(np.dot(np.arange(length), profile) / profile.sum())
    return int(np.clip(np.round(centre - (cm.DIGIT - 1) / 2), 0, length - cm.DIGIT))


def read_canvas(canvas, caption):
    """([(expected digit, 28x28 crop)] for the digits a caption names, ink_in_place): the
    share of the canvas's ink inside those crops."""
    first, relation, second = cm.parse_caption(caption)
    canvas = np.asarray(canvas, np.float32)
    total = max(float(canvas.sum()), 1e-6)
    if second is None:
        r, c = {"top left": (0, 0), "top right": (0, cm.GAP_START),
                "bottom left": (cm.GAP_START, 0),
                "bottom right": (cm.GAP_START, cm.GAP_START)}[relation]
        crops = [(first, canvas[r:r + cm.DIGIT, c:c + cm.DIGIT])]
    else:
        near_first = relation in ("left", "top")
        crops = []
        for digit, near in ((first, near_first), (second, not near_first)):
            start = 0 if near else cm.GAP_START
            if relation in ("left", "right"):
                region = canvas[:, start:start + cm.DIGIT]  # (60, 28): find the rows
                o = _centred_window(region, along=0)
                crops.append((digit, region[o:o + cm.DIGIT]))
            else:
                region = canvas[start:start + cm.DIGIT, :]  # (28, 60): find the columns
                o = _centred_window(region, along=1)
                crops.append((digit, region[:, o:o + cm.DIGIT]))
    inside = sum(float(crop.sum()) for _, crop in crops) / total
    return crops, min(inside, 1.0)


def to_canvas_size(canvases):
    """(n, h, w) images in [0, 1] -> (n, 60, 60) float32: other sizes (the pixel models'
    32x32) are resized with cv2.INTER_LINEAR, so the 60x60 placement rule can read them."""
    canvases = np.asarray(canvases, np.float32)
    if canvases.shape[1:] == (cm.CANVAS, cm.CANVAS):
        return canvases
    import cv2

    return np.stack([cv2.resize(c, (cm.CANVAS, cm.CANVAS), interpolation=cv2.INTER_LINEAR)
                     for c in canvases])


def caption_accuracy(canvases, captions, classify):
    """Scores canvases (n, 60, 60) in [0, 1] against their captions with classify
    (images (k, 28, 28) -> logits (k, 10)). Canvases of another size are resized to 60x60
    first (to_canvas_size): a blurrier picture, so score the data's own images at the same
    size beside them.

    Returns a dict: digit_accuracy (share of named digits read right), digits_right,
    ink_in_place (mean), scene_right (shares of canvases), and per kind ("one digit",
    "two digits") the scene_right share, all in [0, 1], with the counts; and
    scene_right_by_relation {relation: [share, canvases]} for the relations present, in
    captioned_mnist.RELATIONS order (on the generalization split each corner is one held-out
    combination).
    """
    crops, expected, owner, place, kinds, relations = [], [], [], [], [], []
    canvases = to_canvas_size(canvases)
    for i, (canvas, caption) in enumerate(zip(canvases, captions)):
        named, inside = read_canvas(canvas, caption)
        for digit, crop in named:
            crops.append(crop)
            expected.append(digit)
            owner.append(i)
        place.append(inside)
        kinds.append("one digit" if len(named) == 1 else "two digits")
        relations.append(cm.parse_caption(caption)[1])
    predicted = np.argmax(classify(np.stack(crops)), axis=-1)
    hit = predicted == np.asarray(expected)
    n = len(place)
    all_right = np.ones(n, bool)
    np.logical_and.at(all_right, np.asarray(owner), hit)
    place = np.asarray(place)
    scene = all_right & (place >= PLACE_THRESHOLD)
    kinds = np.asarray(kinds)
    out = {"canvases": n, "digit_accuracy": float(hit.mean()),
           "digits_right": float(all_right.mean()), "ink_in_place": float(place.mean()),
           "scene_right": float(scene.mean())}
    for kind in ("one digit", "two digits"):
        if (kinds == kind).any():
            out[f"scene_right ({kind})"] = float(scene[kinds == kind].mean())
    relations = np.asarray(relations)
    out["scene_right_by_relation"] = {
        r: [float(scene[relations == r].mean()), int((relations == r).sum())]
        for r in cm.RELATIONS if (relations == r).any()}
    return out


def model_caption_accuracy(model, data, captions, classify, num_samples=10, batch_size=500,
                           seed=0, temperature=1.0):
    """caption_accuracy of num_samples prior samples per caption (ssim.samples_per_caption,
    at `temperature`)."""
    from t2i_tf.metrics import ssim

    canvases, repeated = [], []
    for start, stop, chunk in ssim.samples_per_caption(model, data, num_samples, batch_size,
                                                       seed, temperature):
        canvases.append(chunk.reshape(-1, *chunk.shape[2:]))
        repeated += [c for c in captions[start:stop] for _ in range(num_samples)]
    return caption_accuracy(np.concatenate(canvases), repeated, classify)
