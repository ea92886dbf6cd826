"""Property tests (Hypothesis) on untrusted text: unicode, emoji, RTL, whitespace-only, very long.
Tokenisation and aggregation, attribution and grounding: no crash, finite values, units cover the text."""

import numpy as np
import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from explainers.errors import EmptyInputError, InputError
from explainers.text.aggregate import group_tokens

ALPHABET = st.characters(codec="utf-8", exclude_categories=("Cs",))
MIXED = st.one_of(
    st.text(ALPHABET, max_size=200),
    st.lists(st.sampled_from(list("abc XYZ.!?\n\t") + ["😀", "👩‍🔬", "\u202e", "\u200f", "שלום", "مرحبا", "中文", "é",
                                                        "\u0301"]), max_size=60).map("".join),
    st.sampled_from(["", " ", "\n\n\t ", "\u200b", "a" * 5000, "Paris. " * 400]),
)


def examples(n: int) -> settings:
    """n derandomised examples, no deadline (real models), session fixtures allowed."""
    return settings(max_examples=n, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])


@examples(60)
@given(text=MIXED)
def test_units_partition_the_tokens_for_every_granularity(lm, text):
    enc = lm.tokenizer(text, add_special_tokens=False, return_offsets_mapping=True)
    offsets = [tuple(o) for o in enc["offset_mapping"]]
    for granularity in ("token", "word", "sentence"):
        units, groups = group_tokens(text, offsets, [False] * len(offsets), granularity)
        flat = [i for g in groups for i in g]
        assert flat == list(range(len(offsets)))  # every token in exactly one unit, in order
        for u in units:
            assert 0 <= u.start <= u.end <= len(text) and u.text == text[u.start:u.end]


SHORT = st.lists(st.sampled_from(list("abcdefghij XYZ.,") + ["😀", "\u202e", "שלום", "中文", "é"]), max_size=20).map("".join)


@examples(12)
@given(prompt=SHORT, answer=SHORT)
def test_attribution_is_finite_or_refused_clearly(lm, prompt, answer):
    from explainers.text.explain import explain
    from explainers.text.lm import prepare, raw_prompt

    if not prompt.strip() or not answer.strip():
        with pytest.raises(EmptyInputError):
            prepare(lm, raw_prompt(prompt), answer)
        return
    try:
        inp = prepare(lm, raw_prompt(prompt), answer)
    except EmptyInputError:
        return  # e.g. text that tokenizes to nothing
    a = explain(lm, inp, "input_x_gradient", "word")
    assert np.isfinite(a.scores).all() and np.isfinite(a.sequence_scores).all()
    assert a.scores.shape == (len(a.output_units), len(a.input_units))
    covered = "".join(u.text for u in a.output_units)
    assert covered.replace(" ", "") == a.output_text.replace(" ", "")[: len(covered.replace(" ", ""))]


@examples(40)
@given(answer=MIXED, source=MIXED)
def test_grounding_never_crashes_and_stays_in_range(embedder, answer, source):
    from explainers.retrieval.grounding import ground

    if not answer.strip() or not source.strip():
        with pytest.raises(InputError):
            ground(answer, [source], "q?", embedder=embedder)
        return
    try:
        g = ground(answer, [source], "q?", embedder=embedder)
    except EmptyInputError:
        return  # text that holds no sentence at all (e.g. only zero-width characters)
    assume(g.sentences)
    assert 0.0 <= g.answer_support_probability <= 1.0
    for s in g.sentences:
        assert 0.0 <= s.support_probability <= 1.0 and s.label in ("supported", "unsupported", "contradicted")
        assert all(np.isfinite(v) for v in s.signals.values())
        assert answer[s.start:s.end] == s.sentence
        for a, b in s.unsupported_spans:
            assert s.start <= a <= b <= s.end
