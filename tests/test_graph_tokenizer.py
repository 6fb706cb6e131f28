"""The tokenisation in the exported graph (t2i_tf/data/graph_tokenizer.py) against the one
training uses (t2i_tf.data.caption_text.CaptionText: nltk's TreebankWordTokenizer for COCO,
colour runs dropped for grayscale COCO, the whitespace split for captioned MNIST), caption by
caption, on written captions and on many random ones; and a COCO-style pixel model exported
with a Treebank vocabulary encodes "A man, riding a horse." as training does."""

import json
import os

import numpy as np
import pytest

from t2i_tf.data import caption_text

CAPTIONS = [
    "A man, riding a horse.",
    "A man riding a horse",
    "Two dogs playing in the snow...",
    "The cat's toy is under the table; it's red!",
    "Is this a \"giant\" pizza? Yes.",
    "He said 'hello' to the girl's dog.",
    "``Quoted'' text and \"double quotes\" inside",
    "A bus (red) parked at [the] stop {near} <a> sign.",
    "They'll go, we'll see, I'm here, you're there, we've done it, I'd say so.",
    "I cannot believe it's not butter -- gonna wanna gimme lemme gotta d'ye more'n",
    "'Tis the season, 'twas the night",
    "Cost: $3.88 at 10:30, 1,000 people & 50% off @ home #1",
    "A sign reads 3,36 euros: cheap",
    "Ends with a comma,",
    "Ends with a colon:",
    "Ends with quotes.\"",
    "Ends with a bracket.)",
    "Ends with spaces.   ",
    "Ends with a newline.\n",
    "Ends with a comma and a newline,,\n",
    "Tabs\tand\nnewlines\x0bhere. Mid.sentence dot",
    "Unicode\u00a0space and\u3000wide\u2009thin spaces.",
    "Arabic digit ,\u0663 and a comma",
    "Caf\u00e9s, na\u00efve cr\u00e8me br\u00fbl\u00e9e.",
    "ICH CANNOT BELIEVE \u00c9CANNOT",
    "Don't DON'T won't can't shouldn't CAN'T",
    "a--b --- c - d",
    "Hello?! What!? Yes!!",
    "trailing apostrophe dogs' bowls' ",
    "\"Start quote",
    "( \"inner\" )",
    "wanna\twanna wanna",
    "cannot cannot cannot",
    "",
    "   ",
    ".",
    "...",
]
COLOUR_CAPTIONS = [
    "A black and white cat on a red sofa.",
    "a dark blue car and a light green bus",
    "red, white and blue flags",
    "a red-and-white striped shirt",
    "a dark-blue sky with bright yellow stars",
    "an orange and a banana",
    "dark dark red wine",
    "the light is green or red or",
    "grey , black , and pale pink",
    "black-and-white photo of a brown dog",
    "White cat. Black dog!",
]


def graph_tokens(text, captions):
    import tensorflow as tf

    from t2i_tf.data import graph_tokenizer

    tokens = graph_tokenizer.GraphTokenizer(text)(tf.constant(captions, tf.string))
    return [[t.decode("utf-8") for t in row] for row in tokens.to_list()]


def random_captions(count, seed=0):
    """Captions of words, punctuation, quotes, contractions, spaces and Unicode."""
    rng = np.random.default_rng(seed)
    pieces = ["a", "man", "horse", "Dog", "3", "12", "3.5", "1,000", ",", ".", "...", ":", ";",
              "!", "?", "'", "''", '"', "`", "``", "(", ")", "[", "]", "{", "}", "<", ">",
              "-", "--", "&", "$", "%", "@", "#", "'s", "'S", "'ll", "n't", "'re", "'ve",
              "'d", "'m", "cannot", "gonna", "wanna", "gimme", "'tis", "'twas", "more'n",
              "\u00e9", "\u0663", "\u00a0", "\u3000", "\t", "\n", " ", " ", " ", " "]
    return ["".join(rng.choice(pieces, size=rng.integers(1, 14))) for _ in range(count)]


