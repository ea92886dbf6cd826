"""Explainer calls for the pages: models from resources, results cached by their inputs.

Results are immutable values, so one cache serves every session of the server (``st.cache_resource`` holds
it); progress callbacks run only when something is really computed, and a cache hit returns at once.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from dataclasses import dataclass
from typing import Any, Callable, Protocol, Sequence

import streamlit as st

from dashboard.resources import embedder, language_model
from explainers.errors import EmptyInputError, InputError, InputTooLongError
from explainers.limits import time_limited
from explainers.retrieval.grounding import ground
from explainers.text.explain import explain
from explainers.text.lm import build_prompt, prepare

TIME_LIMIT_S = float(os.environ.get("AUDITLENS_TIME_LIMIT_S", "600"))  # per request: attribution, SHAP, perturbation
DEFAULT_METHOD = "input_x_gradient"
DEFAULT_GRANULARITY = "sentence"  # prompt side of the first view; its answer side is always sentences
DEFAULT_PRECISION = "fp32"
DETAIL_GRANULARITIES = ("token", "word")


class ResultCache:
    """A small thread-safe LRU of immutable results keyed by their inputs."""

    def __init__(self, maxsize: int = 256):
        self.maxsize, self._data, self._lock = maxsize, OrderedDict(), threading.Lock()
        self.hits = self.misses = 0

    def get_or_compute(self, key: tuple, fn: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
        value = fn()  # outside the lock: the model's own lock serialises inference
        with self._lock:
            self.misses += 1
            self._data[key] = value
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def peek(self, key: tuple) -> Any:
        """The cached value, or None (never computes)."""
        with self._lock:
            return self._data.get(key)

    def values_where(self, predicate: Callable[[tuple], bool]) -> list:
        """Cached values whose key satisfies ``predicate`` (never computes)."""
        with self._lock:
            return [value for key, value in self._data.items() if predicate(key)]

    def __contains__(self, key: tuple) -> bool:
        with self._lock:
            return key in self._data


@st.cache_resource(show_spinner=False)
def results() -> ResultCache:
    return ResultCache()


def generate_answer(question: str, sources: tuple[str, ...], max_new_tokens: int = 64) -> str:
    def run():
        lm = language_model()
        return prepare(lm, build_prompt(lm, question, sources), None, max_new_tokens=max_new_tokens).answer

    return results().get_or_compute(("generate", question, sources, max_new_tokens), run)


def attribution_key(question, sources, answer, method, granularity, precision: str = DEFAULT_PRECISION,
                    detail: tuple | None = None, params: tuple = ()) -> tuple:
    """The cache key of an attribution: answer sentences x ``granularity`` units, or with ``detail``
    (answer sentence index, "token" | "word") that sentence's tokens or words x ``granularity`` units;
    ``params``: the method's cost settings as sorted (name, value) pairs (IG steps, samples)."""
    return ("attribution", question, tuple(sources), answer, method, granularity, precision, detail, tuple(params))


def _inputs(question: str, sources: tuple[str, ...], answer: str):
    lm = language_model()
    return lm, prepare(lm, build_prompt(lm, question, sources), answer)


def _precision_params(precision: str, params: tuple = ()) -> dict:
    return dict(params) | ({} if precision == DEFAULT_PRECISION else {"precision": precision})


def run_attribution(question: str, sources: tuple[str, ...], answer: str, method: str = DEFAULT_METHOD,
                    granularity: str = DEFAULT_GRANULARITY, progress=None, precision: str = DEFAULT_PRECISION,
                    params: tuple = ()):
    """The coarse view first: every answer sentence against prompt units, one target per answer sentence.

    Gradient methods are computed once against prompt tokens (one VJP per answer sentence, per IG step) and
    summed into any prompt granularity (exact, instant); perturbation methods are run per granularity.
    """
    progress = time_limited(progress, TIME_LIMIT_S, method)
    from explainers.registry import get_explainer
    from explainers.text.explain import regroup

    key = attribution_key(question, sources, answer, method, granularity, precision, params=params)
    if get_explainer("text", method).kind == "gradient":
        def tokens():
            lm, inp = _inputs(question, sources, answer)
            return explain(lm, inp, method, "token", output_granularity="sentence", progress=progress,
                           **_precision_params(precision, params))

        base = results().get_or_compute(attribution_key(question, sources, answer, method, "token", precision,
                                                        params=params), tokens)
        if granularity == "token":
            return base
        return results().get_or_compute(key, lambda: regroup(base, _inputs(question, sources, answer)[1], granularity))

    def run():
        lm, inp = _inputs(question, sources, answer)
        return explain(lm, inp, method, granularity, output_granularity="sentence", progress=progress,
                       **dict(params))

    return results().get_or_compute(key, run)


