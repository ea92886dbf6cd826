"""Perturbation effects on the default LM: leave-one-out, random ablations, context reliance, what-if edits."""

import dataclasses

import numpy as np
import pytest

from explainers.errors import InputError, SpanError
from explainers.text.context import (ablate, apply_edits, context_reliance, fit_surrogate, leave_one_out, make_edit,
                                     replay, what_if)
from explainers.types import from_json, results_equal, to_json

QUESTION = "Where is the Zorblax festival held?"
SOURCES = ["Many visitors bring tents. The Zorblax festival is held in the town of Quenby every spring.",
           "Cats are popular pets in many countries."]
ANSWER = "The Zorblax festival is held in Quenby."


def _same(a, b):
    strip = {"elapsed_s": 0.0, "created_at": ""}
    return results_equal(dataclasses.replace(a, **strip), dataclasses.replace(b, **strip))


def test_removing_the_answer_sentence_matters_more_than_an_irrelevant_one(lm):
    progress = []
    r = leave_one_out(lm, QUESTION, SOURCES, ANSWER, progress=lambda f, m: progress.append(f))
    texts = [u.text for u in r.units]
    assert texts == ["Many visitors bring tents.", "The Zorblax festival is held in the town of Quenby every spring.",
                     "Cats are popular pets in many countries."]
    assert r.unit_sources == (0, 0, 1)
    key = r.answer_scores[1]
    assert key > 5.0 and key > 10 * max(abs(r.answer_scores[0]), abs(r.answer_scores[2]))
    # per answer sentence and whole answer agree (one sentence), and each variant's log-prob is consistent
    assert np.allclose(r.scores[0], r.answer_scores)
    assert np.isclose(r.variants[1]["log_prob"], r.base_log_prob - key)
    # the regenerated answer without the key sentence loses "Quenby"; without the irrelevant one it keeps it
    assert "Quenby" not in r.variants[1]["regenerated"] and r.variants[1]["answer_changed"]
    assert "Quenby" in r.variants[2]["regenerated"]
    assert any(op != "equal" for op, _, _ in r.variants[1]["diff"])
    assert progress and progress[-1] == pytest.approx(1.0)
    assert results_equal(from_json(to_json(r)), r)


def test_surrogate_recovers_a_planted_dependency():
    rng = np.random.default_rng(1)
    masks = rng.random((64, 10)) < 0.5
    y = 4.0 * masks[:, 3] + 1.5 * masks[:, 7] + rng.normal(0, 0.1, 64)
    w, _, fit = fit_surrogate(masks, y[:, None])
    assert np.argsort(-w[0])[:2].tolist() == [3, 7]
    assert abs(w[0][3] - 4.0) < 0.2 and np.abs(np.delete(w[0], [3, 7])).max() < 0.1
    assert fit["r2_heldout_per_target"][0] > 0.95 and fit["lds_per_target"][0] > 0.9


def test_ablations_on_the_model_find_the_answer_sentence_and_report_fit(lm):
    a = ablate(lm, QUESTION, SOURCES, ANSWER, n_ablations=32)
    assert int(np.argmax(a.answer_scores)) == 1
    assert a.fit["r2_heldout"] > 0.8 and a.fit["lds"] > 0.7
    assert a.agreement["top_unit_agrees_with_leave_one_out"]
    assert a.forward_passes == 33 + 3  # 32 ablations + the full prompt, then leave-one-out for comparison
    assert results_equal(from_json(to_json(a)), a)
    with pytest.raises(InputError):
        ablate(lm, QUESTION, SOURCES, ANSWER, n_ablations=2)


def test_context_reliance_flags_words_from_the_prior_not_words_copied_from_sources(lm):
    r = context_reliance(lm, QUESTION, SOURCES, "The Zorblax festival is held in Quenby by Gandalf.")
    words = {w.text: (float(rel), flag) for w, rel, flag in zip(r.words, r.word_reliance, r.flagged)}
    assert words["Gandalf"][1], words  # in no source, not implied by the question
    assert not words["Quenby"][1] and words["Quenby"][0] > 5.0  # copied from a source
    assert not words["by"][1]  # function words are never flagged
    assert np.all(np.isfinite(r.log_prob_with)) and len(r.tokens) == len(r.log_prob_with)
    assert results_equal(from_json(to_json(r)), r)


