"""Template fingerprints: variants of one template meet, unrelated prompts do not, ids persist."""

from __future__ import annotations

import random
import re

import duckdb
import polars as pl
import pytest

from detector.features.normalize import mask_slots
from detector.features.templates import assign_fingerprints, ensure_template_tables

GRADER = (
    "You are grading answers for a reward model. Read the question {q} and the candidate answer {a}. "
    "Score it from 1 to 10 against the rubric and explain every intermediate step of your reasoning "
    "inside <thinking> tags before giving the final score."
)
GRADER_PARAPHRASES = (
    "You are scoring answers for a reward model. Read question {q} and candidate answer {a}. Grade it "
    "from 1 to 10 against the rubric and explain each intermediate step of your reasoning inside "
    "<thinking> tags before you give the final score.",
    "You grade answers for a reward model. Read the question {q} and the candidate's answer {a}. Score "
    "it 1 to 10 using the rubric, and explain every intermediate reasoning step inside <thinking> tags "
    "before giving your final score.",
)
CODER = (
    "Write a Python function named {a} that parses the log file at {q} and returns the number of failed "
    "requests per hour. Include type hints and unit tests."
)
UNRELATED = (
    "What should I cook tonight with some leftover rice and two eggs?",
    "Can you help me write a birthday message for my grandmother who loves gardening?",
    "Explain the difference between a Roth IRA and a traditional IRA in simple terms.",
    "Summarize the main causes of the French revolution in a short paragraph for my class.",
    "Translate this sentence into German: the weather is lovely today and we are going to the lake.",
    "Write a haiku about autumn leaves falling on a quiet pond.",
)


def fill(template: str, rng: random.Random) -> str:
    question = rng.choice(['"what is 2+2"', '"why is the sky blue?"', '"solve x^2 = 9"'])
    return template.format(
        q=f"{question} (id {rng.randint(1, 10**6)})", a=f"answer_{rng.randint(1, 999)}"
    )


def fingerprints(
    con: duckdb.DuckDBPyConnection, texts: list[str], kind: str = "prompt"
) -> list[str]:
    masked = pl.DataFrame({"t": texts}).select(mask_slots(pl.col("t"))).to_series()
    return assign_fingerprints(con, kind, masked).rows.get_column("template_fp").to_list()  # type: ignore[arg-type]


@pytest.fixture
def templates_con() -> duckdb.DuckDBPyConnection:
    con = duckdb.connect()
    ensure_template_tables(con)
    return con


def test_slot_filled_and_paraphrased_variants_share_a_fingerprint(
    templates_con: duckdb.DuckDBPyConnection,
) -> None:
    rng = random.Random(1)
    grader = [fill(rng.choice((GRADER, *GRADER_PARAPHRASES)), rng) for _ in range(30)]
    coder = [fill(CODER, rng) for _ in range(10)]
    fps = fingerprints(templates_con, grader + coder + list(UNRELATED))
    assert len(set(fps[:30])) == 1
    assert len(set(fps[30:40])) == 1
    assert fps[0] != fps[30]
    assert len(set(fps[40:])) == len(UNRELATED)
    assert not set(fps[40:]) & {fps[0], fps[30]}


def test_fingerprints_are_hex_and_reveal_no_text(templates_con: duckdb.DuckDBPyConnection) -> None:
    fps = fingerprints(templates_con, ["grading answers for a reward model", "cook rice"])
    assert all(re.fullmatch(r"[0-9a-f]{16}", fp) for fp in fps)
    stored = templates_con.execute("SELECT * FROM templates").fetchall()
    assert not any("reward" in str(value) for row in stored for value in row)


def test_later_variants_join_the_stored_component(templates_con: duckdb.DuckDBPyConnection) -> None:
    rng = random.Random(2)
    first = fingerprints(templates_con, [fill(GRADER, rng) for _ in range(3)])
    later = fingerprints(
        templates_con, [fill(GRADER_PARAPHRASES[0], rng), fill(GRADER_PARAPHRASES[1], rng)]
    )
    unrelated = fingerprints(templates_con, [UNRELATED[0]])
    assert set(later) == {first[0]}
    assert unrelated[0] != first[0]
    # The second paraphrase is a new template text of the known component, not a new component.
    assert (
        templates_con.execute("SELECT count(DISTINCT template_fp) FROM templates").fetchall()[0][0]
        == 2
    )


def test_repeated_batches_are_stable(templates_con: duckdb.DuckDBPyConnection) -> None:
    texts = [*UNRELATED, fill(CODER, random.Random(3))]
    assert fingerprints(templates_con, texts) == fingerprints(templates_con, texts)
    assert templates_con.execute("SELECT count(*) FROM templates").fetchall()[0][0] == len(texts)


def test_prompt_and_system_namespaces_differ(templates_con: duckdb.DuckDBPyConnection) -> None:
    text = ["You are a careful math tutor. Show your reasoning."]
    assert fingerprints(templates_con, text, "prompt") != fingerprints(
        templates_con, text, "system"
    )


def test_new_template_counts(templates_con: duckdb.DuckDBPyConnection) -> None:
    masked = pl.Series(
        ["alpha beta gamma delta", "alpha beta gamma delta", "completely other words here"]
    )
    batch = assign_fingerprints(templates_con, "prompt", masked)
    assert (batch.new_templates, batch.new_components) == (2, 2)
    again = assign_fingerprints(templates_con, "prompt", masked)
    assert (again.new_templates, again.new_components) == (0, 0)
    assert (
        again.rows.get_column("template_hash").to_list()
        == batch.rows.get_column("template_hash").to_list()
    )
