"""Perturbation attributions: units are really removed from the prompt and the answer re-scored.

Every method perturbs whole units at the chosen granularity (a word, sentence or source chunk is one
feature), so a sentence costs one forward pass, not one per token. All variants of one call are scored
in memory-bounded batches (``lm.answer_log_probs``). Template/special units are kept in every variant.

``PerturbationMethod`` owns the mechanics: which units are free, masks over them expanded to the whole prompt,
scoring (``VariantScorer``, the target a value), per-token rows summed into answer units. A method is a small
subclass that says which coalitions it scores and how their values become a score per unit
(``free_unit_scores``).
"""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np

from ..errors import InputError
from ..models import LanguageModel
from ..registry import COST_EVALS, COST_SAMPLES, COST_UNITS, POSITIVE_INT, SEED, Param, register
from .aggregate import membership
from .lm import AuditInput, Progress, answer_log_probs, prompt_without
from .method import TextMethod, UnitRows
from .targets import AnswerLogProb, ContrastTarget, Target


class VariantScorer:
    """Scores prompts with some units removed: mask (n_variants x n_units, True = kept) -> target rows.

    ``target`` is what is scored (the answer's per-token log-probabilities by default, one column per token;
    ``contrast_ids`` is short for ``ContrastTarget(contrast_ids)``).
    """

    def __init__(self, lm: LanguageModel, inp: AuditInput, groups: Sequence[Sequence[int]],
                 contrast_ids: Sequence[int] | None = None, progress: Progress | None = None, *,
                 target: Target | None = None):
        self.lm, self.inp, self.groups = lm, inp, [list(g) for g in groups]
        if target is None:
            target = ContrastTarget(tuple(contrast_ids)) if contrast_ids else AnswerLogProb()
        self.target = target
        self.progress = progress
        self.n_units = len(self.groups)
        self.calls = 0

    def prompt_for(self, keep: np.ndarray) -> list[int]:
        return prompt_without(self.inp, self.groups, np.flatnonzero(~np.asarray(keep, dtype=bool)))

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        masks = np.atleast_2d(np.asarray(masks, dtype=bool))
        prompts = [self.prompt_for(m) for m in masks]
        self.calls += len(prompts)
        answer, *others = self.target.continuations(self.inp.answer_ids)
        log_probs = [answer_log_probs(self.lm, prompts, answer, progress=self.progress)]
        log_probs += [answer_log_probs(self.lm, prompts, ids) for ids in others]
        return self.target(log_probs)


class PerturbationMethod(TextMethod):
    """Base of the perturbation family: a unit matrix from scored variants of the prompt."""

    kind = "perturbation"

    @classmethod
    def free_unit_scores(cls, scorer: VariantScorer, free: np.ndarray, **params: Any) -> np.ndarray:
        """A score per target row and free unit, (rows, len(free)); score masks with ``cls.score``."""
        raise NotImplementedError

    @staticmethod
    def score(scorer: VariantScorer, free: np.ndarray, masks: np.ndarray) -> np.ndarray:
        """Masks over the free units (variants x free, True = kept; special units always kept) -> target rows."""
        full = np.ones((masks.shape[0], scorer.n_units), dtype=bool)
        full[:, free] = masks
        return scorer(full)

    @classmethod
    def unit_matrix(cls, scorer: VariantScorer, special_units: Sequence[bool], **params: Any) -> np.ndarray:
        """(target rows, units): the method's scores on the free units, zero on the special ones."""
        free = np.flatnonzero(~np.asarray(special_units, dtype=bool))
        if free.size == 0:
            raise InputError("the prompt has no content units to perturb")
        phi = cls.free_unit_scores(scorer, free, **params)
        out = np.zeros((phi.shape[0], scorer.n_units))
        out[:, free] = phi
        return out

    @classmethod
    def attribute(cls, lm, inp, target, in_units, in_groups, out_groups, progress=None, **params) -> UnitRows:
        scorer = VariantScorer(lm, inp, in_groups, progress=progress, target=target)
        unit_matrix = cls.unit_matrix(scorer, [u.special for u in in_units], **params)
        if target.per_token:  # rows are answer tokens; an answer unit's row is the sum of its tokens' rows
            scores = membership(out_groups, inp.n_answer) @ unit_matrix
        else:
            scores = unit_matrix
        return UnitRows(scores, scores.sum(0), extra={"forward_passes": scorer.calls})


