"""Slot masking: each kind of slot becomes `#`, the template words stay."""

from __future__ import annotations

import polars as pl
import pytest

from detector.features.normalize import clip_text, mask_slots, masked_template_text, normalized_text


def normalize(text: str) -> str:
    return pl.select(normalized_text(pl.lit(text))).item()


@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("What is 12 + 7.5?", "what is # #"),
        ("Send it to bob.smith@example.org today", "send it to # today"),
        ("See https://example.com/a?b=1 and www.example.org/x", "see # and #"),
        ('Summarize "the whole quoted passage" briefly', "summarize # briefly"),
        ("Fix:\n```python\nprint('hi')\n```\nplease", "fix # please"),
        ("Explain `foo(bar)` here", "explain # here"),
        (
            "Order 0xdeadbeef42 has hash a3f9c2d1e4b5 and version v2.3.1",
            "order # has hash # and version #",
        ),
        ("Rename user_name_field now", "rename # now"),
        ("Token abcdefghijklmnopqrstuvwxyzabc is long", "token # is long"),
        ("  Many   SPACES,\tand\nCASE!  ", "many spaces and case"),
        ("An unclosed ```block runs 42 to the end", "an unclosed #"),
    ],
)
def test_slots_are_masked(prompt: str, expected: str) -> None:
    assert normalize(prompt) == expected


def test_apostrophes_are_not_quotes() -> None:
    # Single quotes are left alone: masking them would eat the text between "don't" and "it's".
    assert normalize("Don't stop, it's fine") == "don t stop it s fine"


def test_slot_filled_variants_share_one_skeleton() -> None:
    first = normalize('Translate "good morning" into language 7 and mail ann@x.io')
    second = normalize('Translate "where is the station?" into language 12 and mail bo@y.com')
    assert first == second == "translate # into language # and mail #"


def test_clip_keeps_head_and_tail() -> None:
    text = "a" * 10 + "b" * 100 + "c" * 5
    clipped = pl.select(clip_text(pl.lit(text), head=10, tail=5)).item()
    assert clipped == "a" * 10 + "\n" + "c" * 5
    assert pl.select(clip_text(pl.lit("short"), head=10, tail=5)).item() == "short"


def test_parallel_masking_matches_the_expression() -> None:
    texts = pl.Series([f"Item {i}: call {i}@x.org about `code {i}`" for i in range(23)] + [None])
    expected = pl.DataFrame({"t": texts}).select(mask_slots(clip_text(pl.col("t")))).to_series()
    assert masked_template_text(texts, parts=4).to_list() == expected.to_list()
    assert expected[0] == "item # call # about #"  # "0:" is one slot: digits with punctuation
