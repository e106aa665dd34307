"""Ground truth for `evaluate`: `truth.csv` (`account_id,label,kind`) loaded into a checked frame.

`label` is `benign` or a campaign id; `kind` names the benign population or the campaign
archetype. The same validation serves a CSV file and rows built in code, for example a peer
dataset's per-request campaign labels reduced to one row per account:

    rows = con.execute(
        "SELECT DISTINCT account_id, coalesce(campaign_label, 'benign'),"
        " CASE WHEN campaign_label IS NULL THEN 'peer_benign' ELSE 'peer_campaign' END"
        " FROM read_json_auto(?)", [path]
    ).fetchall()
    truth = truth_frame(rows, source=path)
"""

from __future__ import annotations

import csv
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import polars as pl

from detector.errors import DistillguardError, InputError

TRUTH_COLUMNS = ("account_id", "label", "kind")
BENIGN = "benign"
UNSPECIFIED_KIND = "unspecified"
MAX_REPORTED_PROBLEMS = 5


class TruthError(DistillguardError):
    """A truth file or truth rows that cannot be used: names the source and the line."""


@dataclass(frozen=True)
class TruthProblem:
    """One bad truth row: where it is and what is wrong with it."""

    line: int
    reason: str


def truth_frame(
    rows: Iterable[Sequence[str | None]],
    *,
    source: str = "truth rows",
    first_line: int = 1,
) -> pl.DataFrame:
    """Check `(account_id, label, kind)` rows and return the truth frame.

    Columns: `account_id`, `label` (`benign` or a campaign id), `kind` (empty becomes
    `unspecified`) and `is_attack`. Whitespace is stripped and any casing of `benign` counts
    as benign. Exact duplicate rows collapse to one; an account given two different labels or
    kinds is an error. All problems are collected and raised together as one `TruthError`
    whose message starts with the first problem's `source:line` (rows count from `first_line`).
    """
    numbered = ((first_line + index, row) for index, row in enumerate(rows))
    return _checked_frame(numbered, source, [])


def _checked_frame(
    numbered_rows: Iterable[tuple[int, Sequence[str | None]]],
    source: str,
    problems: list[TruthProblem],
) -> pl.DataFrame:
    seen: dict[str, tuple[str, str, int]] = {}
    for line, row in numbered_rows:
        if len(row) != len(TRUTH_COLUMNS):
            problems.append(
                TruthProblem(line, f"expected {len(TRUTH_COLUMNS)} fields, found {len(row)}")
            )
            continue
        account_id, label, kind = ((value or "").strip() for value in row)
        if not account_id:
            problems.append(TruthProblem(line, "account_id is empty"))
            continue
        if not label:
            problems.append(TruthProblem(line, f"label is empty for account {account_id!r}"))
            continue
        if label.lower() == BENIGN:
            label = BENIGN
        kind = kind or UNSPECIFIED_KIND
        previous = seen.get(account_id)
        if previous is None:
            seen[account_id] = (label, kind, line)
        elif previous[:2] != (label, kind):
            problems.append(
                TruthProblem(
                    line,
                    f"account {account_id!r} is {label}/{kind} here but "
                    f"{previous[0]}/{previous[1]} on line {previous[2]}",
                )
            )
    if problems:
        problems.sort(key=lambda problem: problem.line)
        raise TruthError(_describe(problems, source))
    if not seen:
        raise TruthError(f"{source}: no truth rows")
    return pl.DataFrame(
        {
            "account_id": list(seen),
            "label": [value[0] for value in seen.values()],
            "kind": [value[1] for value in seen.values()],
        },
        schema={"account_id": pl.String, "label": pl.String, "kind": pl.String},
    ).with_columns(is_attack=pl.col("label") != BENIGN)


def load_truth(path: str | Path) -> pl.DataFrame:
    """Read and check a `truth.csv`; raises `InputError`/`TruthError` naming file and line."""
    truth_path = Path(path)
    if not truth_path.is_file():
        raise InputError(f"truth file {truth_path} does not exist or is not a file")
    try:
        with truth_path.open(newline="", encoding="utf-8") as handle:
            reader = csv.reader(handle)
            header = next(reader, None)
            if header is None:
                raise TruthError(
                    f"{truth_path}:1: empty file, expected header {','.join(TRUTH_COLUMNS)}"
                )
            columns = [name.strip().lstrip("\ufeff") for name in header]
            missing = [name for name in TRUTH_COLUMNS if name not in columns]
            if missing:
                raise TruthError(
                    f"{truth_path}:1: header {','.join(columns)!r} lacks {', '.join(missing)}; "
                    f"expected {','.join(TRUTH_COLUMNS)}"
                )
            positions = [columns.index(name) for name in TRUTH_COLUMNS]
            rows: list[tuple[int, Sequence[str | None]]] = []
            problems: list[TruthProblem] = []
            for record in reader:
                if not any(field.strip() for field in record):
                    continue  # blank lines are not rows
                if len(record) != len(columns):
                    problems.append(
                        TruthProblem(
                            reader.line_num,
                            f"expected {len(columns)} fields as in the header, found {len(record)}",
                        )
                    )
                    continue
                rows.append((reader.line_num, [record[i] for i in positions]))
    except UnicodeDecodeError as exc:
        raise TruthError(
            f"{truth_path}: not valid UTF-8 ({exc.reason} at byte {exc.start})"
        ) from exc
    except csv.Error as exc:
        raise TruthError(f"{truth_path}: malformed CSV: {exc}") from exc
    except OSError as exc:
        raise InputError(f"cannot read truth file {truth_path}: {exc.strerror or exc}") from exc
    return _checked_frame(rows, str(truth_path), problems)


def _describe(problems: list[TruthProblem], source: str) -> str:
    shown = "; ".join(f"{source}:{p.line}: {p.reason}" for p in problems[:MAX_REPORTED_PROBLEMS])
    more = len(problems) - MAX_REPORTED_PROBLEMS
    return shown + (f"; and {more} more problem(s)" if more > 0 else "")
