"""Perturbation effects on a RAG answer: which source sentence made the model say this, and which words came
from no source at all.

- ``leave_one_out``: remove each source sentence (or whole source) in turn; the change in the answer's
  log-probability (whole answer and per answer sentence) and the answer the model regenerates without it.
- ``ablate``: ContextCite-style random ablations of source sentences, scored in batches, with a sparse linear
  surrogate (Lasso) per answer sentence; its held-out R² and linear datamodeling score (LDS) say when to trust it.
- ``context_reliance``: log p(token | prompt with sources) - log p(token | prompt without sources) per answer
  token (and with the sources shuffled); content words the model would have produced anyway are flagged as
  coming from its prior.
- ``what_if``: edits as data (remove or replace a word, sentence, source or text); the answer re-scored and
  regenerated under the edited prompt. ``replay`` runs the same edits again.

Sentences are removed by deleting their tokens from the tokenised prompt (the same way every perturbation
method here removes units), so a variant costs one forward pass and all variants of a call share batches.
"""

from __future__ import annotations

import difflib
import re
import time
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from ..errors import EmptyInputError, InputError, SpanError
from ..models import LanguageModel
from ..types import Unit, register_type, utc_now
from .aggregate import _anchor, sentence_spans, word_spans
from .explain import answer_units, prompt_without
from .lm import AuditInput, Progress, answer_log_probs, build_prompt, generate_ids, prepare

UNIT_KINDS = ("sentence", "source")
_STOP = set("""a an the and or but if then else of to in on at by for with from as is are was were be been being am
it its this that these those he she they we you i his her their our your my me him them us there here which who whom
whose what when where why how not no nor so too very can could will would shall should may might must do does did
has have had having also just only than into onto over under about after before between during while s t""".split())


