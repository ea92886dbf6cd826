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
- **Audit** — opens on a bundled demo. Question, sources (pasted or uploaded) and answer (pasted or generated);
  grounding of each answer sentence with its cited source span; token attributions with method and granularity
  selectors, per-token probability and entropy; perturbations (context reliance, leave-one-out, random
  ablations, what-if edits); your verdict and exports.
- **CNN vs LLM** — Grad-CAM on an image classifier beside token attributions, one colour scale, deletion curves.
- **Review queue** — every saved audit with its scores; filter and sort; open one, give a verdict
  (accept / edit / reject) with a note, see its history and versions.
- **Dataset** — the batch runs (`auditlens audit-batch`): counts, support histogram, breakdowns by model and
  source, AUROC and a reliability diagram when the data had labels, triage and assignment, the riskiest answers
  (open one in the Review queue), reviewer agreement, and a refit of the detector on the reviewers' verdicts.
- **Reports** — export one audit or a filtered set as JSON, self-contained HTML and PDF.
"""
)
st.subheader("Attribution methods available")
st.write(", ".join(list_methods("text")))
