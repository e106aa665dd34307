"""The review dashboard: `distillguard dashboard` runs `streamlit run` on this file.

Pages live in `app_pages/` and only lay out; every read is in `queries.py`.
"""

from pathlib import Path

import components
import streamlit as st

HERE = Path(__file__).parent


st.set_page_config(page_title="distillguard review", page_icon="🛡️", layout="wide")
pages = [
    st.Page(HERE / "app_pages/queue.py", title="Queue", icon="📥", url_path="queue", default=True),
    st.Page(HERE / "app_pages/campaign.py", title="Campaign", icon="🕸️", url_path="campaign"),
    st.Page(HERE / "app_pages/account.py", title="Account", icon="👤", url_path="account"),
    st.Page(HERE / "app_pages/verdicts.py", title="Verdicts", icon="⚖️", url_path="verdicts"),
    st.Page(HERE / "app_pages/export.py", title="Export", icon="📤", url_path="export"),
    st.Page(HERE / "app_pages/runs.py", title="Runs", icon="🕒", url_path="runs"),
]
page = st.navigation(pages)
components.sidebar()
page.run()
