"""The faster forms of the scan tail give exactly what their definitions give: kit pairs,
content carried for an anchor (day rows or running totals), and pyod's ECOD scores."""

from datetime import date, timedelta
from itertools import combinations

import duckdb
import numpy as np
import polars as pl
import pytest
from attribute_rows_store import attribute_store

from detector.campaigns.affiliates import carried_content
from detector.campaigns.kits import KIT_KINDS, KitParams, kit_groups, kit_values
from detector.scan_stages import side_connection, store_inputs
from detector.scoring.ensemble import _ECOD, column_ecdf

ACCOUNTS = [f"acct-{i:03d}" for i in range(60)]


def _day_rows(seed: int) -> list[tuple[str, date, str, str, int]]:
    """Five days of attribute rows: two kits shared by small groups (one group shares only
    templates), popular values everyone draws from, and some unique values."""
    rng = np.random.default_rng(seed)
    rows: dict[tuple[str, date, str, str], int] = {}
    for d in range(5):
        day = date(2026, 4, 1) + timedelta(days=d)
        for i, account in enumerate(ACCOUNTS):
            if rng.random() < 0.25:
                continue
            for kind in (*KIT_KINDS, "ip"):
                if i < 10:                      # kit A: every kind
                    value = f"A-{kind}-{int(rng.integers(3))}"
                elif i < 16 and kind == "template":  # kit B: templates only
                    value = f"B-{kind}-{int(rng.integers(2))}"
                elif rng.random() < 0.2:
                    value = f"own-{account}-{kind}"
                else:
                    value = f"pop-{kind}-{int(rng.integers(20))}"
                key = (account, day, kind, value)
                rows[key] = rows.get(key, 0) + int(rng.integers(1, 40))
    return [(*k, v) for k, v in sorted(rows.items())]


@pytest.fixture(params=[0, 1, 2])
def con(request):
    con = attribute_store(_day_rows(request.param))
    return con


def _reference_groups(con: duckdb.DuckDBPyConnection, candidates: list[str], params: KitParams) -> set[frozenset[str]]:
    """Kit groups by their definition, in Python: values held by 2..max_holders accounts and
    by fewer than the population share; candidate pairs sharing values of `min_kinds` kinds;
    connected components (the pair budget is assumed not to bind)."""
    held = con.execute(
        "SELECT DISTINCT account_id, kind, value FROM account_day_attributes WHERE kind IN (?, ?, ?)",
        list(KIT_KINDS),
    ).fetchall()
    population = con.execute("SELECT count(DISTINCT account_id) FROM account_day_attributes").fetchall()[0][0]
    holders: dict[tuple[str, str], set[str]] = {}
    for account, kind, value in held:
        holders.setdefault((kind, value), set()).add(account)
    chosen = set(candidates)
    kinds_shared: dict[tuple[str, str], set[str]] = {}
    for (kind, _), owners in holders.items():
        h = len(owners)
        if not (2 <= h <= params.max_holders and h < params.max_population_share * population):
            continue
        for a, b in combinations(sorted(owners & chosen), 2):
            kinds_shared.setdefault((a, b), set()).add(kind)
    parent = {a: a for a in chosen}

    def root(a: str) -> str:
        while parent[a] != a:
            a = parent[a]
        return a

    linked = set()
    for (a, b), kinds in kinds_shared.items():
        if len(kinds) >= params.min_kinds:
            parent[root(a)] = root(b)
            linked |= {a, b}
    groups: dict[str, set[str]] = {}
    for a in linked:
        groups.setdefault(root(a), set()).add(a)
    return {frozenset(g) for g in groups.values() if params.min_members <= len(g) <= params.max_members}


@pytest.mark.parametrize("min_kinds", [1, 2, 3])
@pytest.mark.parametrize("from_totals", [True, False])
def test_kit_groups_match_their_definition(con, min_kinds, from_totals):
    params = KitParams(min_kinds=min_kinds)
    candidates = ACCOUNTS[::2] + ACCOUNTS[1:16:2]  # all of both kits, half of the rest
    groups = kit_groups(con, candidates, params, from_totals=from_totals)
    found = {frozenset(g) for g in groups.group_by("cluster_id").agg("account_id").get_column("account_id").to_list()}
    expected = _reference_groups(con, candidates, params)
    assert found == expected
    # kit A's accounts share values of every kind, so they are grouped at any min_kinds
    assert any(len(g & set(ACCOUNTS[:10])) >= 5 for g in found)


