"""One colour language: blue raises, red lowers, white none, from explainers.colours, in every view."""

from __future__ import annotations

import html
import io
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from pypdf import PdfReader

from dashboard.components.figures import attribution_heatmap, heatmap_figure, units_figure
from explainers.colours import (ATTRIBUTION_LEGEND, ATTRIBUTION_SCALE, LABEL_LEGEND, LABEL_RGB_ON_WHITE, NEGATIVE_RGB,
                                NONE_RGB, POSITIVE_LEGEND, POSITIVE_RGB, POSITIVE_SCALE, attribution_css)
from explainers.report.bundle import ReportBundle
from explainers.report.html import render_report_html
from explainers.report.pdf import render_report_pdf
from explainers.types import AuditReport, Grounding, SentenceGrounding, Source, TextAttribution, Unit
from explainers.vision.cam import overlay


def wide_attribution(n_inputs: int = 40, n_outputs: int = 6) -> TextAttribution:
    """Long input words, so the answer x input matrix is far wider than a 1,200 px window."""
    words = [f"word{i:02d}-with-a-long-tail" for i in range(n_inputs)]
    text = " ".join(words)
    units, pos = [], 0
    for w in words:
        start = text.index(w, pos)
        units.append(Unit(w, start, start + len(w)))
        pos = start + len(w)
    out = "abcdef"[:n_outputs]
    scores = np.linspace(-1, 1, n_outputs * n_inputs).reshape(n_outputs, n_inputs)
    return TextAttribution(method="input_x_gradient", granularity="word", model_id="m", input_text=text,
                           output_text=out, input_units=units, output_units=[Unit(c, i, i + 1) for i, c in enumerate(out)],
                           scores=scores, sequence_scores=scores.sum(0))


def bundle(labels: tuple[str, ...], verdict: dict | None = None) -> ReportBundle:
    sentences_text = [f"Sentence {i} says something {label} about the tower." for i, label in enumerate(labels)]
    answer = " ".join(sentences_text)
    sentences, pos = [], 0
    for text, label in zip(sentences_text, labels):
        start = answer.index(text, pos)
        sentences.append(SentenceGrounding(sentence=text, start=start, end=start + len(text),
                                           support_probability=0.9 if label == "supported" else 0.1, label=label,
                                           source_id="s1", source_span=(0, 9), source_text="The tower is 330 m tall.",
                                           reasons=("a reason",)))
        pos = start + len(text)
    report = AuditReport(question="How tall is the Eiffel Tower?", answer=answer,
                         sources=(Source("s1", "The tower is 330 m tall.", title="Tower facts"),), model_id="m",
                         attributions=(wide_attribution(),),
                         grounding=Grounding(answer=answer, sentences=tuple(sentences), answer_support_probability=0.734))
    verdicts = (verdict,) if verdict else ()
    return ReportBundle(report, 3, 1, "alice", "2026-11-27T09:00:00", verdicts)


# ------------------------------------------------------------------ the shared scale itself

def test_shared_scale_is_blue_for_raises_red_for_lowers_white_for_none():
    assert attribution_css(1.0, 1.0) == "rgb({},{},{})".format(*POSITIVE_RGB)
    assert attribution_css(-1.0, 1.0) == "rgb({},{},{})".format(*NEGATIVE_RGB)
    assert attribution_css(0.0, 1.0) == attribution_css(float("nan"), 1.0) == "rgb(255,255,255)"
    assert POSITIVE_RGB[2] > POSITIVE_RGB[0] and NEGATIVE_RGB[0] > NEGATIVE_RGB[2]
    assert "blue: raises" in ATTRIBUTION_LEGEND and "red: lowers" in ATTRIBUTION_LEGEND
    assert [c for _, c in POSITIVE_SCALE] == [c for _, c in ATTRIBUTION_SCALE[1:]]  # its white-to-blue half


# ------------------------------------------------------------------ HTML report

def test_html_matrix_scrolls_in_its_own_box_and_names_the_sign():
    page = render_report_html([bundle(("supported", "unsupported"))])
    assert ".scroll{overflow-x:auto;max-width:100%}" in page
    matrix = page.index("Answer units × most influential input units")
    assert page.index('<div class="scroll"><table>', matrix) < page.index("<table>", matrix) + 30
    assert ATTRIBUTION_LEGEND in html.unescape(page) and LABEL_LEGEND in html.unescape(page)
    assert "green: raised" not in page  # the old, contradicting legend
    blue, red = ("rgb({},{},{})".format(*c) for c in (POSITIVE_RGB, NEGATIVE_RGB))
    assert f"background:{blue}" in page and f"background:{red}" in page  # the matrix's extreme cells
    assert "rgba(0,160,60,0." not in page.split("<h3>Prompt")[1]  # no green left in the attribution views


