"""Audit page: question, sources and answer in; grounding, attributions, perturbations and a verdict out."""

from __future__ import annotations

import hashlib

import streamlit as st

from dashboard.auth import may_write, require_identity, reviewer_field
from dashboard.components.audit_views import attribution_view, grounding_details, grounding_summary
from dashboard.components.exports import export_buttons
from dashboard.components.safe import md_escape, show_error
from dashboard.compute import (DEFAULT_GRANULARITY, DEFAULT_METHOD, DEFAULT_PRECISION, DETAIL_GRANULARITIES,
                               MAX_ANSWER_CHARS, MAX_SOURCES_CHARS, TIME_LIMIT_S, attribution_key, gather_sources,
                               generate_answer, new_audit, results, run_attribution, run_attribution_detail,
                               check_verdict, run_grounding, save_verdict)
from explainers import list_methods
from explainers.demo import load_demos
from explainers.report.bundle import ReportBundle
from explainers.errors import InputError
from explainers.retrieval.index import list_named_indexes
from explainers.retrieval.ingest import SUFFIXES
from explainers.store import VERDICTS
from explainers.types import AuditReport, Source

PAGE = {"title": "Audit", "icon": ":material/fact_check:", "order": 10, "default": True,
        "about": ("Opens on a bundled demo. Question, sources (pasted or uploaded) and answer (pasted or generated); "
                  "grounding of each answer sentence with its cited source span; token attributions with method and "
                  "granularity selectors, per-token probability and entropy; perturbations (context reliance, "
                  "leave-one-out, random ablations, what-if edits); your verdict and exports.")}

GRANULARITIES = ["sentence", "span", "word", "token"]  # prompt units; the rows are answer sentences
PRECISIONS = ["fp32", "bf16"]


@st.cache_data(show_spinner=False)
def demos():
    return load_demos()


def current_report(audit: dict, attributions=(), grounding=None, perturbations=()) -> AuditReport:
    return AuditReport(question=audit["question"], answer=audit["answer"],
                       sources=tuple(Source(f"source {k}", text, title=name)
                                     for k, (text, name) in enumerate(zip(audit["sources"], audit["names"]), 1)),
                       model_id=audit.get("model_id", ""), attributions=tuple(attributions), grounding=grounding,
                       answer_generated=audit["generated"], perturbations=tuple(perturbations))


def chosen_precision(method: str) -> str:
    """The precision setting where it applies (gradient methods); perturbation methods always score in fp32."""
    from explainers.registry import get_explainer

    if get_explainer("text", method).kind != "gradient":
        return DEFAULT_PRECISION
    return st.session_state.get("attr_precision", DEFAULT_PRECISION)


# How the cost parameters are labelled as controls (the time-limit message names them: "fewer steps/samples").
COST_LABELS = {"n_steps": "IG steps", "n_samples": "Samples", "max_evals": "Evaluations"}


def _cost_controls() -> dict[str, tuple]:
    """method -> (parameter, label, default, low, high) for every method whose cost grows with a parameter.

    Read from the registry (``MethodInfo.cost_param``), so every slow method gets its control and its button.
    """
    from explainers.registry import method_info

    controls = {}
    for method in list_methods("text"):
        info = method_info("text", method)
        if info.cost_param is not None:
            low, high = info.cost_range
            label = COST_LABELS.get(info.cost_param, info.cost_param.replace("_", " ").capitalize())
            controls[method] = (info.cost_param, label, info.defaults[info.cost_param], low, high)
    return controls


# The cost setting each slow method has, as a control.
COST_PARAMS = _cost_controls()


def cost_params(method: str) -> tuple:
    """The chosen cost setting of ``method`` as sorted (name, value) pairs (empty for the fast methods)."""
    if method not in COST_PARAMS:
        return ()
    name, _, default, _, _ = COST_PARAMS[method]
    return ((name, int(st.session_state.get(f"attr_cost_{method}", default))),)


