import streamlit as st

from dashboard.navigation import discover_pages
from explainers import list_methods

PAGE = {"title": "About", "icon": ":material/info:", "order": 20}

st.title("AuditLens")
st.write(
    "Audit an LLM answer: see **why** the model said it (token attributions), **what changes** when parts of "
    "the input are removed, and **whether the sources support it** (grounding). A human reviewer gives the verdict."
)

st.subheader("Pages")
st.markdown("\n".join(f"- **{p.title}** — {p.about}" for p in discover_pages() if p.about))  # from each page's PAGE
st.subheader("Attribution methods available")
st.write(", ".join(list_methods("text")))
