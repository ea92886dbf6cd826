"""Exports of a run: JSON, CSV (formula cells defused), self-contained HTML with inline SVG, labelled JSONL."""

import csv
import json
import re

import pytest
from markupsafe import escape

from explainers.batch.audit import BatchOptions, Detector
from explainers.batch.pipeline import run_batch
from explainers.batch.reader import ColumnMap
from explainers.batch.runs import RunStore
from explainers.cli import main
from explainers.report.html import CSP
from explainers.retrieval.evaluate import load_labelled
from explainers.store import Store

PAYLOAD = '<script>alert(1)</script><img src=x onerror=alert(1)>'


@pytest.fixture()
def exported_run(tmp_path, embedder, monkeypatch, make_rows, make_jsonl):
    options = BatchOptions(verifier="none")
    monkeypatch.setattr(Detector, "load", classmethod(lambda cls, o: Detector(o, embedder=embedder)))
    rows = make_rows(12)
    rows[2]["answer"] = "=HYPERLINK(\"http://x.invalid\") " + PAYLOAD  # hallucinated, formula and markup
    data = make_jsonl(tmp_path / "d.jsonl", rows, ['{"id": "r-bad", "question": "q", "knowledge": "k"}'])
    url = f"sqlite:///{tmp_path / 'a.db'}"
    runs = RunStore(Store(url))
    run_batch(str(data), "exp", ColumnMap(label="label", model="model"), options, runs)
    run = runs.get_run("exp")
    items = sorted(runs.items(run), key=lambda it: it.line_no)
    for it in items[:6]:
        runs.store.add_verdict(it.audit_id, "accept" if it.label == "supported" else "reject", "ana")
    runs.store.add_verdict(items[6].audit_id, "edit", "ana", edited_answer="changed")
    return url, runs, run, items


def test_every_export_of_a_run(exported_run, tmp_path, capsys):
    url, runs, run, items = exported_run
    out = {k: tmp_path / f"run.{k}" for k in ("json", "csv", "html")}
    out["reviewed"] = tmp_path / "reviewed.jsonl"
    args = ["export", "--run", "exp", "--database", url] + [a for k, p in out.items() for a in (f"--{k}", str(p))]
    assert main(args) == 0, capsys.readouterr().err
    assert main(args) == 2 and "--force" in capsys.readouterr().err  # never replaced without --force

    doc = json.loads(out["json"].read_text())
    assert doc["run"]["name"] == "exp" and len(doc["items"]) == 12
    assert doc["bad_rows"] == [{"line_no": 13, "row_id": "r-bad", "reason": "missing answer (column 'answer')"}]
    by_row = {i["row_id"]: i for i in doc["items"]}
    assert by_row["row-2"]["sentences"] and by_row["row-2"]["support_probability"] < 0.5
    assert any(s["label"] != "supported" for s in by_row["row-2"]["sentences"])

    with open(out["csv"], newline="") as fh:
        table = list(csv.DictReader(fh))
    assert len(table) == 12
    risky = next(r for r in table if r["row_id"] == "row-2")
    assert risky["answer"].startswith("'=HYPERLINK")  # a spreadsheet shows it as text, never runs it
    assert json.loads(risky["flagged_sentences"]) and risky["status"] == "flagged"
    assert {r["latest_verdict"] for r in table} == {"accept", "reject", "edit", ""}

    html = out["html"].read_text()
    assert f'http-equiv="Content-Security-Policy" content="{escape(CSP)}"' in html  # the same CSP as every report
    assert "<script" not in html and "onerror=alert" not in html.replace("onerror=alert(1)&gt;", "")
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert html.count("<svg") == 2  # histogram and reliability diagram (the data had labels)
    # support reads in percent, as on the app's pages: thresholds, histogram ticks, mean and flagged support
    assert "flagged below 50 % support, auto-accepted at or above 80 %" in html
    assert ">0%</text>" in html and ">100%</text>" in html and ">0.2</text>" not in html
    assert ">flag 50%</text>" in html and ">auto-accept 80%</text>" in html  # the thresholds drawn on the histogram
    assert ">50%</text>" in html and "at 50 % support." in html  # the reliability diagram's ticks; its threshold
    assert re.search(r"<td>\d+ %</td></tr>", html) and not re.search(r"\(((un)?supported|contradicted), 0\.\d\d", html)
    assert not re.search(r"(src|href)=\"?(https?:|//)", html)  # nothing fetched

    labelled = load_labelled(out["reviewed"])  # the format eval-grounding reads
    assert len(labelled) == 6  # the edit is left out
    truth = {it.row_id: it.label for it in items}
    assert all(r["label"] == truth[r["id"]] for r in labelled)
    assert all(r["knowledge"] and r["answer"] for r in labelled)
