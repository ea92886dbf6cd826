import numpy as np

from explainers.report.html import render_attribution_html
from explainers.types import TextAttribution, Unit

PAYLOADS = ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '"><svg onload=alert(1)>', '<!--',
            'javascript:alert(1)', '\u202eevil\u202c']


def test_untrusted_tokens_and_answer_are_escaped():
    text = " ".join(PAYLOADS)
    units, pos = [], 0
    for p in PAYLOADS:
        start = text.index(p, pos)
        units.append(Unit(p, start, start + len(p)))
        pos = start + len(p)
    a = TextAttribution(method="m", granularity="word", model_id="<b>model</b>", input_text=text,
                        output_text='<script>steal()</script>', input_units=units, output_units=[Unit("x", 0, 1)],
                        scores=np.ones((1, len(units))), sequence_scores=np.arange(len(units), dtype=float))
    html = render_attribution_html(a)
    lowered = html.lower()
    assert "<script" not in lowered and "<img" not in lowered and "<svg" not in lowered and "<b>model" not in lowered
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "&#34;&gt;&lt;svg onload" in html or "&quot;&gt;&lt;svg onload" in html
    assert "Content-Security-Policy" in html and "http" not in lowered.replace("http-equiv", "")
    assert "\u202eevil\u202c" in html  # visible text equals the input
