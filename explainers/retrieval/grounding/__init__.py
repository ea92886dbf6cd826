"""Grounding: is each answer sentence supported by the sources?

No NLI model ships offline, so the verdict fuses signals we do have, each kept as a reason:
- ``content_support``: share of the sentence's content words found in the sources or the question;
- ``source_recall``: share of the words the answer adds beyond the question that the sources hold;
- ``pair_support``: share of adjacent content-word pairs that stand together in one source sentence;
- ``phrase_support``: the same pairs within five content words of each other there (phrasing kept);
- ``bigram_support``: the same pairs adjacent and in order in a source sentence (copied wording);
- ``novel_numbers`` / ``novel_names``: numbers or capitalised names that no source (nor the question) has;
- ``embedding_similarity``: best cosine between the sentence and a source sentence (MiniLM);
- ``context_reliance`` (with an LM): mean per-token log p(sentence | sources) - log p(sentence | no sources);
- ``nli_entailment`` / ``nli_contradiction`` (with a user-supplied NLI model).
A logistic fusion, fitted with cross-validation on labelled data and stored as JSON in the package,
turns them into a support probability; users refit it on their own data (``fit_fusion``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Callable, Sequence

import numpy as np

from ...errors import EmptyInputError
from ...types import Grounding, SentenceGrounding
from ..ingest import Chunk, chunks_from_texts
from .alignment import shortened
from .claim_signals import apply_verifier, claim_signals
from .claims import answer_sentences
from .fusion import (DETECTOR_FEATURES, LEXICAL_FEATURES, LM_FEATURES, MEANING_FEATURES, NEGATIVE_SIGNALS, Fusion,
                     load_fusion)
from .lexical import _STOP, _norm, encode_cached, lexical_signals, prepare_sources, sentence_signals, tokens
from .lm_signals import attribution_mass, context_reliance, sample_answers, sampling_consistency
from .nli import NLIScorer

__all__ = ["DETECTOR_FEATURES", "LEXICAL_FEATURES", "LM_FEATURES", "NEGATIVE_SIGNALS", "Fusion", "NLIScorer", "answer_sentences",
           "attribution_mass", "check_many", "context_reliance", "encode_cached", "ground", "ground_many",
           "lexical_signals", "load_fusion", "prepare_sources", "sample_answers", "sampling_consistency",
           "sentence_signals", "tokens", "verify_many"]


_DEFAULT = "default"


def _resolve_verifier(verifier):
    if isinstance(verifier, str) and verifier == _DEFAULT:
        from ...models import load_verifier

        return load_verifier()
    return verifier


def _needs_embedder(fusion: Fusion) -> bool:
    return any(f in fusion.features for f in ("embedding_similarity", *MEANING_FEATURES))


def _default_fusion(verifier, lm) -> Fusion:
    return load_fusion("verifier" if verifier is not None else ("lm" if lm is not None else "lexical"))


def ground(answer: str, sources: Sequence[str | Chunk], question: str = "", *, embedder=None, lm=None,
           nli=None, verifier=_DEFAULT, fusion: Fusion | None = None, extra_lm_signals: bool = False,
           samples: int = 3, progress: Callable[[float, str], None] | None = None,
           deadline: float | None = None) -> Grounding:
    """Verdict per answer claim with its cited source sentence, reasons, and an answer-level probability.

    ``verifier`` is our trained claim verifier by default (``None`` for the lexical detector alone, or any
    object with ``predict(pairs) -> (n, 3)`` probabilities); ``nli`` adds a user's NLI model as two more
    shown signals. ``deadline`` is a ``time.monotonic()`` value after which a ``TimeLimitError`` is raised.
    """
    pending = _claims_checked(answer, sources, question, embedder=embedder, lm=lm, verifier=verifier, fusion=fusion,
                              progress=progress, deadline=deadline)
    if pending.verifier is not None:
        apply_verifier(pending.evidence, question, pending.verifier,
                       (lambda f, m: progress(0.3 + 0.6 * f, m)) if progress else None)
    return _verdicts(pending, nli=nli, extra_lm_signals=extra_lm_signals, samples=samples, deadline=deadline)


def ground_many(items: Sequence[tuple[str, Sequence[str | Chunk], str]], *, embedder=None, lm=None,
                verifier=_DEFAULT, fusion: Fusion | None = None) -> list[Grounding | Exception]:
    """``ground`` for many (answer, sources, question) at once, equal to grounding each alone, with one batched
    verifier call over every answer's claim windows (a few pairs per answer batch poorly alone). An item that
    cannot be grounded gives its ``ExplainerError`` in its place; the others go on.

    It is ``verify_many(check_many(...))``: a batch audit runs the first half of the next batch (embeddings,
    windows, lexical signals) on another thread while the verifier reads this one."""
    return verify_many(check_many(items, embedder=embedder, lm=lm, verifier=verifier, fusion=fusion))


def check_many(items: Sequence[tuple[str, Sequence[str | Chunk], str]], *, embedder=None, lm=None,
               verifier=_DEFAULT, fusion: Fusion | None = None) -> list:
    """The first half of ``ground_many``: each answer's claims, evidence windows and every signal but the
    verifier's (an ``ExplainerError`` in place of an answer that cannot be grounded)."""
    from ...errors import ExplainerError

    verifier = _resolve_verifier(verifier)
    fusion = fusion if fusion is not None else _default_fusion(verifier, lm)  # read once, not once per answer
    pending: list = []
    for answer, sources, question in items:
        try:
            pending.append(_claims_checked(answer, sources, question, embedder=embedder, lm=lm, verifier=verifier,
                                           fusion=fusion))
        except ExplainerError as exc:
            pending.append(exc)
    return pending


