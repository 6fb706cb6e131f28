"""COCO in its own layout (t2i_tf/data/coco.py), caption text (caption_text.py), length
buckets (buckets.py) and the training data (coco_data.py), on the real subset in
../shared/data/coco: 80 train2017 and 159 val2017 images, 79 of the latter captioned in
annotations/ and all of them in annotations_full/."""

import collections
import json
import os

import cv2
import numpy as np
import pytest

from t2i_tf.data import buckets, coco, coco_data
from t2i_tf.data.caption_text import CaptionText, build_vocabulary, drop_colours
from t2i_tf.data.locate import DataError, default_data_dir

ROOT = os.path.join(default_data_dir(), "coco")
FULL_VAL = os.path.join(ROOT, "annotations_full", "captions_val2017.json")
pytestmark = pytest.mark.skipif(not os.path.isdir(ROOT), reason="no COCO subset")


def json_captions(path):
    """image id -> all its captions, in the file's order."""
    with open(path) as f:
        data = json.load(f)
    out = collections.defaultdict(list)
    for a in data["annotations"]:
        out[a["image_id"]].append(a["caption"])
    return out


# ---------------------------------------------------------------- the reader


def test_all_239_images_load():
    train = coco.load_split(ROOT, "train")
    val = coco.load_split(ROOT, "valid", annotations=FULL_VAL, skip_missing=True)
    gray = coco.load_split(ROOT, "test", grayscale=True)
    assert train["images"].shape == (80, 32, 32, 3) and train["images"].dtype == np.uint8
    assert val["images"].shape == (159, 32, 32, 3)
    assert gray["images"].shape == (79, 32, 32) and gray["images"].dtype == np.uint8
    on_disk = {f for split in ("train2017", "val2017") for f in os.listdir(os.path.join(ROOT, split))}
    assert len(on_disk) == 239 and set(train["files"]) | set(val["files"]) == on_disk
    for images in (train["images"], val["images"], gray["images"]):
        assert (images.reshape(len(images), -1).std(axis=1) > 1).all()  # real pictures


@pytest.mark.parametrize("split,name", [("train", "train2017"), ("valid", "val2017")])
def test_caption_counts_per_image_match_the_json(split, name):
    expected = json_captions(os.path.join(ROOT, "annotations", f"captions_{name}.json"))
    got = coco.load_split(ROOT, split, grayscale=True)
    assert len(got["captions"]) == len(expected)
    for image_id, captions in zip(got["image_ids"], got["captions"]):
        assert captions == [" ".join(c.split()) for c in expected[image_id][:5]]


def test_first_five_captions_of_images_with_more():
    expected = json_captions(FULL_VAL)
    entries = coco.read_captions(FULL_VAL)
    assert len(entries) == 5000
    assert sum(len(caps) for _, _, caps in entries) == 25000  # of 25,014: 14 over five
    longer = [(i, caps) for i, _, caps in entries if len(expected[i]) > 5]
    assert len(longer) == 13
    for image_id, captions in longer:
        assert captions == [" ".join(c.split()) for c in expected[image_id][:5]]


def test_resize_squashes_the_whole_image(tmp_path):
    # A 64 x 128 picture: red left half, blue right half, a green top quarter. Squashed to
    # 32 x 32 every region keeps its share (INTER_AREA averages 2 x 4 blocks); a centre crop
    # would lose the sides.
    image = np.zeros((64, 128, 3), np.uint8)  # BGR
    image[:, :64, 2] = 200
    image[:, 64:, 0] = 100
    image[:16] = (0, 255, 0)
    path = str(tmp_path / "a.png")
    cv2.imwrite(path, image)
    rgb = coco.load_image(path)
    gray = coco.load_image(path, grayscale=True)
    expected = np.zeros((32, 32, 3), np.uint8)
    expected[:, :16, 0] = 200
    expected[:, 16:, 2] = 100
    expected[:8] = (0, 255, 0)
    np.testing.assert_array_equal(rgb, expected)
    weights = np.array([0.299, 0.587, 0.114])  # BT.601, cv2's BGR2GRAY
    np.testing.assert_array_equal(gray, np.rint(expected @ weights).astype(np.uint8))


def test_missing_or_odd_folders_are_one_line_errors(tmp_path):
    with pytest.raises(DataError, match="no COCO layout in") as e:
        coco.load_split(tmp_path, "train")
    assert "\n" not in str(e.value)
    (tmp_path / "annotations").mkdir()
    with pytest.raises(DataError, match="no captions_train2014.json or captions_train2017"):
        coco.load_split(tmp_path, "train")
    (tmp_path / "annotations" / "captions_train2017.json").write_text("{not json")
    with pytest.raises(DataError, match="image folder .*train2017 not found"):
        coco.load_split(tmp_path, "train")
    (tmp_path / "train2017").mkdir()
    with pytest.raises(DataError, match="is not a COCO captions file"):
        coco.load_split(tmp_path, "train")
    (tmp_path / "annotations" / "captions_train2017.json").write_text(json.dumps({
        "images": [{"id": 1, "file_name": "x.jpg"}],
        "annotations": [{"image_id": 1, "id": 1, "caption": "a cat"}]}))
    with pytest.raises(DataError, match="x.jpg not found"):
        coco.load_split(tmp_path, "train")
    (tmp_path / "train2017" / "x.jpg").write_bytes(b"not a jpeg")
    with pytest.raises(DataError, match="x.jpg not a readable image"):
        coco.load_split(tmp_path, "train")
    with pytest.raises(DataError, match="unknown COCO split"):
        coco.load_split(tmp_path, "dev")


# ---------------------------------------------------------------- caption text


