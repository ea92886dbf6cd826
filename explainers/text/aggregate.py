"""Interpretable units and aggregation: tokens -> words / sentences / user spans, through char offsets.

Offsets make this right for BPE and SentencePiece alike: a token belongs to the unit that holds its
first non-space character; whitespace-only tokens join the unit before them.
"""

from __future__ import annotations

import re
from typing import Sequence

import numpy as np
import sentencex

from ..errors import InputError
from ..types import Unit

GRANULARITIES = ("token", "word", "sentence", "span")

_WORD = re.compile(r"\w+(?:[-'’]\w+)*|[^\w\s]", re.UNICODE)

# Sentence boundaries come from sentencex (Wikimedia, MIT; rules in Rust), measured by
# bench/bench_segmentation.py on tests/data/segmentation_cases.jsonl: 57/60 cases right (abbreviations, initials,
# decimals, quotes, newline lists, HaluEval's glued "century.First") against 30/60 for the regex it replaced,
# at ~10^5 sentences/s, as fast as that regex. pysbd got 58/60 at ~1/100 of the speed (grounding splits every
# source chunk); blingfire 53/60, no newline lists. sentencex keeps no segmenter object to cache: the call is
# the whole API and holds its compiled rules itself.
# sentencex 1.0.32 panics (pyo3 PanicException, a BaseException) when a space outside ASCII comes just before a
# period ("U\xa0."): it steps one byte past the space. It reads such spaces as ASCII ones, a one-for-one swap,
# so the character offsets it returns are offsets into the original text.
# The rule used only where sentencex fails on a text: a sentence ends at . ! ? (closing quotes and brackets
# kept with it) followed by space, or at a blank line.
_SENT_END = re.compile(r"(?<=[.!?。！？])[\"')\]]*\s+|\n\s*\n+")
# Lone surrogates (text decoded with errors="surrogateescape", or built in Python) cannot cross into its Rust
# code at all: they are read as U+FFFD, also one for one.
_ASCII_SPACES = str.maketrans({**{c: "\n" if c in "\x85\u2028\u2029" else " "
                                  for c in map(chr, range(0x80, 0x3001)) if c.isspace()},
                               **{chr(c): "\ufffd" for c in range(0xD800, 0xE000)}})


def word_spans(text: str) -> list[tuple[int, int]]:
    return [(m.start(), m.end()) for m in _WORD.finditer(text)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """The sentences of ``text`` as (start, end) character offsets, stripped of surrounding whitespace, none empty.

    Every non-space character is in one span: a sentence runs from one boundary to the next.
    """
    if not text.strip():
        return []
    cuts = [0]
    try:
        found = sentencex.get_sentence_boundaries("en", text if text.isascii() else text.translate(_ASCII_SPACES))
    except (KeyboardInterrupt, SystemExit):
        raise
    except BaseException:  # noqa: BLE001 - a panic inside sentencex (a BaseException): the plain rule instead
        found = [{"start_index": m.end()} for m in _SENT_END.finditer(text)]
    for sentence in found:
        if cuts[-1] < sentence["start_index"] < len(text):
            cuts.append(sentence["start_index"])
    cuts.append(len(text))
    return [s for s in (_strip(text, a, b) for a, b in zip(cuts, cuts[1:])) if s[0] < s[1]]


def _strip(text: str, a: int, b: int) -> tuple[int, int]:
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _anchor(text: str, start: int, end: int) -> int | None:
    for k in range(start, end):
        if not text[k].isspace():
            return k
    return None


def group_tokens(
    text: str,
    token_offsets: Sequence[tuple[int, int]],
    special: Sequence[bool],
    granularity: str,
    spans: Sequence[tuple[int, int]] | None = None,
) -> tuple[list[Unit], list[list[int]]]:
    """Group token indices into units of ``granularity``; special tokens stay units of their own.

    Returns the units and, for each, the token indices it holds (every token is in exactly one unit).
    """
    if granularity not in GRANULARITIES:
        raise InputError(f"unknown granularity {granularity!r}; choose one of {', '.join(GRANULARITIES)}")
    n = len(token_offsets)
    if granularity == "token":
        units = [Unit(text[a:b], a, b, bool(s)) for (a, b), s in zip(token_offsets, special)]
        return units, [[i] for i in range(n)]
    if granularity == "word":
        regions = word_spans(text)
    elif granularity == "sentence":
        regions = sentence_spans(text)
    else:
        if not spans:
            raise InputError("span granularity needs the spans (for example the source chunks)")
        given = sorted((int(a), int(b)) for a, b in spans)
        for (a1, b1), (a2, _b2) in zip(given, given[1:]):
            if a2 < b1:
                raise InputError(f"spans [{a1}, {b1}) and [{a2}, ...) overlap")
        # Text outside the given spans is grouped by sentence, so every token still has a unit.
        regions = list(given)
        cursor = 0
        for a, b in given + [(len(text), len(text))]:
            if a > cursor:
                regions += [(cursor + x, cursor + y) for x, y in sentence_spans(text[cursor:a])]
            cursor = max(cursor, b)
        regions.sort()
    region_starts = np.array([a for a, _ in regions], dtype=np.int64)

    groups: list[list[int]] = []
    keys: list[tuple] = []  # identifies the unit of each group: ("r", region) or ("s", token)
    for i, ((a, b), sp) in enumerate(zip(token_offsets, special)):
        if sp:
            key: tuple = ("s", i)
        else:
            anchor = _anchor(text, a, b)
            if anchor is None:  # whitespace-only token: joins the unit before it
                key = keys[-1] if keys and keys[-1][0] == "r" else ("w", i)
            else:
                r = int(np.searchsorted(region_starts, anchor, side="right")) - 1
                if r >= 0 and regions[r][0] <= anchor < max(regions[r][1], regions[r][0] + 1):
                    key = ("r", r)
                else:
                    key = ("g", anchor)  # in no region (e.g. stray punctuation): a unit of its own
        if keys and keys[-1] == key:
            groups[-1].append(i)
        else:
            keys.append(key)
            groups.append([i])

    units = []
    for key, idx in zip(keys, groups):
        a = token_offsets[idx[0]][0]
        b = token_offsets[idx[-1]][1]
        units.append(Unit(text[a:b], a, b, key[0] == "s"))
    return units, groups


def membership(groups: Sequence[Sequence[int]], n_tokens: int) -> np.ndarray:
    """Matrix (units x tokens) with 1 where the token belongs to the unit."""
    m = np.zeros((len(groups), n_tokens), dtype=np.float64)
    for u, idx in enumerate(groups):
        m[u, list(idx)] = 1.0
    return m

