"""Per-request capability classification: tool evidence, output shape, held-out accuracy."""

import json

import numpy as np
import polars as pl
import pytest
from sklearn.exceptions import NotFittedError

from detector.features import capability
from detector.features.capability import classify_requests, tool_names
from detector.features.capability_model import CapabilityModel, hashed_ngrams, load_examples
from detector.features.capability_taxonomy import load_taxonomy

SCHEMA = {"request_id": pl.String, "prompt": pl.String, "system_prompt": pl.String, "tools": pl.String}
ACCURACY_FLOOR = 0.85  # the bar for held-out labelled prompts


def requests(prompts: list[str | None], tools: list[str | None] | None = None, systems: list[str | None] | None = None) -> pl.DataFrame:
    n = len(prompts)
    return pl.DataFrame(
        {"request_id": [f"r{i}" for i in range(n)], "prompt": prompts,
         "system_prompt": systems or [None] * n, "tools": tools or [None] * n},
        schema=SCHEMA,
    )


def test_tool_names_reads_plain_lists_and_definitions() -> None:
    frame = pl.DataFrame({"tools": [
        json.dumps(["read_file", "bash"]),
        json.dumps([{"type": "function", "function": {"name": "get_weather", "description": "Weather by city"}}]),
        json.dumps([{"name": "computer", "input_schema": {"type": "object"}}]),
        None,
    ]})
    assert frame.select(tool_names(pl.col("tools"))).to_series().to_list() == ["read_file bash", "get_weather", "computer", ""]


def test_offered_tools_decide_between_coding_tool_use_and_computer_use() -> None:
    tools = [
        json.dumps(["read_file", "str_replace", "bash"]),
        json.dumps([{"type": "function", "function": {"name": "search_flights", "description": "read file of flights"}}]),
        json.dumps([{"name": "computer", "input_schema": {}}]),
        None,
    ]
    out = classify_requests(requests(["ok, go on"] * 4, tools))
    assert out["capability"].to_list()[:3] == ["agentic_coding", "tool_use", "computer_use_vision"]
    assert out["capability"][3] not in {"agentic_coding", "tool_use", "computer_use_vision"}


def test_output_has_one_row_per_request_with_labels_from_the_taxonomy() -> None:
    prompts = ["Translate into French: good night", None, "Translate into French: good night", "Solve 2x + 3 = 11."]
    out = classify_requests(requests(prompts))
    assert out.columns == ["request_id", "capability", "capability_confidence"]
    assert out["request_id"].to_list() == ["r0", "r1", "r2", "r3"]
    assert set(out["capability"]) <= set(load_taxonomy().names)
    assert out["capability"].to_list()[0] == out["capability"].to_list()[2] == "translation"
    assert out["capability"][3] == "math_reasoning"
    confidence = out["capability_confidence"].to_numpy()
    assert ((confidence > 0) & (confidence <= 1)).all()
    assert confidence[0] == confidence[2]


def test_rule_evidence_on_the_system_prompt_counts() -> None:
    system = "Give a censorship-safe version of every answer, following the official government position."
    out = classify_requests(requests(["Tell me about the history of Tibet."], systems=[system]))
    assert out["capability"][0] == "sensitive_rewriting"


def test_held_out_split_shares_no_text_or_group_with_training() -> None:
    train, held_out = load_examples("train"), load_examples("held_out")
    assert held_out.height >= 500
    assert set(train["text"]).isdisjoint(held_out["text"])
    assert set(train["group"]).isdisjoint(held_out["group"])
    assert set(held_out["capability"]) == set(load_taxonomy().names)


def test_held_out_accuracy_meets_the_floor() -> None:
    held_out = load_examples("held_out")
    frame = held_out.select(
        pl.int_range(pl.len()).cast(pl.String).alias("request_id"), pl.col("text").alias("prompt"),
        pl.lit(None, dtype=pl.String).alias("system_prompt"), pl.lit(None, dtype=pl.String).alias("tools"),
    )
    predicted = classify_requests(frame)["capability"]
    accuracy = (predicted == held_out["capability"]).mean()
    per_class = (
        held_out.with_columns(hit=predicted == pl.col("capability")).group_by("capability").agg(pl.col("hit").mean())
    )
    assert accuracy >= ACCURACY_FLOOR, per_class
    assert per_class["hit"].min() >= 0.5, per_class


def test_hashed_ngrams_tokens_bigrams_and_scaling() -> None:
    texts = pl.Series(["Solve for y", "", "Room 12, floor 3", "room 47, floor 9", "Solve for y"])
    unigrams, bigrams = hashed_ngrams(texts, 1 << 16, 100)
    features = (unigrams + bigrams).toarray()
    # "solve for y": 3 tokens and 2 bigrams, all distinct, each weighing 1/sqrt(5): unit norm.
    assert np.count_nonzero(features[0]) == 5
    assert np.linalg.norm(features[0]) == pytest.approx(1.0, abs=1e-6)
    assert not features[1].any()
    # punctuation is a token of its own and every digit reads as 0, so the two rooms are equal
    assert (unigrams[2] != unigrams[3]).nnz == 0 and unigrams[2].nnz == 5
    assert (features[0] == features[4]).all()


def test_model_follows_the_estimator_contract() -> None:
    model = CapabilityModel(n_features=1 << 12, epochs=5)
    with pytest.raises(NotFittedError):
        model.predict_proba(["hello"])
    texts = ["solve x + 1 = 2", "solve 3x = 9", "write a poem", "write a story"]
    assert model.fit(texts, ["math", "math", "writing", "writing"]) is model
    assert list(model.classes_) == ["math", "writing"]
    assert model.predict_proba(["solve 2x = 4"]).sum() == pytest.approx(1.0)
    assert model.predict(["solve 5x = 10", "write a limerick"]).tolist() == ["math", "writing"]


def test_large_frames_are_classified_in_slices_with_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    frame = requests(["Solve 2x + 3 = 11.", "Translate into German: thank you", None, "Write a poem about rain."])
    whole = classify_requests(frame)
    monkeypatch.setattr(capability, "BATCH_ROWS", 3)
    assert classify_requests(frame).equals(whole)
