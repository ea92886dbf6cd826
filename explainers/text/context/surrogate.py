"""The sparse linear surrogate of random source ablations (ContextCite): keep-masks in, a Lasso per target out,
with held-out R² and the linear datamodeling score (LDS) that say when to trust it."""

from __future__ import annotations

import numpy as np


def ablation_masks(n_units: int, n_ablations: int, keep_probability: float = 0.5, seed: int = 0) -> np.ndarray:
    """Random keep-masks (True = kept); the full prompt is added by callers."""
    rng = np.random.default_rng(seed)
    return rng.random((int(n_ablations), n_units)) < keep_probability


def spearman(a: np.ndarray, b: np.ndarray) -> float:
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
        lds.append(spearman(pred[ok, t], y[ok, t]))
    return weights, intercepts, {"r2_heldout_per_target": r2, "lds_per_target": lds, "folds": folds}