def attribution_job(audit: dict, method: str, granularity: str):
    """(cache key, label, job) of the attribution the Attribution tab shows for these settings."""
    precision, params = chosen_precision(method), cost_params(method)
    args = (audit["question"], audit["sources"], audit["answer"])

    def job(progress):
        return run_attribution(*args, method, granularity, progress=progress, precision=precision, params=params)

    return attribution_key(*args, method, granularity, precision, params=params), f"{method} ({granularity})", job


def start_attribution_early(audit: dict) -> None:
    """Queue the attribution the Attribution tab will show (a fast method's: a slow one waits for its button) as
    soon as the answer is grounded, before the perturbation panel queues context reliance: the background worker
    computes it while the page draws the rest, and its teacher-forced pass gives context reliance the answer's
    log-probabilities with the sources. (Queued before the grounding instead, the two ran at once on two cores and
    the page was no faster: measured.)"""
    from dashboard.jobs import jobs

    method = st.session_state.get("attr_method", DEFAULT_METHOD)
    granularity = st.session_state.get("attr_granularity", DEFAULT_GRANULARITY)
    if method not in list_methods("text") or method in COST_PARAMS or granularity not in GRANULARITIES:
        return
    key, label, job = attribution_job(audit, method, granularity)
    base_key = attribution_key(audit["question"], audit["sources"], audit["answer"], method, "token",
                               chosen_precision(method), params=cost_params(method))
    if key not in results() and base_key not in results():
        jobs().submit(key, label, job)


def audit_hash(audit: dict) -> str:
    raw = "\0".join([audit["question"], audit["answer"], *audit["sources"]])
    return hashlib.sha256(raw.encode("utf-8")).hexdigest()[:16]


identity = require_identity()
st.title("Audit an answer")
# The results go first (the answer with its flags is in the first viewport); the form sits in an expander below,
# open until there is an audit to show.
results_box = st.container()
cases = demos()
has_audit = "audit" in st.session_state or bool(cases)
form_box = st.expander("Audit another answer: question, sources and answer" if has_audit else
                       "Question, sources and answer", expanded=not has_audit, icon=":material/edit_note:")
with form_box:
    labels = {c.case_id: f"Demo: {c.question}" for c in cases}
    choice = st.selectbox("Start from", [*labels, "custom"], format_func=lambda k: labels.get(k, "My own question"),
                          key="audit_case")
    case = next((c for c in cases if c.case_id == choice), None)
    source_mode = st.radio("Sources", ["pasted or uploaded", "retrieved from a saved index"], horizontal=True,
                           key="source_mode")
indexes = list_named_indexes()
with form_box, st.form("audit_form"):
    question = st.text_input("Question", value=case.question if case else "", key=f"q_{choice}")
    sources_text, uploads, save_as, index_name, top_k = "", [], "", None, 4
    if source_mode == "pasted or uploaded":
        sources_text = st.text_area(f"Sources, pasted (separate sources with a blank line; up to "
                                    f"{MAX_SOURCES_CHARS:,} characters)",
                                    value="\n\n".join(case.sources) if case else "", height=180, key=f"s_{choice}")
        uploads = st.file_uploader(f"…and/or upload documents ({', '.join(SUFFIXES)}; 20 MB each)",
                                   type=[s.lstrip(".") for s in SUFFIXES], accept_multiple_files=True,
                                   key=f"u_{choice}")
        save_as = st.text_input("Also save the uploaded documents as an index named (optional)", max_chars=64,
                                key="save_index_as")
    elif indexes:
        c1, c2 = st.columns([3, 1])
        index_name = c1.selectbox("Index", indexes, key="index_name")
        top_k = c2.number_input("Chunks", min_value=1, max_value=8, value=4, key="index_k")
    else:
        st.info("No saved index yet: upload documents above with a name to save them as one, or run "
                "`auditlens index DOCS... --index <data dir>/indexes/NAME`.")
    answer_text = st.text_area(f"Answer to audit (leave empty to generate one with the local model; up to "
                               f"{MAX_ANSWER_CHARS:,} characters)", value=case.answer if case else "",
                               key=f"a_{choice}")
    submitted = st.form_submit_button("Run audit", type="primary", key="audit_run")


