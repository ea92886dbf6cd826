"""Grounding's vector caches under many threads: a small cache evicted by one thread never takes vectors from
another (before: KeyError from the sentence cache, silent zero vectors from the word cache)."""

import random
import time
from concurrent.futures import ThreadPoolExecutor

import numpy as np

from explainers.retrieval.grounding import lexical, meaning

TEXTS = [f"Sentence number {k} is about the river {k % 7} and the town {k % 5}." for k in range(40)]


def _vector(text: str, d: int = 8) -> np.ndarray:
    v = np.random.default_rng(abs(hash(text)) % 2**32).normal(size=d).astype(np.float32)
    return v / np.linalg.norm(v)


class SlowEmbedder:
    """A plain embedder (no cache of its own) that yields the thread while encoding, as a real model does."""

    model_id, dimension = "test-slow", 8

    def encode(self, texts):
        time.sleep(0.001)
        return np.stack([_vector(t) for t in texts])

    def token_states(self, texts):
        time.sleep(0.001)
        out = []
        for t in texts:
            spans = [(tok.start, tok.end) for tok in lexical.tokens(t)]
            out.append((np.array(spans, int).reshape(-1, 2), np.stack([_vector(t[a:b]) for a, b in spans])))
        return out


def _hammer(call, check, monkeypatch_max):
    errors, wrong = [], []

    def work(seed):
        rng = random.Random(seed)
        for _ in range(30):
            picked = rng.sample(TEXTS, 6)
            try:
                got = call(picked)
            except Exception as exc:  # noqa: BLE001 - what the test looks for
                errors.append(repr(exc))
                continue
            if not check(picked, got):
                wrong.append(picked)

    with ThreadPoolExecutor(8) as pool:
        list(pool.map(work, range(8)))
    return errors, wrong


def test_sentence_vector_cache_is_safe_across_threads(monkeypatch):
    monkeypatch.setattr(lexical, "_VEC_CACHE_MAX", 8)
    emb = SlowEmbedder()
    errors, wrong = _hammer(lambda ts: lexical.encode_cached(emb, ts),
                            lambda ts, got: np.allclose(got, np.stack([_vector(t) for t in ts])), 8)
    assert not errors and not wrong


def test_word_vector_cache_is_safe_across_threads(monkeypatch):
    monkeypatch.setattr(meaning, "_CACHE_MAX", 8)
    emb = SlowEmbedder()

    def check(ts, got):
        return all(np.allclose(v, np.stack([_vector(t[tok.start:tok.end]) for tok in lexical.tokens(t)]), atol=1e-6)
                   for t, v in zip(ts, got))

    errors, wrong = _hammer(lambda ts: meaning.word_vectors(emb, ts), check, 8)
    assert not errors and not wrong


def test_word_vector_cache_is_bounded_and_keeps_the_recently_used_texts(monkeypatch):
    """A batch audit reads thousands of new sentences: the word-vector cache drops the least recently used ones,
    so memory stays flat in the row count (it used to grow to 20,000 texts, ~0.5 GB, before clearing)."""
    from collections import OrderedDict

    monkeypatch.setattr(meaning, "_CACHE", OrderedDict())
    monkeypatch.setattr(meaning, "_CACHE_MAX", 4)
    emb = SlowEmbedder()
    texts = [f"sentence number {k} here" for k in range(10)]
    for t in texts:
        meaning.word_vectors(emb, [t])
    meaning.word_vectors(emb, [texts[6]])  # used again: kept
    meaning.word_vectors(emb, ["one more sentence"])
    assert [t for _, t in meaning._CACHE] == [texts[8], texts[9], texts[6], "one more sentence"]
