"""The grounding detector on the hand-written contrastive set (tests/data/contrastive, never trained on).

Prints accuracy per kind (supported kinds: share called supported; the others: share flagged), balanced
accuracy and AUROC of supported vs not, and a reliability table with the expected calibration error (ECE).
Usage: bench_contrastive.py [--verifier default|none|PATH] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from explainers.models import load_embedder, load_verifier  # noqa: E402
from explainers.retrieval.grounding import ground  # noqa: E402

DATA = ROOT / "tests" / "data" / "contrastive"


def load(data: Path = DATA):
    passages = {json.loads(x)["passage_id"]: json.loads(x)["text"]
                for x in (data / "passages.jsonl").read_text().splitlines() if x.strip()}
    claims = [json.loads(x) for x in (data / "claims.jsonl").read_text().splitlines() if x.strip()]
    return passages, claims


def run(verifier_choice: str = "default", data: Path = DATA) -> dict:
    from sklearn.metrics import balanced_accuracy_score, roc_auc_score

    passages, claims = load(data)
    embedder = load_embedder()
    verifier = None if verifier_choice == "none" else load_verifier(None if verifier_choice == "default" else verifier_choice)
    started = time.perf_counter()
    probs, preds, labels = [], [], []
    for c in claims:
        g = ground(c["claim"], [passages[c["passage_id"]]], embedder=embedder, verifier=verifier)
        probs.append(g.answer_support_probability)
        preds.append(all(s.label == "supported" for s in g.sentences))
        labels.append(c["label"])
    elapsed = time.perf_counter() - started
    y = np.array([lab == "supported" for lab in labels])
    p = np.array(probs)
    pred = np.array(preds)
    per_kind = defaultdict(list)
    for c, ok in zip(claims, pred == y):
        per_kind[(c["label"], c["kind"])].append(bool(ok))
    bins = np.linspace(0, 1, 6)
    table, ece = [], 0.0
    for lo, hi in zip(bins[:-1], bins[1:]):
        m = (p >= lo) & ((p < hi) if hi < 1 else (p <= hi))
        if m.any():
            table.append((f"{lo:.1f}-{hi:.1f}", int(m.sum()), float(p[m].mean()), float(y[m].mean())))
            ece += m.mean() * abs(p[m].mean() - y[m].mean())
    return {"verifier": verifier_choice, "claims": len(claims), "seconds": round(elapsed, 1),
            "balanced_accuracy": float(balanced_accuracy_score(y, pred)), "auroc": float(roc_auc_score(y, p)),
            "supported_kept": float(pred[y].mean()), "flagged": float((~pred[~y]).mean()), "ece": float(ece),
            "per_kind": {f"{lab}/{kind}": [round(float(np.mean(v)), 3), len(v)]
                         for (lab, kind), v in sorted(per_kind.items())},
            "reliability": table}


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--verifier", default="default")
    ap.add_argument("--json")
    ap.add_argument("--data", default=str(DATA), help="a folder with passages.jsonl and claims.jsonl "
                    "(tests/data/contrastive_fresh: a second hand-written set, written blind to the detector)")
    args = ap.parse_args()
    r = run(args.verifier, Path(args.data))
    print(f"contrastive set: {r['claims']} claims, verifier={r['verifier']}, {r['seconds']} s")
    print(f"{'label/kind':34s} {'correct':>8s} {'n':>4s}")
    for k, (acc, n) in r["per_kind"].items():
        print(f"{k:34s} {acc:8.2f} {n:4d}")
    print("reliability: bin  n  mean p(supported)  share supported")
    for b, n, mp, sy in r["reliability"]:
        print(f"  {b}  {n:4d}  {mp:.2f}  {sy:.2f}")
    print(f"contrastive verifier={r['verifier']} balanced_accuracy={r['balanced_accuracy']:.3f} auroc={r['auroc']:.3f} "
          f"paraphrases_supported={r['supported_kept']:.3f} flagged={r['flagged']:.3f} ece={r['ece']:.3f}")
    if args.json:
        Path(args.json).write_text(json.dumps(r, indent=1))


if __name__ == "__main__":
    main()
