"""Lexical grounding signals: which of a sentence's words, numbers, names and word pairs the sources hold.

Every signal is a share or a count a reviewer can check by reading the sources; each comes with the spans of
the words no source has and a reason in words.
"""

from __future__ import annotations


import re
import threading
from dataclasses import dataclass
from functools import lru_cache
from typing import Sequence

import numpy as np

from ...text.aggregate import sentence_spans
from ..ingest import Chunk
from .lexicon import MULTIPLIERS, NUMBER_WORDS
from .lexicon import STOP_WORDS as _STOP

_TOKEN = re.compile(r"\d+(?:[.,]\d+)*%?|[^\W\d_]+(?:['’-][^\W\d_]+)*", re.UNICODE)
_MONTHS = {"january", "february", "march", "april", "may", "june", "july", "august", "september", "october",
           "november", "december"}
PHRASE_WINDOW = 5  # content words apart that still count as "one phrase" in a source sentence
def _norm(word: str) -> str:
    w = word.lower().replace("’", "'")
    if w.endswith("'s"):
        w = w[:-2]
    if len(w) > 4 and w.endswith("ies"):
        return w[:-3] + "y"
    if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
        return w[:-1]
    return w


@dataclass(frozen=True, slots=True)
class _Tok:
    text: str
    norm: str
    start: int
    end: int
    is_number: bool
    is_name: bool
    content: bool


def tokens(text: str) -> list[_Tok]:
    """The words of ``text`` with offsets, normalised forms and kinds (a fresh list; the tokens are frozen)."""
    return list(_tokens_cached(text))


@lru_cache(maxsize=2048)
def _tokens_cached(text: str) -> tuple[_Tok, ...]:
    # One claim's signals read the same source sentences many times over (coverage, alignment, contexts): ~64
    # tokenisations per dev answer, a quarter of the lexical signals' time before this cache. 2,048 texts: a few
    # batches' worth: 15-70 MB (slotted tokens, ~35 KB per 800 characters) per process.
    return tuple(_tokenize(text))


def _tokenize(text: str) -> list[_Tok]:
    out = []
    for m in _TOKEN.finditer(text):
        w = m.group(0)
        norm = _norm(w)
        is_number = w[0].isdigit() or norm in _MONTHS
        is_name = w[0].isupper() and norm not in _STOP
        out.append(_Tok(w, norm, m.start(), m.end(), is_number, is_name, norm not in _STOP and len(norm) > 1 or is_number))
    return out


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(round(value, 6))


_FRACTIONS = {"half": 0.5, "quarter": 0.25, "tenth": 0.1}


def number_values(text: str) -> set[str]:
    """Numbers as normalised strings, number words included ("five hundred" -> "500", "forty-one" -> "41",
    "1,200" -> "1200", "3.2 million" -> "3200000" and "3.2", "half a million" -> "500000" and "0.5").
    A lone "one" is left out: it is more often a pronoun than a count ("one of the first")."""
    out: set[str] = set()
    words: list[str] = []
    prev_end = 0
    for t in tokens(text):
        if text[prev_end:t.start].strip():
            words.append("|")  # punctuation ends a run of number words ("half a million, three quarters")
        prev_end = t.end
        parts = t.norm.split("-")
        if len(parts) > 1 and all(p in NUMBER_WORDS for p in parts):
            words.extend(parts)
        else:
            words.append(t.norm if not t.text[0].isdigit() else "#" + t.norm)
    k = 0
    while k < len(words):
        w = words[k]
        if w in NUMBER_WORDS and w not in MULTIPLIERS:
            start, total, current = k, 0.0, float(NUMBER_WORDS[w])
            k += 1
            while k < len(words):
                nxt = words[k]
                if nxt in ("a", "an") and k + 1 < len(words) and words[k + 1] in MULTIPLIERS and current < 1:
                    k += 1  # "half a million"
                    continue
                if nxt not in NUMBER_WORDS and nxt not in _FRACTIONS:
                    break
                if nxt in _FRACTIONS and current >= 1:
                    current *= _FRACTIONS[nxt]  # "three quarters" -> 0.75, "seven tenths" -> 0.7
                elif nxt in MULTIPLIERS:
                    current *= MULTIPLIERS[nxt]
                    if MULTIPLIERS[nxt] >= 1000:
                        total, current = total + current, 0.0
                else:
                    current += NUMBER_WORDS[nxt]
                k += 1
            if not (w == "one" and k == start + 1):
                out.add(_fmt(total + current))
            continue
        if w.startswith("#"):
            v = w[1:].rstrip("%").replace(",", "")
            try:
                f = float(v)
            except ValueError:
                out.add(v)
            else:
                out.add(_fmt(f))
                if k + 1 < len(words) and words[k + 1] in MULTIPLIERS:
                    out.add(_fmt(f * MULTIPLIERS[words[k + 1]]))
        k += 1
    return out


