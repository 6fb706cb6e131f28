"""The Markdown table that t2i_tf.evaluate prints."""


def markdown(title, rows):
    """title, a blank line, then | metric | value | ± | with one row per (name, value,
    spread or None), values to 3 decimals."""
    lines = [title, "", "| metric | value | ± |", "| --- | ---: | ---: |"]
    for name, value, spread in rows:
        lines.append(f"| {name} | {value:.3f} | {'' if spread is None else f'{spread:.3f}'} |")
    return "\n".join(lines)
