"""Review queue: every saved audit with its scores; filter, sort, open one, give a verdict, see its history."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.auth import may_write, require_identity, reviewer_field
from dashboard.components.audit_views import attribution_view, grounding_view
from dashboard.components.exports import export_buttons
from dashboard.components.queue import filtered_audits
from dashboard.components.columns import support_column
from dashboard.components.safe import md_escape, show_error
from dashboard.resources import review_store
from explainers.report.bundle import bundles_from_store, when
from explainers.store import VERDICTS


def shown_when(stamp) -> str:
    """An ISO timestamp as the queue table shows it: '2026-11-29 10:46:45', the offset left out (UTC)."""
    return str(stamp or "").replace("T", " ").removesuffix("+00:00")


PAGE = {"title": "Review queue", "icon": ":material/rate_review:", "order": 40,
        "about": ("Every saved audit with its scores; filter and sort; open one, give a verdict (accept / edit / "
                  "reject) with a note, see its history and versions.")}

identity = require_identity()
st.title("Review queue")
if "queue_flash" in st.session_state:
    st.success(st.session_state.pop("queue_flash"), icon=":material/check:")
if "queue_hidden" in st.session_state:
    st.info(st.session_state.pop("queue_hidden"), icon=":material/filter_alt:")
store = review_store()
generation = st.session_state.get("queue_table_generation", 0)
# An answer opened from the Dataset page comes first, the queue below it: under the queue it was out of the first
# viewport. Picking another audit in the queue (a row, or the box) puts the queue back on top.
focus = st.session_state.get("queue_focus")
table_state = st.session_state.get(f"queue_table_{generation}")
chosen = st.session_state.get("queue_open_next", st.session_state.get("queue_open", focus))  # a save's new version
if focus is not None and ((table_state and table_state.get("selection", {}).get("rows")) or chosen != focus):
    st.session_state.pop("queue_focus")
    focus = None
first, second = st.container(), st.container()
queue_area, audit_area = (second, first) if focus is not None else (first, second)
if focus is not None:
    with first:
        st.caption("Opened from the Dataset page; the queue is below the audit.")
with queue_area:
    df = filtered_audits(store, "queue")
    if focus is not None and focus not in set(int(i) for i in df["id"]):  # a filter left the opened audit out
        st.session_state.pop("queue_focus")
        st.session_state["queue_hidden"] = f"Audit {focus}, opened from the Dataset page, is hidden by the filters."
        st.rerun()
    if df.empty:
        st.info("No saved audit matches. Audits are saved with their first verdict on the Audit page.")
        st.stop()

    # what a reviewer sorts by first (verdict, reviewer, support), the long question last so it never pushes them out
    shown = df[["id", "verdict", "reviewer", "support", "question", "version", "created"]]
    # a new table key after a save that opens another audit: the old row selection must not reopen the old audit
    event = st.dataframe(shown, hide_index=True, on_select="rerun", selection_mode="single-row",
                         key=f"queue_table_{generation}", width="stretch", column_config={
                             "id": st.column_config.NumberColumn("id", width="small"),
                             "verdict": st.column_config.TextColumn("verdict", width="small"),
                             "reviewer": st.column_config.TextColumn("reviewer", width="small"),
                             "support": support_column(format="percent", width="small"),
                             "question": st.column_config.TextColumn("question", width="large"),
                             "version": st.column_config.NumberColumn("version", width="small"),
                             "created": st.column_config.DatetimeColumn("created", format="YYYY-MM-DD HH:mm:ss")})
    st.caption(f"{len(df)} audit(s). Click a row to open it.")
    picked = event.selection.rows if event and event.selection else []
    ids = [int(i) for i in df["id"]]
    if "queue_open_next" in st.session_state:  # set by a save that made a new version: open that one
        wanted = st.session_state.pop("queue_open_next")
        if wanted in ids:
            st.session_state["queue_open"] = wanted
    default = ids.index(st.session_state["open_audit"]) if st.session_state.get("open_audit") in ids else 0
    audit_id = ids[picked[0]] if picked and picked[0] < len(ids) else st.selectbox("Open audit", ids, index=default,
                                                                                     key="queue_open")
    st.session_state["open_audit"] = audit_id

with audit_area:
    try:
        bundle = bundles_from_store(store, [audit_id])[0]
    except Exception as exc:  # noqa: BLE001 - a damaged or newer record: say so, keep the queue usable
        show_error(exc, f"Audit {audit_id} could not be read")
        st.stop()
    report = bundle.report
    st.header(f"Audit {audit_id} · version {bundle.version}")
    st.caption(md_escape(f"created {shown_when(bundle.created_at)} by {bundle.created_by}"))
    st.markdown("**Question**")
    st.text(report.question)
    st.markdown("**Answer**")
    st.text(report.answer)
    if report.grounding is not None:
        grounding_view(report.grounding, f"queue_{audit_id}")
    for a in report.attributions:
        with st.expander(f"Attribution: {a.method} ({a.granularity})"):
            attribution_view(a)
    with st.expander(f"Sources ({len(report.sources)})"):
        for s in report.sources:
            st.text(f"{s.title or s.source_id}: {s.text}")

    st.subheader("History")
    versions = store.versions(store.audit_meta(audit_id)["audit_key"])
    if len(versions) > 1:
        st.dataframe(pd.DataFrame([{"audit id": v.id, "version": v.version, "created": shown_when(when(v.created_at)),
                                    "by": v.created_by, "answer": v.answer} for v in versions]), hide_index=True)
    if bundle.verdicts:
        # no edited answer (any verdict but 'edit') is blank, not "None"
        st.dataframe(pd.DataFrame([{k: shown_when(v.get(k)) if k == "created_at" else v.get(k) or ""
                                    for k in ("created_at", "reviewer", "verdict", "note", "edited_answer")}
                                   for v in bundle.verdicts]), hide_index=True)
    else:
        st.caption("No verdict yet.")

    st.subheader("Your verdict")
    save = False
    if may_write(identity):
        with st.form(f"queue_verdict_{audit_id}"):
            reviewer = reviewer_field(identity, f"queue_reviewer_{audit_id}")
            verdict = st.radio("Verdict", VERDICTS, horizontal=True, index=None,
                               help="Nothing is preselected: read the flags, then choose.")
            edited = st.text_area("Edited answer (for 'edit': saved as a new version of this audit)", value=report.answer)
            note = st.text_area("Note")
            save = st.form_submit_button("Save verdict", type="primary")
    if save and identity.can_write and verdict is None:
        st.error("Choose a verdict (accept, edit or reject) before saving.", icon=":material/error:")
        save = False
    if save and identity.can_write:
        try:
            from dashboard.compute import save_verdict

            new_id = save_verdict(store, audit_id, report, verdict, reviewer, note, edited)
            if new_id is not None:
                st.session_state["open_audit"] = st.session_state["queue_open_next"] = new_id
                if focus is not None:  # the new version stays where the opened audit was, above the queue
                    st.session_state["queue_focus"] = new_id
                st.session_state["queue_table_generation"] = generation + 1
                st.session_state["queue_flash"] = f"Verdict saved; the edited answer is audit {new_id} (a new version)."
            else:
                st.session_state["queue_flash"] = "Verdict saved."
            st.rerun()
        except Exception as exc:  # noqa: BLE001
            show_error(exc, "The verdict was not saved")

    st.subheader("Export")
    export_buttons([bundle], f"queue_export_{audit_id}", f"auditlens-audit-{audit_id}")
