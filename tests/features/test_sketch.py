"""Token hashes and MinHash sketches: invariances, similarity estimates, stable encodings."""

from __future__ import annotations

import itertools
import random

import numpy as np
import polars as pl

from detector.features.normalize import mask_slots, normalized_text
from detector.features.sketch import (
    BANDS,
    SIGNATURE_BINS,
    band_keys,
    digest_similarity,
    hex16,
    signature_digest,
    sketch_texts,
)


def test_template_hash_ignores_case_spacing_and_punctuation() -> None:
    sketches = sketch_texts(
        pl.Series(
            ["Hello, world: foo!", "hello world foo", "  HELLO\tWORLD   foo", "hello world bar"]
        )
    )
    hashes = sketches.template_hash
    assert hashes[0] == hashes[1] == hashes[2]
    assert hashes[3] != hashes[0]
    assert (sketches.signature[0] == sketches.signature[1]).all()


def test_kernel_tokens_match_the_displayed_normalization() -> None:
    prompts = ["Solve 12+7, then mail ann@x.io!", "Über CAFÉ — naïve `x`", "Plain words only"]
    frame = pl.DataFrame({"p": prompts})
    masked = frame.select(mask_slots(pl.col("p"))).to_series()
    shown = frame.select(normalized_text(pl.col("p"))).to_series()
    assert (sketch_texts(masked).template_hash == sketch_texts(shown).template_hash).all()


def test_word_order_changes_the_hash() -> None:
    hashes = sketch_texts(pl.Series(["grade the answer", "answer the grade"])).template_hash
    assert hashes[0] != hashes[1]


def _shingles(words: list[str]) -> set[str]:
    return set(words) | {f"{a} {b}" for a, b in itertools.pairwise(words)}


def test_signature_agreement_estimates_jaccard() -> None:
    rng = random.Random(11)
    vocabulary = [f"w{i}" for i in range(5000)]
    errors = []
    for _ in range(60):
        base = rng.choices(vocabulary, k=120)
        edited = [
            rng.choice(vocabulary) if rng.random() < rng.uniform(0.05, 0.6) else word
            for word in base
        ]
        exact = len(_shingles(base) & _shingles(edited)) / len(_shingles(base) | _shingles(edited))
        sketches = sketch_texts(pl.Series([" ".join(base), " ".join(edited)]))
        estimate = float((sketches.signature[0] == sketches.signature[1]).mean())
        errors.append(estimate - exact)
    # 30 bins: the standard error of one estimate is at most sqrt(0.25 / 30) ~ 0.09.
    assert abs(float(np.mean(errors))) < 0.04
    assert float(np.sqrt(np.mean(np.square(errors)))) < 0.12


def test_unrelated_texts_agree_on_few_bins() -> None:
    rng = random.Random(5)
    vocabulary = [f"w{i}" for i in range(5000)]
    texts = pl.Series([" ".join(rng.choices(vocabulary, k=80)) for _ in range(40)])
    digest = signature_digest(sketch_texts(texts).signature)
    similarity = digest_similarity(digest[:-1], digest[1:])
    assert similarity.max() < 0.2


def test_short_and_empty_texts_get_full_signatures() -> None:
    sketches = sketch_texts(pl.Series(["", "one", "two words"]))
    assert sketches.signature.shape == (3, SIGNATURE_BINS)
    assert (sketches.signature[0] == 0).all()
    assert len(set(sketches.template_hash.tolist())) == 3
    assert band_keys(sketches.signature).shape == (3, BANDS)


def test_band_keys_follow_the_bands() -> None:
    signature = sketch_texts(pl.Series(["alpha beta gamma delta epsilon zeta eta theta"])).signature
    changed = signature.copy()
    changed[0, 0] ^= 1  # only band 0 differs
    keys, other = band_keys(signature), band_keys(changed)
    assert keys[0, 0] != other[0, 0]
    assert (keys[0, 1:] == other[0, 1:]).all()
    # The same rows in another band give another key: the band index salts the key.
    assert len(set(band_keys(np.zeros((1, SIGNATURE_BINS), np.uint32))[0].tolist())) == BANDS


def test_hex16_is_zero_padded_lower_case() -> None:
    values = np.array([0, 0xABC, 0xFFFFFFFFFFFFFFFF], dtype=np.uint64)
    assert hex16(values).to_list() == ["0000000000000000", "0000000000000abc", "ffffffffffffffff"]