def verify_many(pending: Sequence) -> list[Grounding | Exception]:
    """The second half of ``ground_many``: one batched verifier call over the answers ``check_many`` gave, then
    each answer's verdicts."""
    from ...errors import ExplainerError

    ready = [p for p in pending if not isinstance(p, Exception)]
    verifier = ready[0].verifier if ready else None
    if verifier is not None:
        evidence = [ev for p in ready for ev in p.evidence]
        questions = [p.question for p in ready for _ in p.evidence]
        apply_verifier(evidence, questions, verifier)
    out: list[Grounding | Exception] = []
    for p in pending:
        if isinstance(p, Exception):
            out.append(p)
            continue
        try:
            out.append(_verdicts(p))
        except ExplainerError as exc:
            out.append(exc)
    return out


@dataclass
class _Pending:
    """One answer's claims with their signals, before the verifier and the fusion."""

    answer: str
    question: str
    chunks: list
    src: object
    spans: list
    evidence: list
    embedder: object
    lm: object
    verifier: object
    fusion: Fusion
    started: float


def _claims_checked(answer, sources, question, *, embedder, lm, verifier, fusion, progress=None,
                    deadline=None) -> _Pending:
    started = time.perf_counter()
    if not answer or not answer.strip():
        raise EmptyInputError("the answer is empty")
    chunks = [c for c in sources if isinstance(c, Chunk)] + chunks_from_texts([s for s in sources if isinstance(s, str)])
    if not chunks:
        raise EmptyInputError("there are no sources to ground the answer in")
    verifier = _resolve_verifier(verifier)  # (ground_many resolves it once; a resolved one passes through)
    if fusion is None:
        fusion = _default_fusion(verifier, lm)
    if embedder is None and _needs_embedder(fusion):
        from ...models import load_embedder

        embedder = load_embedder()  # the default detector reads meaning; without vectors it would lack signals
    _check_deadline(deadline)
    if progress:
        progress(0.05, "reading the sources")
    src = prepare_sources(chunks, embedder)
    _check_deadline(deadline)
    spans = answer_sentences(answer)
    claims = [answer[a:b] for a, b in spans]
    if progress:
        progress(0.3, f"checking {len(claims)} claims")
    evidence = claim_signals(claims, question, src, embedder=embedder)
    _check_deadline(deadline)
    return _Pending(answer, question, chunks, src, spans, evidence, embedder, lm, verifier, fusion, started)


def _verdicts(pending: _Pending, *, nli=None, extra_lm_signals: bool = False, samples: int = 3,
              deadline: float | None = None) -> Grounding:
    answer, question, chunks, src, spans, evidence = (pending.answer, pending.question, pending.chunks, pending.src,
                                                      pending.spans, pending.evidence)
    embedder, lm, verifier, fusion, started = (pending.embedder, pending.lm, pending.verifier, pending.fusion,
                                               pending.started)
    _check_deadline(deadline)
    results, rows = [], []
    if lm is not None:  # fused where the fusion has it, else shown; each claim read after the answer before it
        from ...text.context import claim_reliance

        reliance = claim_reliance(lm, question, [c.text for c in chunks], answer, spans)
    for k, ((a, b), ev) in enumerate(zip(spans, evidence)):
        sentence = answer[a:b]
        signals = ev.signals
        if lm is not None:
            signals["context_reliance"] = reliance[k]
        if nli is not None:
            premise = ev.window.text if ev.window is not None else chunks[0].text
            signals.update(nli.scores(premise, sentence))
        rows.append(signals)
        results.append((a, b, sentence, ev, list(ev.reasons)))  # ev.signals gains the NLI's and the LM's
    if lm is not None and extra_lm_signals:
        _add_lm_reasons(lm, question, chunks, answer, results, samples)
    probs = fusion.predict(rows)
    out = []
    for (a, b, sentence, ev, reasons), p in zip(results, probs):
        signals, best = ev.signals, ev.cited
        p = float(np.clip(p, 0.0, 1.0))
        label = "supported" if p >= fusion.threshold else "unsupported"
        if label == "unsupported" and _contradicts(signals):
            label = "contradicted"
        chunk = src.chunks[best[0]] if best else None
        if label != "supported":
            # what the evidence says first (on a contradicted claim, what it says otherwise), then the signals
            # that pulled the probability down, with values
            said = ev.contradictions if label == "contradicted" else []
            reasons = (said + _verifier_reasons(signals, chunk.text[best[1]:best[2]] if best else "",
                                                label == "contradicted") + reasons
                       + fusion.explain_low(signals))
        elif not reasons:
            reasons = ["every content word is in the sources"]
        out.append(SentenceGrounding(
            sentence=sentence, start=a, end=b, support_probability=p, label=label,
            source_id=chunk.chunk_id if chunk else None, source_span=(best[1], best[2]) if best else None,
            source_text=chunk.text if chunk else "", signals=signals, reasons=tuple(dict.fromkeys(reasons)),
            unsupported_spans=tuple((a + s, a + e) for s, e in ev.unsupported)))
    answer_p = float(min(s.support_probability for s in out)) if out else 0.0
    params = {"fusion": fusion.meta.get("name", "")}
    if verifier is not None:
        params["verifier"] = getattr(verifier, "model_id", type(verifier).__name__)
    return Grounding(answer=answer, sentences=tuple(out), answer_support_probability=answer_p,
                     model_id=getattr(embedder, "model_id", "") or "", params=params,
                     elapsed_s=time.perf_counter() - started)