def test_kit_values_read_ahead_give_the_same_groups(con):
    candidates = ACCOUNTS[:30]
    ahead = kit_values(con, from_totals=True)
    assert ahead.height and set(ahead.get_column("kind").unique()) <= set(KIT_KINDS)
    with_values = kit_groups(con, candidates, from_totals=True, values=ahead)
    assert with_values.equals(kit_groups(con, candidates, from_totals=True))
    assert with_values.height  # kit A is among the candidates


def test_carried_content_is_the_same_from_day_rows_and_totals(con):
    anchors = pl.DataFrame({"account_id": ACCOUNTS[:6], "anchor": ["cluster:a"] * 6})
    by_days = carried_content(con, anchors, from_totals=False).sort(pl.all())
    by_totals = carried_content(con, anchors, from_totals=True).sort(pl.all())
    assert by_days.height > 0
    assert by_days.equals(by_totals)
    # the other kit A members carry the anchor's exclusive values; popular values are nobody's kit
    assert set(by_days.get_column("account_id")) & set(ACCOUNTS[6:10])
    assert not set(by_days.get_column("account_id")) & set(ACCOUNTS[:6])


def _ecod_cases() -> list[np.ndarray]:
    rng = np.random.default_rng(7)
    cases = []
    for n, m in ((9, 2), (400, 6), (2500, 12)):
        X = rng.standard_t(3, size=(n, m))
        X[:, 0] = np.round(X[:, 0])      # many ties
        X[:, 1] = 0.0                     # a constant column (skewness NaN in scipy)
        X[: n // 3, -1] = -0.0            # signed zeros tie with zeros
        cases.append(X)
    return cases


@pytest.mark.parametrize("X", _ecod_cases(), ids=["tiny", "small", "medium"])
def test_ecod_scores_are_pyods(X):
    from pyod.models.ecod import ECOD

    reference = ECOD().fit(X)
    ours = _ECOD().fit(X)
    assert np.array_equal(ours.decision_scores_, reference.decision_scores_)
    new = X[:7] * 1.5 + 0.25
    assert np.array_equal(ours.decision_function(new), reference.decision_function(new))


def test_column_ecdf_counts_values_at_or_below():
    X = np.array([[3.0, 1.0], [1.0, 1.0], [3.0, 2.0], [2.0, 1.0]])
    ecdf = column_ecdf(X)
    expected = np.array([[4, 3], [1, 3], [4, 4], [2, 3]]) / 4
    assert np.allclose(ecdf, expected)
    assert ecdf.flags.c_contiguous


def test_store_inputs_read_on_a_side_connection_keep_the_time_zone(tmp_path):
    from detector import store
    from detector.campaigns import ensure_tables

    con = store.connect(tmp_path / "s.duckdb")
    ensure_tables(con)
    con.execute("SET TimeZone = 'America/Chicago'")
    con.execute(
        "INSERT INTO requests (request_id, account_id, \"timestamp\", client_ip, model, prompt,"
        " ingest_run_id)"
        " VALUES ('r1', 'acct-1', TIMESTAMPTZ '2026-04-01 10:00:00+00', '10.0.0.1', 'm', 'p', 1),"
        " ('r2', 'acct-2', TIMESTAMPTZ '2026-04-02 11:00:00+00', '10.0.0.2', 'm', 'p', 1)"
    )
    with side_connection(con) as side:
        zone = side.execute("SELECT current_setting('TimeZone')").fetchall()[0][0]
        ahead = store_inputs(side)
    here = store_inputs(con)
    assert zone == "America/Chicago"
    assert ahead.request_accounts.equals(here.request_accounts)
    assert ahead.request_accounts.height == 2
    assert ahead.data_end == here.data_end and ahead.data_end is not None
    assert ahead.totals_match == here.totals_match
    con.close()
