"""Signals that need the causal LM: context reliance, attribution mass on the sources, sampling consistency."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ...errors import EmptyInputError
from .lexical import tokens


def _asked(question: str) -> str:
    """The user's question: the LM signals score the answer as a reply to it, so none is ever made up."""
    if not question or not question.strip():
        raise EmptyInputError("the LM signals (context reliance, attribution mass, sampling consistency) score the "
                              "answer as a reply to its question, and no question was given: give the question, or "
                              "leave the LM out")
    return question


def context_reliance(lm, question: str, sources: Sequence[str], sentence_text: str, prefix: str = "") -> float:
    """Mean per-token log p(sentence | question + sources) - log p(sentence | question alone)."""
    from ...text.lm import answer_log_probs, build_prompt, tokenize_prompt

    question = _asked(question)
    with_src = tokenize_prompt(lm, build_prompt(lm, question, list(sources)))[0]
    without = tokenize_prompt(lm, build_prompt(lm, question, []))[0]
    ids = lm.tokenizer(prefix + sentence_text, add_special_tokens=False)["input_ids"]
    if not ids:
        return 0.0
    lp = answer_log_probs(lm, [with_src, without], ids)
    return float((lp[0] - lp[1]).mean())


def attribution_mass(lm, question: str, sources: Sequence[str], answer: str) -> list[tuple[tuple[int, int], float]]:
    """Per answer sentence: the share of positive occlusion attribution that falls on the sources (vs the
    question and instruction), by deleting each source / the question and re-scoring the sentence."""
    from ...text.explain import explain
    from ...text.lm import build_prompt, prepare

    inp = prepare(lm, build_prompt(lm, _asked(question), list(sources)), answer)
    res = explain(lm, inp, "feature_ablation", "span", output_granularity="sentence")
    src_spans = [v for k, v in inp.prompt.spans.items() if k.startswith("source")]
    is_src = np.array([any(u.start < b and u.end > a for a, b in src_spans) for u in res.input_units])
    out = []
    for unit, row in zip(res.output_units, res.scores):
        pos = np.clip(row, 0, None) * ~np.array([u.special for u in res.input_units])
        total = pos.sum()
        out.append(((unit.start, unit.end), float(pos[is_src].sum() / total) if total > 1e-9 else 0.0))
    return out


def sample_answers(lm, question: str, sources: Sequence[str], samples: int = 3, seed: int = 0) -> list[str]:
    """``samples`` sampled answers to the question (seeds ``seed``, ``seed + 1``, ...): drawn once per answer, and
    every sentence of it is scored against the same samples (``sampling_consistency``)."""
    from ...text.lm import generate

    question = _asked(question)
    return [generate(lm, question, list(sources), max_new_tokens=48, greedy=False, seed=seed + k).answer
            for k in range(samples)]


def sampling_consistency(sentence: str, sampled: Sequence[str]) -> float:
    """Share of the sentence's content words that the sampled answers also say (mean over samples)."""
    words = {t.norm for t in tokens(sentence) if t.content}
    if not words or not sampled:
        return 1.0
    return float(np.mean([len(words & {t.norm for t in tokens(text)}) / len(words) for text in sampled]))
