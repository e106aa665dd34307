"""Runs: recent ingests and scans, and the quarantine by reason."""

import components
import queries
import streamlit as st


def render(path: str) -> None:
    st.title("Runs")
    info = queries.meta(path)
    st.caption(f"Review tables built {queries.last_sighting(info.get('built_at'))} after scan "
               f"#{info.get('scan_run_id') or '-'} over {info.get('requests', 0):,} requests.")
    st.markdown("#### Scans")
    scans = queries.scan_runs(path)
    st.dataframe(scans, hide_index=True) if not scans.is_empty() else st.text("No scans yet.")
    st.markdown("#### Ingests")
    ingests = queries.ingest_runs(path)
    st.dataframe(ingests, hide_index=True) if not ingests.is_empty() else st.text("No ingests yet.")
    st.markdown("#### Quarantine")
    reasons = queries.quarantine_reasons(path)
    total = int(reasons["records"].sum()) if not reasons.is_empty() else 0
    st.metric("Quarantined records", f"{total:,}")
    if total:
        st.dataframe(reasons, hide_index=True)


components.guarded(render)
