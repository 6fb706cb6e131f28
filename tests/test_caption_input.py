"""User captions: each bad one is reported on its own and the good ones are kept."""

import pytest

from t2i_tf.data import caption_input
from t2i_tf.data.captioned_mnist import VOCABULARY


def test_encode_keeps_good_captions_and_reports_bad_ones():
    labelled = [("a", "The digit 3 is at the TOP of the digit 1 ."), ("b", "   "),
                ("c", "zebra giraffe"), ("d", "the digit 7 is near a zebra ."),
                ("e", "the " * 5000)]
    kept, ids, mask, problems, warnings = caption_input.encode(VOCABULARY, labelled)
    assert [label for label, _, _ in kept] == ["a", "d"]
    assert kept[0][2] == "the digit 3 is at the top of the digit 1 .".split()
    assert ids.shape == mask.shape == (2, 12) and mask.sum(1).tolist() == [12, 8]
    assert ids[1, 4:7].tolist() == [1, 1, 1]  # near, a, zebra -> <unk>
    assert problems[0] == "b: empty caption"
    assert problems[1].startswith("c: no word")
    assert problems[2].startswith("e: caption of 20000 characters")
    assert warnings == ["d: words not in the vocabulary, drawn as <unk>: a near zebra"]


def test_nothing_kept_gives_no_arrays():
    kept, ids, mask, problems, _ = caption_input.encode(VOCABULARY, [("x", "")])
    assert kept == [] and ids is None and mask is None and len(problems) == 1


def test_captions_file_skips_blank_lines_and_reports_bad_bytes(tmp_path):
    path = tmp_path / "captions.txt"
    path.write_bytes(b"the digit 1 is at the top left of the image .\n\n\xff\xfe\nsecond\n")
    captions, problems = caption_input.read_captions_file(str(path))
    assert captions == [(f"{path}:1", "the digit 1 is at the top left of the image ."),
                        (f"{path}:4", "second")]
    assert problems == [f"{path}:3: not UTF-8 text"]


def test_missing_captions_file_is_a_problem(tmp_path):
    captions, problems = caption_input.read_captions_file(str(tmp_path / "none.txt"))
    assert captions == [] and "cannot read captions file" in problems[0]


@pytest.mark.parametrize("content", [b"", b"\n  \n\t\n"])
def test_a_captions_file_without_captions_says_so(tmp_path, content):
    path = tmp_path / "blank.txt"
    path.write_bytes(content)
    captions, problems = caption_input.read_captions_file(str(path))
    assert captions == []
    assert problems == [f"captions file {path} holds no caption (no line has text)"]


# Properties: any text is either encoded or refused with the one problem, never an exception.

from hypothesis import given, settings, strategies as st  # noqa: E402

WORDS = st.sampled_from(VOCABULARY.words + ["zebra", "<pad>", "<unk>", "DIGIT", "."])
CAPTIONS = st.one_of(
    st.text(max_size=200),
    st.lists(st.one_of(WORDS, st.text(max_size=8)), max_size=80).flatmap(
        lambda words: st.sampled_from([" ", "\t", "\u00a0", "\u3000", "  \n"]).map(
            lambda space: space.join(words))))


@settings(max_examples=150, deadline=None)
@given(st.lists(CAPTIONS, min_size=1, max_size=4))
def test_any_text_is_encoded_or_refused_by_the_one_rule(captions):
    labelled = [(f"c{i}", c) for i, c in enumerate(captions)]
    kept, ids, mask, problems, _ = caption_input.encode(VOCABULARY, labelled)
    refused = {p.split(": ", 1)[0]: p.split(": ", 1)[1] for p in problems}
    assert len(kept) + len(refused) == len(captions)
    for label, caption in labelled:
        tokens = caption_input.tokenize(caption)
        assert refused.get(label) == caption_input.caption_problem(caption, tokens, VOCABULARY)
    for row, (label, caption, tokens) in enumerate(kept):
        assert tokens == caption.lower().split()
        assert 0 < len(tokens) <= caption_input.MAX_WORDS
        assert any(t in VOCABULARY for t in tokens)
        want = VOCABULARY.encode(tokens)
        assert ids[row, :len(want)].tolist() == want and mask[row].sum() == len(want)
        assert not ids[row, len(want):].any() and not mask[row, len(want):].any()
    assert (ids is None) == (not kept)
