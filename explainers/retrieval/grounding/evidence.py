"""Evidence windows for a claim: the source sentences most like it, with their neighbours (SummaC-style).

A claim is checked against several short windows rather than a whole document: a cross-encoder reads 128
tokens well, and a fact split over two adjacent sentences ("She moved to Paris in 1891. There she studied
physics.") still lands in one window. The verifier's verdict is the maximum over windows.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .lexical import SourceIndex, tokens

TOP_SENTENCES = 3
MAX_WINDOW_CHARS = 700


@dataclass(frozen=True)
class Window:
    text: str
    sentence_ids: tuple[int, ...]  # source sentences in the window, in document order

    def first_span(self, src: SourceIndex) -> tuple[int, int, int]:
        return src.sentences[self.sentence_ids[0]]


def rank_sentences(claim: str, src: SourceIndex, vector: np.ndarray | None) -> list[int]:
    """Source sentences by 0.5 x cosine + 0.5 x share of the claim's content words they hold."""
    n = len(src.sentences)
    if n == 0:
        return []
    words = {t.norm for t in tokens(claim) if t.content}
    lexical = np.zeros(n)
    for w in words:
        for sid in src.where.get(w, ()):
            lexical[sid] += 1.0
    lexical /= max(1, len(words))
    score = 0.5 * lexical
    if vector is not None and src.sentence_vecs is not None:
        score = score + 0.5 * (src.sentence_vecs @ vector)
    return [int(i) for i in np.argsort(-score, kind="stable")]


def windows(claim: str, src: SourceIndex, vector: np.ndarray | None = None, top: int = TOP_SENTENCES) -> list[Window]:
    """Each of the top sentences alone and with its neighbour on either side (same chunk), and the top two
    together; duplicates dropped, each window at most MAX_WINDOW_CHARS."""
    ranked = rank_sentences(claim, src, vector)[:top]
    out: dict[tuple[int, ...], Window] = {}

    def text_of(ids: tuple[int, ...]) -> str:
        parts = []
        for sid in ids:
            ci, a, b = src.sentences[sid]
            parts.append(src.chunks[ci].text[a:b])
        return " ".join(parts)[:MAX_WINDOW_CHARS]

    def add(ids: tuple[int, ...]) -> None:
        ids = tuple(sorted(set(ids)))
        if ids and ids not in out:
            out[ids] = Window(text_of(ids), ids)

    for sid in ranked:
        add((sid,))
        for nb in (sid - 1, sid + 1):
            if 0 <= nb < len(src.sentences) and src.sentences[nb][0] == src.sentences[sid][0]:
                add((sid, nb))
    if len(ranked) >= 2:
        add((ranked[0], ranked[1]))
    return list(out.values())


def hypothesis(claim: str, question: str = "") -> str:
    """What the verifier reads as the claim: a short answer ("Delhi") means nothing without its question."""
    if question.strip() and len(claim.split()) <= 6:
        return f"{question.strip()} {claim.strip()}"
    return claim
