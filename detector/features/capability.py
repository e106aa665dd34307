"""Capability of each request: YAML rule evidence and tool names combined with a learned text model.

How the evidence combines: the model gives probabilities p_c from the prompt text; the
taxonomy gives evidence e_c in [0, 1) per capability, the noisy-OR of the weights of the
rules that fired on the prompt, of half their weights on the system prompt, and of the tool
weight when the request offers tools whose names match the capability's tool pattern. The
label is the argmax of softmax(MODEL_TEMPERATURE * log p_c + RULE_LOGIT_SCALE * e_c), and its
probability is the confidence. The model is tempered (p ** 0.35) because it is over-confident
on prompts unlike its training data (short, or from unseen templates); a rule of weight 0.7
then outweighs a model probability ratio of up to e^(4 * 0.7 / 0.35), about 3,000.
Work is done once per distinct prompt, system prompt and tool list of a batch.
"""

from __future__ import annotations

import numpy as np
import polars as pl

from detector.features.capability_accounts import account_capability_features
from detector.features.capability_model import CapabilityModel, trained_capability_model
from detector.features.capability_taxonomy import Taxonomy, load_taxonomy
from detector.features.distinct import distinct_texts

__all__ = [
    "account_capability_features",
    "classify_requests",
    "combine_evidence",
    "model_log_odds",
    "rule_miss",
    "tool_miss",
]

RULE_LOGIT_SCALE = 4.0
MODEL_TEMPERATURE = 0.35
SYSTEM_PROMPT_FACTOR = 0.5
# Rules and model read the start of the prompt, where the task is stated; the cap bounds the
# cost of multi-page prompts (the model reads CapabilityModel.max_chars, 1,000 by default).
RULE_CHARS = 1000
PROBABILITY_FLOOR = 1e-6
BATCH_ROWS = 250_000


def classify_requests(
    frame: pl.DataFrame, taxonomy: Taxonomy | None = None, model: CapabilityModel | None = None
) -> pl.DataFrame:
    """Columns request_id, capability (taxonomy label) and capability_confidence in [0, 1].

    Large frames are classified in slices of BATCH_ROWS to bound the memory of text copies.
    """
    taxonomy = load_taxonomy() if taxonomy is None else taxonomy
    model = trained_capability_model() if model is None else model
    if frame.height <= BATCH_ROWS:
        return _classify_batch(frame, taxonomy, model)
    return pl.concat(
        [_classify_batch(frame.slice(start, BATCH_ROWS), taxonomy, model) for start in range(0, frame.height, BATCH_ROWS)]
    )


def _classify_batch(frame: pl.DataFrame, taxonomy: Taxonomy, model: CapabilityModel) -> pl.DataFrame:
    prompts = distinct_texts(frame.get_column("prompt"))
    systems = distinct_texts(frame.get_column("system_prompt"))
    tools = distinct_texts(frame.get_column("tools"))
    lowered_prompts = prompts.values.str.head(RULE_CHARS).str.to_lowercase()
    lowered_systems = systems.values.str.head(RULE_CHARS).str.to_lowercase()
    labels, confidence = combine_evidence(
        taxonomy,
        model_log_odds(model, lowered_prompts, taxonomy)[prompts.index],
        rule_miss(lowered_prompts, taxonomy, 1.0)[prompts.index]
        * rule_miss(lowered_systems, taxonomy, SYSTEM_PROMPT_FACTOR)[systems.index]
        * tool_miss(tools.values, taxonomy)[tools.index],
    )
    return pl.DataFrame(
        {"request_id": frame.get_column("request_id"), "capability": labels, "capability_confidence": confidence}
    )


def model_log_odds(model: CapabilityModel, lowered: pl.Series, taxonomy: Taxonomy) -> np.ndarray:
    """Tempered log-probabilities of the text model, (texts x capabilities) in taxonomy order."""
    return MODEL_TEMPERATURE * np.log(_model_probabilities(model, lowered, taxonomy) + PROBABILITY_FLOOR)


def combine_evidence(taxonomy: Taxonomy, log_odds: np.ndarray, miss: np.ndarray) -> tuple[pl.Series, np.ndarray]:
    """Label and confidence per row from model log-odds and the rules' miss products (rows x capabilities)."""
    logits = log_odds + RULE_LOGIT_SCALE * (1.0 - miss)
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    best = probabilities.argmax(axis=1)
    labels = pl.Series("capability", list(taxonomy.names), dtype=pl.String).gather(best)
    return labels, probabilities[np.arange(len(best)), best]


def tool_names(tools: pl.Expr) -> pl.Expr:
    """Space-joined tool names from the JSON text of a list of names or of tool definitions."""
    tools = tools.fill_null("")
    plain_names = tools.str.extract_all(r'"[^"]*"').list.join(" ")
    defined_names = tools.str.extract_all(r'"name"\s*:\s*"[^"]*"').list.join(" ").str.replace_all(r'"name"\s*:\s*', "")
    return pl.when(tools.str.contains(r'^\s*\[\s*"')).then(plain_names).otherwise(defined_names).str.replace_all('"', "")


def _model_probabilities(model: CapabilityModel, texts: pl.Series, taxonomy: Taxonomy) -> np.ndarray:
    """Model probabilities in taxonomy order; a label the model never saw gets probability 0."""
    probabilities = model.predict_proba(texts)
    columns = {label: i for i, label in enumerate(model.classes_)}
    out = np.zeros((len(texts), len(taxonomy.names)))
    for j, name in enumerate(taxonomy.names):
        if name in columns:
            out[:, j] = probabilities[:, columns[name]]
    return out


def rule_miss(texts: pl.Series, taxonomy: Taxonomy, factor: float) -> np.ndarray:
    """prod(1 - factor * weight) over the rules of each capability that fire on lowercased `texts`."""
    window = pl.col("text")
    columns = []
    for capability in taxonomy.capabilities:
        miss = _ones("text")
        for rule in capability.rules:
            miss = miss * pl.when(window.str.contains(rule.regex)).then(1.0 - factor * rule.weight).otherwise(1.0)
        columns.append(miss.alias(capability.name))
    return pl.DataFrame({"text": texts}).select(columns).to_numpy().astype(np.float64)


def tool_miss(tools: pl.Series, taxonomy: Taxonomy) -> np.ndarray:
    """prod(1 - tool weight) per capability whose tool pattern matches the tools offered (JSON text)."""
    names = pl.DataFrame({"tools": tools}).select(tool_names(pl.col("tools")).str.to_lowercase()).to_series()
    columns = []
    for capability in taxonomy.capabilities:
        regex = capability.tool_regex
        if regex is None:
            columns.append(_ones("names").alias(capability.name))
        else:
            hit = pl.col("names").str.contains(regex)
            columns.append(pl.when(hit).then(1.0 - capability.tool_weight).otherwise(1.0).alias(capability.name))
    return pl.DataFrame({"names": names}).select(columns).to_numpy().astype(np.float64)


def _ones(column: str) -> pl.Expr:
    """A column of 1.0 as long as `column` (a literal would collapse the frame to one row)."""
    return pl.col(column).is_not_null().cast(pl.Float64)