def run_attribution_detail(question: str, sources: tuple[str, ...], answer: str, method: str, granularity: str,
                           sentence: int, detail: str = "token", progress=None, precision: str = DEFAULT_PRECISION,
                           params: tuple = ()):
    """Token or word rows of one answer sentence, computed when the reviewer opens it and kept.

    For the additive gradient methods the word rows are sums of the token rows (exact, instant once the
    tokens are cached); saliency's words are their own gradient norms and get their own VJPs.
    """
    if detail not in DETAIL_GRANULARITIES:
        raise ValueError(f"detail is one of {DETAIL_GRANULARITIES}, not {detail!r}")
    progress = time_limited(progress, TIME_LIMIT_S, method)
    from explainers.registry import get_explainer, method_info
    from explainers.text.explain import answer_units, regroup

    cls = get_explainer("text", method)
    key = attribution_key(question, sources, answer, method, granularity, precision, (sentence, detail), params)

    def span():
        units, _ = answer_units(_inputs(question, sources, answer)[1], "sentence")
        return units[sentence].start, units[sentence].end

    if cls.kind != "gradient":
        def run():
            lm, inp = _inputs(question, sources, answer)
            return explain(lm, inp, method, granularity, output_granularity=detail, answer_span=span(),
                           progress=progress, **dict(params))

        return results().get_or_compute(key, run)
    rows = "token" if method_info("text", method).exact_regrouping else detail

    def compute():
        lm, inp = _inputs(question, sources, answer)
        return explain(lm, inp, method, "token", output_granularity=rows, answer_span=span(), progress=progress,
                       **_precision_params(precision, params))

    base = results().get_or_compute(attribution_key(question, sources, answer, method, "token", precision,
                                                    (sentence, rows), params), compute)
    if (granularity, detail) == ("token", rows):
        return base
    return results().get_or_compute(key, lambda: regroup(base, _inputs(question, sources, answer)[1], granularity,
                                                         output_granularity=detail))


def run_grounding(question: str, sources: tuple[str, ...], answer: str):
    return results().get_or_compute(("grounding", question, tuple(sources), answer),
                                    lambda: ground(answer, list(sources), question, embedder=embedder()))


MAX_VERDICT_TEXT_CHARS = 4_000  # a note or an edited answer; checked on save, since a capped box drops a long paste


def check_verdict(verdict: str | None, reviewer: str, note: str = "", edited: str = "") -> None:
    """Everything that would refuse a verdict, checked before anything is written (the Audit page saves the audit
    with its first verdict: a refused verdict must not leave an audit without one)."""
    from explainers.store import Store

    if verdict is None:
        raise InputError("Choose a verdict (accept, edit or reject) before saving.")
    Store.check_verdict(verdict, reviewer, edited if verdict == "edit" else None)  # the store's own rules
    # the edited answer only counts for 'edit' (the queue fills the box with the answer, which a batch row may
    # hold at up to 20,000 characters: accepting such an answer must not be refused for it)
    for what, text in (("The note", note), ("The edited answer", edited if verdict == "edit" else "")):
        if len(text) > MAX_VERDICT_TEXT_CHARS:
            raise InputTooLongError(_too_long(what, len(text), MAX_VERDICT_TEXT_CHARS, "Shorten it; nothing was saved.",
                                              "holds"))


