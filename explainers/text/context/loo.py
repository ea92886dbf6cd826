"""Leave-one-out over source units: the change in log p(answer) (whole and per sentence) when each unit is
deleted from the prompt, and the answer the model regenerates without it."""

from __future__ import annotations

import time
from typing import Any, Sequence


from ...models import LanguageModel
from ...types import ContextAttribution
from ..explain import answer_units
from ..lm import Progress, answer_log_probs, prompt_without
from .units import check_sources, prepared, scaled, sentence_sums, source_units, word_diff
from .units import regenerate as regenerate_answer


def leave_one_out(lm: LanguageModel, question: str, sources: Sequence[str], answer: str, *, unit: str = "sentence",
                  regenerate: bool = True, max_new_tokens: int | None = None,
                  progress: Progress | None = None) -> ContextAttribution:
    """Remove each source unit in turn: effect on log p(answer) (whole and per sentence) and the regenerated answer.

    ``max_new_tokens`` bounds each regenerated answer (default: the answer's length plus 16, at most 256)."""
    started = time.perf_counter()
    srcs = check_sources(sources)
    inp = prepared(lm, question, srcs, answer)
    units, unit_sources, groups = source_units(inp, len(srcs), unit)
    out_units, out_groups = answer_units(inp, "sentence")
    n = len(units)
    prompts = [list(inp.prompt_ids)] + [prompt_without(inp, groups, [j]) for j in range(n)]
    logp = answer_log_probs(lm, prompts, inp.answer_ids, progress=scaled(progress, 0.0, 0.5 if regenerate else 1.0))
    sent = sentence_sums(logp, out_groups)
    base, base_sent = float(logp[0].sum()), sent[0]
    variants = []
    for j in range(n):
        v: dict[str, Any] = {"removed": units[j].text, "source": int(unit_sources[j]) + 1,
                             "log_prob": float(logp[j + 1].sum())}
        if regenerate:
            v["regenerated"] = regenerate_answer(lm, prompts[j + 1], inp.n_answer, max_new_tokens,
                                                 scaled(progress, 0.5 + 0.5 * j / n, 0.5 + 0.5 * (j + 1) / n))
            v["diff"] = [list(d) for d in word_diff(inp.answer, v["regenerated"])]
            v["answer_changed"] = v["regenerated"].strip() != inp.answer.strip()
            if progress:
                progress(0.5 + 0.5 * (j + 1) / n, f"regenerated {j + 1}/{n} answers")
        variants.append(v)
    params: dict[str, Any] = {"unit": unit, "regenerate": regenerate}
    if regenerate and max_new_tokens is not None:
        params["max_new_tokens"] = max_new_tokens
    return ContextAttribution(
        mode="leave_one_out", model_id=lm.model_id, question=question, answer=inp.answer, sources=tuple(srcs),
        units=units, unit_sources=unit_sources, answer_units=out_units, scores=(sent[0][None, :] - sent[1:]).T,
        answer_scores=base - logp[1:].sum(1), base_log_prob=base, base_sentence_log_probs=base_sent,
        variants=tuple(variants), params=params, forward_passes=len(prompts), elapsed_s=time.perf_counter() - started)
