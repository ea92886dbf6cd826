"""Learn from the reviewers: refit the grounding fusion on a run's verdicts and save it as a named fusion.

Labels: ``accept`` = supported, ``reject`` = hallucinated. ``edit`` is left out: the reviewer changed the answer,
which says it was not right as written but not that the sources fail to support it (many edits are wording), so
it is neither label; items where two reviewers disagree are left out too. Both are counted in the result.

Each reviewed answer contributes the signals of its weakest sentence, the one that set its support probability
(the answer's support is the minimum over its sentences), so the refit fusion sees exactly the rows it is then
applied to. Cross-validation is grouped by question; "before" is the run's stored support (what reviewers saw),
"after" the refit's out-of-fold probabilities on the same items. Named fusions live in the data directory
(``fusions/NAME.json``); the shipped ones in the package are never written.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..retrieval.grounding.fusion import Fusion, load_fusion
from ..store import data_dir
from .runs import Run, RunStore

LABEL_OF_VERDICT = {"accept": 1, "reject": 0}  # edit: left out (see the module docstring)
SHIPPED = ("lexical", "lm", "verifier", "default")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


def fusions_dir() -> Path:
    return data_dir() / "fusions"


def check_fusion_name(name: str) -> str:
    if not _NAME.match(name or "") or name.endswith(".") or ".." in name:
        raise InputError(f"a fusion name is 1-64 letters, digits, '_', '-' or '.', not {name[:80]!r}")
    if name.lower() in SHIPPED:
        raise InputError(f"{name!r} is a shipped fusion; it is never replaced (choose another name)")
    return name


def named_fusion_path(name: str) -> Path:
    return fusions_dir() / f"{check_fusion_name(name)}.json"


def save_named_fusion(fusion: Fusion, name: str, replace: bool = False) -> Path:
    from ..cli import write_output

    path = named_fusion_path(name)
    if path.exists() and not replace:
        raise InputError(f"a fusion named {name!r} exists; pass --force to replace it")
    path.parent.mkdir(parents=True, exist_ok=True)
    fusion.meta["name"] = name
    write_output(path, fusion.to_json())
    return path


def load_named_fusion(name: str) -> Fusion:
    """A fusion saved by ``calibrate``, or a shipped one by its name (lexical, lm, verifier)."""
    if name in SHIPPED[:3]:
        return load_fusion(name)
    path = named_fusion_path(name)
    if not path.is_file():
        saved = sorted(p.stem for p in fusions_dir().glob("*.json")) if fusions_dir().is_dir() else []
        raise InputError(f"no fusion named {name!r}" + (f"; saved: {', '.join(saved)}" if saved else
                                                        "; auditlens calibrate --run RUN saves one"))
    try:
        return Fusion.from_json(path.read_text(encoding="utf-8"))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"the fusion {name!r} cannot be read ({type(exc).__name__})") from None


@dataclass
class CalibrationResult:
    fusion: Fusion
    n_items: int
    n_supported: int
    left_out: dict[str, int]
    before: dict[str, float]
    after: dict[str, float]
    folds: int
    features: tuple[str, ...] = field(default_factory=tuple)

    def lines(self) -> list[str]:
        out = [f"refit on {self.n_items} reviewed answers ({self.n_supported} accepted, "
               f"{self.n_items - self.n_supported} rejected); left out: "
               + ", ".join(f"{n} {k}" for k, n in self.left_out.items()),
               f"{self.folds}-fold cross-validation grouped by question, on the reviewed items:",
               f"{'':8s} {'AUROC':>7s} {'bal.acc':>8s} {'log-loss':>9s} {'Brier':>7s}"]
        for name, m in (("before", self.before), ("after", self.after)):
            out.append(f"{name:8s} {m['auroc']:7.3f} {m['balanced_accuracy']:8.3f} {m['log_loss']:9.3f} {m['brier']:7.3f}")
        return out


def reviewed_examples(runs: RunStore, run: Run) -> tuple[list[dict], np.ndarray, np.ndarray, list[str], dict, str]:
    """(signal rows, labels, stored support, groups, counts left out, fusion name) of a run's reviewed items."""
    rows, labels, stored, groups = [], [], [], []
    left_out = {"edit": 0, "disagreement": 0, "no grounding": 0}
    fusion_name = ""
    for item, by in runs.reviewed(run):
        votes = {LABEL_OF_VERDICT.get(v) for v in by.values()}  # None: edit
        if len(votes) > 1:
            left_out["disagreement"] += 1
            continue
        (vote,) = votes
        if vote is None:
            left_out["edit"] += 1
            continue
        report = runs.store.load_report(item.audit_id)
        g = report.grounding
        if g is None or not g.sentences:
            left_out["no grounding"] += 1
            continue
        weakest = min(g.sentences, key=lambda s: s.support_probability)
        fusion_name = fusion_name or g.params.get("fusion", "")
        rows.append(dict(weakest.signals))
        labels.append(vote)
        stored.append(g.answer_support_probability)
        groups.append(report.question.strip().lower() or item.row_id)
    return rows, np.array(labels), np.array(stored), groups, left_out, fusion_name


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import balanced_accuracy_score, brier_score_loss, log_loss, roc_auc_score

    p = np.clip(p, 1e-6, 1 - 1e-6)
    return {"auroc": float(roc_auc_score(y, p)), "balanced_accuracy": float(balanced_accuracy_score(y, p >= 0.5)),
            "log_loss": float(log_loss(y, p, labels=[0, 1])), "brier": float(brier_score_loss(y, p))}


def calibrate_run(runs: RunStore, run: Run, folds: int = 5, seed: int = 0, base: str | None = None) -> CalibrationResult:
    """Refit the fusion the run used (or ``base``) on its reviewer verdicts; see the module docstring."""
    from sklearn.model_selection import GroupKFold

    rows, y, stored, groups, left_out, used = reviewed_examples(runs, run)
    if len(rows) < 10 or len(set(y.tolist())) < 2:
        raise InputError(f"run {run.name!r}: {len(rows)} usable verdict(s) "
                         f"({int(y.sum()) if len(y) else 0} accept, {len(y) - int(y.sum()) if len(y) else 0} reject); "
                         "calibration needs at least 10, with both accept and reject")
    template = load_named_fusion(base or used or "lexical")
    features = tuple(f for f in template.features if all(f in r for r in rows))
    if not features:
        raise InputError("the reviewed items hold none of the fusion's signals")
    n_groups = len(set(groups))
    folds = min(folds, n_groups)
    if folds < 2:
        raise InputError(f"run {run.name!r}: the reviewed answers come from {n_groups} question(s); grouped "
                         "cross-validation needs at least 2")
    oof = np.zeros(len(rows))
    splitter = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(rows)), y, groups):
        if len(set(y[train].tolist())) < 2:  # a fold with one label cannot be fitted: keep the stored value
            oof[test] = stored[test]
            continue
        model = Fusion.fit([rows[i] for i in train], y[train], features)
        oof[test] = model.predict([rows[i] for i in test])
    before, after = _metrics(y, stored), _metrics(y, oof)
    fusion = Fusion.fit(rows, y, features, meta={
        "run": run.name, "base": template.meta.get("name", base or used or "lexical"), "rows": len(rows),
        "cv_before": before, "cv_after": after, "left_out": left_out,
        "labels": "accept = supported, reject = hallucinated; edit and disagreements left out"})
    return CalibrationResult(fusion, len(rows), int(y.sum()), left_out, before, after, folds, features)
