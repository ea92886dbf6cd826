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

from .bundle import ReportBundle
from .html import report_tables

_BIDI = set("\u202a\u202b\u202c\u202d\u202e\u2066\u2067\u2068\u2069\u200e\u200f")
_LABEL_RGB = {"supported": (200, 235, 210), "unsupported": (245, 200, 200), "contradicted": (250, 220, 180)}


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

    def heading(self, text: str, size: float = 13) -> None:
        self.pdf.ln(2)
        self.text(text, size=size, bold=True, height=7)

    def table(self, header: list[str], rows: list[list], widths: list[float] | None = None) -> None:
        self.pdf.set_font("DejaVu", "", 8)
        with self.pdf.table(col_widths=widths, text_align="LEFT", markdown=False, line_height=4.5) as table:
            for cells in [header] + rows:
                row = table.row()
                for cell in cells:
                    row.cell(self.clean(cell if isinstance(cell, str) else _fmt(cell)))


def _fmt(value) -> str:
    if isinstance(value, float):
        return f"{value:.3f}" if np.isfinite(value) else "n/a"
    return str(value)


def render_report_pdf(bundles: list[ReportBundle], title: str = "AuditLens audit report") -> bytes:
    w = _Writer()
    w.pdf.set_title(title)
    w.pdf.set_creator("AuditLens")
    w.heading(title, 16)
    w.text(f"{len(bundles)} audit(s). Text only; nothing is fetched.", size=9)
    for b in bundles:
        r = b.report
        w.heading(f"Audit {b.audit_id if b.audit_id is not None else '(unsaved)'}"
                  + (f", version {b.version}" if b.version else ""), 14)
        w.text(f"model {r.model_id or 'n/a'}; created {b.created_at or r.created_at}"
               + (f" by {b.created_by}" if b.created_by else ""), size=8)
        w.heading("Question", 11)
        w.text(r.question)
        w.heading("Answer", 11)
        if r.grounding:
            for s in r.grounding.sentences:
                w.text(f"[{s.label}, support {s.support_probability:.2f}] {s.sentence}", fill=_LABEL_RGB[s.label])
            w.text(f"Answer support probability: {r.grounding.answer_support_probability:.0%}", bold=True)
            rows = [[s.sentence, s.label, s.support_probability,
                     s.source_text[s.source_span[0]:s.source_span[1]] if s.source_span else "",
                     "; ".join(s.reasons)] for s in r.grounding.sentences]
            w.heading("Grounding", 11)
            w.table(["sentence", "label", "support", "cited source span", "reasons"], rows, [40, 18, 14, 60, 48])
        else:
            w.text(r.answer)
        w.heading("Sources", 11)
        for src in r.sources:
            w.text(src.title or src.source_id, bold=True, size=9)
            w.text(src.text, size=9)
        for a in r.attributions:
            w.heading(f"Attribution: {a.method} ({a.granularity})", 11)
            w.text(f"{a.elapsed_s:.2f} s; target {a.target}" + (
                f"; IG convergence delta {a.convergence_delta:.2e}" if a.convergence_delta is not None else ""), size=8)
            w.table(["top input unit", "score"], [[u.text, f"{s:+.4f}"] for u, s in a.top_inputs(10)], [140, 40])
            if "probability" in a.step_scores:
                w.table(["answer unit", "probability", "entropy"],
                        [[u.text, float(a.step_scores["probability"][i]), float(a.step_scores.get("entropy", [np.nan] * len(a.output_units))[i])]
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
    return bytes(w.pdf.output())