@pytest.mark.skipif(shutil.which("chromium") is None, reason="chromium is not installed (make browser)")
def test_html_report_fits_a_1200_px_window():
    from playwright.sync_api import sync_playwright

    page_html = render_report_html([bundle(("supported", "unsupported"))])
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=shutil.which("chromium"), args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1200, "height": 800})
            page.set_content(page_html)
            doc_width = page.evaluate("document.documentElement.scrollWidth")
            boxes = page.evaluate("[...document.querySelectorAll('div.scroll')].map(d => [d.scrollWidth, d.clientWidth])")
        finally:
            browser.close()
    assert doc_width <= 1200, doc_width  # was 2,293 px: the matrix pushed the page sideways
    assert boxes and all(cw <= 1200 for _, cw in boxes), boxes  # anything wider scrolls inside its own box


# ------------------------------------------------------------------ dashboard figures

def test_plotly_heatmap_uses_the_shared_scale_and_names_the_sign():
    fig = attribution_heatmap(wide_attribution())
    trace = fig.data[0]
    assert [tuple(s) for s in trace.colorscale] == [tuple(s) for s in ATTRIBUTION_SCALE]
    assert trace.zmid == 0 and trace.zmin == -trace.zmax
    title = trace.colorbar.title.text
    assert "blue" in title and "raises" in title and "red" in title and "lowers" in title

    bars = units_figure(["a", "b"], np.array([-1.0, 1.0]), "units")
    assert [tuple(s) for s in bars.data[0].marker.colorscale] == [tuple(s) for s in ATTRIBUTION_SCALE]
    assert "raises" in bars.data[0].marker.colorbar.title.text


def test_never_negative_heatmap_uses_the_positive_half():
    fig = heatmap_figure(np.array([[0.0, 0.5], [1.0, 0.2]]), "cam")
    assert [tuple(s) for s in fig.data[0].colorscale] == [tuple(s) for s in POSITIVE_SCALE]
    assert fig.data[0].zmin == 0 and "blue" in fig.data[0].colorbar.title.text
    signed = heatmap_figure(np.array([[-1.0, 1.0]]), "signed")
    assert [tuple(s) for s in signed.data[0].colorscale] == [tuple(s) for s in ATTRIBUTION_SCALE]


# ------------------------------------------------------------------ CNN overlay

def test_cam_overlay_is_white_to_blue_not_jet():
    image = Image.new("RGB", (8, 8), (128, 128, 128))
    heat = np.zeros((8, 8))
    heat[0, 0] = 1.0
    heat[0, 1] = 0.5
    out = np.asarray(overlay(image, heat, alpha=0.8)).astype(int)
    expected_hot = np.rint(0.2 * 128 + 0.8 * np.array(POSITIVE_RGB))
    assert np.abs(out[0, 0] - expected_hot).max() <= 1  # jet would paint the hottest pixel dark red
    assert (out[7, 7] == 128).all()  # no heat: the photo as it is (jet would paint it dark blue; a uniform blend white)
    assert out[0, 1, 2] > out[0, 1, 0]  # half heat is light blue, not jet's green
    # the heat stands out on a photo of the complementary colour: the hottest pixel is mostly blue
    brown = np.asarray(overlay(Image.new("RGB", (8, 8), (165, 129, 95)), heat)).astype(int)
    assert brown[0, 0, 2] - brown[0, 0, 0] > 80 and (brown[7, 7] == (165, 129, 95)).all()
    assert "white" in POSITIVE_LEGEND and "blue" in POSITIVE_LEGEND


# ------------------------------------------------------------------ PDF report

def _pages(data: bytes) -> list:
    return PdfReader(io.BytesIO(data)).pages


def _filled_rects(data: bytes) -> Counter:
    """How many filled rectangles each fill colour paints, over all pages (the content streams' ``rg`` + ``re f/B``)."""
    counts: Counter = Counter()
    for page in _pages(data):
        stream = page.get_contents().get_data().decode("latin-1")
        fill = (0, 0, 0)
        for m in re.finditer(r"([\d.]+) ([\d.]+) ([\d.]+) rg|re\s+(?:f|B)\*?\b", stream):
            if m.group(1):
                fill = tuple(round(float(x) * 255) for x in m.groups())
            else:
                counts[fill] += 1
    return counts