def _generate_with_progress(question: str, sources: tuple[str, ...]) -> str:
    bar = st.progress(0.0, text="Generating an answer with the local model…")
    try:
        return generate_answer(question, sources)
    finally:
        bar.empty()


def start_audit(question: str, sources_text: str, uploads, answer_text: str) -> dict | None:
    """The form's values to an audit (dashboard.compute does the work); says what happened, None if refused."""
    gathered = gather_sources(question, sources_text, uploads, case=case, save_as=save_as, index_name=index_name,
                              top_k=int(top_k))
    for kind, note in gathered.notes:
        if kind == "skipped":
            show_error(note, "A document was skipped")
        elif kind == "success":
            st.success(md_escape(note))
        else:
            st.warning(md_escape(note), icon=":material/warning:")
    if gathered.refusal:
        _refuse(gathered.refusal)
        return None
    try:
        return new_audit(question, gathered, answer_text, _generate_with_progress)
    except InputError as exc:  # no question, or a question or answer over its limit (with the counts)
        _refuse(str(exc))
        return None


def _refuse(text: str) -> None:
    """Say why the audit did not start, and keep saying it: the page reruns when background work ends, and a
    message drawn once vanished then (about 2 s after a refusal made while attributions were computing)."""
    st.session_state["audit_refusal"] = text
    st.error(md_escape(text), icon=":material/error:")


def sources_list(audit: dict) -> None:
    """Every source the audit used; chunks retrieved from an index with their rank, score, document and page."""
    retrieved = audit.get("retrieved") or []
    first_retrieved = len(audit["sources"]) - len(retrieved)
    if retrieved:
        st.markdown(f"**Retrieved from the index {md_escape(retrieved[0]['index'])}** ({len(retrieved)} chunks, "
                    "best first)")
    elif audit["sources"]:
        st.markdown(f"**Sources** ({len(audit['sources'])})")
    for k, (text, name) in enumerate(zip(audit["sources"], audit["names"])):
        if k >= first_retrieved and retrieved:
            r = retrieved[k - first_retrieved]
            label = f"#{r['rank']} · {r['document']} · page {r['page']} · score {r['score']:.2f}"
        else:
            label = f"{k + 1}. {name}"
        with st.expander(md_escape(label)):
            st.text(text)


from dashboard import warmup  # noqa: E402 - after the form, so the page is usable while models load

if submitted:
    st.session_state.pop("audit_refusal", None)  # a new try: the last refusal no longer stands
elif "audit_refusal" in st.session_state:
    st.error(md_escape(st.session_state["audit_refusal"]), icon=":material/error:")
if submitted or ("audit" not in st.session_state and case is not None):
    try:
        audit = start_audit(question, sources_text, uploads, answer_text)
        if audit is not None:
            st.session_state["audit"] = audit
            st.session_state.pop("saved_audit_id", None)
            if submitted:  # said where the reviewer is (at the form, below the results), once the grounding is in
                st.session_state["audit_ready_toast"] = True
    except Exception as exc:  # noqa: BLE001 - shown to the user, traced in the log
        show_error(exc, "The audit could not start")

audit = st.session_state.get("audit")
warmup.show_progress()  # "loading models" while `auditlens serve` is still warming them up
if audit is None:
    results_box.info("Fill in a question, sources and an answer, then press **Run audit**.")
    st.stop()

grounding = None
with results_box:
    st.caption("Question: " + md_escape(audit["question"]))
    st.subheader("Answer" + (" (generated by the local model)" if audit["generated"] else ""))
    if not audit["sources"]:
        st.text(audit["answer"])
        st.info("No sources were given, so there is nothing to ground the answer in.")
    else:
        try:
            with st.spinner("Grounding each sentence in the sources…"):
                grounding = run_grounding(audit["question"], audit["sources"], audit["answer"])
            grounding_summary(grounding)
            if st.session_state.pop("audit_ready_toast", False):
                n_bad, n = sum(sg.label != "supported" for sg in grounding.sentences), len(grounding.sentences)
                st.toast(f"Audit ready: {n_bad} of {n} sentence{'' if n == 1 else 's'} flagged. The answer and its "
                         "flags are at the top of the page.", icon=":material/arrow_upward:", duration="long")
        except Exception as exc:  # noqa: BLE001
            st.text(audit["answer"])
            show_error(exc, "Grounding failed")
    start_attribution_early(audit)
    tab_ground, tab_attr, tab_perturb, tab_verdict = st.tabs(
        ["Grounding details", "Why: attributions", "Perturbations", "Verdict & export"])

