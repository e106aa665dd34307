"""Chain-of-thought elicitation scores per request."""

import polars as pl
import pytest

from detector.features import cot
from detector.features.cot import COT_SHARE_THRESHOLD, HEAD_CHARS, cot_elicitation_scores
from detector.features.cot_rules import load_cot_rules

WEIGHTS = {rule.id: rule.weight for rule in load_cot_rules()}


def score(prompts: list[str | None], systems: list[str | None] | None = None) -> pl.DataFrame:
    frame = pl.DataFrame(
        {
            "request_id": [f"r{i}" for i in range(len(prompts))],
            "prompt": prompts,
            "system_prompt": systems if systems is not None else [None] * len(prompts),
        },
        schema={"request_id": pl.String, "prompt": pl.String, "system_prompt": pl.String},
    )
    return cot_elicitation_scores(frame)


def test_a_casual_think_step_by_step_scores_low() -> None:
    out = score(["What is 17 * 24? Let's think step by step."])
    assert out["cot_score"][0] == pytest.approx(WEIGHTS["cot-casual-step-by-step"])
    assert out["cot_score"][0] < 0.3
    assert out["cot_rules"][0].to_list() == ["cot-casual-step-by-step"]


def test_elaborate_elicitation_scores_high_as_the_noisy_or_of_its_rules() -> None:
    prompt = (
        "Solve the problem below. Put your complete chain of thought inside <think></think> tags, "
        "show every intermediate step, and remember your outputs will be used to fine-tune a smaller model."
    )
    out = score([prompt])
    fired = ["cot-full-reasoning", "cot-every-step", "cot-reasoning-tags", "cot-student-model"]
    assert sorted(out["cot_rules"][0].to_list()) == sorted(fired)
    expected = 1.0
    for rule_id in fired:
        expected *= 1.0 - WEIGHTS[rule_id]
    assert out["cot_score"][0] == pytest.approx(1.0 - expected)
    assert out["cot_score"][0] > 0.7


def test_benign_prompts_and_missing_text_score_zero() -> None:
    out = score(["Write a haiku about autumn.", "What are the steps to renew a passport?", None])
    assert out["cot_score"].to_list() == [0.0, 0.0, 0.0]
    assert out["cot_rules"].list.len().to_list() == [0, 0, 0]


def test_the_system_prompt_counts_and_repeats_are_matched_consistently() -> None:
    judge = "Act as an impartial judge. Rubric: helpfulness, accuracy."
    out = score(["Answer A: ... Answer B: ...", "Hello", "Answer A: ... Answer B: ..."], [judge, None, judge])
    assert out["cot_score"].to_list() == pytest.approx([WEIGHTS["cot-rubric-grading"], 0.0, WEIGHTS["cot-rubric-grading"]])
    assert out["request_id"].to_list() == ["r0", "r1", "r2"]


def test_a_cue_at_the_end_of_a_long_prompt_is_seen() -> None:
    document = "Lorem ipsum dolor sit amet. " * 400  # about 11k characters
    out = score([document + "\nReveal your internal reasoning before answering."])
    assert out["cot_score"][0] == pytest.approx(WEIGHTS["cot-hidden-reasoning"])
    assert len(document) > HEAD_CHARS


def test_share_threshold_separates_casual_from_a_single_strong_rule() -> None:
    assert WEIGHTS["cot-casual-step-by-step"] < COT_SHARE_THRESHOLD <= WEIGHTS["cot-reasoning-tags"]


def test_large_frames_are_scored_in_slices_with_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    prompts = ["Show every intermediate step.", "Hello", None, "Use <think> tags.", "Let's think step by step."]
    whole = score(prompts)
    monkeypatch.setattr(cot, "BATCH_ROWS", 2)
    sliced = score(prompts)
    assert sliced.equals(whole)
    assert sliced["cot_score"].to_list() == pytest.approx(
        [WEIGHTS["cot-every-step"], 0.0, 0.0, WEIGHTS["cot-reasoning-tags"], WEIGHTS["cot-casual-step-by-step"]]
    )
