"""One call shape for every text method: ``explain(lm, inp, method=..., granularity=...)``."""

from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..models import LanguageModel
from ..registry import check_params, get_explainer, method_info
from ..types import TextAttribution, Unit
from .aggregate import group_tokens, membership
from .lm import AuditInput, Progress, step_scores
from .targets import AnswerLogProb, ContrastTarget, Target


def prompt_units(inp: AuditInput, granularity: str, spans: Sequence[tuple[int, int]] | None = None):
    if granularity == "span" and spans is None:
        spans = [v for k, v in inp.prompt.spans.items() if k.startswith("source") or k == "question"]
    return group_tokens(inp.prompt.text, inp.prompt_offsets, inp.prompt_special, granularity, spans)


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
            answer_span: tuple[int, int] | None = None, contrast: str | None = None, target: Target | None = None,
            progress: Progress | None = None, **params: Any) -> TextAttribution:
    """Attribute the answer in ``inp`` to its prompt with a registered method.

    ``granularity`` groups prompt units (token / word / sentence / span); ``output_granularity``
    groups answer units (defaults to the same, sentence for spans), and each answer unit is one target:
    gradient methods take one VJP (per IG step) per unit, not per token. ``answer_span`` (char offsets
    in the answer) keeps only the answer units inside it, e.g. the tokens of one sentence; then
    ``sequence_scores`` attribute that span. ``contrast`` explains log p(answer) - log p(contrast); ``target``
    explains any other value of the answer's log-probabilities (``explainers.text.targets``), one row for the
    whole answer.
    """
    cls = get_explainer("text", method)
    info = method_info("text", method)
    check_params("text", method, params)
    started = time.perf_counter()
    in_units, in_groups = prompt_units(inp, granularity, spans)
    out_gran = output_granularity or granularity
    out_units, out_groups = answer_units(inp, out_gran if out_gran != "span" else "sentence")
    if answer_span is not None:
        a, b = int(answer_span[0]), int(answer_span[1])
        keep = [k for k, u in enumerate(out_units) if u.start >= a and u.end <= b]
        if not keep:
            raise InputError(f"no {out_gran} of the answer lies inside characters [{a}, {b})")
        out_units, out_groups = [out_units[k] for k in keep], [out_groups[k] for k in keep]
    target = _target(lm, inp, contrast, target)
    if not target.per_token:
        if answer_span is not None:
            raise InputError(f"{'a contrast' if contrast is not None else 'this target'} explains the whole answer; "
                             "drop answer_span")
        if not info.supports_contrast:
            raise InputError(f"{method} cannot explain a contrast or another whole-answer target")
    settings = {**info.defaults, **params}
    rows = cls.attribute(lm, inp, target, in_units, in_groups, out_groups, progress=progress, **settings)
    scores, seq = rows.scores, rows.sequence
    steps = rows.steps or step_scores(lm, inp)
    if not target.per_token:
        out_units = [Unit(inp.answer, 0, len(inp.answer))]
        steps_out = _aggregate_steps(steps, [list(range(inp.n_answer))])
        seq = scores[0]
    else:
        steps_out = _aggregate_steps(steps, out_groups)
    scores = np.nan_to_num(scores, nan=0.0, posinf=0.0, neginf=0.0)
    seq = np.nan_to_num(seq, nan=0.0, posinf=0.0, neginf=0.0)
    out_params = {**{k: v for k, v in settings.items() if isinstance(v, (int, float, str, bool))},
                  "output_granularity": out_gran if target.per_token else "answer", **rows.extra}
    if answer_span is not None:
        out_params["answer_span"] = f"{answer_span[0]}:{answer_span[1]}"
    return TextAttribution(
        method=method, granularity=granularity, model_id=lm.model_id, input_text=inp.prompt.text,
        output_text=inp.answer, input_units=in_units, output_units=out_units, scores=scores,
        sequence_scores=seq, step_scores=steps_out, target=target.label, params=out_params,
        elapsed_s=time.perf_counter() - started, convergence_delta=rows.convergence_delta,
        answer_token_log_probs=_all_scored(steps["log_prob"]) if target.per_token else None,
    )


def _all_scored(log_probs) -> np.ndarray | None:
    """Every answer token's log-probability, or None where the pass scored only some (an answer span): a result
    keeps no NaN, which JSON cannot hold."""
    values = np.asarray(log_probs, dtype=np.float64)
    return values if np.all(np.isfinite(values)) else None


