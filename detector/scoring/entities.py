"""Score a frame of entities (accounts or clusters) with the anomaly ensemble."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import polars as pl

from detector.scoring.ensemble import AnomalyEnsemble

# Identifiers and bookkeeping columns that are not behaviour.
NON_FEATURES = frozenset({
    "account_id", "cluster_id", "org_id", "api_key_id", "day", "scan_run_id", "computed_at",
    "updated_at", "created_at", "first_seen", "last_seen",
})


def feature_columns(frame: pl.DataFrame, exclude: Sequence[str] = ()) -> list[str]:
    """The numeric behaviour columns of `frame`, in frame order."""
    skip = NON_FEATURES | set(exclude)
    return [
        name for name, dtype in frame.schema.items()
        if name not in skip and (dtype.is_numeric() or dtype == pl.Boolean)
    ]


def score_entities(
    frame: pl.DataFrame,
    *,
    id_column: str,
    exclude: Sequence[str] = (),
    random_state: int = 0,
    top: int = 3,
) -> pl.DataFrame:
    """(id, anomaly_score in [0, 1], contributions as JSON) for every row of `frame`."""
    schema = {id_column: pl.String, "anomaly_score": pl.Float64, "contributions": pl.String}
    if frame.is_empty():
        return pl.DataFrame(schema=schema)
    # Columns with no value at all (a stage that did not run) carry no information.
    columns = [
        c for c in feature_columns(frame, exclude=(id_column, *exclude))
        if frame.get_column(c).null_count() < frame.height
    ]
    ids = frame.get_column(id_column).cast(pl.String)
    if not columns:
        return pl.DataFrame(
            {id_column: ids, "anomaly_score": [0.0] * len(ids), "contributions": ["{}"] * len(ids)},
            schema=schema,
        )
    X = frame.select(pl.col(columns).cast(pl.Float64)).to_numpy()
    model = AnomalyEnsemble(random_state=random_state)
    scores = model.fit_decision(X)
    contributions = model.contributions_json(X, columns, top=top)
    return pl.DataFrame(
        {id_column: ids, "anomaly_score": np.round(scores, 6), "contributions": contributions},
        schema=schema,
    )
