"""Evaluate and fit the grounding fusion on labelled (knowledge, question, answer, label) JSONL.

Cross-validation is grouped by question, so an answer and its hallucinated twin never sit on both sides
of a split. Each single signal gets the same protocol (a one-feature logistic fit), so the benefit of
the fusion is visible.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import InputError, not_a_file
from .grounding import DETECTOR_FEATURES, LEXICAL_FEATURES, LM_FEATURES, Fusion, context_reliance, prepare_sources
from .grounding.claim_signals import apply_verifier, claim_signals
from .grounding.claims import strip_frame
from .ingest import chunks_from_texts


MAX_DATA_BYTES = 200 * 2**20


def load_labelled(path: str | Path) -> list[dict]:
    """Rows of a labelled JSONL file, each checked; a bad file or line is an ``InputError`` naming it."""
    p = Path(path)
    if not p.is_file():
        raise InputError(not_a_file(path))
    if p.stat().st_size > MAX_DATA_BYTES:
        raise InputError(f"{path}: larger than {MAX_DATA_BYTES:,} bytes")
    rows = []
    try:
        with open(p, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (ValueError, RecursionError) as exc:  # RecursionError: nesting deeper than Python allows
                    detail = exc.msg if isinstance(exc, json.JSONDecodeError) else "nested too deep"
                    raise InputError(f"{path}:{n}: not a JSON object ({detail})") from None
                if not isinstance(row, dict):
                    raise InputError(f"{path}:{n}: not a JSON object ({type(row).__name__})")
                for key in ("knowledge", "answer", "label"):
                    if key not in row:
                        raise InputError(f"{path}:{n}: missing field {key!r}")
                for key in ("knowledge", "answer", "question"):
                    if key in row and not isinstance(row[key], str):
                        raise InputError(f"{path}:{n}: field {key!r} must be text, not {type(row[key]).__name__}")
                if not row["answer"].strip():
                    raise InputError(f"{path}:{n}: the answer is empty")
                if row["label"] not in ("supported", "hallucinated"):
                    raise InputError(f"{path}:{n}: label must be supported or hallucinated, got {row['label']!r:.60}")
                rows.append(row)
    except UnicodeDecodeError as exc:
        raise InputError(f"{path}: not UTF-8 text (byte {exc.start} of a line)") from None
    if not rows:
        raise InputError(f"{path}: no rows")
    return rows


def check_folds(rows: Sequence[dict], folds: int) -> None:
    """Grouped K-fold needs 2 <= folds <= questions, and both labels, before any feature is computed."""
    groups = len({_group(r, n) for n, r in enumerate(rows)})
    if not 2 <= folds <= groups:
        raise InputError(f"--folds {folds}: grouped cross-validation needs 2..{groups} folds for {groups} "
                         f"question(s) in {len(rows)} row(s)")
    if len({r["label"] for r in rows}) < 2:
        raise InputError("the rows hold only one label; the evaluation needs supported and hallucinated answers")


def _group(row: dict, n: int) -> str:
    rid = str(row.get("id", n))
    return rid.split("-h")[0] if "-h" in rid else rid


def compute_features(rows: Sequence[dict], embedder, lm=None, verifier=None,
                     progress: Callable[[float, str], None] | None = None) -> list[dict[str, float]]:
    """The detector's signals for each row's whole answer as one claim (the verifier's pairs batched over
    64 rows at a time)."""
    out: list[dict[str, float]] = []
    batch, questions = [], []
    for k, row in enumerate(rows):
        src = prepare_sources(chunks_from_texts([row["knowledge"]]), embedder)
        answer = row["answer"][strip_frame(row["answer"], 0, len(row["answer"])):]  # as ground() reads it
        ev = claim_signals([answer], row.get("question", ""), src, embedder=embedder)[0]
        if lm is not None:
            ev.signals["context_reliance"] = context_reliance(lm, row.get("question", ""), [row["knowledge"]],
                                                              row["answer"])
        batch.append(ev)
        questions.append(row.get("question", ""))
        if len(batch) >= 64 or k == len(rows) - 1:
            if verifier is not None:
                apply_verifier(batch, questions, verifier)
            out.extend(ev.signals for ev in batch)
            batch, questions = [], []
        if progress:
            progress((k + 1) / len(rows), f"features {k + 1}/{len(rows)}")
    return out


def metrics(y_supported: np.ndarray, p_supported: np.ndarray, threshold: float = 0.5) -> dict[str, float]:
    """AUROC of the support score, and balanced accuracy / F1 with hallucinated as the positive class."""
    from sklearn.metrics import balanced_accuracy_score, f1_score, roc_auc_score

    pred_supported = p_supported >= threshold
    return {
        "auroc": float(roc_auc_score(y_supported, p_supported)),
        "balanced_accuracy": float(balanced_accuracy_score(y_supported, pred_supported)),
        "f1_hallucinated": float(f1_score(1 - y_supported, (~pred_supported).astype(int))),
    }


def cross_validate(rows: Sequence[dict], feats: Sequence[dict], features: Sequence[str], folds: int = 5,
                   seed: int = 0) -> np.ndarray:
    """Out-of-fold support probabilities."""
    from sklearn.model_selection import GroupKFold

    y = np.array([1 if r["label"] == "supported" else 0 for r in rows])
    groups = np.array([_group(r, n) for n, r in enumerate(rows)])
    oof = np.zeros(len(rows))
    splitter = GroupKFold(n_splits=folds, shuffle=True, random_state=seed)
    for train, test in splitter.split(np.zeros(len(rows)), y, groups):
        model = Fusion.fit([feats[i] for i in train], y[train], features)
        oof[test] = model.predict([feats[i] for i in test])
    return oof


def evaluate(rows, feats, features: Sequence[str], folds: int = 5) -> dict[str, dict[str, float]]:
    y = np.array([1 if r["label"] == "supported" else 0 for r in rows])
    from sklearn.metrics import roc_auc_score

    from .grounding.fusion import is_negative

    report = {}
    for f in features:
        report[f] = metrics(y, cross_validate(rows, feats, [f], folds))
        raw = np.array([r[f] for r in feats]) * (-1 if is_negative(f) else 1)
        report[f]["raw_auroc"] = float(roc_auc_score(y, raw))
    report["fusion"] = metrics(y, cross_validate(rows, feats, features, folds))
    return report


def fit_fusion(rows, feats, features: Sequence[str], name: str, folds: int = 5) -> Fusion:
    y = np.array([1 if r["label"] == "supported" else 0 for r in rows])
    cv = metrics(y, cross_validate(rows, feats, features, folds))
    return Fusion.fit(feats, y, features, meta={"name": name, "rows": len(rows), "cv": cv})


def default_features(with_lm: bool, with_verifier: bool = False) -> tuple[str, ...]:
    from .grounding.signals import fused_names

    base = DETECTOR_FEATURES if with_verifier else LEXICAL_FEATURES
    return base + (LM_FEATURES if with_lm else ()) + fused_names()
