import streamlit as st

st.title("CNN vs LLM")
st.info("This page is not available yet: it arrives with its issue. The Audit page works today.")
