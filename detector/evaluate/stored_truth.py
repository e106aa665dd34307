"""Ground truth read from the store: a per-request label column kept in `requests.extra`.

Peer datasets label each request (Glasswally's `campaign_label`: null when benign, else a
campaign id). Ingested through a mapping, that column lands in `extra`; this reduces it to one
truth row per account (`benign`/`peer_benign`, or the campaign id/`peer_campaign`) and checks
it as `truth_frame` does, so an account labelled two ways is reported, not guessed.
"""

from __future__ import annotations

import duckdb
import polars as pl

from detector.evaluate.truth import BENIGN, TruthError, truth_frame
from detector.ingest.projection import json_key_path

BENIGN_KIND = "peer_benign"
CAMPAIGN_KIND = "peer_campaign"


def truth_from_store(con: duckdb.DuckDBPyConnection, column: str) -> pl.DataFrame:
    """The truth frame from label `column` of the stored requests' `extra` (null or empty is benign)."""
    path = json_key_path(column)
    rows = con.execute(
        """
        SELECT DISTINCT account_id,
               coalesce(nullif(trim(extra::JSON ->> $path), ''), $benign) AS label,
               CASE WHEN nullif(trim(extra::JSON ->> $path), '') IS NULL
                    THEN $benign_kind ELSE $campaign_kind END AS kind
        FROM requests
        ORDER BY account_id, label
        """,
        {
            "path": path,
            "benign": BENIGN,
            "benign_kind": BENIGN_KIND,
            "campaign_kind": CAMPAIGN_KIND,
        },
    ).fetchall()
    if not rows:
        raise TruthError(f"store: no requests to read label {column!r} from")
    labelled = con.execute(
        "SELECT count(*) FROM requests WHERE json_exists(extra::JSON, $path)", {"path": path}
    ).fetchall()
    if not labelled or not labelled[0][0]:
        raise TruthError(f"store: no stored request has a {column!r} field in extra")
    return truth_frame(rows, source=f"store:{column}")
