"""Perturbation panel of the Audit page: leave-one-out, random ablations, context reliance, what-if edits."""

from __future__ import annotations

import pandas as pd
import streamlit as st

from dashboard.compute import results, run_ablate, run_leave_one_out, run_reliance, run_what_if
from explainers.text.context import EDIT_UNITS, apply_edits, json_edit, make_edit

from .safe import md_escape, show_error


def _bar(label: str):
    bar = st.progress(0.0, text=label)
    return bar, (lambda f, m: bar.progress(min(1.0, max(0.0, f)), text=str(m)))


def _units_table(result) -> pd.DataFrame:
    rows = []
    for j, u in enumerate(result.units):
        row = {"source": result.unit_sources[j] + 1, "source sentence": u.text,
               "effect on answer log-prob": round(float(result.answer_scores[j]), 3)}
        if result.variants:
            v = result.variants[j]
            row["answer without it"] = v.get("regenerated", "")
            row["answer changed"] = v.get("answer_changed", False)
        rows.append(row)
    return pd.DataFrame(rows).sort_values("effect on answer log-prob", ascending=False)


def split_by_sources(words: list[str], sources) -> tuple[list[str], list[str]]:
    """(words some source has, words no source has), compared as the grounding compares them."""
    from explainers.retrieval.grounding import tokens

    known = {t.norm for s in sources for t in tokens(s)}
    has = [w for w in words if all(t.norm in known for t in tokens(w))]
    return has, [w for w in words if w not in has]


def _reliance_view(rel, srcs) -> None:
    flagged = rel.flagged_words()
    in_sources, in_none = split_by_sources(flagged, srcs)
    st.caption("Measures the model, not the facts: a word listed here is one the model would have written "
               "without the sources (its probability barely changes when they are removed). The Grounding "
               "tab says whether the sources hold it.")
    if in_none:
        st.warning("The model would have written these without the sources, and no source has them: "
                   + md_escape(", ".join(in_none)))
    if in_sources:
        st.info("The model would have written these anyway; the sources also have them (so they are "
                "grounded, but not because of the sources): " + md_escape(", ".join(in_sources)))
    if not flagged:
        st.success("Every content word depends on the sources.")
    with st.expander("Reliance of every word"):
        st.dataframe(pd.DataFrame({"word": [w.text for w in rel.words], "reliance (nats)": rel.word_reliance,
                                   "drop when sources shuffled": rel.word_shuffle_drop,
                                   "written without the sources": list(rel.flagged)}),
                     hide_index=True)