def save_verdict(store, audit_id: int, report, verdict: str, reviewer: str, note: str = "",
                 edited: str = "") -> int | None:
    """A verdict on a saved audit, the same from the Audit page and the Review queue. An 'edit' whose answer
    differs from the audit's is also saved as a new version of the audit (grounded again; attributions are not
    recomputed); its id is returned, else None. The edited answer is grounded before anything is written, so a
    grounding that fails (time limit, model error) leaves no verdict behind for a retry to double."""
    import dataclasses

    check_verdict(verdict, reviewer, note, edited)
    edited_answer = edited.strip() if verdict == "edit" else None
    new = None
    if verdict == "edit" and edited_answer != report.answer:
        sources = tuple(s.text for s in report.sources)
        grounding = run_grounding(report.question, sources, edited_answer) if sources else None
        new = dataclasses.replace(report, answer=edited_answer, attributions=(), grounding=grounding,
                                  perturbations=(), metadata={**report.metadata, "edited_from_audit": audit_id})
    store.add_verdict(audit_id, verdict, reviewer, note=note, edited_answer=edited_answer)
    if new is None:
        return None
    return store.save_audit(new, reviewer, audit_key=store.audit_meta(audit_id)["audit_key"])


def run_side_by_side(image_name: str, image, cam_method: str, prompt: str, answer: str, text_method: str):
    """Grad-CAM on the image and a word-level text attribution, paired on one scale with faithfulness curves.

    Kept under the image's name and pixels (an upload named like a sample is still its own image); the image
    caption starts with the name, so the figure says which image it explains."""
    import dataclasses
    import hashlib

    pixels = hashlib.sha256(image.tobytes()).hexdigest()[:16] + f":{image.mode}:{image.size}"
    key = ("side_by_side", image_name, pixels, cam_method, prompt, answer, text_method)

    def run():
        pair = _side_by_side(image, cam_method, prompt, answer, text_method)
        return dataclasses.replace(pair, image_caption=f"{image_name}: {pair.image_caption}")

    return results().get_or_compute(key, run)


def _side_by_side(image, cam_method: str, prompt: str, answer: str, text_method: str):
    from dashboard.resources import classifier
    from explainers.text.lm import raw_prompt
    from explainers.vision.cam import explain_image
    from explainers.vision.compare import side_by_side
    from explainers.text.faithfulness import text_deletion_curve
    from explainers.vision.faithfulness import image_deletion_curve

    clf = classifier()
    img_attr = explain_image(clf, image, cam_method)
    lm = language_model()
    inp = prepare(lm, raw_prompt(prompt), answer)
    txt_attr = explain(lm, inp, text_method, "word")
    return side_by_side(img_attr, txt_attr, image_deletion_curve(clf, image, img_attr.heatmap, img_attr.class_id),
                        text_deletion_curve(lm, inp, txt_attr))


def run_leave_one_out(question: str, sources: tuple[str, ...], answer: str, unit: str = "sentence", progress=None):
    progress = time_limited(progress, TIME_LIMIT_S, "leave-one-out")
    from explainers.text.context import leave_one_out

    return results().get_or_compute(("loo", question, sources, answer, unit), lambda: leave_one_out(
        language_model(), question, sources, answer, unit=unit, progress=progress))


def run_ablate(question: str, sources: tuple[str, ...], answer: str, n_ablations: int = 32, progress=None):
    progress = time_limited(progress, TIME_LIMIT_S, "random ablations")
    from explainers.text.context import ablate

    return results().get_or_compute(("ablate", question, sources, answer, n_ablations), lambda: ablate(
        language_model(), question, sources, answer, n_ablations=n_ablations, progress=progress))


def answer_log_probs_cached(question: str, sources: tuple[str, ...], answer: str):
    """log p(answer token | the prompt with the sources) from an fp32 attribution already computed for this audit
    (its teacher-forced pass scores every answer token: ``answer_token_log_probs``), or None."""
    import numpy as np

    found = results().values_where(lambda key: key[0] == "attribution" and key[1:4] == (question, tuple(sources), answer)
                                   and key[6] == DEFAULT_PRECISION and key[7] is None)
    for result in found:
        lp = getattr(result, "answer_token_log_probs", None)
        if lp is not None and len(lp) and np.all(np.isfinite(lp)):
            return lp
    return None


def run_reliance(question: str, sources: tuple[str, ...], answer: str, progress=None):
    """Context reliance; the pass with the sources is reused from an attribution of this audit when there is one."""
    progress = time_limited(progress, TIME_LIMIT_S, "context reliance")
    from explainers.text.context import context_reliance

    def run():
        known = answer_log_probs_cached(question, sources, answer)
        if known is not None:
            try:
                return context_reliance(language_model(), question, sources, answer, progress=progress,
                                        log_probs_with_sources=known)
            except InputError:  # another tokenisation (a model switched meanwhile): score all three
                pass
        return context_reliance(language_model(), question, sources, answer, progress=progress)

    return results().get_or_compute(("reliance", question, sources, answer), run)