# Signals that say "the source says otherwise" rather than "the source does not say it".
_CONTRADICTION_SIGNALS = ("negation_mismatch", "antonym_mismatch", "causal_reversal", "value_substitution")


def _contradicts(signals: dict[str, float]) -> bool:
    if signals.get("nli_contradiction", 0.0) > 0.5 and signals["nli_contradiction"] > signals.get("nli_entailment", 0):
        return True
    # the verifier's contradiction counts where the claim talks about what the sources say (most of its words
    # are there); a claim of new facts is unsupported, not contradicted
    if signals.get("verifier_contradiction", 0.0) > 0.5 and signals.get("content_support", 0.0) >= 0.6 and \
            signals["verifier_contradiction"] > signals.get("verifier_entailment", 0.0):
        return True
    return any(signals.get(f, 0.0) > 0 for f in _CONTRADICTION_SIGNALS) or signals.get("order_swap", 0.0) >= 0.5


def _verifier_reasons(signals: dict[str, float], cited: str, contradicted: bool = True) -> list[str]:
    """The verifier's reading in words. Its contradiction is said as one only on a claim labelled contradicted:
    on a claim of new facts (most of its words in no source) it means no more than "not stated"."""
    quote = shortened(cited)
    out = []
    if signals.get("nli_contradiction", 0.0) > 0.5:
        out.append(f"the NLI model finds a contradiction ({signals['nli_contradiction']:.0%})")
    if "verifier_contradiction" in signals:
        if signals["verifier_contradiction"] > 0.5 and contradicted:
            out.append(f"the claim verifier reads a contradiction ({signals['verifier_contradiction']:.0%}); "
                       f"the source says: '{quote}'")
        elif signals.get("verifier_entailment", 1.0) < 0.5:
            out.append(f"the claim verifier finds no source passage that states it (its best passage entails "
                       f"it {signals['verifier_entailment']:.0%})")
    return out


def _check_deadline(deadline: float | None) -> None:
    if deadline is not None and time.monotonic() > deadline:
        from ...errors import TimeLimitError

        raise TimeLimitError("grounding stopped at the time limit")


def _add_lm_reasons(lm, question, chunks, answer, results, samples) -> None:
    """Shown to the reviewer as reasons; not in the fitted fusion (they cost seconds per answer, too much
    to compute over the development set here)."""
    masses = attribution_mass(lm, question, [c.text for c in chunks], answer)
    from ...text.context import context_reliance as token_reliance

    reliance = token_reliance(lm, question, [c.text for c in chunks], answer)
    source_words = {t.norm for c in chunks for t in tokens(c.text)}
    sampled = sample_answers(lm, question, [c.text for c in chunks], samples)
    for a, b, sentence, ev, reasons in results:
        signals = ev.signals
        overlapping = [m for (s0, e0), m in masses if s0 < b and e0 > a]
        signals["source_attribution_mass"] = float(np.mean(overlapping)) if overlapping else 0.0
        signals["sampling_consistency"] = sampling_consistency(sentence, sampled)
        if signals["source_attribution_mass"] < 0.5:
            reasons.append(f"only {signals['source_attribution_mass']:.0%} of the model's evidence for it lies in the sources")
        if signals["sampling_consistency"] < 0.5:
            reasons.append(f"resampled answers repeat {signals['sampling_consistency']:.0%} of its content words")
        # Which words the model would have written without any source (context reliance per token).
        inside = [(w.text, f) for w, f in zip(reliance.words, reliance.flagged) if a <= w.start and w.end <= b]
        content = [(t, f) for t, f in inside if t.lower() not in _STOP and any(ch.isalnum() for ch in t)]
        # a word the model would have written anyway is fine when a source says it too
        prior = [t for t, f in content if f and _norm(t) not in source_words]
        signals["prior_word_share"] = len(prior) / len(content) if content else 0.0
        if prior:
            reasons.append("the model would have written these without the sources, and no source has them: "
                           + ", ".join(prior[:8]))
