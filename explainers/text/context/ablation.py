"""ContextCite-style attribution: random ablations of source units, scored in batches, fitted by the surrogate;
optionally compared with leave-one-out and gradient×input on the same units."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from ...errors import InputError
from ...models import LanguageModel
from ...types import ContextAttribution
from ..explain import answer_units
from ..lm import AuditInput, Progress, answer_log_probs, prompt_without
from .surrogate import ablation_masks, fit_surrogate, spearman
from .units import check_sources, prepared, scaled, sentence_sums, source_units


def ablate(lm: LanguageModel, question: str, sources: Sequence[str], answer: str, *, n_ablations: int = 32,
           unit: str = "sentence", keep_probability: float = 0.5, alpha: float = 0.01, seed: int = 0,
           compare: bool = True, progress: Progress | None = None) -> ContextAttribution:
    """ContextCite-style attribution: random source ablations, batched, a Lasso surrogate per answer sentence.

    ``compare`` also runs leave-one-out (no regeneration) and gradient×input aggregated to the same units and
    reports their Spearman agreement with the surrogate weights."""
    if n_ablations < 4:
        raise InputError("n_ablations must be at least 4")
    started = time.perf_counter()
    srcs = check_sources(sources)
    inp = prepared(lm, question, srcs, answer)
    units, unit_sources, groups = source_units(inp, len(srcs), unit)
    out_units, out_groups = answer_units(inp, "sentence")
    keep = np.vstack([np.ones((1, len(units)), bool), ablation_masks(len(units), n_ablations, keep_probability, seed)])
    prompts = [prompt_without(inp, groups, np.flatnonzero(~m)) for m in keep]
    logp = answer_log_probs(lm, prompts, inp.answer_ids, progress=scaled(progress, 0.0, 0.8))
    sent = sentence_sums(logp, out_groups)
    targets = np.hstack([logp.sum(1, keepdims=True), sent])  # whole answer, then each sentence
    weights, _, fit = fit_surrogate(keep, targets, alpha=alpha, seed=seed)
    fit["r2_heldout"] = fit["r2_heldout_per_target"][0]
    fit["lds"] = fit["lds_per_target"][0]
    agreement: dict[str, Any] = {}
    passes = len(prompts)
    if compare:
        if progress:
            progress(0.85, "leave-one-out for comparison")
        loo_prompts = [prompt_without(inp, groups, [j]) for j in range(len(units))]
        loo = logp[0].sum() - answer_log_probs(lm, loo_prompts, inp.answer_ids,
                                               progress=scaled(progress, 0.85, 0.92)).sum(1)
        passes += len(loo_prompts)
        agreement["spearman_vs_leave_one_out"] = spearman(weights[0], loo)
        agreement["leave_one_out"] = [float(v) for v in loo]
        if progress:
            progress(0.92, "gradient×input for comparison")
        grad = _gradient_unit_scores(lm, inp, groups)
        agreement["spearman_vs_input_x_gradient"] = spearman(weights[0], grad)
        agreement["input_x_gradient"] = [float(v) for v in grad]
        agreement["top_unit_agrees_with_leave_one_out"] = bool(np.argmax(weights[0]) == np.argmax(loo))
    if progress:
        progress(1.0, "done")
    return ContextAttribution(
        mode="ablate", model_id=lm.model_id, question=question, answer=inp.answer, sources=tuple(srcs), units=units,
        unit_sources=unit_sources, answer_units=out_units, scores=weights[1:], answer_scores=weights[0],
        base_log_prob=float(logp[0].sum()), base_sentence_log_probs=sent[0], fit=fit, agreement=agreement,
        params={"unit": unit, "n_ablations": n_ablations, "keep_probability": keep_probability, "alpha": alpha,
                "seed": seed},
        forward_passes=passes, elapsed_s=time.perf_counter() - started)


def _gradient_unit_scores(lm: LanguageModel, inp: AuditInput, groups) -> np.ndarray:
    """Gradient×input of the whole answer's log-probability (one target: one backward), summed over each unit."""
    from ...registry import get_explainer
    from ..aggregate import membership

    cls = get_explainer("text", "input_x_gradient")
    rows = cls.token_matrix(lm, inp, contrast_ids=None, progress=None, row_groups=[list(range(inp.n_answer))],
                            **getattr(cls, "defaults", {}))
    return rows.sequence @ membership(groups, inp.n_prompt).T
