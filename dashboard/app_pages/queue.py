"""Queue: campaigns by severity and score, filtered, with what is new since the last visit."""

from datetime import UTC, datetime, time, timedelta

import components
import polars as pl
import queries
import streamlit as st
from components import SEVERITY_ICON, md
from visits import last_visit, record_visit

from detector.export.alerts import SEVERITIES, STATUSES

PAGE_SIZE = 25


def render(path: str) -> None:
    st.title("Review queue")
    frame = queries.queue(path)
    if frame.is_empty():
        st.success("No campaigns in the store: the last scan found nothing to review.")
        return
    # The previous visit marks what is new; this session's own visit is recorded once.
    who = components.analyst() or "anonymous"
    if "visit_mark" not in st.session_state:
        st.session_state["visit_mark"] = last_visit(queries.db_path(), who)
        record_visit(queries.db_path(), who)
    since = st.session_state["visit_mark"]
    frame = frame.with_columns(
        (pl.col("created_at") > since if since else pl.lit(False)).alias("new_since_visit"),
        (
            (pl.col("updated_at") > since) & (pl.col("created_at") <= since) if since else pl.lit(False)
        ).alias("updated_since_visit"),
    )

    statuses = list(STATUSES)
    severities = list(reversed(SEVERITIES))  # most severe first
    capabilities = sorted({c for caps in frame["capabilities"].to_list() for c in (caps or [])})
    first = frame["first_seen"].drop_nulls().min()
    last = frame["last_seen"].drop_nulls().max()
    f1, f2, f3, f4 = st.columns([2, 2, 3, 3])
    status = f1.multiselect("Status", statuses, default=["new"], key="q_status")
    severity = f2.multiselect("Severity", severities, default=[], key="q_severity",
                              placeholder="all severities")
    capability = f3.multiselect("Capability", capabilities, default=[], key="q_capability",
                                placeholder="all capabilities")
    span = None
    if isinstance(first, datetime) and isinstance(last, datetime):
        span = f4.date_input("Active between", value=(first.date(), last.date()), key="q_dates")

    shown = frame
    if status:
        shown = shown.filter(pl.col("status").is_in(status))
    if severity:
        shown = shown.filter(pl.col("severity").is_in(severity))
    if capability:
        shown = shown.filter(pl.col("capabilities").list.eval(pl.element().is_in(capability)).list.any())
    if isinstance(span, tuple) and len(span) == 2:
        lo = datetime.combine(span[0], time.min, UTC)
        hi = datetime.combine(span[1], time.min, UTC) + timedelta(days=1)
        shown = shown.filter((pl.col("last_seen") >= lo) & (pl.col("first_seen") < hi))

    c = st.columns(6)
    c[0].metric("Campaigns", frame.height)
    c[1].metric("Awaiting review", int((frame["status"] == "new").sum()))
    c[2].metric("Confirmed", int((frame["status"] == "confirmed").sum()))
    c[3].metric("Dismissed", int((frame["status"] == "dismissed").sum()))
    c[4].metric("Critical / high", int(frame["severity"].is_in(["critical", "high"]).sum()))
    c[5].metric("New since last visit", int(frame["new_since_visit"].sum()),
                help="Never visited before: nothing is marked." if since is None
                else f"Since {queries.last_sighting(since)}")
    st.caption(f"{shown.height} of {frame.height} campaigns match the filters.")
    if shown.is_empty():
        return

    pages = max(1, -(-shown.height // PAGE_SIZE))
    page = st.number_input("Page", 1, pages, 1, key="q_page") if pages > 1 else 1
    chunk = shown.slice((int(page) - 1) * PAGE_SIZE, PAGE_SIZE)
    head = st.columns([1.1, 2.2, 5, 1, 1.4, 1.2])
    for col, label in zip(head, ["Severity", "Campaign", "Title", "Accounts", "Last seen", "Status"], strict=True):
        col.markdown(f"**{label}**")
    for row in chunk.iter_rows(named=True):
        cols = st.columns([1.1, 2.2, 5, 1, 1.4, 1.2], vertical_alignment="center")
        cols[0].text(f"{SEVERITY_ICON.get(row['severity'], '')} {row['severity']} {row['score']:.2f}")
        cols[1].page_link("app_pages/campaign.py", label=md(row["campaign_id"]),
                          query_params={"campaign": row["campaign_id"]})
        cols[2].text(row["title"])
        cols[3].text(f"{row['accounts']:,}")
        cols[4].text(queries.last_sighting(row["last_seen"]))
        mark = " · NEW" if row["new_since_visit"] else (" · updated" if row["updated_since_visit"] else "")
        cols[5].text(f"{row['status']}{mark}")

    with st.expander("As a table"):
        st.dataframe(
            shown.select("campaign_id", "severity", "score", "status", "new_since_visit", "accounts",
                         "request_count", "top_capability", "cot_share", "first_seen", "last_seen",
                         "verdict_by", "title"),
            hide_index=True,
            column_config={"score": st.column_config.NumberColumn(format="%.2f"),
                           "cot_share": st.column_config.NumberColumn("CoT share", format="%.2f")},
        )


components.guarded(render)