@register("text", "feature_ablation", "occlusion: delete each unit and re-score the answer", cost=COST_UNITS,
          exact_regrouping=True, supports_contrast=True,
          guide=("how much the answer's log-probability drops when each unit is deleted (occlusion)",
                 "one forward pass per unit",
                 "easy to read and check by hand; misses units that only matter together"))
class FeatureAblation(PerturbationMethod):
    """f(all) - f(all but unit j), for each content unit j."""

    @classmethod
    def free_unit_scores(cls, scorer, free, **_):
        n = len(free)
        values = cls.score(scorer, free, np.vstack([np.ones((1, n), bool), ~np.eye(n, dtype=bool)]))
        return (values[0][None, :] - values[1:]).T


@register("text", "shapley_sampling", "Shapley value sampling over unit orderings (deletion as absence)",
          {"n_samples": POSITIVE_INT.with_default(8), "seed": SEED}, cost=COST_SAMPLES, cost_param="n_samples",
          cost_range=(1, 512), exact_regrouping=True, supports_contrast=True,
          guide=("each unit's average effect over random orders of deleting the others (Shapley values)",
                 "samples x units forward passes: slow",
                 "fair to units that matter together; noisy with few samples (compare two seeds)"))
class ShapleyValueSampling(PerturbationMethod):
    """Average marginal gains over random unit orderings (exact efficiency: each ordering sums to f(all) - f(none))."""

    @classmethod
    def free_unit_scores(cls, scorer, free, n_samples=8, seed=0, **_):
        rng = np.random.default_rng(seed)
        n = len(free)
        masks, perms = [], []
        for _ in range(int(n_samples)):
            perm = rng.permutation(n)
            perms.append(perm)
            m = np.zeros((n + 1, n), dtype=bool)
            for k in range(n):
                m[k + 1] = m[k]
                m[k + 1, perm[k]] = True
            masks.append(m)
        values = cls.score(scorer, free, np.vstack(masks))
        values = values.reshape(len(perms), n + 1, -1)
        phi = np.zeros((values.shape[2], n))
        for p, perm in enumerate(perms):
            gains = values[p, 1:] - values[p, :-1]  # (n, rows)
            phi[:, perm] += gains.T
        return phi / len(perms)


def _weighted_linear_fit(z: np.ndarray, y: np.ndarray, w: np.ndarray, ridge: float = 1e-6) -> np.ndarray:
    """Weighted least squares with intercept for every target column at once: coefs (cols x features)."""
    design = np.hstack([np.ones((z.shape[0], 1)), z.astype(np.float64)])
    sw = np.sqrt(w)[:, None]
    a = design * sw
    reg = ridge * np.eye(design.shape[1])
    reg[0, 0] = 0.0
    coef = np.linalg.solve(a.T @ a + reg, a.T @ (y * sw))
    return coef[1:].T


@register("text", "lime", "LIME: weighted linear surrogate on random unit deletions",
          {"n_samples": POSITIVE_INT.with_default(64), "seed": SEED,
           "kernel_width": Param((int, float), 1e-6, 1e6, default=0.75)},
          cost=COST_SAMPLES, cost_param="n_samples", cost_range=(8, 2048), exact_regrouping=True,
          supports_contrast=True,
          guide=("weights of a linear model fitted to the answer's score under random deletions",
                 "one forward pass per sample (default 64)",
                 "a rough local picture; trust the top units, not small differences"))
