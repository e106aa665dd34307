"""Prompt normalization: mask the slots of a template so that its skeleton recurs.

Slots are what a template fills per request: code blocks, URLs, e-mail addresses, quoted spans,
inline code, and tokens that carry digits or look like identifiers (numbers, ids, hashes,
versions, snake_case names, long tokens). Each becomes `#`. The patterns run one after the
other over a whole column in polars, in order, so code blocks and URLs are masked before the
numbers inside them (separate passes are about ten times faster than one alternation, whose
automaton loses the literal prefilters); case and spacing are then folded by the tokenizer of
`detector.features.sketch`, or spelled out by `normalized_text` for display and tests.
"""

from __future__ import annotations

import polars as pl

SLOT = "#"

# Template text is read from the head and the tail of long prompts: instructions sit at the
# start or the end, while the middle of a long prompt is slot content (documents, code).
TEMPLATE_HEAD_CHARS = 512
TEMPLATE_TAIL_CHARS = 128

_CODE_BLOCK = r"(?s:```.*?(?:```|\z))"
_URL = r"(?:https?|ftp)://[^\s<>\"'`]+|www\.[^\s<>\"'`]+"
_EMAIL = r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)+"
_QUOTED = r"\"[^\"\n]*\"|“[^”\n]*”|«[^»\n]*»|`[^`\n]+`"
_WITH_DIGIT = r"[A-Za-z0-9_.:/+-]*[0-9][A-Za-z0-9_.:/+-]*"
_SNAKE_CASE = r"[A-Za-z0-9]*_[A-Za-z0-9_]*"
_LONG_TOKEN = r"[A-Za-z]{24,}"

SLOT_PATTERNS = (_CODE_BLOCK, _URL, _EMAIL, _QUOTED, _WITH_DIGIT, _SNAKE_CASE, _LONG_TOKEN)
_SEPARATORS = r"[^0-9a-z#\x{80}-\x{10FFFF}]+"


def clip_text(
    text: pl.Expr, head: int = TEMPLATE_HEAD_CHARS, tail: int = TEMPLATE_TAIL_CHARS
) -> pl.Expr:
    """The first `head` and last `tail` characters of long texts, joined by a newline."""
    text = text.fill_null("")
    long = text.str.len_chars() > head + tail
    return pl.when(long).then(text.str.head(head) + "\n" + text.str.tail(tail)).otherwise(text)


def mask_slots(text: pl.Expr) -> pl.Expr:
    """Replace every slot (code, URL, e-mail, quoted span, number, identifier) by `#`, lower-cased."""
    text = text.fill_null("")
    for pattern in SLOT_PATTERNS:
        text = text.str.replace_all(pattern, SLOT)
    return text.str.to_lowercase()


def normalized_text(text: pl.Expr) -> pl.Expr:
    """The masked text as the tokenizer sees it: lower case, tokens joined by single spaces."""
    return mask_slots(text).str.replace_all(_SEPARATORS, " ").str.strip_chars()


def masked_template_text(
    texts: pl.Series,
    head: int = TEMPLATE_HEAD_CHARS,
    tail: int = TEMPLATE_TAIL_CHARS,
    parts: int = 4,
) -> pl.Series:
    """Clip and mask a column; slices run in parallel (polars runs one string kernel per slice)."""
    frame = pl.DataFrame({"text": texts})
    step = max(1, -(-frame.height // parts))
    slices = [
        frame.slice(offset, step).lazy().select(mask_slots(clip_text(pl.col("text"), head, tail)))
        for offset in range(0, max(frame.height, 1), step)
    ]
    return pl.concat(slices, parallel=True).collect().to_series()
