"""Faithfulness of a text attribution: really delete the top-ranked prompt units and re-score the answer.

Two readings of the same deletions, both here so the ranking and the deletion are written once:

- ERASER (``text_faithfulness``): comprehensiveness(k) = log p(answer | prompt) - log p(answer | prompt without the
  top-k units); sufficiency(k) = log p(answer | prompt) - log p(answer | only the top-k units and the template);
  AOPC averages each over the fractions given, beside a random ranking for scale.
- Deletion / insertion curves (RISE, ``text_deletion_curve``): p(answer) after removing (or keeping only) the top
  fraction, normalised per token so a text curve and an image curve (``vision.faithfulness``) share one scale.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError
from ..models import LanguageModel
from ..types import DeletionCurve, TextAttribution, TextFaithfulness
from .explain import prompt_units
from .lm import AuditInput, answer_log_probs, prompt_without


def ranked_units(inp: AuditInput, attribution: TextAttribution):
    """The prompt's unit groups at the attribution's granularity, the content (non-special) units, and those
    ranked by the attribution of the whole answer, highest first (stable for ties)."""
    units, groups = prompt_units(inp, attribution.granularity)
    if len(units) != len(attribution.input_units):
        raise InputError("the attribution was not computed on this input")
    content = [k for k, u in enumerate(units) if not u.special]
    order = [content[i] for i in np.argsort(-attribution.sequence_scores[content], kind="stable")]
    return groups, content, order


def _deletion_log_probs(lm: LanguageModel, inp: AuditInput, groups, deletions: Sequence[set[int]]) -> np.ndarray:
    """log p(answer) with each set of units deleted (an empty set: the full prompt), in one batched call."""
    prompts = [prompt_without(inp, groups, sorted(d)) for d in deletions]
    return answer_log_probs(lm, prompts, inp.answer_ids).sum(1)


def text_faithfulness(lm: LanguageModel, inp: AuditInput, attribution: TextAttribution,
                      fractions: Sequence[float] = (0.01, 0.05, 0.1, 0.2, 0.5), seed: int = 0) -> TextFaithfulness:
    groups, content, order = ranked_units(inp, attribution)
    random_order = list(np.random.default_rng(seed).permutation(content))
    ks = sorted({max(1, int(round(f * len(content)))) for f in fractions})
    deletions: list[set[int]] = [set()]
    for k in ks:
        deletions += [set(order[:k]), set(content) - set(order[:k]), set(random_order[:k])]
    lp = _deletion_log_probs(lm, inp, groups, deletions)
    full = lp[0]
    comp = tuple(float(full - lp[1 + 3 * i]) for i in range(len(ks)))
    suff = tuple(float(full - lp[2 + 3 * i]) for i in range(len(ks)))
    rand = tuple(float(full - lp[3 + 3 * i]) for i in range(len(ks)))
    n = len(content)
    return TextFaithfulness(tuple(k / n for k in ks), comp, suff, float(np.mean(comp)), float(np.mean(suff)),
                            float(np.mean(rand)))


def text_deletion_curve(lm: LanguageModel, inp: AuditInput, attribution: TextAttribution,
                        n_steps: int = 10) -> DeletionCurve:
    """Delete the top-ranked prompt units (by whole-answer attribution) and follow p(answer), normalised."""
    groups, content, order = ranked_units(inp, attribution)
    fractions = np.linspace(0.0, 1.0, n_steps + 1)
    tops = [set(order[: int(round(f * len(order)))]) for f in fractions]
    lp = _deletion_log_probs(lm, inp, groups, tops + [set(content) - top for top in tops])
    full = lp[0]  # the first deletion is of no unit
    # per-token geometric mean probability ratio keeps long answers on the same [0, ~1] scale as images
    ratio = np.exp((lp - full) / max(inp.n_answer, 1))
    dele, ins = ratio[: len(fractions)], ratio[len(fractions):]
    return DeletionCurve(tuple(fractions), tuple(dele), tuple(ins), float(np.trapezoid(dele, fractions)),
                         float(np.trapezoid(ins, fractions)))