def _target(lm: LanguageModel, inp: AuditInput, contrast: str | None, target: Target | None) -> Target:
    """What is explained: the answer's log-probabilities, a contrast answer, or a target value the caller gave."""
    if contrast is not None and target is not None:
        raise InputError("give a contrast or a target, not both")
    if target is not None:
        if not isinstance(target, Target):
            raise InputError(f"target must be an explainers.text.targets.Target, not {type(target).__name__}")
        return target
    if contrast is None:
        return AnswerLogProb()
    if not contrast.strip():
        raise InputError("the contrast answer is empty")
    contrast_ids = lm.tokenizer(contrast, add_special_tokens=False)["input_ids"]
    if list(contrast_ids) == list(inp.answer_ids):
        raise InputError("the contrast answer equals the answer")
    return ContrastTarget(tuple(contrast_ids), contrast)


def regroup(attr: TextAttribution, inp: AuditInput, granularity: str,
            spans: Sequence[tuple[int, int]] | None = None, output_granularity: str | None = None) -> TextAttribution:
    """A gradient attribution over prompt tokens summed into another granularity, without recomputing gradients.

    Input units are always exact sums of token columns. Output units computed coarser than tokens stay as
    they are (a sentence-level result keeps one row per answer sentence); token rows are regrouped to
    ``output_granularity`` (default: like ``explain``), which is exact only for methods whose targets add
    up (not saliency: a sentence's saliency is its own gradient norm). Perturbation methods perturb whole
    units, so they must be recomputed at the new granularity and are refused here.
    """
    import dataclasses

    if attr.granularity != "token" or attr.target != "log_prob":
        raise InputError("regroup needs an attribution over prompt tokens of the answer's log-probability")
    info = method_info("text", attr.method)
    if info.kind != "gradient":
        raise InputError(f"{attr.method} perturbs whole units: compute it at the {granularity} granularity")
    if attr.scores.shape[1] != inp.n_prompt or attr.input_text != inp.prompt.text or attr.output_text != inp.answer:
        raise InputError("the attribution does not belong to this input")
    in_units, in_groups = prompt_units(inp, granularity, spans)
    m_in = membership(in_groups, inp.n_prompt)
    have = attr.params.get("output_granularity", "token")
    want = output_granularity or (have if have != "token" else granularity if granularity != "span" else "sentence")
    if want != have and have != "token":
        raise InputError(f"the rows are answer {have}s; compute {want} rows with explain(output_granularity=...)")
    if want != have:
        if not info.exact_regrouping:
            raise InputError(f"{attr.method} of a {want} is the gradient norm of its summed log-probability, not "
                             f"a sum of token rows: compute it with output_granularity={want!r}")
        inside = _span_filter(attr.params.get("answer_span"))
        token_rows = [k for k, u in enumerate(answer_units(inp, "token")[0]) if inside(u)]
        if len(token_rows) != attr.scores.shape[0]:
            raise InputError("the attribution's rows do not match this answer's tokens")
        row_of = {t: r for r, t in enumerate(token_rows)}
        units, groups = answer_units(inp, want)
        keep = [k for k, u in enumerate(units) if inside(u)]
        out_units = [units[k] for k in keep]
        out_groups = [[row_of[t] for t in groups[k]] for k in keep]
        scores = membership(out_groups, len(token_rows)) @ attr.scores
        steps, out_gran = _aggregate_steps(attr.step_scores, out_groups), want
    else:  # the output units stay
        out_units, scores, steps, out_gran = attr.output_units, attr.scores, attr.step_scores, have
    return dataclasses.replace(
        attr, granularity=granularity, input_units=tuple(in_units), output_units=tuple(out_units),
        scores=scores @ m_in.T, sequence_scores=attr.sequence_scores @ m_in.T, step_scores=steps,
        params={**attr.params, "output_granularity": out_gran, "regrouped_from": "token"})


def _span_filter(answer_span: str | None):
    """Which answer units an ``answer_span`` parameter ("start:end" char offsets) keeps."""
    if not answer_span:
        return lambda unit: True
    a, b = (int(v) for v in str(answer_span).split(":"))
    return lambda unit: unit.start >= a and unit.end <= b