@dataclass(frozen=True)
class Table:
    """A plain table a report can print (headers and cells as strings or numbers)."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""


# ------------------------------------------------------------------------------------ result types


@dataclass(frozen=True)
class ContextAttribution:
    """Effects of source units on the answer: ``scores[i, j]`` for answer sentence ``i`` and source unit ``j``,
    ``answer_scores[j]`` for the whole answer (log-probability units: positive = the unit supports the answer)."""

    mode: str  # "leave_one_out" or "ablate"
    model_id: str
    question: str
    answer: str
    sources: tuple[str, ...]
    units: tuple[Unit, ...]  # offsets inside their source's text
    unit_sources: tuple[int, ...]  # 0-based source index of each unit
    answer_units: tuple[Unit, ...]  # answer sentences (offsets in the answer)
    scores: np.ndarray
    answer_scores: np.ndarray
    base_log_prob: float
    base_sentence_log_probs: np.ndarray
    variants: tuple[dict[str, Any], ...] = ()  # leave-one-out: one per unit (log_prob, regenerated answer, diff)
    fit: dict[str, Any] = field(default_factory=dict)  # ablate: surrogate fit quality
    agreement: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    forward_passes: int = 0
    elapsed_s: float = 0.0
    created_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        for name in ("units", "unit_sources", "answer_units", "variants", "sources"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        scores = np.asarray(self.scores, dtype=np.float64)
        if scores.shape != (len(self.answer_units), len(self.units)):
            raise ValueError(f"scores shape {scores.shape} != ({len(self.answer_units)}, {len(self.units)})")
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "answer_scores", np.asarray(self.answer_scores, dtype=np.float64))
        object.__setattr__(self, "base_sentence_log_probs", np.asarray(self.base_sentence_log_probs, dtype=np.float64))
        object.__setattr__(self, "base_log_prob", float(self.base_log_prob))

    def top_units(self, k: int = 5, row: int | None = None) -> list[tuple[int, float]]:
        values = self.answer_scores if row is None else self.scores[row]
        return [(int(j), float(values[j])) for j in np.argsort(-values)[:k]]

    def as_tables(self) -> list[Table]:
        title = ("Leave-one-out over sources" if self.mode == "leave_one_out"
                 else f"Context attribution by {self.params.get('n_ablations')} random ablations (Lasso surrogate)")
        header = ["source", "unit", "effect on answer log-prob"]
        if self.mode == "leave_one_out":
            header += ["answer regenerated without it"]
        rows = []
        for j, u in enumerate(self.units):
            row = [str(self.unit_sources[j] + 1), u.text, round(float(self.answer_scores[j]), 4)]
            if self.mode == "leave_one_out":
                row.append(self.variants[j].get("regenerated", "") if j < len(self.variants) else "")
            rows.append(tuple(row))
        note = f"base answer log-probability {self.base_log_prob:.3f}"
        if self.fit:
            note += (f"; surrogate held-out R² {self.fit.get('r2_heldout', float('nan')):.2f}, "
                     f"LDS {self.fit.get('lds', float('nan')):.2f}")
        return [Table(title, tuple(header), tuple(rows), note)]


@dataclass(frozen=True)
class ContextReliance:
    """Per answer token: log p with the sources, without them and with them shuffled; per word the reliance and
    whether it is flagged as coming from the model's prior (content words only)."""

    model_id: str
    question: str
    answer: str
    tokens: tuple[Unit, ...]  # offsets in the answer
    log_prob_with: np.ndarray
    log_prob_without: np.ndarray
    log_prob_shuffled: np.ndarray
    words: tuple[Unit, ...]
    word_reliance: np.ndarray  # sum over the word's tokens of (with - without), nats
    word_shuffle_drop: np.ndarray  # sum over the word's tokens of (with - shuffled)
    flagged: tuple[bool, ...]  # content word with reliance below the threshold: from the model's prior
    threshold: float
    params: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    created_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        for name in ("tokens", "words", "flagged"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        n_tok, n_word = len(self.tokens), len(self.words)
        for name, n in (("log_prob_with", n_tok), ("log_prob_without", n_tok), ("log_prob_shuffled", n_tok),
                        ("word_reliance", n_word), ("word_shuffle_drop", n_word)):
            arr = np.asarray(getattr(self, name), dtype=np.float64)
            if arr.shape != (n,):
                raise ValueError(f"{name} has shape {arr.shape}, expected ({n},)")
            object.__setattr__(self, name, arr)
        if len(self.flagged) != n_word:
            raise ValueError("one flag per word is needed")

    @property
    def token_reliance(self) -> np.ndarray:
        return self.log_prob_with - self.log_prob_without

    def flagged_words(self) -> list[str]:
        return [w.text for w, f in zip(self.words, self.flagged) if f]

    def as_tables(self) -> list[Table]:
        rows = tuple((w.text, round(float(r), 3), round(float(s), 3), "prior" if f else "")
                     for w, r, s, f in zip(self.words, self.word_reliance, self.word_shuffle_drop, self.flagged))
        return [Table("Context reliance of each answer word", ("word", "reliance (nats)", "drop when shuffled",
                                                               "flag"), rows,
                      f"reliance = log p(with sources) - log p(without); content words under {self.threshold:g} "
                      "nats are flagged as coming from the model's prior")]


@dataclass(frozen=True)
class EditResult:
    """A what-if: the edits (data), the edited inputs, the answer re-scored and regenerated."""

    edits: tuple[dict[str, Any], ...]
    model_id: str
    question: str
    sources: tuple[str, ...]
    edited_question: str
    edited_sources: tuple[str, ...]
    answer: str
    base_log_prob: float
    edited_log_prob: float
    answer_units: tuple[Unit, ...]
    sentence_deltas: np.ndarray  # edited - base, per answer sentence
    regenerated: str = ""
    diff: tuple[tuple[str, str, str], ...] = ()  # (op, old words, new words)
    params: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    created_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        for name in ("edits", "sources", "edited_sources", "answer_units"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "edits", tuple(dict(e) for e in self.edits))
        object.__setattr__(self, "diff", tuple(tuple(d) for d in self.diff))
        object.__setattr__(self, "sentence_deltas", np.asarray(self.sentence_deltas, dtype=np.float64))

    @property
    def probability_ratio(self) -> float:
        return float(np.exp(self.edited_log_prob - self.base_log_prob))

    def as_tables(self) -> list[Table]:
        rows = tuple((json_edit(e), "") for e in self.edits)
        rows += (("answer log-prob", f"{self.base_log_prob:.3f} → {self.edited_log_prob:.3f}"),
                 ("regenerated answer", self.regenerated))
        return [Table("What-if edit", ("edit", "result"), rows)]


register_type("context_attribution", ContextAttribution)
register_type("context_reliance", ContextReliance)
register_type("edit_result", EditResult)
register_type("context_table", Table)


def json_edit(edit: dict[str, Any]) -> str:
    parts = [edit["op"], edit["unit"], f"in {edit['where']}"]
    if edit.get("index") is not None:
        parts.append(f"#{edit['index']}")
    if edit.get("match"):
        parts.append(f"“{edit['match']}”")
    if edit["op"] == "replace":
        parts.append(f"→ “{edit.get('replacement', '')}”")
    return " ".join(parts)


# ------------------------------------------------------------------------------------ shared mechanics


def _check_sources(sources: Sequence[str]) -> list[str]:
    srcs = [s.strip() for s in sources if s and s.strip()]
    if not srcs:
        raise EmptyInputError("there are no sources to perturb")
    return srcs


def _prepared(lm: LanguageModel, question: str, sources: Sequence[str], answer: str | None,
              max_new_tokens: int = 64) -> AuditInput:
    return prepare(lm, build_prompt(lm, question, sources), answer, max_new_tokens=max_new_tokens)


def source_units(inp: AuditInput, n_sources: int, unit: str = "sentence"):
    """Units over the sources (sentences or whole sources) and the prompt tokens of each.

    Returns (units with offsets in their source text, source index per unit, token groups)."""
    if unit not in UNIT_KINDS:
        raise InputError(f"unknown unit {unit!r}; choose one of {', '.join(UNIT_KINDS)}")
    text = inp.prompt.text
    regions = []  # (prompt start, prompt end, source index, start in source)
    for k in range(n_sources):
        a, b = inp.prompt.spans[f"source {k + 1}"]
        spans = [(0, b - a)] if unit == "source" else sentence_spans(text[a:b])
        regions += [(a + s, a + e, k, s) for s, e in spans]
    groups: list[list[int]] = [[] for _ in regions]
    starts = np.array([r[0] for r in regions])
    for i, ((s, e), special) in enumerate(zip(inp.prompt_offsets, inp.prompt_special)):
        if special:
            continue
        anchor = _anchor(text, s, e)
        if anchor is None:
            continue
        r = int(np.searchsorted(starts, anchor, side="right")) - 1
        if r >= 0 and regions[r][0] <= anchor < regions[r][1]:
            groups[r].append(i)
    keep = [r for r, g in enumerate(groups) if g]
    units = tuple(Unit(text[regions[r][0]:regions[r][1]], regions[r][3], regions[r][3] + regions[r][1] - regions[r][0])
                  for r in keep)
    return units, tuple(regions[r][2] for r in keep), [groups[r] for r in keep]


def _without(inp: AuditInput, groups: Sequence[Sequence[int]], removed: np.ndarray) -> list[int]:
    """The prompt with the units marked True in ``removed`` deleted (mask form of ``prompt_without``)."""
    return prompt_without(inp, groups, np.flatnonzero(removed))


def _sentence_sums(token_logp: np.ndarray, out_groups) -> np.ndarray:
    """(variants, answer tokens) -> (variants, answer sentences)."""
    return np.stack([token_logp[:, g].sum(1) for g in out_groups], axis=1)


def word_diff(old: str, new: str) -> tuple[tuple[str, str, str], ...]:
    a, b = old.split(), new.split()
    out = []
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(a=a, b=b, autojunk=False).get_opcodes():
        out.append((op, " ".join(a[i1:i2]), " ".join(b[j1:j2])))
    return tuple(out)


def _regenerate(lm: LanguageModel, prompt_ids: Sequence[int], n_answer: int, max_new_tokens: int | None) -> str:
    ids = generate_ids(lm, prompt_ids, max_new_tokens=max_new_tokens or min(256, n_answer + 16))
    return lm.tokenizer.decode(ids, skip_special_tokens=True)


# ------------------------------------------------------------------------------------ leave-one-out


def leave_one_out(lm: LanguageModel, question: str, sources: Sequence[str], answer: str, *, unit: str = "sentence",
                  regenerate: bool = True, max_new_tokens: int | None = None,
                  progress: Progress | None = None) -> ContextAttribution:
    """Remove each source unit in turn: effect on log p(answer) (whole and per sentence) and the regenerated answer."""
    started = time.perf_counter()
    srcs = _check_sources(sources)
    inp = _prepared(lm, question, srcs, answer)
    units, unit_sources, groups = source_units(inp, len(srcs), unit)
    out_units, out_groups = answer_units(inp, "sentence")
    n = len(units)
    masks = np.vstack([np.zeros((1, n), bool), np.eye(n, dtype=bool)])  # True = removed
    prompts = [_without(inp, groups, m) for m in masks]
    scale = 0.5 if regenerate else 1.0
    logp = answer_log_probs(lm, prompts, inp.answer_ids,
                            progress=(lambda f, m: progress(scale * f, m)) if progress else None)
    sent = _sentence_sums(logp, out_groups)
    base, base_sent = float(logp[0].sum()), sent[0]
    variants = []
    for j in range(n):
        v: dict[str, Any] = {"removed": units[j].text, "source": int(unit_sources[j]) + 1,
                             "log_prob": float(logp[j + 1].sum())}
        if regenerate:
            v["regenerated"] = _regenerate(lm, prompts[j + 1], inp.n_answer, max_new_tokens)
            v["diff"] = [list(d) for d in word_diff(inp.answer, v["regenerated"])]
            v["answer_changed"] = v["regenerated"].strip() != inp.answer.strip()
            if progress:
                progress(0.5 + 0.5 * (j + 1) / n, f"regenerated {j + 1}/{n} answers")
        variants.append(v)
    return ContextAttribution(
        mode="leave_one_out", model_id=lm.model_id, question=question, answer=inp.answer, sources=tuple(srcs),
        units=units, unit_sources=unit_sources, answer_units=out_units, scores=(sent[0][None, :] - sent[1:]).T,
        answer_scores=base - logp[1:].sum(1), base_log_prob=base, base_sentence_log_probs=base_sent,
        variants=tuple(variants), params={"unit": unit, "regenerate": regenerate},
        forward_passes=len(prompts), elapsed_s=time.perf_counter() - started)


# ------------------------------------------------------------------------------------ random ablations


def ablation_masks(n_units: int, n_ablations: int, keep_probability: float = 0.5, seed: int = 0) -> np.ndarray:
    """Random keep-masks (True = kept), never all-kept or all-removed twice; the full prompt is added by callers."""
    rng = np.random.default_rng(seed)
    return rng.random((int(n_ablations), n_units)) < keep_probability


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    if len(a) < 3 or np.ptp(a) == 0 or np.ptp(b) == 0:
        return float("nan")
    return float(spearmanr(a, b).statistic)


def fit_surrogate(masks: np.ndarray, targets: np.ndarray, alpha: float = 0.01, folds: int = 4, seed: int = 0):
    """Lasso per target column on 0/1 keep-masks; held-out R² and LDS (Spearman of predicted vs actual) by K-fold.

    Returns (weights targets x units, intercepts, fit dict)."""
    from sklearn.linear_model import Lasso

    x = masks.astype(np.float64)
    y = np.atleast_2d(targets.T).T  # (samples, targets)
    n = x.shape[0]
    weights, intercepts = np.zeros((y.shape[1], x.shape[1])), np.zeros(y.shape[1])
    pred = np.full_like(y, np.nan)
    order = np.random.default_rng(seed).permutation(n)
    folds = max(2, min(folds, n // 4)) if n >= 8 else 0
    for t in range(y.shape[1]):
        model = Lasso(alpha=alpha, max_iter=20000).fit(x, y[:, t])
        weights[t], intercepts[t] = model.coef_, model.intercept_
        for f in range(folds):
            test = order[f::folds]
            train = np.setdiff1d(order, test)
            pred[test, t] = Lasso(alpha=alpha, max_iter=20000).fit(x[train], y[train, t]).predict(x[test])
    r2, lds = [], []
    for t in range(y.shape[1]):
        ok = np.isfinite(pred[:, t])
        if ok.sum() < 3:
            r2.append(float("nan"))
            lds.append(float("nan"))
            continue
        resid = ((y[ok, t] - pred[ok, t]) ** 2).sum()
        total = ((y[ok, t] - y[ok, t].mean()) ** 2).sum()
        r2.append(float(1 - resid / total) if total > 0 else float("nan"))
        lds.append(_spearman(pred[ok, t], y[ok, t]))
    return weights, intercepts, {"r2_heldout_per_target": r2, "lds_per_target": lds, "folds": folds}


def ablate(lm: LanguageModel, question: str, sources: Sequence[str], answer: str, *, n_ablations: int = 32,
           unit: str = "sentence", keep_probability: float = 0.5, alpha: float = 0.01, seed: int = 0,
           compare: bool = True, progress: Progress | None = None) -> ContextAttribution:
    """ContextCite-style attribution: random source ablations, batched, a Lasso surrogate per answer sentence.

    ``compare`` also runs leave-one-out (no regeneration) and gradient×input aggregated to the same units and
    reports their Spearman agreement with the surrogate weights."""
    if n_ablations < 4:
        raise InputError("n_ablations must be at least 4")
    started = time.perf_counter()
    srcs = _check_sources(sources)
    inp = _prepared(lm, question, srcs, answer)
    units, unit_sources, groups = source_units(inp, len(srcs), unit)
    out_units, out_groups = answer_units(inp, "sentence")
    keep = np.vstack([np.ones((1, len(units)), bool), ablation_masks(len(units), n_ablations, keep_probability, seed)])
    prompts = [_without(inp, groups, ~m) for m in keep]
    logp = answer_log_probs(lm, prompts, inp.answer_ids,
                            progress=(lambda f, m: progress(0.8 * f, m)) if progress else None)
    sent = _sentence_sums(logp, out_groups)
    targets = np.hstack([logp.sum(1, keepdims=True), sent])  # whole answer, then each sentence
    weights, _, fit = fit_surrogate(keep, targets, alpha=alpha, seed=seed)
    fit["r2_heldout"] = fit["r2_heldout_per_target"][0]
    fit["lds"] = fit["lds_per_target"][0]
    agreement: dict[str, Any] = {}
    passes = len(prompts)
    if compare:
        if progress:
            progress(0.85, "leave-one-out for comparison")
        loo_prompts = [_without(inp, groups, np.eye(len(units), dtype=bool)[j]) for j in range(len(units))]
        loo = logp[0].sum() - answer_log_probs(lm, loo_prompts, inp.answer_ids).sum(1)
        passes += len(loo_prompts)
        agreement["spearman_vs_leave_one_out"] = _spearman(weights[0], loo)
        agreement["leave_one_out"] = [float(v) for v in loo]
        if progress:
            progress(0.92, "gradient×input for comparison")
        grad = _gradient_unit_scores(lm, inp, groups)
        agreement["spearman_vs_input_x_gradient"] = _spearman(weights[0], grad)
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
    from ..registry import get_explainer
    from .aggregate import membership

    cls = get_explainer("text", "input_x_gradient")
    rows = cls.token_matrix(lm, inp, contrast_ids=None, progress=None, row_groups=[list(range(inp.n_answer))],
                            **getattr(cls, "defaults", {}))
    return rows.sequence @ membership(groups, inp.n_prompt).T


# ------------------------------------------------------------------------------------ context reliance


def _shuffled_sources(sources: Sequence[str], seed: int) -> list[str]:
    """The same sentences in a random order, dealt back into the same number of sources."""
    sentences = [s[a:b] for s in sources for a, b in sentence_spans(s)]
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(sentences))
    if len(sentences) > 1 and np.all(order == np.arange(len(sentences))):
        order = np.roll(order, 1)
    shuffled = [sentences[i] for i in order]
    per = np.array_split(np.arange(len(shuffled)), len(sources))
    return [" ".join(shuffled[i] for i in idx) or "." for idx in per]


def context_reliance(lm: LanguageModel, question: str, sources: Sequence[str], answer: str, *,
                     threshold: float = 1.0, seed: int = 0, progress: Progress | None = None) -> ContextReliance:
    """How much each answer token depends on the sources; content words under ``threshold`` nats are flagged."""
    started = time.perf_counter()
    srcs = _check_sources(sources)
    inp = _prepared(lm, question, srcs, answer)
    bare = _prepared(lm, question, [], inp.answer, )
    shuffled = _prepared(lm, question, _shuffled_sources(srcs, seed), inp.answer)
    logp = answer_log_probs(lm, [inp.prompt_ids, bare.prompt_ids, shuffled.prompt_ids], inp.answer_ids,
                            progress=progress)
    with_, without, shuf = logp
    tokens = tuple(Unit(inp.answer[a:b], a, b) for a, b in inp.answer_offsets)
    words, rel, drop, flags = [], [], [], []
    for a, b in word_spans(inp.answer):
        idx = [i for i, (s, e) in enumerate(inp.answer_offsets) if (anc := _anchor(inp.answer, s, e)) is not None
               and a <= anc < b]
        if not idx:
            continue
        word = inp.answer[a:b]
        r = float((with_[idx] - without[idx]).sum())
        words.append(Unit(word, a, b))
        rel.append(r)
        drop.append(float((with_[idx] - shuf[idx]).sum()))
        content = bool(re.search(r"\w", word)) and word.lower() not in _STOP
        flags.append(content and r < threshold)
    return ContextReliance(model_id=lm.model_id, question=question, answer=inp.answer, tokens=tokens,
                           log_prob_with=with_, log_prob_without=without, log_prob_shuffled=shuf, words=tuple(words),
                           word_reliance=np.array(rel), word_shuffle_drop=np.array(drop), flagged=tuple(flags),
                           threshold=threshold, params={"seed": seed}, elapsed_s=time.perf_counter() - started)


# ------------------------------------------------------------------------------------ what-if edits

EDIT_OPS = ("remove", "replace")
EDIT_UNITS = ("source", "sentence", "word", "text")


def make_edit(op: str, unit: str, where: str, index: int | None = None, match: str | None = None,
              replacement: str = "") -> dict[str, Any]:
    """One edit as plain data. ``where`` is "question" or "source N" (1-based); ``unit`` "source" (the whole
    source), "sentence" or "word" (by 0-based ``index``) or "text" (the first exact ``match``)."""
    edit = {"op": op, "unit": unit, "where": where, "index": index, "match": match, "replacement": replacement}
    validate_edit(edit)
    return edit


EDIT_FIELDS = {"op": (str,), "unit": (str,), "where": (str,), "index": (int, type(None)),
               "match": (str, type(None)), "replacement": (str,)}


def edit_from_dict(data: Any, where: str = "edit") -> dict[str, Any]:
    """An edit read from JSON (CLI, stored reports): fields and their types checked, then ``make_edit``."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: an edit is a JSON object with {', '.join(EDIT_FIELDS)}, "
                         f"not {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in EDIT_FIELDS)
    if unknown:
        raise InputError(f"{where}: unknown field {', '.join(map(repr, unknown))}; an edit has "
                         f"{', '.join(EDIT_FIELDS)}")
    missing = [k for k in ("op", "unit", "where") if k not in data]
    if missing:
        raise InputError(f"{where}: missing field {', '.join(map(repr, missing))}")
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, EDIT_FIELDS[key]):
            raise InputError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return make_edit(**data)


def validate_edit(edit: dict[str, Any]) -> None:
    if edit.get("op") not in EDIT_OPS:
        raise InputError(f"edit op must be one of {', '.join(EDIT_OPS)}, not {edit.get('op')!r}")
    if edit.get("unit") not in EDIT_UNITS:
        raise InputError(f"edit unit must be one of {', '.join(EDIT_UNITS)}, not {edit.get('unit')!r}")
    where = str(edit.get("where", ""))
    if where != "question" and not re.fullmatch(r"source \d+", where):
        raise InputError(f"edit 'where' must be 'question' or 'source N', not {where!r}")
    if edit["unit"] in ("sentence", "word") and not isinstance(edit.get("index"), int):
        raise InputError(f"a {edit['unit']} edit needs an integer index")
    if edit["unit"] == "text" and not edit.get("match"):
        raise InputError("a text edit needs the text to match")
    if edit["unit"] == "source" and where == "question":
        raise InputError("a 'source' edit must name a source, not the question")


def apply_edits(question: str, sources: Sequence[str], edits: Sequence[dict[str, Any]]) -> tuple[str, list[str]]:
    """Apply edits in order; a removed source becomes empty (later source numbers do not shift)."""
    q, srcs = question, [s for s in sources]
    for n, edit in enumerate(edits, 1):
        validate_edit(edit)
        where = edit["where"]
        if where == "question":
            text = q
        else:
            k = int(where.split()[1])
            if not 1 <= k <= len(srcs):
                raise SpanError(f"edit {n}: there is no {where} (the audit has {len(srcs)} source(s))")
            text = srcs[k - 1]
        unit, new = edit["unit"], edit.get("replacement", "") if edit["op"] == "replace" else ""
        if unit == "source":
            a, b = 0, len(text)
        elif unit == "text":
            a = text.find(edit["match"])
            if a < 0:
                raise SpanError(f"edit {n}: {edit['match']!r} does not occur in {where}")
            b = a + len(edit["match"])
        else:
            spans = sentence_spans(text) if unit == "sentence" else word_spans(text)
            i = edit["index"]
            if not 0 <= i < len(spans):
                raise SpanError(f"edit {n}: {where} has {len(spans)} {unit}s; index {i} does not exist")
            a, b = spans[i]
        text = text[:a] + new + text[b:]
        if where == "question":
            q = text
        else:
            srcs[int(where.split()[1]) - 1] = text
    if not q.strip():
        raise EmptyInputError("the edits leave the question empty")
    return q, srcs


def what_if(lm: LanguageModel, question: str, sources: Sequence[str], answer: str,
            edits: Sequence[dict[str, Any]], *, regenerate: bool = True, max_new_tokens: int | None = None,
            progress: Progress | None = None) -> EditResult:
    """Score the original answer under the edited prompt and regenerate the answer from it."""
    started = time.perf_counter()
    if not edits:
        raise InputError("give at least one edit")
    edits = [dict(e) for e in edits]
    new_q, new_srcs = apply_edits(question, sources, edits)
    inp = _prepared(lm, question, sources, answer)
    edited = build_prompt(lm, new_q, new_srcs)
    from .lm import tokenize_prompt

    edited_ids, _, _ = tokenize_prompt(lm, edited)
    logp = answer_log_probs(lm, [inp.prompt_ids, edited_ids], inp.answer_ids, progress=progress)
    out_units, out_groups = answer_units(inp, "sentence")
    sent = _sentence_sums(logp, out_groups)
    regenerated, diff = "", ()
    if regenerate:
        if progress:
            progress(0.6, "regenerating the answer")
        regenerated = _regenerate(lm, edited_ids, inp.n_answer, max_new_tokens)
        diff = word_diff(inp.answer, regenerated)
    return EditResult(edits=tuple(edits), model_id=lm.model_id, question=question, sources=tuple(sources),
                      edited_question=new_q, edited_sources=tuple(new_srcs), answer=inp.answer,
                      base_log_prob=float(logp[0].sum()), edited_log_prob=float(logp[1].sum()),
                      answer_units=out_units, sentence_deltas=sent[1] - sent[0], regenerated=regenerated, diff=diff,
                      params={"regenerate": regenerate, "max_new_tokens": max_new_tokens},
                      elapsed_s=time.perf_counter() - started)


def replay(lm: LanguageModel, result: EditResult) -> EditResult:
    """Run a stored what-if again from its data (question, sources, answer, edits)."""
    return what_if(lm, result.question, result.sources, result.answer, result.edits,
                   regenerate=bool(result.params.get("regenerate", True)),
                   max_new_tokens=result.params.get("max_new_tokens"))
