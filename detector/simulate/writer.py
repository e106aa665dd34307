"""Streaming output: compact batches rendered into contract records, a chunk at a time.

JSONL lines are assembled with polars (`struct.json_encode` plus the pre-encoded JSON of
`messages` and `tools`, whose tool definitions have no fixed schema) and appended to an open
file; Parquet goes through a pyarrow `ParquetWriter`, one row group per chunk, with `messages`
and `tools` as JSON text (the convention the contract uses for CSV).
"""

from __future__ import annotations

import csv
import json
from pathlib import Path
from typing import IO

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.parquet as pq

from detector.simulate.core import Tables
from detector.simulate.infrastructure import hex_id_series

RENDER_ROWS = 40_000
REQUEST_FIELDS = (
    "request_id",
    "timestamp",
    "account_id",
    "api_key_id",
    "org_id",
    "client_ip",
    "user_agent",
    "model",
    "system_prompt",
    "prompt",
    "messages",
    "tools",
    "input_tokens",
    "output_tokens",
    "status_code",
)
_HEAD = REQUEST_FIELDS[:10]
_TAIL = REQUEST_FIELDS[12:]


def _idx(name: str) -> pl.Expr:
    return pl.when(pl.col(name) >= 0).then(pl.col(name)).alias(name)


class RequestWriter:
    """Writes `requests.jsonl` or `requests.parquet`; call `write` with time-sorted compact chunks."""

    def __init__(self, out_dir: Path, tables: Tables, *, parquet: bool, seed: int) -> None:
        self.path = out_dir / ("requests.parquet" if parquet else "requests.jsonl")
        self.parquet = parquet
        self.seed = seed
        self.chunks = 0
        self.rows = 0
        self.frags = pl.Series("f", tables.fragments.values, dtype=pl.String)
        self.ips = pl.Series("ip", tables.ips.values, dtype=pl.String)
        self.uas = pl.Series("ua", tables.uas.values, dtype=pl.String)
        self.models = pl.Series("m", tables.models.values, dtype=pl.String)
        self.keys = pl.Series("k", tables.keys, dtype=pl.String)
        self.account_ids = pl.Series("a", tables.accounts.account_id, dtype=pl.String)
        self.org_ids = pl.Series("o", tables.accounts.org_id, dtype=pl.String)
        self._fh: IO[bytes] | None = None
        self._pq: pq.ParquetWriter | None = None
        if not parquet:
            self._fh = self.path.open("wb")

    def write(self, compact: pl.DataFrame) -> None:
        for offset in range(0, compact.height, RENDER_ROWS):
            self._write_rendered(self.render(compact.slice(offset, RENDER_ROWS)))

    def render(self, compact: pl.DataFrame) -> pl.DataFrame:
        """Contract columns for a compact chunk (ids drawn from a per-chunk seeded stream)."""
        rng = np.random.default_rng([self.seed, 7, self.chunks])
        self.chunks += 1
        c = compact.select(
            [_idx(n) if n in ("sys", "hist", "tools") else pl.col(n) for n in compact.columns]
        )
        frags = self.frags
        prompt = frags.gather(c["p0"]) + frags.gather(c["p1"]) + frags.gather(c["p2"])
        system = frags.gather(c["sys"])
        hist = frags.gather(c["hist"])
        tools = frags.gather(c["tools"])
        out = pl.DataFrame(
            {
                "request_id": hex_id_series(rng, c.height, 12, "req_"),
                "timestamp": pl.select(
                    pl.from_epoch(pl.lit(c["ts"]), time_unit="ms").dt.strftime(
                        "%Y-%m-%dT%H:%M:%S%.3fZ"
                    )
                ).to_series(),
                "account_id": self.account_ids.gather(c["acct"]),
                "api_key_id": self.keys.gather(c["key"]),
                "org_id": self.org_ids.gather(c["acct"]),
                "client_ip": self.ips.gather(c["ip"]),
                "user_agent": self.uas.gather(c["ua"]),
                "model": self.models.gather(c["model"]),
                "system_prompt": system,
                "prompt": prompt,
                "_hist": hist,
                "tools": tools,
                "output_tokens": c["out_tok"].cast(pl.Int64),
                "status_code": c["status"].cast(pl.Int64),
            }
        )
        chars = (
            pl.col("prompt").str.len_bytes()
            + pl.col("system_prompt").str.len_bytes().fill_null(0)
            + pl.col("_hist").str.len_bytes().fill_null(0)
            + pl.col("tools").str.len_bytes().fill_null(0)
        )
        escaped = pl.struct("prompt").struct.json_encode().str.slice(10).str.head(-1)
        return out.with_columns(
            messages=pl.when(pl.col("_hist").is_not_null()).then(
                pl.concat_str(
                    [pl.col("_hist"), pl.lit('{"role":"user","content":'), escaped, pl.lit("}]")]
                )
            ),
            input_tokens=(chars / 3.8).round().cast(pl.Int64) + 6,
        ).select(REQUEST_FIELDS)

    def _write_rendered(self, df: pl.DataFrame) -> None:
        self.rows += df.height
        if self.parquet:
            table = df.to_arrow()
            if self._pq is None:
                self._pq = pq.ParquetWriter(self.path, table.schema, compression="zstd")
            self._pq.write_table(table)
            return
        line = pl.concat_str(
            [
                pl.struct(_HEAD).struct.json_encode().str.head(-1),
                pl.lit(',"messages":'),
                pl.col("messages").fill_null("null"),
                pl.lit(',"tools":'),
                pl.col("tools").fill_null("null"),
                pl.lit(","),
                pl.struct(_TAIL).struct.json_encode().str.slice(1),
                pl.lit("\n"),
            ]
        )
        assert self._fh is not None
        # The lines, newline-terminated, are one contiguous Arrow data buffer: write it as is.
        arr = df.select(line.alias("line"))["line"].to_arrow()
        if isinstance(arr, pa.ChunkedArray):
            arr = arr.combine_chunks()
        arr = arr.cast(pa.large_string())
        _, offsets_buf, data = arr.buffers()
        offsets = np.frombuffer(
            offsets_buf, dtype=np.int64, count=len(arr) + 1, offset=arr.offset * 8
        )
        self._fh.write(memoryview(data)[int(offsets[0]) : int(offsets[-1])])

    def close(self) -> None:
        if self._fh is not None:
            self._fh.close()
        if self._pq is not None:
            self._pq.close()
        elif self.parquet:  # no rows at all: still leave a valid, empty file
            empty = pa.schema(
                [
                    (f, pa.int64() if f in _TAIL or f == "input_tokens" else pa.string())
                    for f in REQUEST_FIELDS
                ]
            )
            pq.write_table(empty.empty_table(), self.path)