@pytest.mark.parametrize("tokenizer", ["treebank", "whitespace"])
def test_graph_tokens_are_the_training_tokens(tokenizer):
    text = caption_text.CaptionText(tokenizer)
    captions = CAPTIONS + random_captions(2000)
    got = graph_tokens(text, captions)
    for caption, tokens in zip(captions, got):
        assert tokens == text.tokenize(caption), repr(caption)


def test_a_man_riding_a_horse():
    text = caption_text.CaptionText("treebank")
    assert graph_tokens(text, ["A man, riding a horse."]) == [
        ["a", "man", ",", "riding", "a", "horse", "."]]


def test_colour_runs_are_dropped_as_in_training():
    text = caption_text.CaptionText("treebank", drop_colours=True)
    captions = COLOUR_CAPTIONS + CAPTIONS
    rng = np.random.default_rng(1)
    words = ["a", "cat", "red", "dark", "blue", "and", "or", ",", "light", "white", "pink",
             "red-and-white", "dark-blue", "and-red", "light-", "-red", "pale", "orange"]
    captions += [" ".join(rng.choice(words, size=rng.integers(1, 10))) for _ in range(1000)]
    got = graph_tokens(text, captions)
    for caption, tokens in zip(captions, got):
        assert tokens == text.tokenize(caption), repr(caption)
    assert got[0] == ["a", "cat", "on", "a", "sofa", "."]


@pytest.fixture(scope="module")
def coco_export(tmp_path_factory):
    """A tiny untrained alignPixelRNN with a Treebank vocabulary, exported (no XLA)."""
    from t2i_tf.serving import saved_model as serving_module
    from t2i_tf.training import checkpoint
    from t2i_tf.models import registry

    folder = tmp_path_factory.mktemp("coco_pixel")
    text = caption_text.CaptionText("treebank")
    vocabulary = caption_text.build_vocabulary(
        [text.tokenize("A man, riding a horse.")] * 2 + [["dog", "on"]], min_count=1)
    model = registry.build("align_pixel_rnn", {
        "image_shape": [4, 4], "levels": 4, "vocab_size": len(vocabulary), "embed_dim": 8,
        "lang_units": 8, "units": 16, "pixel_embed_dim": 4, "seed": 0})
    checkpoint.save_model(str(folder / "model"), model)
    checkpoint.save_vocabulary(str(folder / "model"), vocabulary)
    checkpoint.save_text(str(folder / "model"), text)
    version = serving_module.export(model, str(folder / "export" / "1"), vocabulary,
                                    jit_compile=False, text=text)
    return version, vocabulary, text


def test_the_coco_export_encodes_captions_as_training_does(coco_export):
    import tensorflow as tf

    version, vocabulary, text = coco_export
    with open(os.path.join(version, "assets.extra", "text.json")) as f:
        assert caption_text.CaptionText.from_json(f.read()) == text
    signatures = tf.saved_model.load(version).signatures
    caption = "A man, riding a horse."
    ids, mask = vocabulary.pad_batch([vocabulary.encode(text.tokenize(caption))])
    assert ids.shape == (1, 7) and ids.min() > 1  # every token known, "," and "." included
    scalars = {"method": tf.constant("greedy"), "num_samples": tf.constant(1),
               "seed": tf.constant(0), "temperature": tf.constant(1.0),
               "beam_width": tf.constant(1)}
    by_text = signatures["serving_default"](captions=tf.constant([caption]), **scalars)
    by_ids = signatures["from_ids"](ids=tf.constant(ids, tf.int32), mask=tf.constant(mask),
                                    **scalars)
    assert by_text["attention"].shape == (1, 16, 7)
    for key in ("images", "log_prob", "attention"):
        np.testing.assert_array_equal(by_text[key].numpy(), by_ids[key].numpy())


def test_the_server_checks_captions_with_the_models_tokeniser(coco_export):
    from t2i_tf.serving import rest_server

    version, _, _ = coco_export
    model = rest_server.ServedModel(os.path.dirname(version))
    assert model.tokenize("Horse.") == ["horse", "."]  # whitespace would say "horse."
    with open(os.path.join(version, "assets.extra", "t2i_tf_model.json")) as f:
        info = json.load(f)
    assert info["model"] == "align_pixel_rnn" and info["levels"] == 4
    assert info["methods"] == ["greedy", "sample", "beam"]
