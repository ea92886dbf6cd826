"""PDF reports with fpdf2: text only, drawn with an embedded DejaVu font (shipped inside matplotlib).

Untrusted text is written with ``multi_cell(markdown=False)``: it is never parsed as markup, and the renderer
fetches no URL and opens no file named in content (fpdf2's ``write_html`` and images are not used).
Characters the font cannot draw are replaced by ``U+XXXX`` so the text stays readable and nothing is lost
silently; bidi control characters are shown the same way (a PDF cannot isolate them).
"""

from __future__ import annotations

import unicodedata
from pathlib import Path

import numpy as np

from ..colours import LABEL_LEGEND, LABEL_RGB_ON_WHITE
from .bundle import ReportBundle
from .html import report_tables, table_number

_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_WHITE = (255, 255, 255)


def _font_path(bold: bool = False) -> Path:
    import matplotlib

    return Path(matplotlib.get_data_path()) / "fonts" / "ttf" / ("DejaVuSans-Bold.ttf" if bold else "DejaVuSans.ttf")


class _Writer:
    def __init__(self):
        from fpdf import FPDF
        from fontTools.ttLib import TTFont

        self.pdf = FPDF(format="A4")
        self.pdf.set_auto_page_break(True, margin=15)
        self.pdf.add_font("DejaVu", "", str(_font_path()))
        self.pdf.add_font("DejaVu", "B", str(_font_path(True)))
        self.cmap = set(TTFont(str(_font_path())).getBestCmap())
        self.pdf.add_page()

    def clean(self, text: str) -> str:
        out = []
        for ch in str(text):
            if ch in "\n\t":
                out.append(ch if ch == "\n" else " ")
            elif ch in _BIDI or ord(ch) not in self.cmap or unicodedata.category(ch) in ("Cc", "Cf", "Cs", "Co"):
                out.append(f"[U+{ord(ch):04X}]")
            else:
                out.append(ch)
        return "".join(out)

    def text(self, text: str, size: float = 10, bold: bool = False, fill: tuple[int, int, int] | None = None,
             height: float = 5.5) -> None:
        self.pdf.set_font("DejaVu", "B" if bold else "", size)
        if fill:
            self.pdf.set_fill_color(*fill)
        self.pdf.multi_cell(0, height, self.clean(text), markdown=False, fill=bool(fill),
                            new_x="LMARGIN", new_y="NEXT")
        self.pdf.set_fill_color(*_WHITE)  # fpdf2 tables fill with the current colour: a tint must not leak into them

    def heading(self, text: str, size: float = 13) -> None:
        self.pdf.ln(2)
        self.text(text, size=size, bold=True, height=7)

    def table(self, header: list[str], rows: list[list], widths: list[float] | None = None,
              fills: list[tuple[int, int, int] | None] | None = None) -> None:
        """A table; ``fills`` gives each body row's background (None: white)."""
        from fpdf.fonts import FontFace

        self.pdf.set_font("DejaVu", "", 8)
        self.pdf.set_fill_color(*_WHITE)
        fills = fills or [None] * len(rows)
        with self.pdf.table(col_widths=widths, text_align="LEFT", markdown=False, line_height=4.5) as table:
            table.row([self.clean(h) for h in header])
            for cells, fill in zip(rows, fills):
                row = table.row()
                style = FontFace(fill_color=fill) if fill else None
                for cell in cells:
                    row.cell(self.clean(cell if isinstance(cell, str) else table_number(cell)), style=style)

    def width_of(self, text: str, size: float = 8, bold: bool = False) -> float:
        self.pdf.set_font("DejaVu", "B" if bold else "", size)
        return self.pdf.get_string_width(text)


def _audit_title(b: ReportBundle) -> str:
    return f"Audit {b.audit_id if b.audit_id is not None else '(unsaved)'}" + (f", version {b.version}" if b.version else "")


def _verdict_lines(b: ReportBundle) -> list[str]:
    v = b.latest_verdict
    if not v:
        return ["Verdict: not reviewed yet"]
    lines = [f"Verdict: {v.get('verdict', '')}, by {v.get('reviewer', '') or 'unknown reviewer'}"
             + (f" on {v['created_at']}" if v.get("created_at") else "")]
    if v.get("note"):
        lines.append(f"Note: {v['note']}")
    if v.get("edited_answer"):
        lines.append(f"Edited answer: {v['edited_answer']}")
    return lines