def run_what_if(question: str, sources: tuple[str, ...], answer: str, edits: tuple, progress=None):
    progress = time_limited(progress, TIME_LIMIT_S, "what-if")
    from explainers.text.context import what_if

    key = ("what_if", question, sources, answer, repr(edits))
    return results().get_or_compute(key, lambda: what_if(language_model(), question, sources, answer,
                                                         [dict(e) for e in edits], progress=progress))


def cached_perturbations(question: str, sources: tuple[str, ...], answer: str, what_if_result=None) -> list:
    """Perturbation results already computed for this audit (they go into its report)."""
    out = results().values_where(lambda key: key[0] in ("reliance", "loo", "ablate")
                                 and key[1:4] == (question, sources, answer))
    if what_if_result is not None and what_if_result.question == question and what_if_result.answer == answer:
        out.append(what_if_result)
    return out


# ------------------------------------------------------------------ the Audit page's inputs
# Parsing, chunking and index saving with every input an argument (the page passes its widgets' values), so they
# run and are tested without a page; they return what the page shows instead of drawing it.

MAX_SOURCES_CHARS = 20_000  # pasted sources; the widget has no max_chars, which empties an over-long paste silently
MAX_QUESTION_CHARS = 2_000  # checked on submit for the same reason: a capped widget drops an over-long paste unsaid
MAX_ANSWER_CHARS = 4_000
MAX_AUDIT_SOURCE_CHARS = 200_000  # everything one audit grounds and attributes (pasted + uploaded + retrieved)


class Upload(Protocol):
    """What ``st.file_uploader`` returns, and all these functions read of it."""

    name: str

    def getvalue(self) -> bytes: ...


@dataclass(frozen=True)
class GatheredSources:
    """The sources one audit reads, with what the page should say about them, in the order it happened.

    ``notes``: ("success" | "warning", text) or ("skipped", the ``IngestError`` of a document that was left out);
    ``refusal``: why the audit does not start (a limit, stated with the counts), else None."""

    texts: tuple[str, ...] = ()
    names: tuple[str, ...] = ()
    retrieved: tuple[dict, ...] = ()
    notes: tuple[tuple[str, Any], ...] = ()
    refusal: str | None = None


def _too_long(what: str, n_chars: int, limit: int, advice: str, verb: str = "hold") -> str:
    return f"{what} {verb} {n_chars:,} characters; the limit is {limit:,}. {advice}"


def pasted_sources(sources_text: str, case=None) -> tuple[list[str], list[str]]:
    """Pasted sources split at blank lines, each with its name (the demo's document names while the demo's
    sources are unchanged, else "pasted k")."""
    texts = [p.strip() for p in sources_text.split("\n\n") if p.strip()]
    names = [case.source_names[k] if case and k < len(case.source_names) and texts == list(case.sources) else
             f"pasted {k + 1}" for k in range(len(texts))]
    return texts, names


def save_uploads_as_index(name: str, uploads: Sequence[Upload], load_embedder: Callable[[], Any] = embedder,
                          max_chars: int = 800) -> tuple[int, int]:
    """Chunk the uploaded documents into the named index (created, or added to): (new chunks, chunks in all).

    Unreadable uploads are left out here (reading the sources reports them)."""
    from explainers.retrieval.index import ChunkIndex, named_index_dir
    from explainers.retrieval.ingest import IngestError, chunk_document, parse_document

    target = named_index_dir(name)  # validated: a plain name inside the data directory
    index = ChunkIndex.load(target, load_embedder()) if (target / "manifest.json").is_file() else \
        ChunkIndex(load_embedder())
    chunks = []
    for up in uploads:
        try:
            for doc in parse_document(up.getvalue(), up.name):
                chunks += chunk_document(doc, max_chars)
        except IngestError:
            pass
    added = index.add(chunks)
    index.save(target)
    return added, len(index)