def test_pdf_first_page_is_the_summary_with_verdict_and_question():
    verdict = {"created_at": "2026-11-27T10:00:00", "reviewer": "bob", "verdict": "reject", "note": "height is wrong"}
    pages = _pages(render_report_pdf([bundle(("supported", "unsupported", "contradicted"), verdict)]))
    first = " ".join(pages[0].extract_text().split())
    assert "How tall is the Eiffel Tower?" in first
    assert "Verdict: reject, by bob" in first and "Note: height is wrong" in first
    assert "Answer support probability: 73%" in first
    for label in ("supported", "unsupported", "contradicted"):
        assert f"[{label}, support" in first
    assert "Attribution:" not in first and "Review history" not in first  # the detail comes after
    rest = " ".join(" ".join(p.extract_text().split()) for p in pages[1:])
    assert "Review history" in rest and "Grounding" in rest

    unreviewed = " ".join(_pages(render_report_pdf([bundle(("supported",))]))[0].extract_text().split())
    assert "Verdict: not reviewed yet" in unreviewed


def test_pdf_supported_rows_are_green_not_pink_and_labels_do_not_wrap():
    green, pink = LABEL_RGB_ON_WHITE["supported"], LABEL_RGB_ON_WHITE["unsupported"]
    rects = _filled_rects(render_report_pdf([bundle(("supported", "unsupported"))]))
    # one summary line and the five cells of its grounding row each; every other cell white (was: 38 pink, 1 green)
    assert rects[green] == 6 and rects[pink] == 6, rects
    assert set(rects) == {green, pink, NONE_RGB}, rects
    assert set(_filled_rects(render_report_pdf([bundle(("supported", "supported"))]))) == {green, NONE_RGB}

    mixed = _pages(render_report_pdf([bundle(("unsupported", "contradicted", "supported"))]))
    text = "\n".join(p.extract_text() for p in mixed)
    assert not re.search(r"unsupporte\s+d|contradicte\s+d|supporte\s+d", text)
    assert text.count("unsupported") >= 2 and text.count("contradicted") >= 2  # summary and grounding table


# ------------------------------------------------------------------ one label colour map

def _stats_with_bins(edges: tuple[float, ...]):
    from explainers.batch.stats import RunStats

    return RunStats(n_items=len(edges) - 1, n_bad_rows=0, status_counts={}, flagged_share=0.0, histogram_edges=edges,
                    histogram_counts=tuple(1 for _ in edges[1:]), by_model=(), by_source=())


def test_triage_bands_use_the_label_colours_in_the_app_and_the_run_report():
    from dashboard.components.dataset_views import histogram_figure
    from explainers.batch.triage import TriagePolicy
    from explainers.colours import LABEL_SOLID_CSS
    from explainers.report.run_export import histogram_svg

    stats = _stats_with_bins((0.0, 0.2, 0.4, 0.6, 0.8, 1.0))  # centres 0.1 0.3 0.5 0.7 0.9
    expected = [LABEL_SOLID_CSS[k] for k in ("unsupported", "unsupported", "contradicted", "contradicted", "supported")]
    figure = histogram_figure(stats, TriagePolicy(flag_below=0.4, accept_above=0.8))
    assert list(figure.data[0].marker.color) == expected
    assert figure.layout.xaxis.tickformat == ".0%"  # support reads in percent here as in the tables
    assert [b["fill"] for b in histogram_svg(stats, flag_below=0.4, accept_above=0.8)["bars"]] == expected


def test_label_colours_are_written_once_in_the_whole_tree():
    """No module but explainers/colours.py maps a label to a colour, nor spells a colour of its own for one."""
    from pathlib import Path

    from dashboard.components.audit_views import BACKGROUND
    from explainers.colours import LABEL_RGB, LABEL_STREAMLIT

    root = Path(__file__).resolve().parents[1]
    label_to_colour = re.compile(r"""["'](?:supported|unsupported|contradicted)["']\s*:\s*(?:\(|["'](?:#|rgb|green|red|orange))""")
    offenders = []
    for path in [*(root / "explainers").rglob("*.py"), *(root / "dashboard").rglob("*.py")]:
        if path.name == "colours.py":
            continue
        text = path.read_text(encoding="utf-8")
        offenders += [f"{path.relative_to(root)}: {m.group(0)}" for m in label_to_colour.finditer(text)]
        offenders += [f"{path.relative_to(root)}: {h}" for h in re.findall(r"#(?:d62728|2ca02c|ff7f0e)\b", text, re.I)]
    assert offenders == []
    assert BACKGROUND == LABEL_STREAMLIT and set(LABEL_STREAMLIT) == set(LABEL_RGB)


# ------------------------------------------------------------------ support bars

def test_support_bars_are_grey_not_the_themes_red():
    # a progress column takes Streamlit's primary colour (red) unless told: a 94 % supported sentence drew a red bar
    # under the legend "red: unsupported"
    from dashboard.components.columns import support_column

    assert support_column(format="percent")["type_config"]["color"] == "gray"
    root = Path(__file__).resolve().parents[1] / "dashboard"
    for path in root.rglob("*.py"):
        if path.name != "columns.py":
            assert "ProgressColumn(" not in path.read_text(), f"{path}: use columns.support_column"