with tab_ground:
    if grounding is not None:
        grounding_details(grounding, "audit")
        with st.expander("The answer as plain text"):
            st.text(audit["answer"])
    sources_list(audit)

with tab_perturb:
    from dashboard.components.perturb_views import perturbation_panel

    perturbation_panel(audit)

with tab_verdict:
    from dashboard.compute import cached_perturbations

    # Tabs fill in script order; the slow attribution tab is filled last, so this tab reads what is cached.
    chosen = attribution_key(audit["question"], audit["sources"], audit["answer"],
                             st.session_state.get("attr_method", DEFAULT_METHOD),
                             st.session_state.get("attr_granularity", DEFAULT_GRANULARITY),
                             chosen_precision(st.session_state.get("attr_method", DEFAULT_METHOD)),
                             params=cost_params(st.session_state.get("attr_method", DEFAULT_METHOD)))
    attribution = results().peek(chosen)
    if attribution is not None:
        audit["model_id"] = attribution.model_id
    perturbations = cached_perturbations(audit["question"], audit["sources"], audit["answer"],
                                         st.session_state.get("what_if_result"))
    report = current_report(audit, [attribution] if attribution is not None else [], grounding, perturbations)
    # A verdict is saved with what was on the page at that moment: say what that is, so nothing is assumed in it.
    # named as the perturbation panel names them (leave-one-out and random ablations are both ContextAttribution)
    shown = {"ContextReliance": "context reliance", "EditResult": "what-if edits", "leave_one_out": "leave-one-out",
             "ablate": "random ablations"}
    holds = ["grounding"] + ([f"{attribution.method} attribution"] if attribution is not None else []) + \
        sorted({shown.get(getattr(p, "mode", None) or type(p).__name__, type(p).__name__) for p in perturbations})
    st.caption("The first verdict saved keeps this audit with what is ready now: " + ", ".join(holds) +
               ". Results still computing are not part of it.")
    saved_id = st.session_state.get("saved_audit_id")
    if saved_id and st.session_state.get("saved_audit_hash") != audit_hash(audit):
        saved_id = None
    save = False
    if may_write(identity):
        with st.form("verdict_form", clear_on_submit=False):
            reviewer = reviewer_field(identity, "verdict_reviewer")
            verdict = st.radio("Verdict", VERDICTS, horizontal=True, key="verdict_choice", index=None,
                               help="Nothing is preselected: read the flags, then choose.")
            edited = st.text_area("Edited answer (for 'edit': saved as a new version of this audit)", value="",
                                  key="verdict_edited")
            note = st.text_area("Note", value="", key="verdict_note")
            save = st.form_submit_button("Save verdict", type="primary", key="verdict_save")
    if save and identity.can_write and verdict is None:
        st.error("Choose a verdict (accept, edit or reject) before saving.", icon=":material/error:")
        save = False
    if save and identity.can_write:
        from dashboard.resources import review_store

        try:
            check_verdict(verdict, reviewer, note, edited)  # before the audit is saved with it
            store = review_store()
            if not saved_id:
                saved_id = store.save_audit(report, reviewer)
                st.session_state["saved_audit_id"], st.session_state["saved_audit_hash"] = saved_id, audit_hash(audit)
            new_id = save_verdict(store, saved_id, report, verdict, reviewer, note, edited)
            st.success(f"Verdict saved on audit {saved_id}" + (f"; the edited answer is audit {new_id} (a new version)"
                       if new_id is not None else "") + ". It is in the Review queue.", icon=":material/check:")
        except Exception as exc:  # noqa: BLE001
            show_error(exc, "The verdict was not saved")
    st.divider()
    st.markdown("**Export this audit**")
    bundle = ReportBundle(report, saved_id)
    if saved_id:
        from dashboard.resources import review_store
        from explainers.report.bundle import bundles_from_store

        bundle = bundles_from_store(review_store(), [saved_id])[0]
        bundle = ReportBundle(report, saved_id, bundle.version, bundle.created_by, bundle.created_at, bundle.verdicts)
    export_buttons([bundle], "audit_export", f"auditlens-audit-{saved_id or 'unsaved'}")

