"""Server-side render time of each dashboard page (Streamlit AppTest) on a precomputed store.

Usage: .venv/bin/python benchmarks/bench_dashboard_pages.py STORE CAMPAIGN_ID ACCOUNT_ID

Each page is rendered once (imports, connection), then with the data cache cleared (what a
page costs after the app's first load once the ttl has expired), then from the cache.
"""

from __future__ import annotations

import os
import resource
import sys
import time
from pathlib import Path

import streamlit as st
from streamlit.testing.v1 import AppTest

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"
PAGES = ("queue", "campaign", "account", "verdicts", "export", "runs")


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def main(db: str, campaign_id: str, account_id: str) -> None:
    os.environ["DISTILLGUARD_DB"] = db
    at = AppTest.from_file(str(APP), default_timeout=300)
    at.session_state["campaign"] = campaign_id
    at.session_state["account"] = account_id
    for page in PAGES:
        at.switch_page(f"app_pages/{page}.py").run()
        if at.exception:
            raise SystemExit(f"{page}: {at.exception}")
    for label in ("cold data cache", "cached"):
        if label == "cold data cache":
            st.cache_data.clear()
        for page in PAGES:
            cpu, wall = cpu_seconds(), time.perf_counter()
            at.switch_page(f"app_pages/{page}.py").run()
            print(f"{label:16s} {page:9s} wall {time.perf_counter() - wall:6.2f} s"
                  f"  cpu {cpu_seconds() - cpu:6.2f} s")


if __name__ == "__main__":
    main(*sys.argv[1:4])