def caption(split, annotation_id):
    with open(os.path.join(ROOT, "annotations", f"captions_{split}2017.json")) as f:
        return next(a["caption"] for a in json.load(f)["annotations"] if a["id"] == annotation_id)


def test_tokenisation_of_known_captions():
    text = CaptionText()
    assert text.tokenize(caption("train", 628839)) == (
        "a small kitchen with yellow walls , a microwave and sink .".split())
    assert text.tokenize(caption("train", 769927)) == (
        "a long green and white bus driving down the road".split())
    assert text.tokenize("It's a dog's \"toy\".") == ["it", "'s", "a", "dog", "'s", "``", "toy",
                                                      "''", "."]
    assert CaptionText("whitespace").tokenize("The digit 3 .") == ["the", "digit", "3", "."]


def test_colour_words_removed_from_known_captions():
    text = CaptionText(drop_colours=True)
    assert text.tokenize(caption("train", 769927)) == (
        "a long bus driving down the road".split())
    assert text.tokenize(caption("val", 99964)) == (
        "articulated bus , first part is , back part is , on dull street .".split())
    assert text.tokenize(caption("val", 419104)) == (
        "train moving along its tracks near a river .".split())
    assert text.tokenize(caption("train", 172434)) == (
        "a boy with a shirt and plate and a hotdog".split())
    # shades, hyphenated colours, lists; "orange" is the fruit as often as the colour
    assert drop_colours("a dark blue , red-and-white and light grey bus".split()) == ["a", "bus"]
    assert drop_colours("an orange on a white plate".split()) == "an orange on a plate".split()
    assert drop_colours("light from a window".split()) == "light from a window".split()
    assert CaptionText().tokenize("a red bus") == ["a", "red", "bus"]  # kept by default


def test_vocabulary_of_known_captions():
    captions = [caption("train", 769927), caption("train", 772360)]
    with_colours = build_vocabulary([CaptionText().tokenize(c) for c in captions], min_count=2)
    # a, and: 3 times; bus, green, it, white: twice; most frequent first, ties alphabetical
    assert with_colours.tokens == ["<pad>", "<unk>", "a", "and", "bus", "green", "it", "white"]
    text = CaptionText(drop_colours=True)
    vocab = build_vocabulary([text.tokenize(c) for c in captions], min_count=2)
    assert vocab.tokens == ["<pad>", "<unk>", "a", "bus", "it"]  # "and" is left once
    assert vocab.encode(text.tokenize(captions[0])) == [2, 1, 3, 1, 1, 1, 1]
    with pytest.raises(ValueError, match="min_count"):
        build_vocabulary([], 0)


def test_text_config_round_trip():
    for text in (CaptionText(), CaptionText(drop_colours=True), CaptionText("whitespace")):
        assert CaptionText.from_json(text.to_json()) == text
    with pytest.raises(ValueError, match="unknown tokenizer"):
        CaptionText("punkt")


# ---------------------------------------------------------------- buckets


def test_buckets_pad_to_their_longest_caption_and_merge_small_ones():
    lengths = [8] * 4 + [9] * 3 + [10] * 1 + [11] * 4 + [40] * 2 + [70] + [0]
    got = buckets.assign(lengths, batch_size=4)
    # 8: 4 (full); 9-10: 4 -> one bucket of 10; 11-12: 4; 40: 2, too few, joins the 12s;
    # 70 is over the last boundary and 0 (no token) is never used
    assert {k: v.tolist() for k, v in got.items()} == {
        8: [0, 1, 2, 3], 10: [4, 5, 6, 7], 40: [8, 9, 10, 11, 12, 13]}
    with pytest.raises(ValueError, match="batch size 20 exceeds the 14 captions"):
        buckets.assign(lengths, batch_size=20)


def test_bucket_stream_is_a_pure_function_of_the_step():
    rng = np.random.default_rng(0)
    lengths = rng.integers(7, 30, 300)
    schedule = buckets.BucketSchedule(lengths, batch_size=8)
    stream = schedule.stream(seed=3)
    first = [next(stream) for _ in range(2 * schedule.batches_per_epoch)]
    per_epoch = first[:schedule.batches_per_epoch]
    used = np.concatenate([i for _, i in per_epoch])
    assert len(set(used.tolist())) == len(used)  # no pair twice in an epoch
    for length, index in first:
        assert len(index) == 8 and lengths[index].max() <= length
        assert set(index.tolist()) <= set(schedule.buckets[length].tolist())
    resumed = schedule.stream(seed=3, start_step=schedule.batches_per_epoch - 2)
    for k in range(schedule.batches_per_epoch - 2, schedule.batches_per_epoch + 3):
        length, index = next(resumed)
        assert length == first[k][0] and (index == first[k][1]).all()
    assert len(schedule.shapes) <= len(buckets.BOUNDARIES)


# ---------------------------------------------------------------- training data


@pytest.mark.parametrize("name", ["coco_32", "coco_32_rgb"])
def test_coco_data_batches(name):
    data = coco_data.CocoData(name, ROOT, min_word_count=2, valid_examples=20)
    grey = name == "coco_32"
    assert data.image_shape == ((32, 32) if grey else (32, 32, 3))
    assert len(data) == 400 and data.text.drop_colours == grey
    assert ("red" in data.vocabulary) != grey  # red appears in the training captions
    shapes = set()
    for (batch,), _ in zip(data.train_batches(16, seed=0), range(30)):
        assert batch["images"].dtype == (np.uint8 if grey else np.float32)
        assert batch["ids"].shape == batch["mask"].shape and len(batch["ids"]) == 16
        shapes.add(batch["ids"].shape[1])
    assert shapes <= set(data.schedule(16).shapes) and len(shapes) > 1
    valid = data.validation(20)
    assert len(valid["ids"]) == 20 and valid["images"].shape[1:] == data.image_shape
