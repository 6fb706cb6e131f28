"""Microsoft COCO captions and images, read from COCO's own layout (alignDRAW §4.1,
alignPixelRNN §5.1):

    ROOT/annotations/captions_{train,val}{2014,2017}.json
    ROOT/{train,val}{2014,2017}/*.jpg

ROOT is what --data_dir names: the COCO folder itself, or a data folder holding coco/.

Captions. The first five captions of each image, in the order the JSON lists them (as both
papers did; a few COCO images have six or seven). Images follow their order in the JSON's
"images" list; an image with no caption is skipped.

Images. Decoded with OpenCV and resized to 32x32 with cv2.INTER_AREA (the mean over each
output pixel's footprint, the resampling that does not alias when shrinking), computed in
float32 on the 0..255 scale and rounded. The rule is to squash the whole image to a square,
not to crop it: a caption describes the whole picture ("a man on a bench beside a dog"), and
a centre crop of a 640x427 photograph cuts a sixth off each side, often with what the
caption names; the papers say "resized" and "rescaled" to 32x32, not cropped. RGB (alignDRAW)
keeps the three channels; grayscale (alignPixelRNN) is cv2.cvtColor's BGR2GRAY (0.299 R +
0.587 G + 0.114 B) of the resized float image, rounded to 8 bits.

Splits (the papers trained on train2014 and tested on images outside it): train is
train{YEAR}, and valid and test are both val{YEAR}. YEAR is 2014 (the papers' 82,783
training images) when its captions file is there, else 2017.

numpy in, numpy out; every failure is a one-line DataError.
"""

from __future__ import annotations

import concurrent.futures
import json
import os

import cv2
import numpy as np

from t2i_tf.data.locate import DataError, resolve_data_dir

SIZE = 32
CAPTIONS_PER_IMAGE = 5
YEARS = ("2014", "2017")
SPLITS = {"train": "train", "valid": "val", "test": "val"}  # binaries' split -> COCO's


def find_root(data_dir=None):
    """The COCO folder: `data_dir` if it holds annotations/, else its coco/ subfolder."""
    folder = resolve_data_dir(data_dir)
    for root in (folder, os.path.join(folder, "coco")):
        if os.path.isdir(os.path.join(root, "annotations")):
            return root
    raise DataError(f"no COCO layout in {os.path.abspath(folder)}: expected annotations/"
                    "captions_train2014.json (or 2017) there or under coco/")


def find_year(root):
    """2014 if annotations/captions_train2014.json exists, else 2017."""
    for year in YEARS:
        if os.path.isfile(os.path.join(root, "annotations", f"captions_train{year}.json")):
            return year
    raise DataError(f"no captions_train2014.json or captions_train2017.json in "
                    f"{os.path.abspath(os.path.join(root, 'annotations'))}")


def read_captions(path, per_image=CAPTIONS_PER_IMAGE):
    """[(image id, file name, [first `per_image` captions])] from a COCO captions JSON."""
    try:
        with open(path, encoding="utf-8") as f:
            data = json.load(f)
        captions = {}
        for a in data["annotations"]:
            captions.setdefault(a["image_id"], []).append(" ".join(str(a["caption"]).split()))
        return [(im["id"], im["file_name"], captions[im["id"]][:per_image])
                for im in data["images"] if im["id"] in captions]
    except FileNotFoundError:
        raise DataError(f"COCO captions file {os.path.abspath(path)} not found") from None
    except (ValueError, KeyError, TypeError, UnicodeDecodeError) as e:
        raise DataError(f"{os.path.abspath(path)} is not a COCO captions file "
                        f"({type(e).__name__}: {e})") from None


def resize(image, size=SIZE, grayscale=False):
    """A decoded BGR uint8 (h, w, 3) image -> uint8 (size, size, 3) RGB or (size, size)."""
    small = cv2.resize(image.astype(np.float32), (size, size), interpolation=cv2.INTER_AREA)
    small = cv2.cvtColor(small, cv2.COLOR_BGR2GRAY if grayscale else cv2.COLOR_BGR2RGB)
    return np.clip(np.rint(small), 0, 255).astype(np.uint8)


def load_image(path, size=SIZE, grayscale=False):
    """One image file, resized (see `resize`)."""
    image = cv2.imread(path, cv2.IMREAD_COLOR)  # grayscale JPEGs come back as 3 channels
    if image is None:
        what = "not found" if not os.path.exists(path) else "not a readable image"
        raise DataError(f"COCO image {os.path.abspath(path)} {what}")
    return resize(image, size, grayscale)


def load_images(paths, size=SIZE, grayscale=False, workers=None):
    """uint8 (n, size, size, 3) or (n, size, size); decoded on threads (OpenCV releases the
    GIL), in the order of `paths`."""
    shape = (len(paths), size, size) + (() if grayscale else (3,))
    out = np.empty(shape, np.uint8)
    with concurrent.futures.ThreadPoolExecutor(workers or os.cpu_count()) as pool:
        for i, image in enumerate(pool.map(lambda p: load_image(p, size, grayscale), paths)):
            out[i] = image
    return out


def load_split(data_dir, split, size=SIZE, grayscale=False, year=None, annotations=None,
               skip_missing=False, max_images=None):
    """One split of COCO.

    Args:
      data_dir: the COCO folder or a data folder holding coco/ (None: the default one).
      split: "train", "valid" or "test" (valid and test are both val{year}).
      size, grayscale: see `resize`.
      year: "2014" or "2017"; None: `find_year`.
      annotations: a captions JSON to read instead of annotations/captions_{split}{year}.json.
      skip_missing: skip images the JSON lists but the folder lacks (a partial download);
        otherwise a missing image is an error.
      max_images: keep the first n images only.

    Returns:
      dict: images uint8 (n, size, size[, 3]), image_ids int64 (n,), files [n names],
      captions [n lists of up to five strings].
    """
    if split not in SPLITS:
        raise DataError(f"unknown COCO split {split!r}; known: {', '.join(SPLITS)}")
    root = find_root(data_dir)
    year = year or find_year(root)
    name = f"{SPLITS[split]}{year}"
    folder = os.path.join(root, name)
    if not os.path.isdir(folder):
        raise DataError(f"COCO image folder {os.path.abspath(folder)} not found")
    entries = read_captions(annotations or os.path.join(root, "annotations",
                                                        f"captions_{name}.json"))
    if skip_missing:
        present = set(os.listdir(folder))
        entries = [e for e in entries if e[1] in present]
    entries = entries[:max_images]
    if not entries:
        raise DataError(f"no captioned image of {name} in {os.path.abspath(folder)}")
    paths = [os.path.join(folder, file_name) for _, file_name, _ in entries]
    return {"images": load_images(paths, size, grayscale),
            "image_ids": np.array([e[0] for e in entries], np.int64),
            "files": [e[1] for e in entries], "captions": [e[2] for e in entries]}


def flatten(split):
    """One example per (image, caption) pair: dict images (pairs, ...), captions [str],
    image_index int64 (pairs,) into the split's images."""
    index = np.array([i for i, caps in enumerate(split["captions"]) for _ in caps], np.int64)
    return {"images": split["images"][index], "image_index": index,
            "captions": [c for caps in split["captions"] for c in caps]}
