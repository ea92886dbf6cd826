"""Faithfulness of a text attribution (ERASER): really delete the top-k units and re-score the answer.

comprehensiveness(k) = log p(answer | prompt) - log p(answer | prompt without the top-k units)
sufficiency(k)       = log p(answer | prompt) - log p(answer | only the top-k units and the template)
AOPC averages each over k = 1..K (the fractions in ``fractions``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

import numpy as np

from ..models import LanguageModel
from ..types import TextAttribution
from .explain import prompt_units, prompt_without
from .lm import AuditInput, answer_log_probs


@dataclass(frozen=True)
class TextFaithfulness:
    fractions: tuple[float, ...]
    comprehensiveness: tuple[float, ...]
    sufficiency: tuple[float, ...]
    aopc_comprehensiveness: float
    aopc_sufficiency: float
    random_aopc_comprehensiveness: float  # the same with a random ranking, for scale


def text_faithfulness(lm: LanguageModel, inp: AuditInput, attribution: TextAttribution,
                      fractions: Sequence[float] = (0.01, 0.05, 0.1, 0.2, 0.5), seed: int = 0) -> TextFaithfulness:
    units, groups = prompt_units(inp, attribution.granularity)
    if len(units) != len(attribution.input_units):
        raise ValueError("the attribution was not computed on this input")
    content = [k for k, u in enumerate(units) if not u.special]
    scores = attribution.sequence_scores[content]
    order = [content[i] for i in np.argsort(-scores, kind="stable")]
    rng = np.random.default_rng(seed)
    random_order = list(rng.permutation(content))
    ks = sorted({max(1, int(round(f * len(content)))) for f in fractions})

    prompts = [list(inp.prompt_ids)]
    for k in ks:
        prompts.append(prompt_without(inp, groups, set(order[:k])))
        prompts.append(prompt_without(inp, groups, set(content) - set(order[:k])))
        prompts.append(prompt_without(inp, groups, set(random_order[:k])))
    lp = answer_log_probs(lm, prompts, inp.answer_ids).sum(1)
    full = lp[0]
    comp = tuple(float(full - lp[1 + 3 * i]) for i in range(len(ks)))
    suff = tuple(float(full - lp[2 + 3 * i]) for i in range(len(ks)))
    rand = tuple(float(full - lp[3 + 3 * i]) for i in range(len(ks)))
    n = len(content)
    return TextFaithfulness(tuple(k / n for k in ks), comp, suff, float(np.mean(comp)), float(np.mean(suff)),
                            float(np.mean(rand)))