def write_accounts(path: Path, tables: Tables, keep: np.ndarray) -> int:
    """`accounts.jsonl` per contract section 2, for the accounts in `keep` (boolean mask)."""
    reg = tables.accounts
    df = pl.DataFrame(
        {
            "account_id": reg.account_id,
            "created_at": pl.Series(reg.created_ms, dtype=pl.Int64),
            "email_domain": reg.email_domain,
            "payment_fingerprint": reg.payment_fingerprint,
            "country": reg.country,
            "signup_ip": reg.signup_ip,
            "org_id": reg.org_id,
            "tier": reg.tier,
        },
        schema_overrides={
            k: pl.String
            for k in ("email_domain", "payment_fingerprint", "country", "signup_ip", "org_id")
        },
    )
    df = df.filter(pl.Series(keep)).with_columns(
        pl.from_epoch("created_at", time_unit="ms").dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    )
    df.write_ndjson(path)
    return df.height


def write_truth(path: Path, tables: Tables, keep: np.ndarray) -> None:
    reg = tables.accounts
    with path.open("w", newline="", encoding="utf-8") as fh:
        out = csv.writer(fh, lineterminator="\n")
        out.writerow(["account_id", "label", "kind"])
        for i in np.flatnonzero(keep):
            out.writerow([reg.account_id[i], reg.label[i], reg.kind[i]])


def write_manifest(path: Path, manifest: dict[str, object]) -> None:
    path.write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n", encoding="utf-8")
