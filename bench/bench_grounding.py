"""Grounding speed on 2 cores: indexing chunks/s; the claim verifier's pairs/s batched; answer sentences scored
per second against top-5 chunks with the default detector (lexical + alignment + verifier, and the verifier's
share of that time), with the lexical signals alone, and with the LM context-reliance signal; the demo audit's
grounding with warm models.
Uses ../shared/data/halueval_qa_dev.jsonl when present (skips cleanly without it).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explainers.demo import load_demos  # noqa: E402
from explainers.models import load_embedder, load_lm, load_verifier  # noqa: E402
from explainers.retrieval.evaluate import load_labelled  # noqa: E402
from explainers.retrieval.grounding import ground  # noqa: E402
from explainers.retrieval.index import ChunkIndex  # noqa: E402
from explainers.retrieval.ingest import chunks_from_texts  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "halueval_qa_dev.jsonl"


class _Timed:
    """The verifier, timed: how much of grounding it takes."""

    def __init__(self, verifier):
        self.verifier, self.seconds = verifier, 0.0
        self.model_id = verifier.model_id

    def predict(self, pairs, **kw):
        t0 = time.perf_counter()
        try:
            return self.verifier.predict(pairs, **kw)
        finally:
            self.seconds += time.perf_counter() - t0


def main() -> None:
    if not DATA.exists():
        print(f"skipped: {DATA} not found")
        return
    rows = load_labelled(DATA)
    embedder = load_embedder()
    chunks = chunks_from_texts(sorted({r["knowledge"] for r in rows}), max_chars=400)
    index = ChunkIndex(embedder)
    t0 = time.perf_counter()
    index.add(chunks)
    dt = time.perf_counter() - t0
    print(f"indexing: {len(chunks)} chunks in {dt:.2f} s = {len(chunks) / dt:.1f} chunks/s")

    sample = rows[:200]
    t0 = time.perf_counter()
    retrieved = [[c for c, _ in index.search(r["question"], 5)] for r in sample]
    dt = time.perf_counter() - t0
    print(f"retrieval: {len(sample)} questions, top-5, in {dt:.2f} s = {len(sample) / dt:.1f} queries/s")
    verifier = load_verifier()
    pairs = [(c.text, r["answer"]) for r, top in zip(sample, retrieved) for c in top[:2]][:256]
    verifier.predict(pairs[:8])
    t0 = time.perf_counter()
    verifier.predict(pairs)
    dt = time.perf_counter() - t0
    print(f"claim verifier: {len(pairs)} (evidence, claim) pairs batched in {dt:.2f} s = {len(pairs) / dt:.1f} pairs/s")

    timed = _Timed(verifier)
    for label in ("first pass (source sentences embedded)", "second pass over the same answers (every vector cached)"):
        timed.seconds = 0.0
        t0 = time.perf_counter()
        n = 0
        for r, top in zip(sample, retrieved):
            n += len(ground(r["answer"], top, r["question"], embedder=embedder, verifier=timed).sentences)
        dt = time.perf_counter() - t0
        print(f"grounding, default detector, {label}: {n} sentences in {dt:.2f} s = {n / dt:.1f} sentences/s; "
              f"verifier share {timed.seconds / dt:.0%}")
    t0 = time.perf_counter()
    n = sum(len(ground(r["answer"], top, r["question"], embedder=embedder, verifier=None).sentences)
            for r, top in zip(sample, retrieved))
    dt = time.perf_counter() - t0
    print(f"grounding, lexical signals alone: {n} sentences in {dt:.2f} s = {n / dt:.1f} sentences/s")

    demo = load_demos()[0]
    ground(demo.answer, list(demo.sources), demo.question, embedder=embedder, verifier=verifier)
    t0 = time.perf_counter()
    ground(demo.answer, list(demo.sources), demo.question, embedder=embedder, verifier=verifier)
    print(f"demo_grounding warm_s={time.perf_counter() - t0:.2f}")

    lm = load_lm()
    sample = rows[:40]
    t0 = time.perf_counter()
    n = 0
    for r in sample:
        top = [c for c, _ in index.search(r["question"], 5)]
        n += len(ground(r["answer"], top, r["question"], embedder=embedder, lm=lm).sentences)
    dt = time.perf_counter() - t0
    print(f"grounding with the LM context-reliance signal: {n} sentences in {dt:.2f} s = {n / dt:.1f} sentences/s")


if __name__ == "__main__":
    main()
