"""Sentence boundaries (``sentence_spans``) on the hand-made cases in tests/data/segmentation_cases.jsonl.

The regex used before sentencex gets 30 of the 60 cases right ("Dr. Smith met U.S. officials, e.g. in May." was
four sentences): ``test_case`` fails on it for the 28 cases it gets wrong and sentencex right.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from explainers.text.aggregate import sentence_spans

CASES = [json.loads(x) for x in (Path(__file__).parents[1] / "data" / "segmentation_cases.jsonl").read_text().splitlines()
         if x.strip()]

# Cases sentencex gets wrong, each with the reason; strict xfail, so a segmenter that starts getting one right
# shows up here (move the case out of the list then).
KNOWN_WRONG = {
    "list-1": "an inline numbered list with no sentence punctuation ('1. First item 2. Second item'): sentencex "
              "ends a sentence at each '1.' / '2.'; no candidate measured gets it",
    "newline-3": "a heading line without punctuation ('Summary\\nThe report ...'): a single newline is no boundary, "
                 "which keeps lines wrapped mid-sentence whole (newline-2)",
    "glued-2": "'ASP.NET': sentencex splits a period glued to a capital, which is right for HaluEval's joined "
               "paragraphs ('century.First', glued-1) and wrong for dotted product names",
}


def _check(text: str, spans: list[tuple[int, int]]) -> None:
    assert all(0 <= a < b <= len(text) for a, b in spans), spans
    assert all(b1 <= a2 for (_, b1), (a2, _) in zip(spans, spans[1:])), "spans overlap or are out of order"
    assert all(not text[a].isspace() and not text[b - 1].isspace() for a, b in spans), "a span is not stripped"
    covered = {k for a, b in spans for k in range(a, b)}
    assert all(text[k].isspace() or k in covered for k in range(len(text))), "text outside every sentence"


def test_case_file_covers_the_hard_kinds():
    assert len(CASES) >= 40
    assert {c["category"] for c in CASES} >= {"abbreviation", "number", "quote", "list", "initials", "ellipsis", "url",
                                              "punctuation", "newline", "unpunctuated", "plain"}
    assert set(KNOWN_WRONG) <= {c["id"] for c in CASES}


@pytest.mark.parametrize("case", [
    pytest.param(c, id=c["id"], marks=[pytest.mark.xfail(reason=KNOWN_WRONG[c["id"]], strict=True)]
                 if c["id"] in KNOWN_WRONG else []) for c in CASES])
def test_case(case):
    spans = sentence_spans(case["text"])
    _check(case["text"], spans)
    assert [case["text"][a:b] for a, b in spans] == case["expected"]


@pytest.mark.parametrize("text", ["", "   ", "\n\n", "\u00a0"])
def test_blank_text_has_no_sentence(text):
    assert sentence_spans(text) == []


@pytest.mark.parametrize("text", ["He moved to the U\u00a0. Then left.", "A\u2009. B\u3000. C\u202f.", "x\u2028y. Z."])
def test_spaces_outside_ascii_before_a_period(text):
    # sentencex 1.0.32 panics on these as given (it steps one byte past a multi-byte space)
    _check(text, sentence_spans(text))


_PIECES = st.one_of(st.sampled_from(list(" .!?\n\"')(…。\u00a0\u2009\u3000\u2028") + ["Dr. ", "U.S. ", "e.g. ", "3.5"]),
                    st.characters())


@settings(max_examples=300, deadline=None)
@given(st.lists(_PIECES, max_size=40).map("".join))
def test_spans_are_stripped_ordered_and_cover_the_text(text):
    _check(text, sentence_spans(text))


def test_a_failure_inside_sentencex_falls_back_to_the_plain_rule(monkeypatch):
    """sentencex runs Rust code that can panic (a BaseException) on text it was not built for: the text is then
    split by the plain punctuation rule, never lost and never an error. A lone surrogate is read as U+FFFD."""
    from explainers.text import aggregate

    assert aggregate.sentence_spans("\ud800 One. Two.") == [(0, 6), (7, 11)]

    def panic(*_args):
        raise BaseException("sentencex panicked")

    monkeypatch.setattr(aggregate.sentencex, "get_sentence_boundaries", panic)
    assert aggregate.sentence_spans("One. Two three! Four") == [(0, 4), (5, 15), (16, 20)]
