"""Audit page: attribute an answer (given or generated) to its question and sources."""

import pandas as pd
import streamlit as st

from dashboard.compute import run_attribution, run_grounding
from explainers import ExplainerError, list_methods

DEMO_QUESTION = "What is the capital of France?"
DEMO_SOURCE = "Paris is the capital and largest city of France."

st.title("Audit an answer")

with st.form("audit"):
    question = st.text_input("Question", value=DEMO_QUESTION, max_chars=2000)
    sources = st.text_area("Sources (one per paragraph)", value=DEMO_SOURCE, max_chars=20000)
    answer = st.text_area("Answer (leave empty to generate it with the local model)", value="", max_chars=4000)
    c1, c2 = st.columns(2)
    method = c1.selectbox("Method", list_methods("text"), index=list_methods("text").index("input_x_gradient"))
    granularity = c2.selectbox("Granularity", ["word", "token", "sentence", "span"])
    submitted = st.form_submit_button("Run audit")

if submitted:
    srcs = tuple(p.strip() for p in sources.split("\n\n") if p.strip())
    bar = st.progress(0.0, text="starting")
    try:
        result = run_attribution(question, srcs, answer or None, method, granularity,
                                 progress=lambda f, m: bar.progress(min(1.0, f), text=m))
        st.session_state["attribution"] = result
        st.session_state["grounding"] = run_grounding(question, srcs, result.output_text) if srcs else None
    except ExplainerError as exc:
        st.error(str(exc))
    bar.empty()

result = st.session_state.get("attribution")
if result is not None:
    st.subheader("Answer")
    st.text(result.output_text)
    st.subheader("Most influential inputs (whole answer)")
    rows = [{"unit": u.text, "score": s} for u, s in result.top_inputs(10)]
    st.dataframe(pd.DataFrame(rows), hide_index=True)
    st.subheader("Per answer unit: probability and entropy")
    steps = pd.DataFrame({"unit": [u.text for u in result.output_units],
                          "probability": result.step_scores["probability"],
                          "entropy": result.step_scores["entropy"]})
    st.dataframe(steps, hide_index=True)

grounding = st.session_state.get("grounding")
if result is not None and grounding is not None:
    st.subheader("Is it supported by the sources?")
    st.metric("Answer support probability", f"{grounding.answer_support_probability:.0%}")
    rows = [{"sentence": s.sentence, "label": s.label, "support": round(s.support_probability, 3),
             "cited source": s.source_text[s.source_span[0]:s.source_span[1]] if s.source_span else "",
             "reasons": "; ".join(s.reasons)} for s in grounding.sentences]
    st.dataframe(pd.DataFrame(rows), hide_index=True)

if result is not None:
    st.subheader("Your verdict")
    st.caption("Running without sign-in: enter your name; it is stored with the verdict.")
    with st.form("verdict"):
        reviewer = st.text_input("Reviewer name", max_chars=200)
        verdict = st.radio("Verdict", ["accept", "edit", "reject"], horizontal=True)
        edited = st.text_area("Edited answer (for 'edit')", value="", max_chars=4000)
        note = st.text_area("Note", value="", max_chars=4000)
        save = st.form_submit_button("Save verdict")
    if save:
        from dashboard.resources import review_store
        from explainers.types import AuditReport, Source

        report = AuditReport(question=question, answer=result.output_text,
                             sources=tuple(Source(f"source {k}", t) for k, t in enumerate(
                                 [p.strip() for p in sources.split("\n\n") if p.strip()], 1)),
                             model_id=result.model_id, attributions=(result,), grounding=grounding)
        try:
            store = review_store()
            audit_id = store.save_audit(report, reviewer)
            store.add_verdict(audit_id, verdict, reviewer, note=note, edited_answer=edited or None)
            st.success(f"Verdict saved (audit {audit_id}).")
        except ExplainerError as exc:
            st.error(str(exc))
