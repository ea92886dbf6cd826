"""A run exported: JSON (every item with its sentence-level results), CSV (one row per answer), one self-contained
HTML report (figures as inline SVG, no script, the same CSP as every AuditLens report) and the reviewed items as
labelled JSONL in the format ``auditlens eval-grounding`` reads.

Items are read and written one at a time, so an export's memory does not grow with the run. Every file is written
to a temporary name beside the target and renamed.
"""

from __future__ import annotations

import csv
import json
import os
import tempfile
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator

import jinja2

from ..batch.calibrate import LABEL_OF_VERDICT
from ..batch.runs import Item, Run, RunStore
from ..batch.stats import RunStats, run_stats
from ..colours import triage_css
from ..types import SCHEMA_VERSION
from .bundle import when
from .html import CSP

KINDS = ("json", "csv", "html", "reviewed")


@contextmanager
def _atomic(path: str | Path, newline: str | None = None) -> Iterator:
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name[:200]}.", suffix=".partial", dir=p.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline=newline) as fh:
            yield fh
        os.replace(tmp, p)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write(kind: str, runs: RunStore, run: Run, path: str | Path) -> str:
    """Write one export of the run; returns a short description of what it holds."""
    if kind not in KINDS:
        raise ValueError(f"unknown export {kind!r}; one of {', '.join(KINDS)}")
    return {"json": write_json, "csv": write_csv, "html": write_html, "reviewed": write_reviewed}[kind](runs, run, path)


def _sentences(report) -> list[dict]:
    g = report.grounding
    if g is None:
        return []
    return [{"sentence": s.sentence, "label": s.label, "support_probability": round(s.support_probability, 6),
             "reasons": list(s.reasons), "source_id": s.source_id, "source_span": list(s.source_span) if s.source_span else None}
            for s in g.sentences]


def _item_dict(it: Item) -> dict:
    return {"row_id": it.row_id, "line_no": it.line_no, "audit_id": it.audit_id, "status": it.status,
            "risk": round(it.risk, 6), "support_probability": it.support_probability, "label": it.label,
            "model": it.model, "latest_verdict": it.latest_verdict, "latest_reviewer": it.latest_reviewer,
            "assigned": list(it.assigned), "question": it.question, "answer": it.answer}


def write_json(runs: RunStore, run: Run, path) -> str:
    items = runs.items(run)
    bad = runs.bad_lines(run)
    head = {"auditlens_run_export": 1, "schema_version": SCHEMA_VERSION, "exported_at": _now(),
            "run": {"name": run.name, "source": run.source, "created_by": run.created_by,
                    "created_at": str(when(run.created_at)),
                    "options": run.options, "policy": json.loads(run.policy.to_json())},
            "bad_rows": [{"line_no": b.line_no, "row_id": b.row_id, "reason": b.reason} for b in bad]}
    with _atomic(path) as fh:
        text = json.dumps(head, ensure_ascii=False, indent=1, allow_nan=False)
        fh.write(text[: text.rstrip().rfind("}")].rstrip() + ',\n "items": [\n')
        for k, it in enumerate(items):
            row = {**_item_dict(it), "sentences": _sentences(runs.store.load_report(it.audit_id))}
            fh.write(("  " if k == 0 else ",\n  ") + json.dumps(row, ensure_ascii=False, allow_nan=False))
        fh.write("\n ]\n}\n")
    return f"{len(items)} items, {len(bad)} bad rows"


def _cell(value) -> str:
    """CSV cells that a spreadsheet would run as a formula (=, +, -, @, tab, CR) get a leading apostrophe."""
    text = "" if value is None else str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text


CSV_COLUMNS = ("run", "row_id", "line_no", "audit_id", "status", "risk", "support_probability", "label", "model",
               "latest_verdict", "latest_reviewer", "assigned", "question", "answer", "n_sentences",
               "n_flagged_sentences", "flagged_sentences")


