"""Captions typed by a user (--caption, --captions_file) turned into token ids.

Every caption is checked on its own: a bad one (empty, too long, not UTF-8, no known word)
gives a one-line problem naming it, and the others are still drawn.
"""

MAX_CHARS = 1000
MAX_WORDS = 64


def tokenize(caption):
    """Lower-cased whitespace tokens: the tokenisation of captioned MNIST's captions."""
    return caption.lower().split()


def read_captions_file(path):
    """Returns ([(label, caption)], [problem]) for a file with one caption per line.

    Blank lines are skipped; a line that is not UTF-8 is a problem, the rest still count.
    """
    try:
        with open(path, "rb") as f:
            raw_lines = f.read().splitlines()
    except OSError as e:
        return [], [f"cannot read captions file {path}: {e.strerror}"]
    captions, problems = [], []
    for number, raw in enumerate(raw_lines, 1):
        label = f"{path}:{number}"
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            problems.append(f"{label}: not UTF-8 text")
            continue
        if text.strip():
            captions.append((label, text))
    return captions, problems


def encode(vocabulary, labelled_captions, tokenizer=tokenize):
    """Checks and encodes captions.

    Args:
      vocabulary: a t2i_tf.data.vocabulary.Vocabulary.
      labelled_captions: [(label, caption)]; the label names the caption in messages.
      tokenizer: caption -> tokens; the model's (checkpoint.load_text(...).tokenize), by
        default captioned MNIST's.

    Returns:
      (kept [(label, caption, tokens)], ids int32 (n, L), mask bool (n, L),
       problems [str], warnings [str]); ids and mask are None if nothing was kept.
    """
    kept, problems, warnings = [], [], []
    for label, caption in labelled_captions:
        tokens = tokenizer(caption)
        if not tokens:
            problems.append(f"{label}: empty caption")
        elif len(caption) > MAX_CHARS or len(tokens) > MAX_WORDS:
            problems.append(f"{label}: caption of {len(caption)} characters and {len(tokens)} "
                            f"words is over the limit ({MAX_CHARS} characters, {MAX_WORDS} words)")
        elif not any(t in vocabulary for t in tokens):
            problems.append(f"{label}: no word of the caption is in the model's vocabulary")
        else:
            unknown = sorted({t for t in tokens if t not in vocabulary})
            if unknown:
                warnings.append(f"{label}: words not in the vocabulary, drawn as <unk>: "
                                f"{' '.join(unknown)}")
            kept.append((label, caption, tokens))
    if not kept:
        return kept, None, None, problems, warnings
    ids, mask = vocabulary.pad_batch([vocabulary.encode(tokens) for _, _, tokens in kept])
    return kept, ids, mask, problems, warnings