# Long attributions run in the background (dashboard/jobs.py): this script run ends at once, so every other
# control on the page answers while a fragment shows the job's progress.
attribution = None

with tab_attr:
    from dashboard.jobs import in_background
    from explainers.registry import guide, method_info

    methods = list_methods("text")
    c1, c2, c3, c4 = st.columns([2, 2, 1, 1])
    method = c1.selectbox("Method", methods, index=methods.index(DEFAULT_METHOD), key="attr_method",
                          help="\n".join(f"- **{m}**: {guide('text', m)}" for m in methods))
    granularity = c2.selectbox("Prompt units", GRANULARITIES, index=GRANULARITIES.index(DEFAULT_GRANULARITY),
                               key="attr_granularity", help="Rows are the answer's sentences (one target each); "
                               "span = one unit per source and the question. Token or word rows of one sentence "
                               "are computed below when you pick it.")
    st.caption(f"{method}: {guide('text', method)}")
    gradient = method_info("text", method).kind == "gradient"
    precision = c3.selectbox("Precision", PRECISIONS, key="attr_precision", disabled=not gradient,
                             help="bf16 (gradient methods): faster on CPUs with bf16 units; the measured "
                                  "difference to fp32 is shown beside the figure. fp32 is exact.")
    if method in COST_PARAMS:
        _, cost_label, default, low, high = COST_PARAMS[method]
        c4.number_input(cost_label, min_value=low, max_value=high, value=default, step=1, key=f"attr_cost_{method}",
                        help="Fewer is faster and rougher; the time a run may take is limited "
                             f"({TIME_LIMIT_S:g} s).")
    params = cost_params(method)
    precision = chosen_precision(method)
    audit_args = (audit["question"], audit["sources"], audit["answer"])
    key, label, job = attribution_job(audit, method, granularity)
    slow = method in COST_PARAMS
    base_key = attribution_key(*audit_args, method, "token", precision, params=params)
    cached = results().peek(key)
    if cached is None and gradient and base_key in results():
        cached = run_attribution(*audit_args, method, granularity, precision=precision, params=params)  # a sum
    from dashboard.jobs import jobs as _jobs
    from dashboard.jobs import stopped_here

    if cached is not None:
        attribution = cached
    elif not slow or _jobs().get(key) is not None or stopped_here(key) or st.button(
            f"Compute {method} (answer sentences x {granularity})", key="attr_go"):
        attribution = in_background(key, label, job, show_error)
    else:
        st.info(f"{method} runs many forward passes; press the button to compute it (results are kept).")
    if attribution is not None:
        audit["model_id"] = attribution.model_id
        attribution_view(attribution, "sentences")
        sentences = [u.text for u in attribution.output_units]
        d1, d2 = st.columns([4, 1])
        picked = d1.selectbox("Token or word detail of one answer sentence", [None, *range(len(sentences))],
                              format_func=lambda k: "(none: pick a sentence)" if k is None else
                              f"{k + 1}. {sentences[k][:90]}", key=f"attr_detail_sentence_{audit_hash(audit)}")
        unit = d2.radio("Rows", DETAIL_GRANULARITIES, horizontal=True, key="attr_detail_unit")
        if picked is not None and picked < len(sentences):
            detail_key = attribution_key(*audit_args, method, granularity, precision, (picked, unit), params)
            detail = results().peek(detail_key) or in_background(
                detail_key, f"{method}: {unit}s of sentence {picked + 1}",
                lambda progress: run_attribution_detail(*audit_args, method, granularity, picked, unit,
                                                        progress=progress, precision=precision, params=params),
                show_error)
            if detail is not None:
                attribution_view(detail, "detail")