def write_csv(runs: RunStore, run: Run, path) -> str:
    items = runs.items(run)
    with _atomic(path, newline="") as fh:
        w = csv.writer(fh)
        w.writerow(CSV_COLUMNS)
        for it in items:
            flagged = [{"sentence": s["sentence"], "label": s["label"], "support_probability": s["support_probability"],
                        "reasons": s["reasons"]} for s in _sentences(runs.store.load_report(it.audit_id))
                       if s["label"] != "supported"]
            w.writerow([_cell(v) for v in (
                run.name, it.row_id, it.line_no, it.audit_id, it.status, f"{it.risk:.6f}",
                "" if it.support_probability is None else f"{it.support_probability:.6f}", it.label or "", it.model,
                it.latest_verdict or "", it.latest_reviewer or "", "; ".join(it.assigned), it.question, it.answer,
                it.n_sentences, it.n_flagged_sentences, json.dumps(flagged, ensure_ascii=False))])
    return f"{len(items)} answers"


def write_reviewed(runs: RunStore, run: Run, path) -> str:
    """Reviewed answers as labelled JSONL (id, knowledge, question, answer, label): accept = supported,
    reject = hallucinated; edits and reviewers who disagree are left out, as in ``calibrate``."""
    written, left_out = 0, 0
    with _atomic(path) as fh:
        for it, by in runs.reviewed(run):
            votes = {LABEL_OF_VERDICT.get(v) for v in by.values()}
            if len(votes) != 1 or None in votes:
                left_out += 1
                continue
            report = runs.store.load_report(it.audit_id)
            fh.write(json.dumps({"id": it.row_id, "knowledge": "\n\n".join(s.text for s in report.sources),
                                 "question": report.question, "answer": report.answer,
                                 "label": "supported" if votes == {1} else "hallucinated",
                                 "run": run.name, "reviewers": sorted(by)}, ensure_ascii=False) + "\n")
            written += 1
    return f"{written} reviewed answers ({left_out} edits or disagreements left out)"