def perturbation_panel(audit: dict) -> None:
    if not audit["sources"]:
        st.info("Perturbations remove or edit the sources; this audit has none.")
        return
    q, srcs, ans = audit["question"], audit["sources"], audit["answer"]
    st.markdown("**Context reliance**: which answer words would the model have written without any source?")
    from dashboard.jobs import in_background

    # In the background worker, after the attribution queued before it (whose pass it reuses): the page stays live.
    key = ("reliance", q, srcs, ans)
    rel = results().peek(key) or in_background(key, "context reliance",
                                               lambda progress: run_reliance(q, srcs, ans, progress=progress),
                                               show_error)
    if rel is not None:
        try:
            _reliance_view(rel, srcs)
        except Exception as exc:  # noqa: BLE001
            show_error(exc, "Context reliance could not be shown")

    st.markdown("**Leave one out**: remove each source sentence, re-score the answer and regenerate it.")
    loo_key = ("loo", q, srcs, ans, "sentence")
    if loo_key in results() or st.button("Run leave-one-out", key="run_loo"):
        bar, cb = _bar("leave-one-out")
        try:
            loo = run_leave_one_out(q, srcs, ans, progress=cb)
            st.caption("Positive effect = removing that source sentence lowers the answer's probability (it "
                       "supports it).")
            st.dataframe(_units_table(loo), hide_index=True)
            st.caption(f"{loo.forward_passes} scoring passes, {loo.elapsed_s:.1f} s")
        except Exception as exc:  # noqa: BLE001
            show_error(exc, "Leave-one-out failed")
        bar.empty()

    st.markdown("**Random ablations** (ContextCite): a sparse linear surrogate over many source subsets.")
    n = st.slider("Ablations", 8, 128, 32, step=8, key="n_ablations")
    abl_key = ("ablate", q, srcs, ans, n)
    if abl_key in results() or st.button("Run random ablations", key="run_ablate"):
        bar, cb = _bar("ablations")
        try:
            abl = run_ablate(q, srcs, ans, n, progress=cb)
            c1, c2, c3 = st.columns(3)
            c1.metric("Surrogate held-out R²", f"{abl.fit['r2_heldout']:.2f}")
            c2.metric("LDS (Spearman, held out)", f"{abl.fit['lds']:.2f}")
            c3.metric("Agrees with leave-one-out", f"{abl.agreement.get('spearman_vs_leave_one_out', float('nan')):.2f}")
            if not abl.fit["r2_heldout"] > 0.5:
                st.warning("The surrogate explains little of the held-out variation: do not trust its weights.")
            table = _units_table(abl).rename(columns={"effect on answer log-prob": "surrogate weight"})
            table["leave-one-out"] = [abl.agreement["leave_one_out"][j] for j in table.index]
            table["gradient×input"] = [abl.agreement["input_x_gradient"][j] for j in table.index]
            st.dataframe(table, hide_index=True)
        except Exception as exc:  # noqa: BLE001
            show_error(exc, "Ablations failed")
        bar.empty()

    st.markdown("**What if…** remove or replace a word, sentence, source or any text, and see what the model does.")
    edits = st.session_state.setdefault("what_if_edits", [])
    with st.form("what_if_form"):
        c1, c2, c3 = st.columns(3)
        where = c1.selectbox("Where", ["question"] + [f"source {k}" for k in range(1, len(srcs) + 1)],
                             key="what_if_where")
        unit = c2.selectbox("Unit", EDIT_UNITS, index=EDIT_UNITS.index("text"), key="what_if_unit")
        op = c3.selectbox("Operation", ["remove", "replace"], key="what_if_op")
        c4, c5 = st.columns(2)
        match = c4.text_input("Text to match (for 'text')", max_chars=500, key="what_if_match")
        index = c4.number_input("Index (0-based, for 'sentence' / 'word')", min_value=0, value=0, step=1,
                                key="what_if_index")
        replacement = c5.text_input("Replacement (for 'replace')", max_chars=1000, key="what_if_replacement")
        add = st.form_submit_button("Add edit", key="what_if_add")
    if add:
        try:
            edit = make_edit(op, unit, where, index=int(index) if unit in ("sentence", "word") else None,
                             match=match or None if unit == "text" else None, replacement=replacement)
            apply_edits(q, list(srcs), [*edits, edit])  # checked on the texts now (no model): an edit that cannot
            edits.append(edit)  # apply is refused here, not found later when it blocks the whole run
        except Exception as exc:  # noqa: BLE001
            show_error(exc, "Edit not added")
    if edits:
        st.dataframe(pd.DataFrame({"edit": [json_edit(e) for e in edits]}), hide_index=True)
        c1, c2, c3 = st.columns(3)
        run = c1.button("Run what-if", type="primary", key="run_what_if")
        if c2.button("Remove the last edit", key="undo_edit"):
            edits.pop()
            st.rerun()
        if c3.button("Clear edits", key="clear_edits"):
            edits.clear()
            st.rerun()
        if run:
            bar, cb = _bar("what-if")
            try:
                res = run_what_if(q, srcs, ans, tuple(tuple(sorted(e.items())) for e in edits), progress=cb)
                st.session_state["what_if_result"] = res
            except Exception as exc:  # noqa: BLE001
                show_error(exc, "The what-if did not run")
            bar.empty()
    res = st.session_state.get("what_if_result")
    if res is not None and res.question == q and res.answer == ans:
        c1, c2 = st.columns(2)
        c1.metric("Answer log-probability", f"{res.edited_log_prob:.2f}", f"{res.edited_log_prob - res.base_log_prob:+.2f}")
        c2.metric("Probability ratio (edited / original)", f"{res.probability_ratio:.3g}")
        st.text("Regenerated answer: " + res.regenerated)
        st.dataframe(pd.DataFrame([{"change": op_, "original": a, "regenerated": b} for op_, a, b in res.diff
                                   if op_ != "equal"]), hide_index=True)