def retrieve_sources(index_name: str, question: str, top_k: int, load_embedder: Callable[[], Any] = embedder):
    """The ``top_k`` chunks of a saved index closest to the question: (texts, names, retrieved rows)."""
    from explainers.retrieval.index import ChunkIndex, named_index_dir

    hits = ChunkIndex.load(named_index_dir(index_name), load_embedder()).search(question.strip(), int(top_k))
    texts = [c.text for c, _ in hits]
    names = [f"{c.doc_name} p.{c.page} (score {score:.2f})" for c, score in hits]
    retrieved = [{"rank": k, "document": c.doc_name, "page": c.page, "score": float(score), "index": index_name}
                 for k, (c, score) in enumerate(hits, 1)]
    return texts, names, retrieved


def gather_sources(question: str, sources_text: str, uploads: Sequence[Upload] = (), *, case=None,
                   save_as: str = "", index_name: str | None = None, top_k: int = 4,
                   load_embedder: Callable[[], Any] = embedder) -> GatheredSources:
    """Everything one audit reads: the pasted sources, the uploads (also saved as an index named ``save_as``)
    and the chunks retrieved from ``index_name``, within the limits; nothing is cut silently."""
    from explainers.retrieval.ingest import IngestError, normalise_source_text, parse_document

    if len(sources_text) > MAX_SOURCES_CHARS:  # refused with the count: never cut or emptied silently
        return GatheredSources(refusal=_too_long("The pasted sources", len(sources_text), MAX_SOURCES_CHARS,
                                                 "Paste the relevant part, or upload the documents as files."))
    texts, names = pasted_sources(sources_text, case)
    notes: list[tuple[str, Any]] = []
    total = sum(map(len, texts))
    if save_as.strip() and uploads:  # an index takes large documents chunk by chunk: saved before the limit below
        added, in_all = save_uploads_as_index(save_as.strip(), uploads, load_embedder)
        notes.append(("success", f"Saved {added} new chunks to the index {save_as.strip()} ({in_all} in all)."))
    for up in uploads or []:
        try:
            skipped: list[str] = []
            docs = parse_document(up.getvalue(), up.name, skipped)
            if skipped:
                notes.append(("warning", f"{up.name}: {len(skipped)} line(s) skipped, e.g. {skipped[0]}"))
            more = [normalise_source_text(doc.text) for doc in docs]
            titles = [doc.title or up.name for doc in docs]
            del docs  # the parsed documents are not kept: only the text the audit uses
            total += sum(map(len, more))
            if total > MAX_AUDIT_SOURCE_CHARS:
                return GatheredSources(notes=tuple(notes), refusal=_too_long(
                    "The sources", total, MAX_AUDIT_SOURCE_CHARS, f"{up.name} and any later upload were not read. "
                    "Save large documents as an index and retrieve the relevant chunks instead."))
            texts += more
            names += titles
        except IngestError as exc:
            notes.append(("skipped", exc))
    retrieved: list[dict] = []
    if index_name and question.strip():
        more, more_names, retrieved = retrieve_sources(index_name, question, top_k, load_embedder)
        texts += more
        names += more_names
    if sum(map(len, texts)) > MAX_SOURCES_CHARS:
        notes.append(("warning", f"The sources hold {sum(map(len, texts)):,} characters; the model sees at most its "
                                 "context length, so long documents may be refused. Paste the relevant part."))
    return GatheredSources(tuple(texts), tuple(names), tuple(retrieved), tuple(notes))


def new_audit(question: str, sources: GatheredSources, answer_text: str,
              generate: Callable[[str, tuple[str, ...]], str] = generate_answer) -> dict:
    """The audit the page keeps in its session: the answer as given, or generated from the sources when empty."""
    if not question.strip():
        raise EmptyInputError("Enter a question.")
    if len(question) > MAX_QUESTION_CHARS:  # refused with the count: never cut, and never swapped for the old text
        raise InputTooLongError(_too_long("The question", len(question), MAX_QUESTION_CHARS, "Shorten it.", "holds"))
    if len(answer_text) > MAX_ANSWER_CHARS:
        raise InputTooLongError(_too_long("The answer", len(answer_text), MAX_ANSWER_CHARS,
                                          "Audit it in parts of a few sentences each.", "holds"))
    generated = not answer_text.strip()
    answer = generate(question.strip(), sources.texts) if generated else answer_text.strip()
    return {"question": question.strip(), "sources": sources.texts, "names": sources.names, "answer": answer,
            "generated": generated, "retrieved": list(sources.retrieved)}
