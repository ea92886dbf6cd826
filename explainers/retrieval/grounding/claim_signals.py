"""All signals for a list of claims against prepared sources: lexical, embedding, alignment, verifier.

One function serves ``ground`` (the claims of an answer) and the fusion's fitting (one claim per labelled
row), so the fusion is fitted on exactly the signals it is later applied to.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np

from .alignment import compare, content_coverage
from .evidence import Window, hypothesis, windows
from .lexical import SourceIndex, encode_cached, sentence_signals
from . import signals as plugins
from .lexical import tokens
from .meaning import meaning_support

WEAK_WORD = 0.5  # a claim word whose best contextual match in the evidence is below this is named in the reasons



@dataclass
class ClaimEvidence:
    claim: str
    signals: dict[str, float]
    unsupported: list[tuple[int, int]]  # offsets in the claim
    reasons: list[str]
    cited: tuple[int, int, int] | None  # (chunk index, start, end) of the aligned source sentence
    window: Window | None  # the aligned window
    windows: list[Window] = field(default_factory=list)  # every window the claim was checked against
    sources: SourceIndex | None = None
    contradictions: list[str] = field(default_factory=list)  # the reasons that say the source says otherwise


def _sentence_text(src: SourceIndex, sid: int) -> str:
    ci, a, b = src.sentences[sid]
    return src.chunks[ci].text[a:b]


def _cited_sentence(claim: str, window: Window, src: SourceIndex) -> int:
    """The sentence of a window that holds most of the claim's content words (ties: the first)."""
    return max(window.sentence_ids, key=lambda i: content_coverage(claim, _sentence_text(src, i)))


def _content_words(text: str) -> frozenset[str]:
    return frozenset(t.norm for t in tokens(text) if t.content)


def claim_signals(claims: Sequence[str], question: str, src: SourceIndex, *, embedder=None, verifier=None,
                  progress: Callable[[float, str], None] | None = None) -> list[ClaimEvidence]:
    vectors = encode_cached(embedder, list(claims)) if embedder is not None and claims else [None] * len(claims)
    out: list[ClaimEvidence] = []
    for claim, vector in zip(claims, vectors):
        signals, unsupported, reasons, _best = sentence_signals(claim, question, src, embedder, vector)
        wins = windows(claim, src, vector)
        if embedder is not None:
            m = meaning_support(claim, [[_sentence_text(src, i) for i in w.sentence_ids] for w in wins], embedder)
            signals["meaning_support"], signals["weakest_word_match"] = m.support, m.weakest_score
            if m.weakest and m.weakest_score < WEAK_WORD:
                reasons.append(f"'{m.weakest}' has no close match in the evidence (best {m.weakest_score:.2f})")
        aligned, cited, contradictions = None, None, []
        if wins:
            # the window that holds most of the claim's content words; ties go to the better-ranked window
            aligned = max(wins, key=lambda w: content_coverage(claim, w.text))
            sid = _cited_sentence(claim, aligned, src)
            cited = src.sentences[sid]
            al = compare(claim, _sentence_text(src, sid), aligned.text, src.words, " ".join(w.text for w in wins))
            signals.update(al.signals)
            reasons.extend(al.reasons)
            contradictions = list(al.contradictions)
        if plugins.registered():  # signals added as one file each in grounding/signals/
            evidence = aligned.text if aligned is not None else ""
            values, why = plugins.compute(plugins.ClaimContext(
                claim, question, evidence, tuple(w.text for w in wins), _content_words(claim), _content_words(evidence)))
            signals.update(values)
            reasons.extend(why)
        out.append(ClaimEvidence(claim, signals, unsupported, reasons, cited, aligned, wins, src, contradictions))
    if verifier is not None:
        apply_verifier(out, question, verifier, progress)
    return out


def apply_verifier(evidence: Sequence[ClaimEvidence], question: str | Sequence[str], verifier,
                   progress: Callable[[float, str], None] | None = None) -> None:
    """Add the verifier's signals to many claims with one batched ``predict``.

    SummaC-style: entailment is the best over the claim's windows; contradiction is read at the aligned
    window, where the claim's content is (a neighbouring sentence about something else is no contradiction).
    """
    questions = [question] * len(evidence) if isinstance(question, str) else list(question)
    pairs, owners = [], []
    for k, (ev, q) in enumerate(zip(evidence, questions)):
        for w_index, w in enumerate(ev.windows):
            pairs.append((w.text, hypothesis(ev.claim, q)))
            owners.append((k, w_index))
    probs = verifier.predict(pairs, progress=progress) if pairs else np.zeros((0, 3))
    per_claim: dict[int, dict[int, np.ndarray]] = {}
    for (k, w_index), p in zip(owners, probs):
        per_claim.setdefault(k, {})[w_index] = p
    for k, ev in enumerate(evidence):
        rows = per_claim.get(k)
        if not rows:
            ev.signals.update(verifier_entailment=0.0, verifier_contradiction=0.0)
            continue
        best_w = max(rows, key=lambda w: rows[w][0])
        aligned_w = ev.windows.index(ev.window) if ev.window in ev.windows else best_w
        ev.signals["verifier_entailment"] = float(rows[best_w][0])
        ev.signals["verifier_contradiction"] = float(rows[aligned_w][1])
        if rows[best_w][0] >= 0.5 and best_w != aligned_w and ev.sources is not None:
            ev.window = ev.windows[best_w]
            # the window's sentence that states the claim, not its first (a window may open with a neighbour)
            ev.cited = ev.sources.sentences[_cited_sentence(ev.claim, ev.window, ev.sources)]
