"""Filters over the review store, shared by the Review queue and Reports pages."""

from __future__ import annotations

import datetime as dt

import pandas as pd
import streamlit as st

VERDICT_CHOICES = ["any", "no verdict yet", "accept", "edit", "reject"]
SORTS = {"newest first": ("created", False), "oldest first": ("created", True),
         "lowest support first": ("support", True), "highest support first": ("support", False)}


def audits_frame(store) -> pd.DataFrame:
    rows = [{"id": a.id, "version": a.version, "created": a.created_at, "question": a.question, "answer": a.answer,
             "support": a.support_probability, "verdict": a.latest_verdict or "", "reviewer": a.latest_reviewer or "",
             "created by": a.created_by} for a in store.list_audits()]
    cols = ["id", "version", "created", "question", "answer", "support", "verdict", "reviewer", "created by"]
    return pd.DataFrame(rows, columns=cols)


def filtered_audits(store, key: str) -> pd.DataFrame:
    df = audits_frame(store)
    with st.expander("Filter and sort", expanded=True):
        c1, c2, c3, c4 = st.columns(4)
        verdict = c1.selectbox("Verdict", VERDICT_CHOICES, key=f"{key}_verdict")
        reviewer = c2.text_input("Reviewer or author contains", max_chars=200, key=f"{key}_reviewer")
        # in percent, like the support columns it filters
        support = c3.slider("Support", 0, 100, (0, 100), step=5, format="%d%%", key=f"{key}_support")
        sort = c4.selectbox("Sort", list(SORTS), key=f"{key}_sort")
        today = dt.datetime.now(dt.timezone.utc).date()
        dates = st.date_input("Created between", (today - dt.timedelta(days=365), today), key=f"{key}_dates")
    if df.empty:
        return df
    if verdict == "no verdict yet":
        df = df[df["verdict"] == ""]
    elif verdict != "any":
        df = df[df["verdict"] == verdict]
    if reviewer.strip():
        needle = reviewer.strip().lower()
        df = df[df["reviewer"].str.lower().str.contains(needle, regex=False)
                | df["created by"].str.lower().str.contains(needle, regex=False)]
    lo, hi = support[0] / 100, support[1] / 100
    s = df["support"]
    df = df[s.isna() & (lo == 0.0) | ((s >= lo - 1e-9) & (s <= hi + 1e-9))]
    if isinstance(dates, (tuple, list)) and len(dates) == 2:
        created = pd.to_datetime(df["created"], utc=True).dt.date
        df = df[(created >= dates[0]) & (created <= dates[1])]
    column, ascending = SORTS[sort]
    return df.sort_values([column, "id"], ascending=[ascending, ascending], na_position="first").reset_index(drop=True)