def name_tokens(toks: Sequence[_Tok]) -> list[_Tok]:
    """The content tokens that are names. A capitalised first word is a name only when the next word is
    capitalised too ("According to ...", "Researchers found ..." are not names; "Napoleon Bonaparte ..." is)."""
    first_is_name = len(toks) > 1 and toks[1].is_name
    return [t for k, t in enumerate(toks) if t.is_name and not t.is_number and t.content and (k > 0 or first_is_name)]


def _number_forms(tok: _Tok) -> set[str]:
    t = tok.norm.rstrip("%")
    return {t, t.replace(",", "")}


@dataclass(frozen=True)
class SourceIndex:
    chunks: tuple[Chunk, ...]
    words: frozenset[str]
    where: dict  # word -> ids of the source sentences that hold it
    near: frozenset  # content-word pairs within 3 content words of each other in one source sentence
    adjacent: frozenset  # content-word pairs adjacent, in order, in a source sentence
    numbers: frozenset[str]
    values: frozenset[str]  # every number's value, number words and "1.1 million" included
    sentences: tuple[tuple[int, int, int], ...]  # (chunk index, start, end) of each source sentence
    sentence_vecs: np.ndarray | None


def _content_bigrams(toks: Sequence[_Tok]) -> set[tuple[str, str]]:
    c = [t.norm for t in toks if t.content]
    return set(zip(c, c[1:]))


_VEC_CACHE: dict[tuple[str, str], np.ndarray] = {}
_VEC_CACHE_MAX = 50_000
_VEC_LOCK = threading.Lock()


def encode_cached(embedder, texts: Sequence[str]) -> np.ndarray:
    """Embed texts in one batch, reusing vectors already computed (the same chunks recur across answers).

    Our embedder keeps its own cache under a lock (``Embedder.encode_cached``); any other embedder gets this
    module's, read and written under a lock, with the vectors a call returns held by the call."""
    texts = list(texts)
    if not texts:
        return np.zeros((0, embedder.dimension), np.float32)
    if hasattr(embedder, "encode_cached"):
        return np.asarray(embedder.encode_cached(texts), dtype=np.float32)
    key = getattr(embedder, "model_id", "")
    with _VEC_LOCK:
        found = {t: _VEC_CACHE[(key, t)] for t in texts if (key, t) in _VEC_CACHE}
    missing = list(dict.fromkeys(t for t in texts if t not in found))
    if missing:
        fresh = dict(zip(missing, embedder.encode(missing)))
        found.update(fresh)
        with _VEC_LOCK:
            if len(_VEC_CACHE) + len(fresh) > _VEC_CACHE_MAX:
                _VEC_CACHE.clear()
            _VEC_CACHE.update({(key, t): v for t, v in fresh.items()})
    return np.stack([found[t] for t in texts])


def prepare_sources(chunks: Sequence[Chunk], embedder=None) -> SourceIndex:
    words, numbers, sents, where, near, adjacent = set(), set(), [], {}, set(), set()
    values: set[str] = set()
    for ci, ch in enumerate(chunks):
        toks = tokens(ch.text)
        values.update(number_values(ch.text))
        words.update(t.norm for t in toks)
        for t in toks:
            if t.is_number:
                numbers.update(_number_forms(t))
                if t.norm.endswith("%"):  # "12%" is read "12 percent" / "12 per cent"
                    words.update(("percent", "per", "cent"))
        for a, b in sentence_spans(ch.text) or [(0, len(ch.text))]:
            sid = len(sents)
            sents.append((ci, a, b))
            sent_toks = tokens(ch.text[a:b])
            for t in sent_toks:
                where.setdefault(t.norm, set()).add(sid)
            content = [t.norm for t in sent_toks if t.content]
            adjacent.update(zip(content, content[1:]))
            for i, w in enumerate(content):
                for v in content[i + 1: i + 1 + PHRASE_WINDOW]:
                    near.add((w, v))
                    near.add((v, w))
    vecs = None
    if embedder is not None and sents:
        vecs = encode_cached(embedder, [chunks[ci].text[a:b] for ci, a, b in sents])
    return SourceIndex(tuple(chunks), frozenset(words), where, frozenset(near), frozenset(adjacent), frozenset(numbers),
                       frozenset(values), tuple(sents), vecs)


