"""What a run looks like: counts, the support histogram, breakdowns by model and source, label metrics.

Pure functions of a run's items (``RunStore.items``); the Dataset page and the HTML export both draw these.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from .runs import Item
from .triage import STATUSES


@dataclass(frozen=True)
class Reliability:
    """One bin of the reliability diagram: predicted support vs how often the answer was labelled supported."""

    low: float
    high: float
    mean_predicted: float
    observed: float
    count: int


@dataclass(frozen=True)
class LabelMetrics:
    n: int
    n_supported: int
    auroc: float | None  # None when the labels hold one class only
    balanced_accuracy: float
    threshold: float
    reliability: tuple[Reliability, ...]


@dataclass(frozen=True)
class RunStats:
    n_items: int
    n_bad_rows: int
    status_counts: dict[str, int]
    flagged_share: float
    histogram_edges: tuple[float, ...]
    histogram_counts: tuple[int, ...]
    by_model: tuple[dict, ...]
    by_source: tuple[dict, ...]
    labels: LabelMetrics | None = None
    verdict_counts: dict[str, int] = field(default_factory=dict)


def run_stats(items: Sequence[Item], n_bad_rows: int = 0, flag_below: float = 0.5, bins: int = 10,
              top_sources: int = 25) -> RunStats:
    supports = np.array([it.support_probability for it in items if it.support_probability is not None], float)
    counts, edges = np.histogram(supports, bins=bins, range=(0.0, 1.0))
    status = {s: sum(it.status == s for it in items) for s in STATUSES}
    verdicts: dict[str, int] = defaultdict(int)
    for it in items:
        verdicts[it.latest_verdict or "none yet"] += 1
    return RunStats(
        n_items=len(items), n_bad_rows=n_bad_rows, status_counts=status,
        flagged_share=status["flagged"] / len(items) if items else 0.0,
        histogram_edges=tuple(float(e) for e in edges), histogram_counts=tuple(int(c) for c in counts),
        by_model=tuple(_breakdown(items, lambda it: [it.model or "(not given)"])),
        by_source=tuple(_breakdown(items, lambda it: list(dict.fromkeys(it.source_names)))[:top_sources]),
        labels=label_metrics(items, flag_below, bins), verdict_counts=dict(verdicts))


def _breakdown(items: Sequence[Item], keys) -> list[dict]:
    groups: dict[str, list[Item]] = defaultdict(list)
    for it in items:
        for k in keys(it):
            groups[k].append(it)
    rows = []
    for k, members in groups.items():
        support = [m.support_probability for m in members if m.support_probability is not None]
        rows.append({"name": k, "answers": len(members),
                     "flagged": sum(m.status == "flagged" for m in members),
                     "flagged_share": sum(m.status == "flagged" for m in members) / len(members),
                     "mean_support": float(np.mean(support)) if support else None})
    rows.sort(key=lambda r: (-r["answers"], -r["flagged_share"], r["name"]))
    return rows


def label_metrics(items: Sequence[Item], threshold: float = 0.5, bins: int = 10) -> LabelMetrics | None:
    """The detector against the data's own labels (supported / hallucinated), when it had them."""
    pairs = [(it.label == "supported", it.support_probability) for it in items
             if it.label in ("supported", "hallucinated") and it.support_probability is not None]
    if not pairs:
        return None
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    y = np.array([p[0] for p in pairs], dtype=int)
    p = np.array([p[1] for p in pairs], dtype=float)
    auroc = float(roc_auc_score(y, p)) if len(set(y.tolist())) == 2 else None
    bacc = float(balanced_accuracy_score(y, p >= threshold)) if len(set(y.tolist())) == 2 else float(np.mean(y == (p >= threshold)))
    edges = np.linspace(0.0, 1.0, bins + 1)
    which = np.clip(np.digitize(p, edges[1:-1]), 0, bins - 1)
    reliability = tuple(Reliability(float(edges[b]), float(edges[b + 1]), float(p[which == b].mean()),
                                    float(y[which == b].mean()), int((which == b).sum()))
                        for b in range(bins) if (which == b).any())
    return LabelMetrics(len(y), int(y.sum()), auroc, bacc, threshold, reliability)
