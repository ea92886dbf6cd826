"""Views of one audit's results, shared by the Audit and Review pages (render only; no computation)."""

from __future__ import annotations

import hashlib
import re

import numpy as np
import pandas as pd
import streamlit as st

from explainers.colours import ATTRIBUTION_LEGEND, LABEL_CSS, LABEL_LEGEND, LABEL_STREAMLIT
from explainers.types import Grounding, SentenceGrounding, TextAttribution

from .columns import support_column
from .figures import attribution_heatmap, steps_figure
from .safe import md_escape

LABEL_STYLE = {label: f"background-color: {css}" for label, css in LABEL_CSS.items()}  # one colour language
BACKGROUND = LABEL_STREAMLIT  # Streamlit's named colour of each label's hue


def coloured_answer(grounding: Grounding) -> str:
    """The answer as escaped Markdown: each sentence on the background colour of its label, and inside a flagged
    sentence the words no source has in bold (the word-level evidence, in the answer itself)."""
    parts = []
    pos = 0
    for s in grounding.sentences:
        if s.start > pos:
            parts.append(md_escape(grounding.answer[pos:s.start].strip()))
        body, cursor = [], s.start
        if s.label != "supported":
            for a, b in sorted(s.unsupported_spans):
                if a < cursor or b > s.end:
                    continue
                body.append(md_escape(grounding.answer[cursor:a]))
                body.append("**" + md_escape(grounding.answer[a:b]) + "**")
                cursor = b
        body.append(md_escape(grounding.answer[cursor:s.end]))
        text = "".join(body).strip()
        parts.append(f":{BACKGROUND[s.label]}-background[{text}]" if text else "")
        pos = s.end
    if pos < len(grounding.answer):
        parts.append(md_escape(grounding.answer[pos:].strip()))
    return " ".join(p for p in parts if p.strip()) or md_escape(grounding.answer)


def percent(p: float) -> str:
    return f"{p:.0%}"


def grounding_key(grounding: Grounding, key: str) -> str:
    """A widget key that belongs to one audit's grounding: a row picked in one audit is never read in another."""
    digest = hashlib.sha256("\0".join([grounding.answer, *(s.source_text for s in grounding.sentences)])
                            .encode("utf-8")).hexdigest()[:12]
    return f"{key}_grounding_table_{digest}"


def picked_sentence(grounding: Grounding, rows) -> SentenceGrounding | None:
    """The sentence a table selection names, or None when there is none (or it is not one of this audit's)."""
    rows = list(rows or [])
    if rows and isinstance(rows[0], int) and 0 <= rows[0] < len(grounding.sentences):
        return grounding.sentences[rows[0]]
    return None


def grounding_summary(grounding: Grounding) -> None:
    """What a reviewer decides on, first: support, how many sentences are flagged, the answer with its flags
    coloured and unsupported words in bold, and each flag with its reason."""
    n_bad = sum(s.label != "supported" for s in grounding.sentences)
    c1, c2 = st.columns(2)
    c1.metric("Answer support probability", percent(grounding.answer_support_probability),
              help="The support of the answer's weakest sentence: an answer is only as well supported as its least "
                   "supported sentence.")
    c2.metric("Sentences flagged", f"{n_bad} of {len(grounding.sentences)}")
    st.markdown(coloured_answer(grounding))
    st.caption(LABEL_LEGEND.capitalize() + " **Bold**: words no source has.")
    for k, s in enumerate(grounding.sentences, 1):
        if s.label != "supported":
            reasons = "; ".join(s.reasons[:2]) if s.reasons else "no reason recorded"
            st.markdown(f":{BACKGROUND[s.label]}-background[{md_escape(s.label)}] sentence {k} "
                        f"(support {percent(s.support_probability)}): {md_escape(reasons)}")


def grounding_details(grounding: Grounding, key: str) -> None:
    """Every sentence with its label, support and cited source; click a row for its evidence and signals."""
    rows = pd.DataFrame([{"sentence": s.sentence, "label": s.label, "support": s.support_probability,
                          "cited source span": s.source_text[s.source_span[0]:s.source_span[1]] if s.source_span else "",
                          "unsupported words": " · ".join(grounding.answer[a:b] for a, b in s.unsupported_spans)}
                         for s in grounding.sentences])
    styled = rows.style.map(lambda v: LABEL_STYLE.get(v, ""), subset=["label"])
    event = st.dataframe(styled, hide_index=True, on_select="rerun", selection_mode="single-row",
                         key=grounding_key(grounding, key), width="stretch",
                         column_config={"support": support_column(format="percent")})
    s = picked_sentence(grounding, event.selection.rows if event and event.selection else [])
    st.caption("Click a row to see the evidence for that sentence.")
    if s is not None:
        st.markdown(f"**{md_escape(s.label.capitalize())}** · support {percent(s.support_probability)}")
        st.text("Sentence: " + s.sentence)
        if s.source_span:
            a, b = s.source_span
            st.text("Cited span: " + s.source_text[a:b])
            with st.expander("The whole source chunk"):
                st.text(s.source_text)
        st.text("Reasons: " + "; ".join(s.reasons))
        st.dataframe(pd.DataFrame([{k: round(v, 2) for k, v in s.signals.items()}]), hide_index=True)


