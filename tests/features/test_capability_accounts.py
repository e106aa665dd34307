"""Per-account capability mix, with entropy and Jensen-Shannon values worked out by hand."""

import math

import polars as pl
import pytest

from detector.features.capability import account_capability_features
from detector.features.capability_taxonomy import load_taxonomy


@pytest.fixture
def request_rows() -> pl.DataFrame:
    # Account a: half coding, half maths, CoT scores 0.15, 0.9, 0.5, 0.0. Account b: only chit-chat.
    return pl.DataFrame({
        "account_id": ["a", "a", "a", "a", "b", "b", "b", "b"],
        "capability": ["agentic_coding", "math_reasoning", "agentic_coding", "math_reasoning"] + ["chitchat_advice"] * 4,
        "cot_score": [0.15, 0.9, 0.5, 0.0, 0.0, 0.0, 0.2, None],
    })


def test_shares_entropy_and_high_value(request_rows: pl.DataFrame) -> None:
    out = account_capability_features(request_rows)
    names = load_taxonomy().names
    assert out.columns == ["account_id", *[f"cap_{n}_share" for n in names], "capability_entropy",
                           "capability_divergence", "high_value_share", "cot_share", "cot_intensity"]
    a, b = out.row(0, named=True), out.row(1, named=True)
    assert (a["account_id"], b["account_id"]) == ("a", "b")
    assert a["cap_agentic_coding_share"] == 0.5 and a["cap_math_reasoning_share"] == 0.5
    assert b["cap_chitchat_advice_share"] == 1.0
    assert a["capability_entropy"] == pytest.approx(1.0)  # two equal halves: one bit
    assert b["capability_entropy"] == pytest.approx(0.0)
    assert (a["high_value_share"], b["high_value_share"]) == (1.0, 0.0)
    assert a["cot_share"] == 0.5 and a["cot_intensity"] == pytest.approx(1.55 / 4)
    assert b["cot_share"] == 0.0 and b["cot_intensity"] == pytest.approx(0.05)


def test_divergence_against_the_pooled_population(request_rows: pl.DataFrame) -> None:
    # Population (0.25 coding, 0.25 maths, 0.5 chit-chat). For a: M = (3/8, 3/8, 1/4),
    # KL(a||M) = log2(4/3), KL(pop||M) = 0.5 + 0.5 log2(2/3); JS is their mean. b gives the same.
    expected = 0.5 * (math.log2(4 / 3) + 0.5 + 0.5 * math.log2(2 / 3))
    out = account_capability_features(request_rows)
    assert out["capability_divergence"].to_list() == pytest.approx([expected, expected])
    assert expected == pytest.approx(0.311278, abs=1e-6)


def test_divergence_against_a_given_population(request_rows: pl.DataFrame) -> None:
    # Uniform over the ten capabilities: M = 0.3 on a's two labels, 0.05 elsewhere.
    uniform = dict.fromkeys(load_taxonomy().names, 1.0)
    expected = 0.5 * (math.log2(0.5 / 0.3) + 0.2 * math.log2(0.1 / 0.3) + 0.8 * math.log2(0.1 / 0.05))
    out = account_capability_features(request_rows, population=uniform)
    assert out["capability_divergence"][0] == pytest.approx(expected)
    assert 0.0 <= out["capability_divergence"].min() <= out["capability_divergence"].max() <= 1.0


def test_identical_mix_has_zero_divergence_and_unknown_labels_count_as_other() -> None:
    rows = pl.DataFrame({"account_id": ["x", "y"], "capability": ["writing", "writing"], "cot_score": [0.0, 0.0]})
    assert account_capability_features(rows)["capability_divergence"].to_list() == pytest.approx([0.0, 0.0])
    odd = pl.DataFrame({"account_id": ["z"], "capability": ["not-a-label"], "cot_score": [0.0]})
    assert account_capability_features(odd)["cap_other_share"][0] == 1.0
