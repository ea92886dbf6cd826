"""Self-contained HTML views (Jinja2 with autoescape; untrusted text is never marked safe)."""

from __future__ import annotations

import jinja2
import numpy as np

from ..types import TextAttribution

_ENV = jinja2.Environment(autoescape=True, undefined=jinja2.StrictUndefined)

_ATTR_TEMPLATE = _ENV.from_string("""<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="default-src 'none'; style-src 'unsafe-inline'; img-src data:">
<title>AuditLens attribution</title>
<style>body{font-family:sans-serif;max-width:60em;margin:2em auto;line-height:1.8}
span.u{padding:1px 0;border-radius:3px;white-space:pre-wrap}table{border-collapse:collapse}td,th{padding:2px 6px}</style>
</head><body>
<h1>Why the model answered this</h1>
<p>Method <b>{{ a.method }}</b>, granularity <b>{{ a.granularity }}</b>, model <b>{{ a.model_id }}</b>,
target {{ a.target }}, {{ "%.2f"|format(a.elapsed_s) }} s.</p>
<h2>Answer</h2><p>{{ a.output_text }}</p>
<h2>Prompt, coloured by attribution to the whole answer</h2>
<p>{% for u, colour in units %}<span class="u" style="background:{{ colour }}" title="{{ '%+.4f'|format(u[1]) }}">{{ u[0] }}</span>{% endfor %}</p>
<h2>Top inputs</h2><table><tr><th>unit</th><th>score</th></tr>
{% for u, s in top %}<tr><td>{{ u.text }}</td><td>{{ "%+.4f"|format(s) }}</td></tr>{% endfor %}</table>
</body></html>""")


def colour(value: float, scale: float) -> str:
    """Diverging colour: green for positive, red for negative attribution, alpha by magnitude."""
    if scale <= 0 or not np.isfinite(value):
        return "rgba(0,0,0,0)"
    a = min(1.0, abs(value) / scale) * 0.8
    return f"rgba(0,160,60,{a:.3f})" if value > 0 else f"rgba(220,40,40,{a:.3f})"


def render_attribution_html(a: TextAttribution, show_special: bool = False) -> str:
    keep = [(u.text, float(s)) for u, s in zip(a.input_units, a.sequence_scores) if show_special or not u.special]
    scale = max((abs(s) for _, s in keep), default=0.0)
    units = [((t, s), colour(s, scale)) for t, s in keep]
    return _ATTR_TEMPLATE.render(a=a, units=units, top=a.top_inputs(10))
