import streamlit as st

from explainers import list_methods

st.title("AuditLens")
st.write(
    "Audit an LLM answer: see **why** the model said it (token attributions), **what changes** when parts of "
    "the input are removed, and **whether the sources support it** (grounding). A human reviewer gives the verdict."
)

st.subheader("Pages")
st.markdown(
    """
- **Audit** — question, sources and answer; token attributions with method and granularity selectors,
  per-token probability and entropy; grounding of each answer sentence in the sources.
- **CNN vs LLM** — Grad-CAM on an image classifier beside token attributions, one colour scale, deletion curves.
- **Review queue** — saved audits and verdicts (accept / edit / reject) *(not available yet)*.
- **Reports** — JSON, HTML and PDF exports *(not available yet)*.
"""
)
st.subheader("Attribution methods available")
st.write(", ".join(list_methods("text")))
