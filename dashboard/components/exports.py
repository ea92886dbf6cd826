"""Download buttons for JSON, self-contained HTML and PDF exports of one audit or a set."""

from __future__ import annotations

import streamlit as st

from explainers.report.bundle import ReportBundle, render_json
from explainers.report.html import render_report_html
from explainers.report.pdf import render_report_pdf


def export_buttons(bundles: list[ReportBundle], key: str, stem: str = "auditlens-report") -> None:
    if not bundles:
        st.info("Nothing to export.")
        return
    c1, c2, c3 = st.columns(3)
    c1.download_button("Download JSON", render_json(bundles), file_name=f"{stem}.json", mime="application/json",
                       key=f"{key}_json", icon=":material/data_object:", on_click="ignore")
    c2.download_button("Download HTML", render_report_html(bundles), file_name=f"{stem}.html", mime="text/html",
                       key=f"{key}_html", icon=":material/html:", on_click="ignore")
    # PDF is the slow one: built only when clicked
    c3.download_button("Download PDF", lambda: render_report_pdf(bundles), file_name=f"{stem}.pdf",
                       mime="application/pdf", key=f"{key}_pdf", icon=":material/picture_as_pdf:", on_click="ignore")