# ------------------------------------------------------------------------------------------ HTML

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)
_HTML = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="referrer" content="no-referrer">
<title>AuditLens run {{ run.name }}</title>
<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;line-height:1.5;padding:0 1em}
td,.t{unicode-bidi:isolate;white-space:pre-wrap}table{border-collapse:collapse;margin:0.5em 0}
td,th{padding:2px 6px;border:1px solid #ddd;vertical-align:top}.muted{color:#666}
.flag{background:rgba(220,40,40,0.15)}svg text{font-size:11px;font-family:sans-serif}</style></head><body>
<h1>Run {{ run.name }}</h1>
<p class="muted">Exported {{ exported_at }} by AuditLens. Source file: {{ run.source }}. Self-contained: no script, nothing fetched.</p>
<h2>Summary</h2>
<table><tr><th>answers</th><td>{{ s.n_items }}</td></tr><tr><th>bad rows skipped</th><td>{{ s.n_bad_rows }}</td></tr>
{% for k, v in s.status_counts.items() %}<tr><th>{{ k }}</th><td>{{ v }}</td></tr>{% endfor %}
<tr><th>flagged share</th><td>{{ "%.1f"|format(100 * s.flagged_share) }} %</td></tr></table>
<p class="muted">Triage: flagged below {{ "%.0f"|format(100 * run.policy.flag_below) }} % support, auto-accepted at or above {{ "%.0f"|format(100 * run.policy.accept_above) }} %,
{{ "%.0f"|format(100 * run.policy.spot_check_share) }} % of those spot-checked.</p>
<h2>Answer support</h2>
<svg xmlns="http://www.w3.org/2000/svg" width="{{ hist.width }}" height="{{ hist.height }}" role="img" aria-label="histogram of answer support">
<line x1="40" y1="{{ hist.base }}" x2="{{ hist.width - 10 }}" y2="{{ hist.base }}" stroke="#444"/>
{% for b in hist.bars %}<rect x="{{ b.x }}" y="{{ b.y }}" width="{{ b.w }}" height="{{ b.h }}" fill="{{ b.fill }}"><title>{{ b.title }}</title></rect>
{% endfor %}{% for t in hist.ticks %}<text x="{{ t.x }}" y="{{ hist.base + 14 }}" text-anchor="{{ 'end' if loop.last else 'middle' }}">{{ t.label }}</text>{% endfor %}
{% for l in hist.lines %}<line x1="{{ l.x }}" y1="14" x2="{{ l.x }}" y2="{{ hist.base }}" stroke="#444" stroke-dasharray="4 3"/><text x="{{ l.x + 3 }}" y="12" font-size="11">{{ l.label }}</text>{% endfor %}
<text x="36" y="18" text-anchor="end">{{ hist.max }}</text><text x="{{ hist.width / 2 }}" y="{{ hist.height - 2 }}" text-anchor="middle">support (answers per bin)</text>
</svg>
{% if s.labels %}<h2>Against the data's labels</h2>
<p>{{ s.labels.n }} labelled answers ({{ s.labels.n_supported }} supported):
AUROC {{ "%.3f"|format(s.labels.auroc) if s.labels.auroc is not none else "n/a (one class)" }},
balanced accuracy {{ "%.3f"|format(s.labels.balanced_accuracy) }} at {{ "%.0f"|format(100 * s.labels.threshold) }} % support.</p>
<svg xmlns="http://www.w3.org/2000/svg" width="{{ rel.size + 60 }}" height="{{ rel.size + 50 }}" role="img" aria-label="reliability diagram">
<rect x="40" y="10" width="{{ rel.size }}" height="{{ rel.size }}" fill="none" stroke="#444"/>
<line x1="40" y1="{{ rel.size + 10 }}" x2="{{ rel.size + 40 }}" y2="10" stroke="#aaa" stroke-dasharray="4 3"/>
<polyline fill="none" stroke="#1f77b4" stroke-width="2" points="{{ rel.points }}"/>
{% for p in rel.dots %}<circle cx="{{ p.x }}" cy="{{ p.y }}" r="{{ p.r }}" fill="#1f77b4"><title>{{ p.title }}</title></circle>{% endfor %}
{% for t in rel.ticks %}<text x="{{ 40 + t.at }}" y="{{ rel.size + 24 }}" text-anchor="middle" font-size="11">{{ t.label }}</text>{% if t.at %}<text x="43" y="{{ rel.size + 24 - t.at }}" font-size="11">{{ t.label }}</text>{% endif %}{% endfor %}
<text x="{{ rel.size / 2 + 40 }}" y="{{ rel.size + 40 }}" text-anchor="middle">predicted support</text>
<text x="12" y="{{ rel.size / 2 + 10 }}" transform="rotate(-90 12 {{ rel.size / 2 + 10 }})" text-anchor="middle">share labelled supported</text>
</svg>{% endif %}
<h2>By model</h2><table><tr><th>model</th><th>answers</th><th>flagged</th><th>mean support</th></tr>
{% for r in s.by_model %}<tr><td>{{ r.name }}</td><td>{{ r.answers }}</td><td>{{ r.flagged }} ({{ "%.0f"|format(100 * r.flagged_share) }} %)</td><td>{{ "%.0f %%"|format(100 * r.mean_support) if r.mean_support is not none else "" }}</td></tr>{% endfor %}</table>
<h2>By source document</h2><table><tr><th>source</th><th>answers</th><th>flagged</th><th>mean support</th></tr>
{% for r in s.by_source %}<tr><td>{{ r.name }}</td><td>{{ r.answers }}</td><td>{{ r.flagged }} ({{ "%.0f"|format(100 * r.flagged_share) }} %)</td><td>{{ "%.0f %%"|format(100 * r.mean_support) if r.mean_support is not none else "" }}</td></tr>{% endfor %}</table>
<h2>Riskiest answers</h2>
<table><tr><th>risk</th><th>status</th><th>row</th><th>question</th><th>answer</th><th>flagged sentences</th><th>verdict</th></tr>
{% for it in riskiest %}<tr><td>{{ "%.2f"|format(it.item.risk) }}</td><td>{{ it.item.status }}</td><td>{{ it.item.row_id }} (line {{ it.item.line_no }})</td>
<td>{{ it.item.question }}</td><td>{{ it.item.answer }}</td>
<td>{% for sen in it.flagged %}<div class="flag">{{ sen.sentence }} <span class="muted">({{ sen.label }}, {{ "%.0f %%"|format(100 * sen.support_probability) }}{% if sen.reasons %}: {{ sen.reasons|join("; ") }}{% endif %})</span></div>{% endfor %}</td>
<td>{{ it.item.latest_verdict or "" }}{% if it.item.latest_reviewer %} ({{ it.item.latest_reviewer }}){% endif %}</td></tr>{% endfor %}</table>
{% if bad %}<h2>Bad rows (first {{ bad|length }} of {{ s.n_bad_rows }})</h2><table><tr><th>line</th><th>id</th><th>reason</th></tr>
{% for b in bad %}<tr><td>{{ b.line_no }}</td><td>{{ b.row_id or "" }}</td><td>{{ b.reason }}</td></tr>{% endfor %}</table>{% endif %}
</body></html>
""")


def histogram_svg(stats: RunStats, flag_below: float = 0.5, accept_above: float = 0.8, width: int = 560,
                  height: int = 200) -> dict:
    """Bar geometry of the support histogram (numbers only; the template escapes every label)."""
    counts = stats.histogram_counts
    top = max(counts) if counts and max(counts) > 0 else 1
    base, left, plot_w = height - 34, 40, width - 50
    bar_w = plot_w / max(1, len(counts))
    bars = []
    for k, c in enumerate(counts):
        h = (base - 24) * c / top
        lo, hi = stats.histogram_edges[k], stats.histogram_edges[k + 1]
        centre = (lo + hi) / 2  # coloured by the triage band the bin falls in
        fill = triage_css(centre, flag_below, accept_above)
        bars.append({"x": round(left + k * bar_w + 1, 1), "y": round(base - h, 1), "w": round(bar_w - 2, 1),
                     "h": round(h, 1), "fill": fill, "title": f"{lo:.0%}-{hi:.0%}: {c} answers"})
    ticks = [{"x": round(left + k * plot_w / 5, 1), "label": f"{k * 20}%"} for k in range(6)]
    lines = [{"x": round(left + v * plot_w, 1), "label": f"{label} {v:.0%}"}  # the triage thresholds, as in the app
             for v, label in ((flag_below, "flag"), (accept_above, "auto-accept"))]
    return {"width": width, "height": height, "base": base, "bars": bars, "ticks": ticks, "max": top, "lines": lines}


def reliability_svg(stats: RunStats, size: int = 260) -> dict | None:
    if stats.labels is None:
        return None
    pts = [(40 + size * r.mean_predicted, 10 + size * (1 - r.observed), r) for r in stats.labels.reliability]
    biggest = max((r.count for r in stats.labels.reliability), default=1)
    return {"size": size, "points": " ".join(f"{x:.1f},{y:.1f}" for x, y, _ in pts),
            "dots": [{"x": round(x, 1), "y": round(y, 1), "r": round(2 + 5 * (r.count / biggest) ** 0.5, 1),
                      "title": f"{r.low:.0%}-{r.high:.0%}: predicted {r.mean_predicted:.0%}, observed {r.observed:.0%}, "
                               f"{r.count} answers"} for x, y, r in pts],
            # 0 %, 50 %, 100 % on both axes (the diagram had none)
            "ticks": [{"at": round(v * size, 1), "label": f"{v:.0%}"} for v in (0.0, 0.5, 1.0)]}


def render_html(runs: RunStore, run: Run, riskiest: int = 50, bad_shown: int = 200) -> str:
    items = runs.items(run)
    bad = runs.bad_lines(run)
    stats = run_stats(items, len(bad), run.policy.flag_below)
    top = []
    for it in items[:riskiest]:
        flagged = [s for s in _sentences(runs.store.load_report(it.audit_id)) if s["label"] != "supported"]
        top.append({"item": it, "flagged": flagged})
    return _HTML.render(csp=CSP, run=run, s=stats, hist=histogram_svg(stats, run.policy.flag_below, run.policy.accept_above), rel=reliability_svg(stats), riskiest=top,
                        bad=bad[:bad_shown], exported_at=_now())


def write_html(runs: RunStore, run: Run, path) -> str:
    with _atomic(path) as fh:
        fh.write(render_html(runs, run))
    return "one self-contained page"


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")
