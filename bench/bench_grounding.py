"""Grounding speed on 2 cores: indexing chunks/s, and answer sentences scored per second against top-5 chunks,
without LM passes (lexical + embedding signals) and with the LM context-reliance signal, reported apart.
Uses ../shared/data/halueval_qa_dev.jsonl when present (skips cleanly without it).
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explainers.models import load_embedder, load_lm  # noqa: E402
from explainers.retrieval.evaluate import load_labelled  # noqa: E402
from explainers.retrieval.grounding import ground  # noqa: E402
from explainers.retrieval.index import ChunkIndex  # noqa: E402
from explainers.retrieval.ingest import chunks_from_texts  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "halueval_qa_dev.jsonl"


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
    for label in ("first pass (source sentences embedded)", "second pass over the same answers (every vector cached)"):
        t0 = time.perf_counter()
        n = 0
        for r, top in zip(sample, retrieved):
            n += len(ground(r["answer"], top, r["question"], embedder=embedder).sentences)
        dt = time.perf_counter() - t0
        print(f"grounding without LM passes, {label}: {n} sentences in {dt:.2f} s = {n / dt:.1f} sentences/s")

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
