"""Claim against its best-aligned evidence: the mismatches that word overlap cannot see.

Word overlap passes "Marie Curie was not born in Warsaw" and "chemistry in 1903 and physics in 1911": every word
is in the source. These signals compare the claim with the evidence window that holds most of its content
words, and each that fires comes with a reason that quotes the evidence:
- ``negation_mismatch``: the claim and its aligned source sentence differ in negation (not, never, no, failed to);
- ``antonym_mismatch``: a claim word whose opposite the evidence uses instead (increased / decreased);
- ``number_mismatch``: numbers of the claim that its evidence window lacks, where the window gives numbers;
- ``name_mismatch``: names the sources hold, but not in the window the claim aligns with (an entity moved);
- ``order_swap``: names or numbers that claim and evidence hold in reversed roles (A ... B vs B ... A);
- ``quantifier_mismatch``: a quantifier (all, most, only, at least) that the evidence does not use;
- ``causal_reversal``: cause and effect on opposite sides of a causal connective.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from .lexicon import ANTONYM, CAUSAL, MULTIPLIERS, NEGATION_PHRASES, NEGATION_WORDS, NUMBER_WORDS, QUANTIFIER_WORDS
from .fusion import ALIGNMENT_FEATURES
from .lexical import _norm, tokens

_CAUSAL_RE = re.compile(r"\b(" + "|".join(re.escape(c) for c in sorted(CAUSAL, key=len, reverse=True)) + r")\b",
                        re.IGNORECASE)
_PASSIVE_BY = re.compile(r"\b(?:was|were|is|are|been|being)\s+\w+(?:ed|en|wn|lt|ght)\s+by\b", re.IGNORECASE)


@dataclass(frozen=True)
class Alignment:
    signals: dict[str, float]
    reasons: tuple[str, ...]


def negation_count(text: str) -> int:
    low = " " + text.lower().replace("’", "'") + " "
    n = sum(1 for w in re.findall(r"[a-z']+", low) if w in NEGATION_WORDS or w.endswith("n't"))
    return n + sum(low.count(" " + p + " ") for p in NEGATION_PHRASES)


def _fmt(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else str(value)


def number_values(text: str) -> set[str]:
    """Numbers as normalised strings, number words included ("five hundred" -> "500", "1,200" -> "1200",
    "3.2 million" -> "3200000" and "3.2")."""
    out: set[str] = set()
    toks = tokens(text)
    k = 0
    while k < len(toks):
        t = toks[k]
        if t.norm in NUMBER_WORDS and t.norm not in MULTIPLIERS:
            total, current = 0.0, float(NUMBER_WORDS[t.norm])
            k += 1
            while k < len(toks) and toks[k].norm in NUMBER_WORDS:
                w = toks[k].norm
                if w in MULTIPLIERS:
                    current *= MULTIPLIERS[w]
                    if MULTIPLIERS[w] >= 1000:
                        total, current = total + current, 0.0
                else:
                    current += NUMBER_WORDS[w]
                k += 1
            out.add(_fmt(total + current))
            continue
        if t.text[0].isdigit():
            v = t.norm.rstrip("%").replace(",", "")
            try:
                f = float(v)
            except ValueError:
                out.add(v)
            else:
                out.add(_fmt(f))
                if k + 1 < len(toks) and toks[k + 1].norm in MULTIPLIERS:
                    out.add(_fmt(f * MULTIPLIERS[toks[k + 1].norm]))
        k += 1
    return out


def _anchors(text: str) -> list[str]:
    """Names and numbers in order of appearance (normalised), the words roles hang on."""
    return [t.norm for t in tokens(text) if (t.is_name or t.is_number) and t.content]


def _content(text: str) -> set[str]:
    return {t.norm for t in tokens(text) if t.content}


def compare(claim: str, sentence: str, window: str, source_words: frozenset | set) -> Alignment:
    """Mismatch signals between a claim, its best-aligned source sentence and the window around it."""
    signals = dict.fromkeys(ALIGNMENT_FEATURES, 0.0)
    reasons = []
    quote = sentence if len(sentence) <= 200 else sentence[:197] + "..."
    c_toks = tokens(claim)
    w_words = {t.norm for t in tokens(window)}
    c_words = {t.norm for t in c_toks}

    if (negation_count(claim) % 2) != (negation_count(sentence) % 2):
        signals["negation_mismatch"] = 1.0
        reasons.append(f"negation differs from the source, which says: '{quote}'")

    flipped = sorted({t.text for t in c_toks if t.norm not in w_words and ANTONYM.get(t.norm, set()) & w_words
                      and not ANTONYM.get(t.norm, set()) & c_words})
    if flipped:
        signals["antonym_mismatch"] = float(len(flipped))
        reasons.append(f"the source says the opposite of {', '.join(flipped)}: '{quote}'")

    c_nums, w_nums = number_values(claim), number_values(window)
    missing_nums = sorted(c_nums - w_nums)
    if missing_nums and w_nums:
        signals["number_mismatch"] = float(len(missing_nums))
        reasons.append(f"numbers not in the cited evidence: {', '.join(missing_nums)} (it gives "
                       f"{', '.join(sorted(w_nums)[:5])})")

    moved = sorted({t.text for t in c_toks if t.is_name and not t.is_number and t.content
                    and t.norm not in w_words and t.norm in source_words})
    if moved:
        signals["name_mismatch"] = float(len(moved))
        reasons.append(f"{', '.join(moved)} appear in the sources, but not where this claim's facts are")

    c_anchor, s_anchor = _anchors(claim), _anchors(sentence)
    shared = [a for a in dict.fromkeys(c_anchor) if c_anchor.count(a) == 1 and s_anchor.count(a) == 1]
    pairs = [(a, b) for i, a in enumerate(shared) for b in shared[i + 1:]]
    if pairs and bool(_PASSIVE_BY.search(claim)) == bool(_PASSIVE_BY.search(sentence)):
        reversed_pairs = [(a, b) for a, b in pairs if s_anchor.index(a) > s_anchor.index(b)]
        # share of the shared anchors caught in a reversal (a shared date elsewhere does not dilute a swap)
        share = len({x for pair in reversed_pairs for x in pair}) / len(shared)
        if share > 0 and len(shared) >= 2:
            signals["order_swap"] = share
            if share >= 0.5:
                reasons.append(f"roles look swapped: the source pairs them the other way round: '{quote}'")

    c_quant = {t.norm for t in c_toks if t.norm in QUANTIFIER_WORDS}
    s_quant = {t.norm for t in tokens(sentence) if t.norm in QUANTIFIER_WORDS}
    extra_quant = sorted(c_quant - s_quant - w_words)
    if extra_quant:
        signals["quantifier_mismatch"] = float(len(extra_quant))
        reasons.append(f"quantifier not in the source: {', '.join(extra_quant)}")

    mc, ms = _CAUSAL_RE.search(claim), _CAUSAL_RE.search(sentence)
    if mc and ms:
        c_before, c_after = _content(claim[:mc.start()]), _content(claim[mc.end():])
        s_before, s_after = _content(sentence[:ms.start()]), _content(sentence[ms.end():])
        same = len(c_before & s_before) + len(c_after & s_after)
        crossed = len(c_before & s_after) + len(c_after & s_before)
        if crossed > same and crossed >= 2:
            signals["causal_reversal"] = 1.0
            reasons.append(f"cause and effect are the other way round in the source: '{quote}'")
    return Alignment(signals, tuple(reasons))


def content_coverage(claim: str, window: str) -> float:
    """Share of the claim's content words (stemmed) found in a window: how well the window aligns."""
    c = _content(claim)
    if not c:
        return 0.0
    w = {_norm(t.text) for t in tokens(window)}
    return len(c & w) / len(c)
