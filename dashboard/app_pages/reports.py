"""Reports: export one audit or a filtered set as JSON, self-contained HTML (offline, no CDN) and PDF."""

from __future__ import annotations

import streamlit as st

from dashboard.auth import require_identity
from dashboard.components.exports import export_buttons
from dashboard.components.queue import filtered_audits
from dashboard.resources import review_store
from explainers.report.bundle import bundles_from_store

require_identity()
st.title("Reports")
st.write("Export saved audits with their grounding, attributions, perturbations and review history. HTML reports "
         "are self-contained (no script, nothing fetched); PDFs are text only.")
store = review_store()
df = filtered_audits(store, "reports")
if df.empty:
    st.info("No saved audit matches. Save a verdict on the Audit page first.")
    st.stop()

labels = {int(r.id): f"{int(r.id)} · v{int(r.version)} · {r.question[:60]}" for r in df.itertuples()}
scope = st.radio("Export", ["one audit", "every audit shown"], horizontal=True, key="report_scope")
if scope == "one audit":
    chosen = [st.selectbox("Audit", list(labels), format_func=labels.get, key="report_audit")]
else:
    chosen = list(labels)
    st.caption(f"{len(chosen)} audit(s) in the export.")
bundles = bundles_from_store(store, chosen)
stem = f"auditlens-audit-{chosen[0]}" if len(chosen) == 1 else f"auditlens-{len(chosen)}-audits"
export_buttons(bundles, "reports", stem)
