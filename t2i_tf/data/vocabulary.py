"""A word vocabulary: tokens <-> integer ids, and padding of id lists into a batch.

Id 0 is ``<pad>`` and id 1 is ``<unk>``; the words follow in the order given. Tokenisation is
not done here: the caller splits a caption into tokens (``caption.lower().split()`` for
captioned MNIST, a real tokenizer for COCO) and hands the list to ``encode``.

    vocab = Vocabulary(["the", "digit", "3"])
    ids = vocab.encode("the digit 7".split())            # [2, 3, 1]: "7" is unknown
    batch, mask = vocab.pad_batch([ids, [2]])             # (2, 3) int32, (2, 3) bool
"""

from __future__ import annotations

import json
from typing import Iterable, Sequence

import numpy as np

PAD, UNK = "<pad>", "<unk>"
PAD_ID, UNK_ID = 0, 1


class Vocabulary:
    """Maps tokens to ids (``<pad>`` = 0, ``<unk>`` = 1, then ``words`` in order).

    Args:
      words: the known tokens, in id order, without ``<pad>``/``<unk>``; no duplicates.

    Attributes:
      tokens: all tokens, indexed by id (``tokens[0] == "<pad>"``, ``tokens[1] == "<unk>"``).
    """

    def __init__(self, words: Iterable[str]):
        words = list(words)
        tokens = [PAD, UNK] + words
        if len(set(tokens)) != len(tokens):
            repeated = sorted({t for t in tokens if tokens.count(t) > 1})
            raise ValueError(f"repeated tokens (or {PAD}/{UNK} among the words): {repeated}")
        self.tokens = tokens
        self._ids = {token: i for i, token in enumerate(tokens)}

    def __len__(self) -> int:
        return len(self.tokens)

    def __contains__(self, token: str) -> bool:
        return token in self._ids

    def __eq__(self, other) -> bool:
        return isinstance(other, Vocabulary) and self.tokens == other.tokens

    def __repr__(self) -> str:
        return f"Vocabulary({len(self)} tokens)"

    @property
    def words(self) -> list[str]:
        """The tokens after ``<pad>`` and ``<unk>``."""
        return self.tokens[2:]

    def encode(self, tokens: Iterable[str]) -> list[int]:
        """Ids of ``tokens``; a token not in the vocabulary becomes ``UNK_ID`` (1)."""
        return [self._ids.get(token, UNK_ID) for token in tokens]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Tokens of ``ids`` up to the first ``PAD_ID`` (0), which ends the sequence.

        Raises:
          ValueError: an id outside ``[0, len(self))``.
        """
        out = []
        for i in ids:
            i = int(i)
            if i == PAD_ID:
                break
            if not 0 <= i < len(self.tokens):
                raise ValueError(f"id {i} outside the vocabulary of {len(self)} tokens")
            out.append(self.tokens[i])
        return out

    def pad_batch(
        self, id_lists: Sequence[Sequence[int]], length: int | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Pads id lists with ``PAD_ID`` to a common length.

        Args:
          id_lists: B lists of ids (as ``encode`` returns).
          length: the padded length L; ``None`` means the longest list.

        Returns:
          ``(ids, mask)``: int32 (B, L) ids, and bool (B, L), True on real tokens.

        Raises:
          ValueError: a list longer than ``length`` (nothing is cut silently).
        """
        lengths = [len(ids) for ids in id_lists]
        longest = max(lengths, default=0)
        if length is None:
            length = longest
        elif longest > length:
            raise ValueError(f"a sequence of {longest} ids is longer than length={length}")
        batch = np.full((len(id_lists), length), PAD_ID, dtype=np.int32)
        for row, ids in zip(batch, id_lists):
            row[: len(ids)] = ids
        mask = np.arange(length)[None, :] < np.asarray(lengths, dtype=np.int64).reshape(-1, 1)
        return batch, mask

    def to_json(self) -> str:
        """JSON text of the token list (``<pad>`` and ``<unk>`` included, in id order)."""
        return json.dumps(self.tokens)

    @classmethod
    def from_json(cls, data: str | Sequence[str]) -> "Vocabulary":
        """Rebuilds a vocabulary from ``to_json`` text (or the already-parsed token list)."""
        tokens = json.loads(data) if isinstance(data, str) else list(data)
        if tokens[:2] != [PAD, UNK]:
            raise ValueError(f"a token list starts with {PAD!r}, {UNK!r}; got {tokens[:2]}")
        return cls(tokens[2:])
