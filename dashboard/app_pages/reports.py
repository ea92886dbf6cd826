"""Reports: export one audit or a filtered set as JSON, self-contained HTML (offline, no CDN) and PDF."""

from __future__ import annotations

import streamlit as st

from dashboard.auth import require_identity
from dashboard.components.exports import export_buttons
from dashboard.components.queue import filtered_audits
from dashboard.components.safe import md_escape
from dashboard.resources import review_store
from explainers.report.bundle import readable_bundles

PAGE = {"title": "Reports", "icon": ":material/description:", "order": 60,
        "about": "Export one audit or a filtered set as JSON, self-contained HTML and PDF."}

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
bundles, unreadable = readable_bundles(store, chosen)
if unreadable:  # one damaged record must not take the others with it
    shown = "; ".join(f"audit {i}: {why[:200]}" for i, why in list(unreadable.items())[:5])
    more = f" and {len(unreadable) - 5} more" if len(unreadable) > 5 else ""
    st.warning(md_escape(f"{len(unreadable)} audit(s) could not be read and are left out of the export: "
                         f"{shown}{more}"), icon=":material/warning:")
if bundles:
    ids = [b.audit_id for b in bundles]
    stem = f"auditlens-audit-{ids[0]}" if len(ids) == 1 else f"auditlens-{len(ids)}-audits"
    export_buttons(bundles, "reports", stem)
