"""Export: the campaign in the formats of `distillguard export`."""

import components
import queries
import streamlit as st

LABELS = {"jsonl": "JSONL (contract §6)", "csv": "CSV", "ocsf": "OCSF 1.8 Detection Finding", "stix": "STIX 2.1 bundle"}


def render(path: str) -> None:
    st.title("Export")
    table = queries.queue(path)
    exportable = table.filter(table["alerted"] | (table["status"] != "new"))
    if exportable.is_empty():
        st.info("No alerts to export: campaigns below the alert threshold without a verdict are not exported.")
        return
    ids = exportable["campaign_id"].to_list()
    current = components.selected("campaign")
    chosen = st.multiselect("Campaigns", ids, default=[current] if current in ids else ids[:1], key="x_ids")
    fmt = st.radio("Format", list(LABELS), format_func=LABELS.__getitem__, horizontal=True, key="x_fmt")
    if not chosen:
        return
    out = queries.export(path, tuple(chosen), str(fmt))
    st.download_button(f"Download {out.name}", out.text, file_name=out.name, mime=out.mime, type="primary")
    st.caption(f"{len(out.text):,} characters. The same as `distillguard export --format {fmt}` for these campaigns.")
    st.code(out.text[:20000], language="json" if fmt != "csv" else None, wrap_lines=True)


components.guarded(render)
