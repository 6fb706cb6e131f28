"""Caption text for COCO: lower-casing, nltk tokenisation, colour-word removal and the
vocabulary built from the training captions (alignDRAW Appendix B; alignPixelRNN §5.1).

Tokenisation is nltk's TreebankWordTokenizer on the lower-cased caption. It needs no data
files (nltk's Punkt models are not installed here, and nothing downloads at run time); it
splits punctuation and clitics off the words ("surfboard." -> "surfboard", "."; "it's" ->
"it", "'s") and only a caption's final full stop, which is what one-sentence captions need.

Colour words (alignPixelRNN §5.1: "a dictionary of colors", captions "processed to discard
the color information") are dropped as runs: a colour word, optionally after a shade
("dark", "light", ...), joined to further colour words by "and", "or" or ",", goes as a
whole, so "a black and white cat" -> "a cat", not "a and cat". A hyphenated token made only
of colour words and shades ("red-and-white", "dark-blue") is a colour word. "orange" is not
in the dictionary: in COCO it is as often the fruit as the colour, and the fruit is an
object the picture shows.

    text = CaptionText(drop_colours=True)
    text.tokenize("A black and white cat on a red sofa.")   # ['a', 'cat', 'on', 'a', 'sofa', '.']
"""

from __future__ import annotations

import collections
import dataclasses
import json
from typing import Iterable

from nltk.tokenize import TreebankWordTokenizer

from t2i_tf.data.vocabulary import Vocabulary

COLOURS = frozenset(
    "red green blue yellow purple pink brown black white gray grey silver gold golden beige "
    "tan maroon navy teal turquoise violet cyan magenta crimson scarlet ivory khaki lavender "
    "indigo bronze copper blond blonde".split())
SHADES = frozenset("dark light bright pale deep".split())
JOINS = frozenset(["and", "or", ","])
TOKENIZERS = ("treebank", "whitespace")

_TREEBANK = TreebankWordTokenizer()


def is_colour(token: str) -> bool:
    """A colour word, or a hyphenated token made only of colour words, shades and "and"."""
    parts = token.split("-")
    return (token in COLOURS or len(parts) > 1 and any(p in COLOURS for p in parts)
            and all(p in COLOURS or p in SHADES or p == "and" for p in parts))


def drop_colours(tokens: list[str]) -> list[str]:
    """`tokens` without their colour runs (see the module docstring)."""
    out, i = [], 0
    while i < len(tokens):
        j = i + (tokens[i] in SHADES and i + 1 < len(tokens) and is_colour(tokens[i + 1]))
        if not is_colour(tokens[j]):
            out.append(tokens[i])
            i += 1
            continue
        i = j + 1  # past the colour; swallow "and red", ", dark blue", ...
        while i + 1 < len(tokens) and tokens[i] in JOINS:
            k = i + 1 + (tokens[i + 1] in SHADES and i + 2 < len(tokens)
                         and is_colour(tokens[i + 2]))
            if not is_colour(tokens[k]):
                break
            i = k + 1
    return out


@dataclasses.dataclass(frozen=True)
class CaptionText:
    """How a model's captions become tokens; saved with the model as text.json.

    Args:
      tokenizer: "treebank" (COCO) or "whitespace" (captioned MNIST: caption.lower().split()).
      drop_colours: remove colour runs (alignPixelRNN on grayscale COCO).
    """

    tokenizer: str = "treebank"
    drop_colours: bool = False

    def __post_init__(self):
        if self.tokenizer not in TOKENIZERS:
            raise ValueError(f"unknown tokenizer {self.tokenizer!r}; known: {TOKENIZERS}")

    def tokenize(self, caption: str) -> list[str]:
        text = caption.lower()
        tokens = _TREEBANK.tokenize(text) if self.tokenizer == "treebank" else text.split()
        return drop_colours(tokens) if self.drop_colours else tokens

    def to_json(self) -> str:
        return json.dumps(dataclasses.asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> "CaptionText":
        data = json.loads(text)
        if not isinstance(data, dict) or set(data) - {"tokenizer", "drop_colours"}:
            raise ValueError(f"expected keys tokenizer and drop_colours, got {data!r}")
        return cls(**data)


# Models saved without text.json (captioned MNIST) tokenise by whitespace.
WHITESPACE = CaptionText("whitespace")


def build_vocabulary(token_lists: Iterable[list[str]], min_count: int = 5) -> Vocabulary:
    """The words seen at least `min_count` times, most frequent first (ties alphabetical);
    the others become <unk> when encoded."""
    if min_count < 1:
        raise ValueError(f"min_count must be >= 1, got {min_count}")
    counts = collections.Counter(t for tokens in token_lists for t in tokens)
    kept = [w for w, n in counts.items() if n >= min_count]
    return Vocabulary(sorted(kept, key=lambda w: (-counts[w], w)))