def grounding_view(grounding: Grounding, key: str) -> None:
    """The summary, then the per-sentence table (the Review page shows both in one place)."""
    grounding_summary(grounding)
    grounding_details(grounding, key)


def unit_context(text: str, unit, width: int = 24) -> str:
    """The unit in ⟦brackets⟧ with up to ``width`` characters of the prompt either side, on one line."""
    before = text[max(0, unit.start - width):unit.start]
    after = text[unit.end:unit.end + width]
    # whole words only: a word the window cuts at either edge is left out
    if unit.start > width and not text[unit.start - width - 1].isspace() and (m := re.search(r"\s", before)):
        before = before[m.end():]
    if unit.end + width < len(text) and not text[unit.end + width].isspace() and (m := re.search(r"\s\S*$", after)):
        after = after[:m.start()]
    before, after = _TEMPLATE.sub(" ", before).lstrip(), _TEMPLATE.sub(" ", after).rstrip()
    # no "…" where only template markers were cut away: the unit opens or ends its turn
    out = ("…" if unit.start > width and before.strip() else "") + before + "⟦" + text[unit.start:unit.end] + "⟧" \
        + after + ("…" if unit.end + width < len(text) and after.strip() else "")
    return " ".join(out.split())


# the chat template's markers and the role after an opening one ("<|im_start|>assistant"): the model read them, a
# reviewer reads past them
_TEMPLATE = re.compile(
    r"<\|im_start\|>\s*(?:system|user|assistant)?"  # ChatML (SmolLM2, Qwen)
    r"|<\|start_header_id\|>\s*\w*\s*<\|end_header_id\|>"  # Llama 3
    r"|<start_of_turn>\s*(?:user|model)?|<end_of_turn>"  # Gemma
    r"|<\|[a-z_]{1,30}\|>|</?s>|\[/?INST\]")  # any other <|marker|>, Llama 2 / Mistral


def attribution_view(a: TextAttribution, key: str = "") -> None:
    """Heatmap, top inputs and per-unit scores of one attribution; ``key`` tells two views on one page apart."""
    span = "answer_span" in a.params
    c1, c2, c3 = st.columns(3)
    c1.metric("Log-probability of this sentence" if span else "Answer log-probability",
              f"{float(a.step_scores['log_prob'].sum()):.2f}" if "log_prob" in a.step_scores else "n/a")
    c2.metric("Computed in", f"{a.elapsed_s:.2f} s")
    if a.convergence_delta is not None:
        c3.metric("IG convergence delta", f"{a.convergence_delta:.1e}")
        total = abs(float(a.sequence_scores.sum())) or 1.0
        if abs(a.convergence_delta) > 0.05 * max(1.0, total):
            st.warning("Integrated gradients have not converged (the attributions do not add up to the change in "
                       "the answer's log-probability): use more steps.")
    if "max_rel_diff_vs_fp32" in a.params:
        st.caption(f"Computed in {a.params.get('precision', 'reduced precision')}: max relative difference to fp32 "
                   f"{float(a.params['max_rel_diff_vs_fp32']):.1e}, measured on "
                   f"{a.params.get('max_rel_diff_measured_on', 'one row')}.")
    if a.method == "saliency" and a.params.get("output_granularity", "token") != "token":
        st.caption("Saliency of a sentence or word is the gradient norm of its summed log-probability, "
                   "not the sum of its tokens' saliencies.")
    if not np.isfinite(a.scores).all() or not np.abs(a.scores).max(initial=0.0) > 0:
        st.info("No signal: every attribution is zero for this input.")
    st.caption(ATTRIBUTION_LEGEND.capitalize())
    st.plotly_chart(attribution_heatmap(a), key=f"heat_{a.method}_{a.granularity}_{key}")
    left, right = st.columns(2)
    with left:
        st.markdown("**Most influential prompt units (" + ("this sentence" if span else "whole answer") + ")**")
        # the score first and the unit in its context: a long sentence unit pushed the score out of view, and a
        # token ("7", ":") means nothing without the words around it
        st.dataframe(pd.DataFrame([{"score": s, "unit": u.text, "in context": unit_context(a.input_text, u)}
                                   for u, s in a.top_inputs(12)]), hide_index=True, column_config={
                         "score": st.column_config.NumberColumn("score", format="%+.3f", width="small"),
                         "unit": st.column_config.TextColumn("unit", width="small")})
    with right:
        st.markdown("**Per answer unit**")
        steps = {k: a.step_scores[k] for k in ("probability", "entropy", "rank") if k in a.step_scores}
        st.dataframe(pd.DataFrame({**steps, "unit": [u.text for u in a.output_units]}), hide_index=True,
                     column_config={"probability": st.column_config.NumberColumn("probability", format="%.3g",
                                                                                 width="small"),
                                    "entropy": st.column_config.NumberColumn("entropy", format="%.2f", width="small"),
                                    "rank": st.column_config.NumberColumn("rank", format="%d", width="small")})
    st.plotly_chart(steps_figure(a), key=f"steps_{a.method}_{a.granularity}_{key}")
