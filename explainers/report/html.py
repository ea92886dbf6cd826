"""Self-contained HTML views (Jinja2 with autoescape; untrusted text is never marked safe).

No script, no external fetch: a strict Content-Security-Policy meta tag allows inline styles and data: images
only. Untrusted text (answers, sources, tokens, notes) sits in element text and in quoted attribute values,
both escaped by autoescape; ``unicode-bidi: isolate`` keeps right-to-left overrides from spilling over.
"""

from __future__ import annotations

import jinja2
import numpy as np

from ..colours import ATTRIBUTION_LEGEND, LABEL_CSS, LABEL_LEGEND, attribution_css
from ..types import AuditReport, TextAttribution
from .bundle import ReportBundle

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)

CSP = "default-src 'none'; style-src 'unsafe-inline'; img-src data:; base-uri 'none'; form-action 'none'"

_HEAD = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{{ csp }}">
<meta name="referrer" content="no-referrer">
<title>{{ title }}</title>
<style>body{font-family:sans-serif;max-width:70em;margin:2em auto;line-height:1.6;padding:0 1em}
.u,.s,td,.t{unicode-bidi:isolate;white-space:pre-wrap}span.u{padding:1px 0;border-radius:3px}
table{border-collapse:collapse;margin:0.5em 0}td,th{padding:2px 6px;border:1px solid #ddd;vertical-align:top}
.muted{color:#666}.audit{border-top:3px solid #444;margin-top:2em;padding-top:1em}
td.h{min-width:1.2em;font-size:80%}
.scroll{overflow-x:auto;max-width:100%}th.t{max-width:12em;overflow-wrap:anywhere}</style></head><body>"""

_PARTIALS = {
    "attr": """
<p>Method <b>{{ a.method }}</b>, granularity <b>{{ a.granularity }}</b>, model <b>{{ a.model_id }}</b>,
target {{ a.target }}, {{ "%.2f"|format(a.elapsed_s) }} s{% if a.convergence_delta is not none %},
IG convergence delta {{ "%.2e"|format(a.convergence_delta) }}{% endif %}.</p>
<h3>Answer</h3><p class="t">{{ a.output_text }}</p>
<h3>Prompt, coloured by attribution to the whole answer</h3>
<p class="muted legend">{{ legend }}</p>
<p>{% for text, score, colour in units %}<span class="u" style="background:{{ colour }}" title="{{ '%+.4f'|format(score) }}">{{ text }}</span>{% endfor %}</p>
<h3>Top inputs</h3><table><tr><th>unit</th><th>score</th></tr>
{% for u, s in top %}<tr><td>{{ u.text }}</td><td>{{ "%+.4f"|format(s) }}</td></tr>{% endfor %}</table>
{% if heat %}<h3>Answer units × most influential input units</h3>
<p class="muted legend">{{ legend }}</p>
<div class="scroll"><table><tr><th></th>{% for text in heat.cols %}<th class="t">{{ text }}</th>{% endfor %}</tr>
{% for row in heat.rows %}<tr><td class="t">{{ row.text }}</td>{% for value, colour in row.cells %}<td class="h" style="background:{{ colour }}" title="{{ '%+.4f'|format(value) }}"></td>{% endfor %}</tr>{% endfor %}</table></div>{% endif %}
{% if steps %}<h3>Per answer unit</h3><table><tr><th>unit</th>{% for k in steps.names %}<th>{{ k }}</th>{% endfor %}</tr>
{% for text, values in steps.rows %}<tr><td class="t">{{ text }}</td>{% for v in values %}<td>{{ v }}</td>{% endfor %}</tr>{% endfor %}</table>{% endif %}
""",
}
_ENV.loader = jinja2.DictLoader(_PARTIALS)

_ATTR_TEMPLATE = _ENV.from_string(_HEAD + """<h1>Why the model answered this</h1>{% include "attr" %}</body></html>""")

_REPORT_TEMPLATE = _ENV.from_string(_HEAD + """
<h1>{{ title }}</h1>
<p class="muted">{{ items|length }} audit{{ "" if items|length == 1 else "s" }}, exported {{ exported_at }} by AuditLens.
Self-contained: no script, nothing fetched.</p>
{% for it in items %}<section class="audit">
<h2>Audit {{ it.b.audit_id if it.b.audit_id is not none else "(unsaved)" }}{% if it.b.version %}, version {{ it.b.version }}{% endif %}</h2>
<p class="muted">model {{ it.r.model_id or "n/a" }}; created {{ it.b.created_at or it.r.created_at }}{% if it.b.created_by %} by <span class="s">{{ it.b.created_by }}</span>{% endif %}</p>
<h3>Question</h3><p class="t">{{ it.r.question }}</p>
<h3>Answer{% if it.r.grounding %}, each sentence coloured by support{% endif %}</h3>
{% if it.r.grounding %}<p class="muted legend">{{ label_legend }}</p>{% endif %}
<p>{% for text, colour, tip in it.answer %}<span class="u" style="background:{{ colour }}" title="{{ tip }}">{{ text }}</span>{% endfor %}</p>
{% if it.r.grounding %}<p>Answer support probability: <b>{{ "%.0f%%"|format(100 * it.r.grounding.answer_support_probability) }}</b> (its weakest sentence's)</p>
<div class="scroll"><table><tr><th>sentence</th><th>label</th><th>support</th><th>cited source span</th><th>unsupported spans</th><th>reasons</th></tr>
{% for s in it.r.grounding.sentences %}<tr><td>{{ s.sentence }}</td><td style="background:{{ colours[s.label] }}">{{ s.label }}</td>
<td>{{ "%.0f%%"|format(100 * s.support_probability) }}</td><td>{% if s.source_span %}{{ s.source_text[s.source_span[0]:s.source_span[1]] }}{% endif %}</td>
<td>{% for a, b in s.unsupported_spans %}<span class="u" style="background:{{ colours.unsupported }}">{{ it.r.answer[a:b] }}</span> {% endfor %}</td>
<td>{{ s.reasons|join("; ") }}</td></tr>{% endfor %}</table></div>{% endif %}
<h3>Sources</h3>{% for src in it.r.sources %}<p><b class="s">{{ src.title or src.source_id }}</b><br><span class="t">{{ src.text }}</span></p>{% else %}<p class="muted">none</p>{% endfor %}
{% for ctx in it.attrs %}<h3>Attribution: {{ ctx.a.method }} ({{ ctx.a.granularity }})</h3>{% with a=ctx.a, units=ctx.units, top=ctx.top, heat=ctx.heat, steps=ctx.steps, legend=ctx.legend %}{% include "attr" %}{% endwith %}{% endfor %}
{% for t in it.tables %}<h3>{{ t.title }}</h3>{% if t.note %}<p class="muted">{{ t.note }}</p>{% endif %}
<div class="scroll"><table><tr>{% for h in t.header %}<th>{{ h }}</th>{% endfor %}</tr>{% for row in t.rows %}<tr>{% for cell in row %}<td>{{ cell }}</td>{% endfor %}</tr>{% endfor %}</table></div>{% endfor %}
<h3>Review history</h3>{% if it.b.verdicts %}<table><tr><th>when</th><th>reviewer</th><th>verdict</th><th>note</th><th>edited answer</th></tr>
{% for v in it.b.verdicts %}<tr><td>{{ v.created_at }}</td><td>{{ v.reviewer }}</td><td>{{ v.verdict }}</td><td>{{ v.note }}</td><td>{{ v.edited_answer or "" }}</td></tr>{% endfor %}</table>
{% else %}<p class="muted">no verdict yet</p>{% endif %}
</section>{% endfor %}
</body></html>""")


def _attr_context(a: TextAttribution, show_special: bool = False, max_cols: int = 30, max_rows: int = 60) -> dict:
    keep = [(u.text, float(s)) for u, s in zip(a.input_units, a.sequence_scores) if show_special or not u.special]
    scale = max((abs(s) for _, s in keep), default=0.0)
    units = [(t, s, attribution_css(s, scale)) for t, s in keep]
    heat = None
    visible = np.flatnonzero(a.visible_input)
    if a.scores.size and visible.size and len(a.output_units) > 1:
        cols = visible[np.argsort(-np.abs(a.scores[:, visible]).sum(0))[:max_cols]]
        cols = np.sort(cols)
        block = a.scores[:max_rows][:, cols]
        hscale = float(np.max(np.abs(block))) if block.size else 0.0
        heat = {"cols": [a.input_units[j].text for j in cols],
                "rows": [{"text": a.output_units[i].text,
                          "cells": [(float(v), attribution_css(float(v), hscale)) for v in block[i]]}
                         for i in range(block.shape[0])]}
    steps = None
    names = [k for k in ("probability", "entropy", "rank") if k in a.step_scores]
    if names:
        steps = {"names": names, "rows": [(u.text, [table_number(float(a.step_scores[k][i]), k) for k in names])
                                          for i, u in enumerate(a.output_units[:max_rows])]}
    return {"a": a, "units": units, "top": a.top_inputs(10), "heat": heat, "steps": steps,
            "legend": ATTRIBUTION_LEGEND}


def table_number(value, name: str = "") -> str:
    """A number in a report's table (HTML and PDF alike): three decimals, or three significant digits for a value
    too small for them (a token probability of 4.1e-05 read "0.000", as if the model had ruled the token out); a
    rank as a whole number."""
    if isinstance(value, (float, np.floating)):
        v = float(value)
        if not np.isfinite(v):
            return "n/a"
        if name == "rank" and v.is_integer():
            return str(int(v))
        return f"{v:.2e}" if 0 < abs(v) < 0.0005 else f"{v:.3f}"
    return str(value)


def render_attribution_html(a: TextAttribution, show_special: bool = False) -> str:
    return _ATTR_TEMPLATE.render(csp=CSP, title="AuditLens attribution", **_attr_context(a, show_special))


def answer_segments(report: AuditReport) -> list[tuple[str, str, str]]:
    """The answer cut at grounding sentence boundaries: (text, background colour, tooltip) per piece."""
    text, out, pos = report.answer, [], 0
    sentences = sorted(report.grounding.sentences, key=lambda s: s.start) if report.grounding else []
    for s in sentences:
        if s.start < pos or s.end > len(text):
            continue
        if s.start > pos:
            out.append((text[pos:s.start], "transparent", ""))
        out.append((text[s.start:s.end], LABEL_CSS[s.label], f"{s.label}, support {s.support_probability:.0%}"))
        pos = s.end
    if pos < len(text):
        out.append((text[pos:], "transparent", ""))
    return out


def report_tables(report: AuditReport) -> list:
    """The tables of the report's perturbation results (each tabulates itself: ``as_tables``)."""
    return [table for result in report.perturbations for table in result.as_tables()]


def render_report_html(bundles: list[ReportBundle], title: str = "AuditLens audit report") -> str:
    from ..types import utc_now

    items = [{"b": b, "r": b.report, "answer": answer_segments(b.report),
              "attrs": [_attr_context(a) for a in b.report.attributions], "tables": report_tables(b.report)}
             for b in bundles]
    return _REPORT_TEMPLATE.render(csp=CSP, title=title, items=items, colours=LABEL_CSS,
                                  label_legend=LABEL_LEGEND, exported_at=utc_now())
