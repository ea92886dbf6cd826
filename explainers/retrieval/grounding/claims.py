"""Answer sentences and the claims inside them."""

from __future__ import annotations

import re

from ...text.aggregate import sentence_spans

_CLAUSE = re.compile(r";\s+|,\s+(?:and|but|while|whereas)\s+|\s+(?:and|but)\s+(?=(?:it|he|she|they|this|that|the)\b)")


_DOC = (r"(?:source|sources|passage|text|article|document|documentation|docs|manual|guide|release notes|notes|"
        r"excerpt|context|paragraph|record|records|report|study|paper|summary|author|authors|writer|researchers)")
_FRAME = re.compile(
    r"(?:according to (?:the|this|that) " + _DOC + r",?\s+"
    r"|(?:the|this) " + _DOC + r" (?:also )?(?:says|said|states|stated|notes|noted|explains|explained|describes|"
    r"described|reports|reported|mentions|mentioned|claims|argues|suggests|shows|showed|indicates|highlights|adds|"
    r"writes|points out|makes clear|finds|found|concludes|concluded|say|state|note|explain|describe|report|mention|"
    r"show|suggest|indicate|find|conclude)(?: that)?,?\s+"
    r"|as (?:the|this) " + _DOC + r" (?:says|states|notes|explains|describes|reports|mentions|puts it|shows),?\s+"
    r"|it is (?:reported|stated|noted|explained|mentioned) that\s+"
    r"|in (?:the|this) " + _DOC + r",\s+)", re.IGNORECASE)


def strip_frame(text: str, start: int, end: int) -> int:
    """Where the claim starts once a leading reporting frame ("According to the passage, ...", "The text states
    that ...") is skipped: a summary's framing words are not claims about the world."""
    m = _FRAME.match(text, start, end)
    if m and len(text[m.end():end].split()) >= 3:
        return m.end()
    return start


def answer_sentences(answer: str, claims: bool = True) -> list[tuple[int, int]]:
    """Sentence spans; with ``claims``, a sentence is further cut where it joins clauses (;  , and  , but ...)
    when both sides keep at least three words, so each claim gets its own verdict."""
    spans = sentence_spans(answer) or ([(0, len(answer))] if answer.strip() else [])
    if not claims:
        return spans
    out = []
    for a, b in spans:
        start = a = strip_frame(answer, a, b)
        for m in _CLAUSE.finditer(answer, a, b):
            left, right = answer[start:m.start()], answer[m.end():b]
            if len(left.split()) >= 3 and len(right.split()) >= 3:
                out.append((start, m.start()))
                start = m.end()
        out.append((start, b))
    return out


