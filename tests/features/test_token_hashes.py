"""The numba tokenizer and vocabulary give exactly the polars tokens' hashes, and the fused
model product gives exactly the logits of the sparse-matrix product."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from detector.features import capability_model, token_hashes
from detector.features.capability_model import (
    HASH_SEED,
    SPLIT_FROM,
    SPLIT_TO,
    CapabilityModel,
    hashed_ngrams,
    load_examples,
    token_hashes_of,
    trained_capability_model,
)

EDGE_TEXTS = [
    "",
    None,
    "   ",
    "a",
    "Hello, World! v2.5 costs $1,299.99 (approx.)",
    "tabs\tand\nnew\r\nlines  double  spaces",
    "non-breaking\u00a0space and vertical\x0btab stay inside tokens",
    "日本語のテキスト、句読点。 and émigré café 123",
    "```python\ndef f(x):\n    return x**2 # 10\n```",
    "0 00 1 9 0123456789 a1b2c3",
    "---,,,;;;!!!???[]{}<>|\\/@#&~^%$`'\"=+*",
    "x" * 3000,
]


def polars_token_hashes(texts: pl.Series, max_chars: int) -> tuple[np.ndarray, np.ndarray]:
    """The reference: replace_many, split on spaces, drop empty tokens, polars hash."""
    chunks = (
        texts.fill_null("").str.head(max_chars).str.to_lowercase()
        .str.replace_many(SPLIT_FROM, SPLIT_TO).str.split(" ")
    )
    flat = chunks.explode()
    keep = (flat.str.len_bytes() > 0).fill_null(False).to_numpy()
    rows = np.repeat(np.arange(len(texts)), chunks.list.len().fill_null(0).to_numpy())[keep]
    counts = np.bincount(rows, minlength=len(texts))
    return flat.hash(seed=HASH_SEED).to_numpy()[keep], np.concatenate([[0], np.cumsum(counts)])


def assert_same_as_polars(texts: pl.Series, max_chars: int = 1000) -> None:
    got = token_hashes_of(texts, max_chars)
    hashes, starts = polars_token_hashes(texts, max_chars)
    assert np.array_equal(got.starts, starts)
    assert np.array_equal(got.hashes, hashes)


def test_edge_texts_split_and_hash_like_polars() -> None:
    texts = pl.Series(EDGE_TEXTS, dtype=pl.String)
    assert_same_as_polars(texts)
    assert_same_as_polars(texts)  # second call: every token is now a vocabulary hit
    assert_same_as_polars(texts, max_chars=7)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=80)), max_size=12))
def test_arbitrary_texts_split_and_hash_like_polars(values: list[str | None]) -> None:
    assert_same_as_polars(pl.Series(values, dtype=pl.String))


def test_vocabulary_grows_and_resets_without_changing_hashes(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(7)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    words = ["".join(row) for row in letters[rng.integers(0, 26, size=(60_000, 7))]]  # digits would read as 0
    texts = pl.Series([" ".join(words[i : i + 100]) for i in range(0, len(words), 100)])
    monkeypatch.setattr(token_hashes, "_VOCABULARIES", {})
    assert_same_as_polars(texts)
    vocabulary = next(iter(token_hashes._VOCABULARIES.values()))
    assert len(vocabulary.first) >= 2 * vocabulary.size >= 2 * 30_000  # grew past 65,536 slots, half full at most
    monkeypatch.setattr(token_hashes, "VOCABULARY_LIMIT", 5_000)
    fresh = pl.Series([" ".join(words[i : i + 40]).upper() for i in range(0, 4_000, 40)])
    assert_same_as_polars(fresh)  # lowercased, these words are known: no new entry, no reset
    assert vocabulary.size == 60_000
    assert_same_as_polars(fresh.str.replace_all(" ", "z "))  # 4,000 new words: past the limit, a reset
    assert vocabulary.size <= 5_000
    assert_same_as_polars(texts)


def reference_probabilities(model: CapabilityModel, texts: pl.Series) -> np.ndarray:
    """predict_proba through scipy's sparse product (the implementation the fused kernel replaces)."""
    unigrams, bigrams = hashed_ngrams(texts, model.n_features, model.max_chars)
    logits = unigrams @ model.weights_ + bigrams @ model.weights_ + model.intercept_
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    return np.asarray(probabilities / probabilities.sum(axis=1, keepdims=True), dtype=np.float64)


def test_fused_product_gives_the_sparse_products_bits() -> None:
    model = trained_capability_model()
    texts = pl.concat([load_examples("test").get_column("text"), pl.Series(EDGE_TEXTS, dtype=pl.String)])
    assert np.array_equal(model.predict_proba(texts), reference_probabilities(model, texts))


def test_fused_product_with_a_bucket_count_that_is_not_a_power_of_two() -> None:
    train = load_examples("train").sample(600, seed=0)
    model = CapabilityModel(n_features=1000, max_chars=200, epochs=3).fit(
        train.get_column("text"), train.get_column("capability").to_list()
    )
    texts = load_examples("test").get_column("text").head(200)
    assert np.array_equal(model.predict_proba(texts), reference_probabilities(model, texts))


def test_byte_classes_refuse_non_ascii_characters() -> None:
    with pytest.raises(ValueError, match="ASCII"):
        token_hashes.byte_classes(["\u00a0"], [], [])
    assert capability_model.SPLIT_FROM[0] == "\n"
