"""Sentence segmenters side by side: the hand-made cases, speed, and agreement with the old regex.

For each candidate: cases fully right (tests/data/segmentation_cases.jsonl), sentences/s over the dev
file's knowledge texts, how many of those texts split differently from the regex, and whether the
library's own offsets map back exactly into the text. Every candidate is turned into spans the same way
``sentence_spans`` does: a boundary at each sentence start, each span stripped of surrounding whitespace.
Usage: bench_segmentation.py [--dev PATH] [--show NAME] [--json OUT]
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

CASES = ROOT / "tests" / "data" / "segmentation_cases.jsonl"
DEV = ROOT.parent / "shared" / "data" / "halueval_qa_dev.jsonl"

# The regex sentence_spans used before the segmenter (kept here as the baseline).
_OLD_END = re.compile(r"(?<=[.!?。！？])[\"')\]]*\s+|\n\s*\n+")


def _strip(text, a, b):
    while a < b and text[a].isspace():
        a += 1
    while b > a and text[b - 1].isspace():
        b -= 1
    return a, b


def _from_starts(text, starts):
    cuts = sorted({0, *[s for s in starts if 0 < s < len(text)]}) + [len(text)]
    return [s for s in (_strip(text, a, b) for a, b in zip(cuts, cuts[1:])) if s[0] < s[1]]


def regex_spans(text):
    spans, start = [], 0
    for m in _OLD_END.finditer(text):
        if text[start:m.start()].strip():
            spans.append(_strip(text, start, m.start()))
        start = m.end()
    if text[start:].strip():
        spans.append(_strip(text, start, len(text)))
    return spans


def candidates():
    """name -> (spans(text), raw(text) -> [(start, end, library's sentence text)]) for what is installed."""
    out = {"regex": (regex_spans, None)}
    try:
        import pysbd

        seg = pysbd.Segmenter(language="en", clean=False, char_span=True)
        raw = lambda t: [(s.start, s.end, s.sent) for s in seg.segment(t)]  # noqa: E731
        out["pysbd"] = (lambda t, raw=raw: _from_starts(t, [a for a, _, _ in raw(t)]), raw)
    except ImportError:
        pass
    try:
        import sentencex

        raw = lambda t: [(d["start_index"], d["end_index"], d["text"])  # noqa: E731
                         for d in sentencex.get_sentence_boundaries("en", t)]
        out["sentencex"] = (lambda t, raw=raw: _from_starts(t, [a for a, _, _ in raw(t)]), raw)
    except ImportError:
        pass
    try:
        import blingfire

        def raw(t):
            joined, offs = blingfire.text_to_sentences_and_offsets(t)
            return [(a, b, s) for (a, b), s in zip(offs, joined.split("\n"))] if t.strip() else []

        out["blingfire"] = (lambda t, raw=raw: _from_starts(t, [a for a, _, _ in raw(t)]), raw)
    except ImportError:
        pass
    try:
        from explainers.text.aggregate import sentence_spans

        out["shipped"] = (sentence_spans, None)  # whatever explainers.text.aggregate uses now
    except ImportError:
        pass
    return out


def load_cases(path=CASES):
    return [json.loads(x) for x in path.read_text().splitlines() if x.strip()]


def run(dev=DEV, show=None):
    cases = load_cases()
    texts = [json.loads(x)["knowledge"] for x in Path(dev).read_text().splitlines() if x.strip()]
    rows = {}
    for name, (spans_of, raw) in candidates().items():
        right, wrong = 0, []
        for case in cases:
            got = [case["text"][a:b] for a, b in spans_of(case["text"])]
            if got == case["expected"]:
                right += 1
            else:
                wrong.append((case["id"], got))
        t0 = time.perf_counter()
        dev_spans = [spans_of(t) for t in texts]
        elapsed_s = time.perf_counter() - t0
        n_sent = sum(map(len, dev_spans))
        differ = sum(s != regex_spans(t) for s, t in zip(dev_spans, texts))
        bad_offsets = 0  # library sentences whose offsets do not give back their text (whitespace aside)
        if raw is not None:
            for t in texts + [c["text"] for c in cases]:
                bad_offsets += sum(" ".join(t[a:b].split()) != " ".join(s.split()) for a, b, s in raw(t))
        rows[name] = {"cases_right": right, "cases": len(cases), "sentences_per_s": n_sent / elapsed_s,
                      "dev_sentences": n_sent, "dev_texts_differ": differ, "dev_texts": len(texts),
                      "offset_mismatches": bad_offsets, "wrong": wrong}
    print(f"{'segmenter':10} {'cases right':>12} {'sentences/s':>12} {'dev sents':>10} {'dev differ':>11} {'bad offsets':>12}")
    for name, r in rows.items():
        print(f"{name:10} {r['cases_right']:>5}/{r['cases']:<6} {r['sentences_per_s']:>12,.0f} {r['dev_sentences']:>10} "
              f"{r['dev_texts_differ']:>5}/{r['dev_texts']:<5} {r['offset_mismatches']:>12}")
    for name in [show] if show else []:
        for cid, got in rows[name]["wrong"]:
            print(f"  {name} wrong {cid}: {got}")
    return rows


if __name__ == "__main__":
    p = argparse.ArgumentParser()
    p.add_argument("--dev", default=str(DEV))
    p.add_argument("--show", help="list the cases this segmenter gets wrong")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args()
    rows = run(a.dev, a.show)
    if a.json:
        Path(a.json).write_text(json.dumps(rows, indent=1))
