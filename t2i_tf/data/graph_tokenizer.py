"""A model's caption tokenisation (t2i_tf.data.caption_text.CaptionText) as TensorFlow string
ops, for the SavedModels of t2i_tf/serving/saved_model.py and t2i_tf/serving/pixel_saved_model.py: a served
caption becomes the tokens that training made of it.

  tokenizer = GraphTokenizer(CaptionText("treebank", drop_colours=False))
  tokenizer(tf.constant(["A man, riding a horse."]))   # [[b"a", b"man", b",", b"riding", ...]]

"whitespace" (captioned MNIST) is caption.lower().split(). "treebank" (COCO) is nltk's
TreebankWordTokenizer on the lower-cased caption, which is a fixed sequence of regular
expression substitutions (nltk/tokenize/treebank.py); TREEBANK_RULES is that sequence
rewritten for RE2, the engine of tf.strings.regex_replace, which lacks what Python's
engines have here:
  - lookarounds and Unicode word boundaries: nltk's contractions, `\\b(can)(not)\\b`,
    become `(^|[^\\pL\\pN_])(can)(not)($|[^\\pL\\pN_])` with the neighbours written back;
    a neighbour taken by one match hides the next match that shares it ("cannot cannot"),
    so these rules run twice, which finds every match Python finds and no other (the
    spaces a match inserts lie beside its own words); the two rules whose neighbour before
    is a literal space (" 'tis", " 'twas") run once on the text with its spaces doubled
    instead, since a second pass would take the space inserted after "'t is" for one;
  - Python's `$` also matches before a final newline: `([:,])$` becomes `([:,])(\\n?)$`;
  - Python's `\\s` and `\\d` are Unicode: they become the classes SPACE and `\\p{Nd}`.
drop_colours removes the colour runs of caption_text.drop_colours with one regular
expression over the tokens, each written as " token " (two spaces between tokens), so a run
starts and ends at token boundaries; the alternation tries a shade before its colour and
the repetition takes every "and blue", ", dark red" it can, as the Python loop does.

tests/test_graph_tokenizer.py compares both ways on many captions: punctuation, case,
quotes, contractions, brackets, Unicode spaces and digits, colour runs.
"""

import re

import tensorflow as tf

from t2i_tf.data import caption_text
from t2i_tf.data.vocabulary import PAD_ID, UNK_ID

# The whitespace of Python's str.split (str.isspace) that tf.strings.split (ASCII) lacks.
UNICODE_SPACES = (r"[\x1c-\x1f\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
                  r"\x{205f}\x{3000}]")
# Unicode White_Space: `\s` of the `regex` engine that nltk's punctuation rules run on
# (no \x1c-\x1f, which str.isspace counts) ...
REGEX_SPACE = (r"[\t\n\x0b\f\r \x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}\x{202f}"
               r"\x{205f}\x{3000}]")
# ... and `\s` of Python's `re`, which nltk's contractions run on.
RE_SPACE = (r"[\t\n\x0b\f\r \x1c-\x1f\x85\xa0\x{1680}\x{2000}-\x{200a}\x{2028}\x{2029}"
            r"\x{202f}\x{205f}\x{3000}]")
NOT_WORD = r"[^\pL\pN_]"  # a character that is not in Python's Unicode \w


def _contraction(first, second, before=None, after=None, twice=True):
    """nltk's `\\b(first)(second)\\b` (or the given neighbours) as an RE2 rule."""
    before = f"(^|{NOT_WORD})" if before is None else before
    after = f"($|{NOT_WORD})" if after is None else after
    return (f"(?i){before}({first})({second}){after}", r"\1 \2 \3 \4", twice)


