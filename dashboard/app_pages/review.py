import streamlit as st

st.title("Review queue")
st.info("This page is not available yet: it arrives with its issue. The Audit page works today.")