class Lime(PerturbationMethod):
    """Random unit subsets (plus the full prompt), exponential cosine-distance kernel, weighted linear surrogate.

    Not efficient in general: the surrogate's intercept takes part of f(all) - f(none), so the weights need not
    add up to it (tests/text/test_attribution.py states what does hold).
    """

    @classmethod
    def free_unit_scores(cls, scorer, free, n_samples=64, seed=0, kernel_width=0.75, **_):
        n = len(free)
        rng = np.random.default_rng(seed)
        z = rng.random((int(n_samples), n)) < 0.5
        z = np.vstack([np.ones((1, n), bool), z])
        y = cls.score(scorer, free, z)
        cos = z.sum(1) / np.sqrt(n * np.maximum(z.sum(1), 1))
        w = np.exp(-((1 - cos) ** 2) / kernel_width**2)
        return _weighted_linear_fit(z, y, w)


@register("text", "kernel_shap", "KernelSHAP: Shapley-kernel weighted linear surrogate",
          {"n_samples": POSITIVE_INT.with_default(64), "seed": SEED}, cost=COST_SAMPLES, cost_param="n_samples",
          cost_range=(8, 2048), exact_regrouping=True, supports_contrast=True,
          guide=("Shapley values estimated by a weighted linear fit on random deletions (KernelSHAP)",
                 "one forward pass per sample",
                 "like LIME with Shapley weights; needs more samples than units to be stable"))
class KernelShap(PerturbationMethod):
    """Coalition sizes drawn by the Shapley kernel; the full and empty coalitions pinned, so the values add up to
    f(all) - f(none) (up to the pinning weight)."""

    @classmethod
    def free_unit_scores(cls, scorer, free, n_samples=64, seed=0, **_):
        n = len(free)
        rng = np.random.default_rng(seed)
        if n == 1:
            z = np.array([[True], [False]])
        else:
            sizes = np.arange(1, n)
            p = (n - 1) / (sizes * (n - sizes))
            p /= p.sum()
            ks = rng.choice(sizes, size=int(n_samples), p=p)
            z = np.zeros((len(ks), n), bool)
            for r, k in enumerate(ks):
                z[r, rng.choice(n, size=k, replace=False)] = True
            z = np.vstack([np.ones((1, n), bool), np.zeros((1, n), bool), z])
        y = cls.score(scorer, free, z)
        w = np.ones(len(z))
        w[:2] = 1e6  # the full and empty coalitions carry (almost) infinite kernel weight
        return _weighted_linear_fit(z, y, w)


@register("text", "shap", "SHAP Partition explainer (shap package) over units",
          {"max_evals": POSITIVE_INT.with_default(200)}, cost=COST_EVALS, cost_param="max_evals",
          cost_range=(16, 5000), exact_regrouping=True, supports_contrast=True,
          guide=("Shapley values from the shap package's Partition explainer over the units",
                 "forward passes grow with the number of units: slow on long prompts",
                 "a second opinion from an independent implementation"))
class Shap(PerturbationMethod):
    """SHAP's Partition explainer (the ``shap`` package) over the units, deletion as the mask value."""

    @classmethod
    def free_unit_scores(cls, scorer, free, max_evals=200, **_):
        import shap

        n = len(free)

        def model(z: np.ndarray) -> np.ndarray:
            return cls.score(scorer, free, np.asarray(z) > 0.5)

        # Units are contiguous text pieces, so a clustering by position is the natural partition tree.
        masker = shap.maskers.Partition(np.zeros((1, n)), clustering=_positional_clustering(n))
        explainer = shap.explainers.Partition(model, masker)
        result = explainer(np.ones((1, n)), max_evals=max(int(max_evals), 2 * n + 2), silent=True)
        values = np.asarray(result.values)[0]  # (n, rows)
        if values.ndim == 1:
            values = values[:, None]
        return values.T


def _positional_clustering(n: int) -> np.ndarray:
    """A balanced binary tree over n contiguous units in scipy linkage format."""
    if n < 2:
        return np.zeros((0, 4))
    rows, clusters, next_id = [], [(i, 1) for i in range(n)], n
    while len(clusters) > 1:
        merged = []
        for k in range(0, len(clusters) - 1, 2):
            (a, sa), (b, sb) = clusters[k], clusters[k + 1]
            rows.append([a, b, float(len(rows) + 1), sa + sb])
            merged.append((next_id, sa + sb))
            next_id += 1
        if len(clusters) % 2:
            merged.append(clusters[-1])
        clusters = merged
    return np.array(rows, dtype=np.float64)