def test_reliance_reuses_an_attribution_s_pass_with_the_same_values(lm):
    """The dashboard hands context reliance the answer's log-probabilities from the attribution it already ran
    (its teacher-forced pass with the sources): two passes instead of three, same reliance."""
    from explainers.text.explain import explain
    from explainers.text.lm import build_prompt, prepare

    answer = "The Zorblax festival is held in Quenby by Gandalf. It is held every spring."
    inp = prepare(lm, build_prompt(lm, QUESTION, SOURCES), answer)
    attr = explain(lm, inp, "input_x_gradient", "token", output_granularity="sentence")
    assert attr.answer_token_log_probs.shape == (inp.n_answer,)
    assert results_equal(from_json(to_json(attr)), attr)  # the new field survives a report round trip
    full = context_reliance(lm, QUESTION, SOURCES, answer)
    reused = context_reliance(lm, QUESTION, SOURCES, answer, log_probs_with_sources=attr.answer_token_log_probs)
    assert np.allclose(reused.log_prob_with, full.log_prob_with, atol=1e-4)
    assert np.allclose(reused.word_reliance, full.word_reliance, atol=1e-3)
    assert np.array_equal(reused.log_prob_without, full.log_prob_without)
    assert reused.flagged == full.flagged
    with pytest.raises(InputError, match="one per answer token"):
        context_reliance(lm, QUESTION, SOURCES, answer, log_probs_with_sources=attr.answer_token_log_probs[:-1])


def test_what_if_edits_are_data_and_replay_identically(lm):
    edits = [make_edit("replace", "text", "source 1", match="Quenby", replacement="Arlesford"),
             make_edit("remove", "source", "source 2")]
    q, srcs = apply_edits(QUESTION, SOURCES, edits)
    assert "Arlesford" in srcs[0] and srcs[1] == ""
    r = what_if(lm, QUESTION, SOURCES, ANSWER, edits)
    assert r.edited_log_prob < r.base_log_prob - 5.0  # the answer's key word is gone from the sources
    assert "Arlesford" in r.regenerated
    again = replay(lm, from_json(to_json(r)))
    assert _same(again, r)


def test_edits_that_name_missing_text_get_clear_errors():
    with pytest.raises(SpanError, match="source 3"):
        apply_edits(QUESTION, SOURCES, [make_edit("remove", "source", "source 3")])
    with pytest.raises(SpanError, match="does not occur"):
        apply_edits(QUESTION, SOURCES, [make_edit("remove", "text", "question", match="Paris")])
    with pytest.raises(SpanError, match="index 9"):
        apply_edits(QUESTION, SOURCES, [make_edit("remove", "sentence", "source 1", index=9)])
    with pytest.raises(InputError):
        make_edit("explode", "word", "question", index=0)
    with pytest.raises(InputError):
        make_edit("remove", "word", "question")  # no index


# ---------------------------------------------------------------- per-claim reliance as the fusion was fitted

FRAMED = "According to the sources, the Zorblax festival is held in the town of Quenby every spring."
TWO = "The Zorblax festival is held in Quenby. Visitors bring tents to it."


def test_a_claim_s_reliance_in_grounding_is_the_value_the_fusion_was_fitted_on(lm, embedder):
    """The LM fusion was fitted on ``context_reliance`` of each labelled answer as a whole (compute_features):
    grounding must give a one-claim answer exactly that value, reporting frame included (it strips the frame from
    the claim's text, and scored the bare claim as if the answer started there)."""
    from explainers.retrieval.grounding import context_reliance as fitted_feature
    from explainers.retrieval.grounding import ground

    g = ground(FRAMED, SOURCES, QUESTION, embedder=embedder, lm=lm, verifier=None)
    assert len(g.sentences) == 1 and g.sentences[0].start > 0  # the frame is not part of the claim
    expected = fitted_feature(lm, QUESTION, SOURCES, FRAMED)  # retrieval.evaluate.compute_features' call
    assert g.sentences[0].signals["context_reliance"] == pytest.approx(expected, abs=1e-4)


def test_a_later_claim_is_read_after_the_answer_before_it(lm, embedder):
    """Sentence 2's reliance is the mean over its tokens of the teacher-forced whole answer's per-token reliance
    (the answer before it as prefix), not a score of sentence 2 as if it opened the answer."""
    from explainers.retrieval.grounding import context_reliance as bare_sentence
    from explainers.retrieval.grounding import ground
    from explainers.text.context import claim_reliance

    g = ground(TWO, SOURCES, QUESTION, embedder=embedder, lm=lm, verifier=None)
    assert len(g.sentences) == 2
    tokens = context_reliance(lm, QUESTION, SOURCES, TWO)
    second = [k for k, t in enumerate(tokens.tokens) if t.end > g.sentences[0].end]
    in_context = float(tokens.token_reliance[second].mean())
    got = g.sentences[1].signals["context_reliance"]
    assert got == pytest.approx(in_context, abs=1e-4)
    assert abs(got - bare_sentence(lm, QUESTION, SOURCES, g.sentences[1].sentence)) > 0.05  # the prefix matters
    spans = [(s.start, s.end) for s in g.sentences]
    assert claim_reliance(lm, QUESTION, SOURCES, TWO, spans) == pytest.approx(
        [s.signals["context_reliance"] for s in g.sentences], abs=1e-9)
    with pytest.raises(InputError, match="overlap"):
        claim_reliance(lm, QUESTION, SOURCES, TWO, [(0, 20), (10, 30)])
