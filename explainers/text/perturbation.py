"""Perturbation attributions: units are really removed from the prompt and the answer re-scored.

Every method perturbs whole units at the chosen granularity (a word, sentence or source chunk is one
feature), so a sentence costs one forward pass, not one per token. All variants of one call are scored
in memory-bounded batches (``lm.answer_log_probs``). Template/special units are kept in every variant.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from ..errors import InputError
from ..models import LanguageModel
from ..registry import POSITIVE_INT, SEED, register
from .lm import AuditInput, Progress, answer_log_probs


class VariantScorer:
    """Scores prompts with some units removed: mask (n_variants x n_units, True = kept) -> targets."""

    def __init__(self, lm: LanguageModel, inp: AuditInput, groups: Sequence[Sequence[int]],
                 contrast_ids: Sequence[int] | None = None, progress: Progress | None = None):
        self.lm, self.inp, self.groups = lm, inp, [list(g) for g in groups]
        self.contrast_ids = list(contrast_ids) if contrast_ids else None
        self.progress = progress
        self.n_units = len(self.groups)
        self.calls = 0

    def prompt_for(self, keep: np.ndarray) -> list[int]:
        from .explain import prompt_without

        return prompt_without(self.inp, self.groups, np.flatnonzero(~np.asarray(keep, dtype=bool)))

    def __call__(self, masks: np.ndarray) -> np.ndarray:
        masks = np.atleast_2d(np.asarray(masks, dtype=bool))
        prompts = [self.prompt_for(m) for m in masks]
        self.calls += len(prompts)
        a = answer_log_probs(self.lm, prompts, self.inp.answer_ids, progress=self.progress)
        if self.contrast_ids is None:
            return a
        b = answer_log_probs(self.lm, prompts, self.contrast_ids)
        return (a.sum(1) - b.sum(1))[:, None]


def _free_units(special_units: Sequence[bool]) -> np.ndarray:
    free = np.flatnonzero(~np.asarray(special_units, dtype=bool))
    if free.size == 0:
        raise InputError("the prompt has no content units to perturb")
    return free


def _full_mask(n: int, free: np.ndarray, sub: np.ndarray) -> np.ndarray:
    """Expand masks over the free units to masks over all units (special units always kept)."""
    out = np.ones((sub.shape[0], n), dtype=bool)
    out[:, free] = sub
    return out


def feature_ablation(scorer: VariantScorer, special_units, **_):
    """f(all) - f(all but unit j), for each content unit j."""
    free = _free_units(special_units)
    sub = ~np.eye(len(free), dtype=bool)
    values = scorer(_full_mask(scorer.n_units, free, np.vstack([np.ones((1, len(free)), bool), sub])))
    out = np.zeros((values.shape[1], scorer.n_units))
    out[:, free] = (values[0][None, :] - values[1:]).T
    return out


def shapley_sampling(scorer: VariantScorer, special_units, n_samples: int = 8, seed: int = 0, **_):
    """Shapley value sampling: average marginal gains over random unit orderings (exact efficiency)."""
    free = _free_units(special_units)
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
    values = scorer(_full_mask(scorer.n_units, free, np.vstack(masks)))
    values = values.reshape(len(perms), n + 1, -1)
    phi = np.zeros((values.shape[2], n))
    for p, perm in enumerate(perms):
        gains = values[p, 1:] - values[p, :-1]  # (n, rows)
        phi[:, perm] += gains.T
    out = np.zeros((values.shape[2], scorer.n_units))
    out[:, free] = phi / len(perms)
    return out


def _weighted_linear_fit(z: np.ndarray, y: np.ndarray, w: np.ndarray, ridge: float = 1e-6) -> np.ndarray:
    """Weighted least squares with intercept for every target column at once: coefs (cols x features)."""
    design = np.hstack([np.ones((z.shape[0], 1)), z.astype(np.float64)])
    sw = np.sqrt(w)[:, None]
    a = design * sw
    reg = ridge * np.eye(design.shape[1])
    reg[0, 0] = 0.0
    coef = np.linalg.solve(a.T @ a + reg, a.T @ (y * sw))
    return coef[1:].T


def lime(scorer: VariantScorer, special_units, n_samples: int = 64, seed: int = 0, kernel_width: float = 0.75, **_):
    """LIME: random unit subsets, exponential cosine-distance kernel, weighted linear surrogate."""
    free = _free_units(special_units)
    n = len(free)
    rng = np.random.default_rng(seed)
    z = rng.random((int(n_samples), n)) < 0.5
    z = np.vstack([np.ones((1, n), bool), z])
    y = scorer(_full_mask(scorer.n_units, free, z))
    cos = z.sum(1) / np.sqrt(n * np.maximum(z.sum(1), 1))
    w = np.exp(-((1 - cos) ** 2) / kernel_width**2)
    out = np.zeros((y.shape[1], scorer.n_units))
    out[:, free] = _weighted_linear_fit(z, y, w)
    return out


def kernel_shap(scorer: VariantScorer, special_units, n_samples: int = 64, seed: int = 0, **_):
    """KernelSHAP: coalition sizes drawn by the Shapley kernel; all-on/all-off pinned for efficiency."""
    free = _free_units(special_units)
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
    y = scorer(_full_mask(scorer.n_units, free, z))
    w = np.ones(len(z))
    w[:2] = 1e6  # the full and empty coalitions carry (almost) infinite kernel weight
    out = np.zeros((y.shape[1], scorer.n_units))
    out[:, free] = _weighted_linear_fit(z, y, w)
    return out


def _make(name: str, fn, description: str, defaults: dict, params: dict | None = None):
    @register("text", name, description, params)
    class _Perturbation:
        kind = "perturbation"

        @staticmethod
        def unit_matrix(scorer: VariantScorer, special_units, **params):
            return fn(scorer, special_units, **params)

    _Perturbation.name = name
    _Perturbation.defaults = defaults
    _Perturbation.__name__ = name.title().replace("_", "")
    return _Perturbation


FeatureAblation = _make("feature_ablation", feature_ablation,
                        "occlusion: delete each unit and re-score the answer", {})
ShapleyValueSampling = _make("shapley_sampling", shapley_sampling,
                             "Shapley value sampling over unit orderings (deletion as absence)",
                             {"n_samples": 8, "seed": 0}, {"n_samples": POSITIVE_INT, "seed": SEED})
Lime = _make("lime", lime, "LIME: weighted linear surrogate on random unit deletions", {"n_samples": 64, "seed": 0},
             {"n_samples": POSITIVE_INT, "seed": SEED, "kernel_width": ((int, float), 1e-6, 1e6)})
KernelShap = _make("kernel_shap", kernel_shap, "KernelSHAP: Shapley-kernel weighted linear surrogate",
                   {"n_samples": 64, "seed": 0}, {"n_samples": POSITIVE_INT, "seed": SEED})


def shap_partition(scorer: VariantScorer, special_units, max_evals: int = 200, **_):
    """SHAP's Partition explainer (the ``shap`` package) over the units, deletion as the mask value."""
    import shap

    free = _free_units(special_units)
    n = len(free)

    def model(z: np.ndarray) -> np.ndarray:
        return scorer(_full_mask(scorer.n_units, free, np.asarray(z) > 0.5))

    # Units are contiguous text pieces, so a clustering by position is the natural partition tree.
    masker = shap.maskers.Partition(np.zeros((1, n)), clustering=_positional_clustering(n))
    explainer = shap.explainers.Partition(model, masker)
    result = explainer(np.ones((1, n)), max_evals=max(int(max_evals), 2 * n + 2), silent=True)
    values = np.asarray(result.values)[0]  # (n, rows)
    if values.ndim == 1:
        values = values[:, None]
    out = np.zeros((values.shape[1], scorer.n_units))
    out[:, free] = values.T
    return out


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


Shap = _make("shap", shap_partition, "SHAP Partition explainer (shap package) over units", {"max_evals": 200},
             {"max_evals": POSITIVE_INT})
