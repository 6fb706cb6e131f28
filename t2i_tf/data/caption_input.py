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
    if not captions and not problems:
        problems.append(f"captions file {path} holds no caption (no line has text)")
    return captions, problems


def caption_problem(caption, tokens, vocabulary=None, max_chars=MAX_CHARS,
                    max_words=MAX_WORDS):
    """Why a caption cannot be drawn, or None if it can: the one rule that `sample` and the
    REST server (t2i_tf/serving/rest_server.py) apply.

    Args:
      caption: the caption text (str).
      tokens: its tokens (the model's tokenizer applied to it).
      vocabulary: a t2i_tf.data.vocabulary.Vocabulary (anything with `in`), or None to skip
        the rule that some word must be known.
      max_chars, max_words: the length limits.

    Returns:
      A one-line problem without the caption's label ("empty caption", "caption of ... is
      over the limit ...", "no word of the caption is in the model's vocabulary"), or None.
    """
    if not tokens:
        return "empty caption"
    if len(caption) > max_chars or len(tokens) > max_words:
        return (f"caption of {len(caption)} characters and {len(tokens)} words is over the "
                f"limit ({max_chars} characters, {max_words} words)")
    if vocabulary is not None and not any(t in vocabulary for t in tokens):
        return "no word of the caption is in the model's vocabulary"
    return None


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
        problem = caption_problem(caption, tokens, vocabulary)
        if problem:
            problems.append(f"{label}: {problem}")
            continue
        unknown = sorted({t for t in tokens if t not in vocabulary})
        if unknown:
            warnings.append(f"{label}: words not in the vocabulary, drawn as <unk>: "
                            f"{' '.join(unknown)}")
        kept.append((label, caption, tokens))
    if not kept:
        return kept, None, None, problems, warnings
    ids, mask = vocabulary.pad_batch([vocabulary.encode(tokens) for _, _, tokens in kept])
    return kept, ids, mask, problems, warnings
