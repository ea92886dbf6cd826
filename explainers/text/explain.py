"""One call shape for every text method: ``explain(lm, inp, method=..., granularity=...)``."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..models import LanguageModel
from ..registry import check_params, get_explainer
from ..types import TextAttribution, Unit
from .aggregate import group_tokens, membership
from .lm import AuditInput, Progress, step_scores


def prompt_units(inp: AuditInput, granularity: str, spans: Sequence[tuple[int, int]] | None = None):
    if granularity == "span" and spans is None:
        spans = [v for k, v in inp.prompt.spans.items() if k.startswith("source") or k == "question"]
    return group_tokens(inp.prompt.text, inp.prompt_offsets, inp.prompt_special, granularity, spans)


def prompt_without(inp: AuditInput, groups: Sequence[Sequence[int]], removed) -> list[int]:
    """The prompt's token ids with every token of the removed units deleted."""
    drop = {t for u in removed for t in groups[u]}
    return [t for i, t in enumerate(inp.prompt_ids) if i not in drop]


def answer_units(inp: AuditInput, granularity: str, spans: Sequence[tuple[int, int]] | None = None):
    out_gran = "sentence" if granularity == "span" and spans is None else granularity
    return group_tokens(inp.answer, inp.answer_offsets, [False] * inp.n_answer, out_gran, spans)


def _aggregate_steps(steps: dict[str, np.ndarray], groups) -> dict[str, np.ndarray]:
    lp = np.array([steps["log_prob"][g].sum() for g in groups])
    return {
        "log_prob": lp,
        "probability": np.exp(lp),
        "entropy": np.array([steps["entropy"][g].mean() for g in groups]),
        "rank": np.array([steps["rank"][g].max() for g in groups]),
    }


def explain(lm: LanguageModel, inp: AuditInput, method: str = "integrated_gradients", granularity: str = "token",
            *, output_granularity: str | None = None, spans: Sequence[tuple[int, int]] | None = None,
            contrast: str | None = None, progress: Progress | None = None, **params: Any) -> TextAttribution:
    """Attribute the answer in ``inp`` to its prompt with a registered method.

    ``granularity`` groups prompt units (token / word / sentence / span); ``output_granularity``
    groups answer units (defaults to the same, sentence for spans). ``contrast`` explains
    log p(answer) - log p(contrast) instead of each answer token.
    """
    cls = get_explainer("text", method)
    check_params("text", method, params)
    started = time.perf_counter()
    in_units, in_groups = prompt_units(inp, granularity, spans)
    out_gran = output_granularity or granularity
    out_units, out_groups = answer_units(inp, out_gran if out_gran != "span" else "sentence")
    contrast_ids = None
    if contrast is not None:
        if not contrast.strip():
            raise InputError("the contrast answer is empty")
        contrast_ids = lm.tokenizer(contrast, add_special_tokens=False)["input_ids"]
        if list(contrast_ids) == list(inp.answer_ids):
            raise InputError("the contrast answer equals the answer")
    settings = {**getattr(cls, "defaults", {}), **params}
    conv = steps = None
    if cls.kind == "gradient":
        token_matrix, conv, steps = cls.token_matrix(lm, inp, contrast_ids=contrast_ids, progress=progress,
                                                     **settings)
        unit_matrix = token_matrix @ membership(in_groups, inp.n_prompt).T
    else:
        from .perturbation import VariantScorer

        scorer = VariantScorer(lm, inp, in_groups, contrast_ids, progress)
        unit_matrix = cls.unit_matrix(scorer, [u.special for u in in_units], **settings)
        settings["forward_passes"] = scorer.calls
    steps = steps or step_scores(lm, inp)
    if contrast_ids is not None:
        scores = unit_matrix  # one row: the contrast
        out_units = [Unit(inp.answer, 0, len(inp.answer))]
        steps_out = _aggregate_steps(steps, [list(range(inp.n_answer))])
        target = f"log p(answer) - log p({contrast!r})"
        seq = scores[0]
    else:
        scores = membership(out_groups, inp.n_answer) @ unit_matrix
        steps_out = _aggregate_steps(steps, out_groups)
        target = "log_prob"
        seq = unit_matrix.sum(0)
    scores = np.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0)
    seq = np.nan_to_num(seq, nan=0.0, posinf=0.0, neginf=0.0)
    return TextAttribution(
        method=method, granularity=granularity, model_id=lm.model_id, input_text=inp.prompt.text,
        output_text=inp.answer, input_units=in_units, output_units=out_units, scores=scores,
        sequence_scores=seq, step_scores=steps_out, target=target,
        params={**{k: v for k, v in settings.items() if isinstance(v, (int, float, str, bool))},
                "output_granularity": out_gran if contrast_ids is None else "answer"},
        elapsed_s=time.perf_counter() - started, convergence_delta=conv,
    )


def regroup(token_attr: TextAttribution, inp: AuditInput, granularity: str,
            spans: Sequence[tuple[int, int]] | None = None) -> TextAttribution:
    """A token-level gradient attribution summed into another granularity, without recomputing gradients.

    Exact for gradient methods (their unit scores are sums of token scores); perturbation methods perturb
    whole units, so they must be recomputed at the new granularity and are refused here.
    """
    import dataclasses

    if token_attr.granularity != "token" or token_attr.target != "log_prob":
        raise InputError("regroup needs a token-level attribution of the answer's log-probability")
    if getattr(get_explainer("text", token_attr.method), "kind", "") != "gradient":
        raise InputError(f"{token_attr.method} perturbs whole units: compute it at the {granularity} granularity")
    if token_attr.scores.shape != (inp.n_answer, inp.n_prompt):
        raise InputError("the attribution does not belong to this input")
    in_units, in_groups = prompt_units(inp, granularity, spans)
    out_units, out_groups = answer_units(inp, granularity if granularity != "span" else "sentence")
    m_in = membership(in_groups, inp.n_prompt)
    return dataclasses.replace(
        token_attr, granularity=granularity, input_units=tuple(in_units), output_units=tuple(out_units),
        scores=membership(out_groups, inp.n_answer) @ token_attr.scores @ m_in.T,
        sequence_scores=token_attr.sequence_scores @ m_in.T,
        step_scores=_aggregate_steps(token_attr.step_scores, out_groups),
        params={**token_attr.params, "output_granularity": granularity if granularity != "span" else "sentence",
                "regrouped_from": "token"})