def lexical_signals(sentence: str, question: str, src: SourceIndex) -> tuple[dict[str, float], list[tuple[int, int]], list[str]]:
    """Signals, unsupported spans (offsets in ``sentence``) and human-readable reasons."""
    toks = tokens(sentence)
    q_toks = tokens(question)
    q_words = {t.norm for t in q_toks}
    content = [t for t in toks if t.content]

    def in_sources(t: _Tok) -> bool:
        if t.norm in NUMBER_WORDS:  # "ninety" is supported by a source's "90"
            value = NUMBER_WORDS[t.norm]
            return t.norm in src.words or (str(int(value)) if float(value).is_integer() else str(value)) in src.numbers
        if t.norm in src.words:
            return True
        if t.is_number:
            return bool(_number_forms(t) & src.numbers) or bool(t.text[0].isdigit() and number_values(t.text) & src.values)
        parts = t.norm.split("-")  # "forty-one" is supported by a source's "41"
        return len(parts) > 1 and all(p in NUMBER_WORDS for p in parts) and bool(number_values(t.text) & src.values)

    supported = [t for t in content if in_sources(t) or t.norm in q_words]
    added = [t for t in content if t.norm not in q_words]
    added_supported = [t for t in added if in_sources(t)]
    # Adjacent content-word pairs of the answer that stand together in one source sentence (in any order
    # or form of sentence): catches facts recombined across sources without punishing paraphrase order.
    pairs = _content_bigrams(toks)
    q_pairs = _content_bigrams(q_toks)

    def together(a: str, b: str) -> bool:
        if (a in q_words and b in q_words) or a == b:
            return True
        return bool(src.where.get(a, set()) & src.where.get(b, set())) or (
            (a in q_words and b in src.words) or (b in q_words and a in src.words))
    def known_number(t: _Tok) -> bool:
        return bool(_number_forms(t) & src.numbers) or bool(t.text[0].isdigit() and number_values(t.text) & src.values)
    novel_numbers = [t for t in content if t.is_number and not known_number(t) and t.norm not in q_words]
    novel_names = [t for t in name_tokens(toks) if t.norm not in src.words and t.norm not in q_words]
    signals = {
        "content_support": len(supported) / len(content) if content else 1.0,
        "source_recall": len(added_supported) / len(added) if added else 1.0,
        "pair_support": (sum(together(a, b) for a, b in pairs) / len(pairs)) if pairs else 1.0,
        "bigram_support": (sum((a, b) in src.adjacent or (a, b) in q_pairs for a, b in pairs)
                           / len(pairs)) if pairs else 1.0,
        "phrase_support": (sum((a, b) in src.near or (a, b) in q_pairs for a, b in pairs) / len(pairs))
        if pairs else 1.0,
        "novel_numbers": float(len(novel_numbers)),
        "novel_names": float(len(novel_names)),
    }
    unsupported = [(t.start, t.end) for t in content if t not in supported]
    reasons = []
    if novel_numbers:
        reasons.append("numbers or dates in no source: " + ", ".join(t.text for t in novel_numbers))
    if novel_names:
        reasons.append("names in no source: " + ", ".join(t.text for t in novel_names))
    if content and signals["content_support"] < 1.0:
        reasons.append(f"{len(content) - len(supported)} of {len(content)} content words are in no source")
    return signals, unsupported, reasons


def sentence_signals(sentence: str, question: str, src: SourceIndex, embedder=None, vector: np.ndarray | None = None):
    signals, unsupported, reasons = lexical_signals(sentence, question, src)
    best_sent, sim = None, 0.0
    if embedder is not None and src.sentence_vecs is not None and len(src.sentences):
        v = vector if vector is not None else encode_cached(embedder, [sentence])[0]
        sims = src.sentence_vecs @ v
        k = int(np.argmax(sims))
        best_sent, sim = src.sentences[k], float(sims[k])
    signals["embedding_similarity"] = sim
    return signals, unsupported, reasons, best_sent