def _summary(w: _Writer, b: ReportBundle) -> None:
    """The audit on one page: question, labelled answer, answer support, latest verdict."""
    r = b.report
    w.heading(f"{_audit_title(b)}: summary", 14)
    w.text(f"model {r.model_id or 'n/a'}; created {b.created_at or r.created_at}"
           + (f" by {b.created_by}" if b.created_by else ""), size=8)
    lines = _verdict_lines(b)
    w.text(lines[0], bold=True, size=11)
    for line in lines[1:]:
        w.text(line, size=9)
    if r.grounding:
        w.text(f"Answer support probability: {r.grounding.answer_support_probability:.0%} (its weakest sentence's)",
               bold=True, size=11)
    w.heading("Question", 11)
    w.text(r.question)
    if r.grounding:
        w.heading("Answer, each sentence with its label", 11)
        w.text(LABEL_LEGEND, size=8)
        for s in r.grounding.sentences:
            w.text(f"[{s.label}, support {s.support_probability:.0%}] {s.sentence}", fill=LABEL_RGB_ON_WHITE[s.label])
    else:
        w.heading("Answer (not checked against sources)", 11)
        w.text(r.answer)


def _detail(w: _Writer, b: ReportBundle) -> None:
    r = b.report
    w.heading(f"{_audit_title(b)}: detail", 14)
    if r.grounding:
        label_w = max(w.width_of(k) for k in LABEL_RGB_ON_WHITE) + 6  # cell padding: the label never wraps
        support_w = w.width_of("support") + 6
        rest = w.pdf.epw - label_w - support_w
        rows = [[s.sentence, s.label, f"{s.support_probability:.0%}",
                 s.source_text[s.source_span[0]:s.source_span[1]] if s.source_span else "",
                 "; ".join(s.reasons)] for s in r.grounding.sentences]
        w.heading("Grounding", 11)
        w.text(LABEL_LEGEND, size=8)
        w.table(["sentence", "label", "support", "cited source span", "reasons"], rows,
                [rest * 0.3, label_w, support_w, rest * 0.4, rest * 0.3],
                fills=[LABEL_RGB_ON_WHITE[s.label] for s in r.grounding.sentences])
    w.heading("Sources", 11)
    for src in r.sources:
        w.text(src.title or src.source_id, bold=True, size=9)
        w.text(src.text, size=9)
    for a in r.attributions:
        w.heading(f"Attribution: {a.method} ({a.granularity})", 11)
        w.text(f"{a.elapsed_s:.2f} s; target {a.target}" + (
            f"; IG convergence delta {a.convergence_delta:.2e}" if a.convergence_delta is not None else "")
            + ". Positive scores raise the answer's probability, negative ones lower it.", size=8)
        w.table(["top input unit", "score"], [[u.text, f"{s:+.4f}"] for u, s in a.top_inputs(10)], [140, 40])
        if "probability" in a.step_scores:
            entropy = a.step_scores.get("entropy", [np.nan] * len(a.output_units))
            w.table(["answer unit", "probability", "entropy"],
                    [[u.text, float(a.step_scores["probability"][i]), float(entropy[i])]
                     for i, u in enumerate(a.output_units[:60])], [100, 40, 40])
    for t in report_tables(r):
        w.heading(t.title, 11)
        if t.note:
            w.text(t.note, size=8)
        w.table(list(t.header), [list(row) for row in t.rows])
    w.heading("Review history", 11)
    if b.verdicts:
        w.table(["when", "reviewer", "verdict", "note", "edited answer"],
                [[str(v.get("created_at", "")), v.get("reviewer", ""), v.get("verdict", ""), v.get("note", ""),
                  v.get("edited_answer") or ""] for v in b.verdicts], [34, 28, 18, 60, 50])
    else:
        w.text("no verdict yet", size=9)


def render_report_pdf(bundles: list[ReportBundle], title: str = "AuditLens audit report") -> bytes:
    """Page 1 summarises (one audit: its summary; several: one row each), then per audit a summary page and detail."""
    w = _Writer()
    w.pdf.set_title(title)
    w.pdf.set_creator("AuditLens")
    w.heading(title, 16)
    w.text(f"{len(bundles)} audit(s). Text only; nothing is fetched.", size=9)
    if len(bundles) > 1:
        w.heading("Overview", 13)
        w.table(["audit", "question", "answer support", "verdict", "reviewer"],
                [[_audit_title(b), b.report.question,
                  f"{b.report.grounding.answer_support_probability:.0%}" if b.report.grounding else "n/a",
                  (b.latest_verdict or {}).get("verdict", "not reviewed"), (b.latest_verdict or {}).get("reviewer", "")]
                 for b in bundles], [30, 80, 24, 24, 32])
    for i, b in enumerate(bundles):
        if i or len(bundles) > 1:
            w.pdf.add_page()
        _summary(w, b)
        w.pdf.add_page()
        _detail(w, b)
    return bytes(w.pdf.output())
