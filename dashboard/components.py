"""Layout helpers shared by the pages: the sidebar, the store-busy guard, safe text.

Text from the logs (prompts, account ids, titles that contain them) is only ever shown with
`st.text`, `st.code`, tables and chart tooltips, which render it as text; where Markdown is
unavoidable (headers, labels) it goes through `md` first. Nothing uses `unsafe_allow_html`.
"""

from __future__ import annotations

import getpass
import re
from collections.abc import Callable
from typing import Any

import queries
import streamlit as st

from detector.errors import DistillguardError

SEVERITY_ICON = {"critical": "🟥", "high": "🟧", "medium": "🟨", "low": "⬜"}
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$&:=\"'])")


def md(text: object) -> str:
    """`text` with every Markdown and HTML special character escaped."""
    return _MD_SPECIAL.sub(r"\\\1", str(text)).replace("\n", " ")


def store() -> str:
    return str(queries.db_path())


def analyst() -> str:
    if "analyst" not in st.session_state:
        try:
            st.session_state["analyst"] = getpass.getuser()
        except (KeyError, OSError):
            st.session_state["analyst"] = ""
    return str(st.session_state["analyst"])


def sidebar() -> None:
    path = store()
    with st.sidebar:
        st.caption("Store")
        st.text(path)
        analyst()  # sets the default before the widget reads its key
        st.text_input("Analyst", key="analyst", help="Recorded with every verdict.")
        if queries.scan_running(path):
            st.info("A scan is running on this store; pages refresh when it has finished.")
        if st.button("Refresh data", help=f"Cached reads expire after {queries.TTL} s anyway."):
            st.cache_data.clear()


def guarded(render: Callable[[str], Any]) -> None:
    """Render a page, turning a busy or unscanned store into a message instead of a trace."""
    path = store()
    try:
        queries.meta(path)
        render(path)
    except queries.StoreBusy:
        st.warning(
            "The store is busy: a scan or an ingest is writing to it. "
            "This page will load when it has finished — press *Refresh data* or reload."
        )
    except queries.NotPrecomputed:
        st.info(
            "No review tables in this store yet. Run `distillguard scan` (they are built at the "
            "end of every scan), or start the dashboard with `distillguard dashboard`, which "
            "builds them for a store scanned by an older version."
        )
    except DistillguardError as exc:
        st.error(f"Cannot read the store: {md(exc)}")


def selected(key: str) -> str | None:
    """The id picked for a page: from the URL (`?campaign=...`) or the session."""
    value = st.query_params.get(key) or st.session_state.get(key)
    return str(value) if value else None


def choose(key: str, value: str) -> None:
    st.session_state[key] = value
    st.query_params[key] = value


def prompt_box(text: str) -> None:
    """A prompt from the logs, verbatim, as text."""
    st.code(text, language=None, wrap_lines=True)


VERDICT_CHOICES = {"Confirm": "confirmed", "Dismiss": "dismissed", "Allowlist": "allowlisted"}


def verdict_form(path: str, subject_type: str, subject_id: str, key: str) -> None:
    """Confirm, dismiss or allowlist a subject; stored at once, applied by the next scan."""
    with st.form(key, clear_on_submit=True):
        choice = st.radio("Verdict", list(VERDICT_CHOICES), horizontal=True, key=f"{key}_verdict")
        note = st.text_area("Note", key=f"{key}_note", max_chars=4000,
                            placeholder="Why: what you checked, ticket number …")
        submitted = st.form_submit_button("Record verdict", type="primary")
    if submitted:
        who = analyst().strip()
        if not who:
            st.error("Enter your name as *Analyst* in the sidebar first.")
            return
        try:
            saved = queries.record(path, subject_type, subject_id, VERDICT_CHOICES[str(choice)], who, note)
        except queries.StoreBusy:
            st.error("Not saved: a scan or an ingest is writing to the store. Try again when it has finished.")
            return
        except queries.DistillguardError as exc:
            st.error(f"Not saved: {md(exc)}")
            return
        st.success(f"Recorded: {saved.verdict} by {md(saved.analyst)} at {queries.last_sighting(saved.decided_at)}. "
                   "The next scan applies it.")
