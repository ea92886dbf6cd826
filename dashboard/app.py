"""AuditLens dashboard entry: page config, the sign-in gate and navigation, nothing else."""

import streamlit as st

from dashboard.auth import gate

st.set_page_config(page_title="AuditLens", page_icon=":mag:", layout="wide")
gate()  # fail closed for every page, also one added later without its own require_identity()

PAGES = [
    st.Page("app_pages/audit.py", title="Audit", icon=":material/fact_check:", default=True),
    st.Page("app_pages/home.py", title="About", icon=":material/info:"),
    st.Page("app_pages/cnn_vs_llm.py", title="CNN vs LLM", icon=":material/image_search:"),
    st.Page("app_pages/review.py", title="Review queue", icon=":material/rate_review:"),
    st.Page("app_pages/dataset.py", title="Dataset", icon=":material/dataset:"),
    st.Page("app_pages/reports.py", title="Reports", icon=":material/description:"),
]

st.navigation(PAGES).run()
