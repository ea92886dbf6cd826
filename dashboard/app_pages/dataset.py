"""Dataset: the batch runs (auditlens audit-batch). Per run: counts, support histogram, breakdowns by model and
source, the detector against the data's labels, triage policy and assignment, the riskiest answers (open one in
the Review queue to give a verdict), reviewer agreement, and a refit of the detector on the reviewers' verdicts."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.auth import may_write, require_identity
from dashboard.components.dataset_views import histogram_figure, reliability_figure
from dashboard.components.columns import support_column
from dashboard.components.safe import md_escape, show_error
from dashboard.resources import review_store
from explainers.batch.runs import RunStore
from explainers.batch.stats import run_stats
from explainers.batch.triage import QUEUE_STATUSES, STATUSES, TriagePolicy, cohen_kappa

PAGE = {"title": "Dataset", "icon": ":material/dataset:", "order": 50,
        "about": ("The batch runs (`auditlens audit-batch`): counts, support histogram, breakdowns by model and "
                  "source, AUROC and a reliability diagram when the data had labels, triage and assignment, the riskiest "
                  "answers (open one in the Review queue), reviewer agreement, and a refit of the detector on the "
                  "reviewers' verdicts.")}

identity = require_identity()
st.title("Dataset")
if "dataset_flash" in st.session_state:
    st.success(st.session_state.pop("dataset_flash"), icon=":material/check:")
runs = RunStore(review_store())
names = runs.run_names()
if not names:
    st.info("No batch run yet. Audit a whole file with `auditlens audit-batch DATA.jsonl --run NAME`; "
            "its answers then appear here, riskiest first.")
    st.stop()

name = st.selectbox("Run", names, key="dataset_run",
                    help="Runs are made on the command line: `auditlens audit-batch DATA.jsonl --run NAME` audits a "
                         "whole file (JSONL, CSV or Parquet) into a new run that appears here.")
run = runs.get_run(name)
items = runs.items(run)
bad = runs.bad_lines(run)
stats = run_stats(items, len(bad), run.policy.flag_below)
st.caption(md_escape(f"from {run.source} · started {run.created_at:%Y-%m-%d %H:%M} by {run.created_by} · "
                     f"detector: verifier {run.options.get('detector', {}).get('verifier', '?')}, fusion "
                     f"{run.options.get('detector', {}).get('fusion') or 'shipped'}"))

c = st.columns(5)
c[0].metric("Answers", f"{stats.n_items:,}")
# the share in the value, not as a delta: a delta chip draws an arrow, as if the share had risen
c[1].metric("Flagged", f"{stats.status_counts['flagged']:,} ({stats.flagged_share:.0%})",
            help="Answers under the run's flag threshold, and their share of all answers")
c[2].metric("To review", f"{sum(stats.status_counts[s] for s in QUEUE_STATUSES):,}")
c[3].metric("Reviewed", f"{sum(n for v, n in stats.verdict_counts.items() if v != 'none yet'):,}")
c[4].metric("Rows skipped", f"{len(bad):,}")
pairs = runs.verdict_pairs(run)
if pairs:
    kappa = cohen_kappa(*zip(*pairs))
    st.metric("Reviewer agreement (Cohen's kappa)", "n/a" if kappa != kappa else f"{kappa:.2f}",
              help=f"Over {len(pairs)} items with a second opinion")
    st.caption(f"Over {len(pairs)} items with a second opinion.")

left, right = st.columns(2)
with left:
    st.plotly_chart(histogram_figure(stats, run.policy), key="dataset_hist")
with right:
    if stats.labels is not None:
        lm = stats.labels
        st.markdown(f"**Against the data's labels** ({lm.n:,} answers, {lm.n_supported:,} supported): AUROC "
                    f"{'n/a' if lm.auroc is None else f'{lm.auroc:.3f}'}, balanced accuracy "
                    f"{lm.balanced_accuracy:.3f} at {lm.threshold:.0%} support")
        st.plotly_chart(reliability_figure(lm), key="dataset_reliability")
    else:
        st.caption("The data had no labels (audit-batch --label-col), so there is no AUROC or reliability diagram.")

with st.expander("By model and by source document"):
    st.dataframe(pd.DataFrame(stats.by_model), hide_index=True, key="dataset_by_model")
    st.dataframe(pd.DataFrame(stats.by_source), hide_index=True, key="dataset_by_source")

st.subheader("Riskiest answers")
df = pd.DataFrame([{"risk": it.risk, "status": it.status, "support": it.support_probability, "why": it.reason,
                    "row": it.row_id,
                    "line": it.line_no, "model": it.model, "question": it.question, "answer": it.answer,
                    "verdict": it.latest_verdict or "", "assigned": ", ".join(it.assigned), "audit": it.audit_id}
                   for it in items])
f1, f2, f3, f4 = st.columns([2, 1, 1, 1])  # the status chips need the room
statuses = f1.multiselect("Status", STATUSES, default=list(QUEUE_STATUSES), key="dataset_status")
models = ["any"] + sorted({it.model for it in items if it.model})
model = f2.selectbox("Model", models, key="dataset_model")
needle = f3.text_input("Question or answer contains", max_chars=200, key="dataset_text")
assignee = f4.text_input("Assigned to", max_chars=200, key="dataset_assignee")
shown = df[df["status"].isin(statuses)]
if model != "any":
    shown = shown[shown["model"] == model]
if needle.strip():
    n = needle.strip().lower()
    shown = shown[shown["question"].str.lower().str.contains(n, regex=False)
                  | shown["answer"].str.lower().str.contains(n, regex=False)]
if assignee.strip():
    shown = shown[shown["assigned"].str.lower().str.contains(assignee.strip().lower(), regex=False)]
shown = shown.reset_index(drop=True)
event = st.dataframe(shown, hide_index=True, on_select="rerun", selection_mode="single-row", key="dataset_table",
                     width="stretch", column_config={
                         "support": support_column(format="percent"),
                         "risk": st.column_config.NumberColumn("risk", format="%.2f"),
                         "why": st.column_config.TextColumn("why", width="large",
                                                            help="The weakest flagged sentence and its first reason; with none "
                                                            "flagged, the weakest sentence's support and reason")})
st.caption(f"{len(shown):,} of {len(df):,} answers, riskiest first (click a column to sort). Click a row, or pick "
           "one below, to open it in the Review queue and leave a verdict.")


def _open(audit_id: int) -> None:
    st.session_state["open_audit"] = st.session_state["queue_focus"] = int(audit_id)  # shown above the queue
    st.switch_page("app_pages/review.py")


picked = event.selection.rows if event and event.selection else []
if picked:
    _open(shown.loc[picked[0], "audit"])
if not shown.empty:
    labels = {int(r.audit): f"{r.risk:.2f} · {r.status} · row {r.row}: {r.answer[:80]}" for r in shown.head(200).itertuples()}
    with st.form("dataset_open"):
        chosen = st.selectbox("Answer", list(labels), format_func=labels.get, key="dataset_pick")
        if st.form_submit_button("Open in the Review queue"):
            _open(chosen)

if bad:
    with st.expander(f"Rows skipped ({len(bad):,})"):
        st.dataframe(pd.DataFrame([{"line": b.line_no, "id": b.row_id or "", "reason": b.reason} for b in bad]),
                     hide_index=True, key="dataset_bad")

if may_write(identity):
    st.subheader("Triage and assignment")
    with st.form("dataset_policy"):
        p = run.policy
        a, b, s = st.columns(3)  # in percent, like every support the pages show
        flag = a.slider("Flag below (support)", 0, 100, round(100 * p.flag_below), 1, format="%d%%", key="policy_flag")
        accept = b.slider("Auto-accept at or above (support)", 0, 100, round(100 * p.accept_above), 1, format="%d%%",
                          key="policy_accept")
        share = s.slider("Spot-check share of the auto-accepted", 0, 50, round(100 * p.spot_check_share), 1,
                         format="%d%%", key="policy_share")
        if st.form_submit_button("Save policy"):
            try:
                if flag > accept:
                    raise ValueError(f"'Flag below' ({flag} %) must not be above 'Auto-accept at or above' "
                                     f"({accept} %)")
                runs.set_policy(run, TriagePolicy(flag / 100, accept / 100, share / 100))
                st.session_state["dataset_flash"] = "Policy saved; the queue follows it."
                st.rerun()
            except ValueError as exc:
                st.error(str(exc))
    with st.form("dataset_assign"):
        who = st.text_input("Reviewers (comma-separated)", max_chars=2000, key="assign_reviewers")
        second = st.checkbox("Second opinion (two reviewers per item)", key="assign_second")
        limit = st.number_input("Riskiest items to assign (0: all)", 0, 1_000_000, 0, key="assign_limit")
        if st.form_submit_button("Assign the queue"):
            try:
                made = runs.assign(run, [w for w in who.split(",") if w.strip()], identity.name or "dashboard",
                                   second_opinion=second, limit=int(limit) or None)
                st.session_state["dataset_flash"] = f"{made} assignment(s) made, riskiest first."
                st.rerun()
            except Exception as exc:  # noqa: BLE001 - shown to the user
                show_error(exc, "Nothing was assigned")

    st.subheader("Learn from the reviewers")
    st.caption("Refits the detector's fusion on this run's verdicts (accept = supported, reject = hallucinated; "
               "edits and disagreements are left out), cross-validated by question, and saves it under a name. "
               "The shipped fusion is never replaced; use the new one with `audit-batch --fusion NAME`.")
    with st.form("dataset_calibrate"):
        fusion_name = st.text_input("Save as", value=f"run-{run.name}"[:64], max_chars=64, key="calibrate_name")
        replace = st.checkbox("Replace a saved fusion of that name", key="calibrate_replace")
        if st.form_submit_button("Refit on the verdicts"):
            from explainers.batch.calibrate import calibrate_run, save_named_fusion

            try:
                result = calibrate_run(runs, run)
                path = save_named_fusion(result.fusion, fusion_name.strip(), replace=replace)
                st.session_state["calibration"] = (result.lines(), str(path))
            except Exception as exc:  # noqa: BLE001
                show_error(exc, "The detector was not refitted")
    if "calibration" in st.session_state:
        lines, path = st.session_state["calibration"]
        st.text("\n".join(lines) + f"\nsaved: {path}")