# (pattern, rewrite, twice) in nltk's order; see the module docstring. nltk pads the text
# with a space at each end between the two groups.
TREEBANK_RULES = (
    # STARTING_QUOTES
    (r'^"', "``", False),
    (r"(``)", r" \1 ", False),
    (r"""([ (\[{<])("|'{2})""", r"\1 `` ", False),
    # PUNCTUATION
    (r"([:,])([^\p{Nd}])", r" \1 \2", False),
    (r"([:,])(\n?)$", r" \1 \2", False),
    (r"\.\.\.", " ... ", False),
    (r"[;@#$%&]", r" \0 ", False),
    (r"""([^.])(\.)([\])}>"']*)""" + REGEX_SPACE + "*$", r"\1 \2\3 ", False),
    (r"[?!]", r" \0 ", False),
    (r"([^'])' ", r"\1 ' ", False),
    # PARENS_BRACKETS, DOUBLE_DASHES
    (r"[\]\[(){}<>]", r" \0 ", False),
    (r"--", " -- ", False),
)
TREEBANK_PADDED_RULES = (
    # ENDING_QUOTES
    (r"''", " '' ", False),
    (r'"', " '' ", False),
    (r"([^' ])('[sS]|'[mM]|'[dD]|') ", r"\1 \2 ", False),
    (r"([^' ])('ll|'LL|'re|'RE|'ve|'VE|n't|N'T) ", r"\1 \2 ", False),
    # CONTRACTIONS2
    _contraction("can", "not"),
    _contraction("d", "'ye"),
    _contraction("gim", "me"),
    _contraction("gon", "na"),
    _contraction("got", "ta"),
    _contraction("lem", "me"),
    _contraction("more", "'n"),
    _contraction("wan", "na", after=f"({RE_SPACE})"),
    # CONTRACTIONS3, whose neighbour before is a space: with every space doubled, a space
    # taken as the neighbour after one match leaves its twin to the next, in one pass.
    (" ", "  ", False),
    _contraction("'t", "is", before="( )", twice=False),
    _contraction("'t", "was", before="( )", twice=False),
)


def _words(words):
    return "|".join(re.escape(w) for w in sorted(words, key=lambda w: (-len(w), w)))


def colour_run_pattern():
    """The RE2 pattern of one colour run over tokens written " token " back to back."""
    colour, shade = _words(caption_text.COLOURS), _words(caption_text.SHADES)
    part = f"(?:{colour}|{shade}|and)"
    colour_token = f"(?:(?:{shade}|and)-)*(?:{colour})(?:-{part})*"
    one = f"(?: (?:{shade}) )? {colour_token} "  # [shade] colour, as tokens
    return f"{one}(?: (?:{_words(caption_text.JOINS)}) {one})*"


class GraphTokenizer:
    """CaptionText.tokenize as TensorFlow ops.

    Args:
      text: the model's t2i_tf.data.caption_text.CaptionText.

    Calling it with captions string (n,) returns the tokens, a tf.RaggedTensor (n, None).
    """

    def __init__(self, text=caption_text.WHITESPACE):
        self.text = text
        self._colour_run = colour_run_pattern() if text.drop_colours else None

    def __call__(self, captions):
        text = tf.strings.lower(captions, encoding="utf-8")
        if self.text.tokenizer == "treebank":
            text = _substitute(text, TREEBANK_RULES)
            text = _substitute(tf.strings.join([" ", text, " "]), TREEBANK_PADDED_RULES)
        text = tf.strings.regex_replace(text, UNICODE_SPACES, " ")
        tokens = tf.strings.split(text)  # (n, None), on ASCII whitespace
        if self._colour_run is None:
            return tokens
        spaced = tf.ragged.map_flat_values(lambda t: tf.strings.join([" ", t, " "]), tokens)
        spaced = tf.strings.reduce_join(spaced, axis=-1)  # " a  black  cat " (n,)
        return tf.strings.split(tf.strings.regex_replace(spaced, self._colour_run, ""))


def _substitute(text, rules):
    for pattern, rewrite, twice in rules:
        for _ in range(2 if twice else 1):
            text = tf.strings.regex_replace(text, pattern, rewrite)
    return text


class CaptionIds(tf.Module):
    """Captions -> the ids and mask the model takes, tokenised as it was trained
    (GraphTokenizer) and looked up in its vocabulary: unknown tokens, and the literal
    "<pad>", to <unk>; padded to the longest caption of the batch.

    Args:
      vocabulary: the model's t2i_tf.data.vocabulary.Vocabulary.
      text: its CaptionText.

    Calling it with captions string (n,) returns ids int32 (n, L) and mask bool (n, L).
    """

    def __init__(self, vocabulary, text=caption_text.WHITESPACE, name=None):
        super().__init__(name=name)
        self.tokenizer = GraphTokenizer(text)
        words = vocabulary.tokens[UNK_ID + 1:]
        self.table = tf.lookup.StaticHashTable(
            tf.lookup.KeyValueTensorInitializer(
                tf.constant(words, tf.string),
                tf.range(UNK_ID + 1, UNK_ID + 1 + len(words), dtype=tf.int32)),
            default_value=UNK_ID)

    def __call__(self, captions):
        ids = tf.ragged.map_flat_values(self.table.lookup, self.tokenizer(captions))
        mask = tf.ones_like(ids, dtype=tf.bool)
        return ids.to_tensor(default_value=PAD_ID), mask.to_tensor(default_value=False)
