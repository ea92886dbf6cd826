"""The Dataset page: a run's counts and figures, filters, the riskiest answer opened in the Review queue, a verdict."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from explainers.batch.audit import BatchOptions, Detector
from explainers.batch.pipeline import run_batch
from explainers.batch.reader import ColumnMap
from explainers.batch.runs import RunStore
from explainers.store import Store

APP = Path(__file__).resolve().parents[2] / "dashboard" / "app.py"


@pytest.fixture()
def run_in_store(tmp_path, monkeypatch, embedder, make_rows, make_jsonl):
    url = f"sqlite:///{tmp_path / 'audits.db'}"
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", url)
    monkeypatch.setenv("AUDITLENS_DATA_DIR", str(tmp_path / "data"))
    from dashboard.resources import review_store

    review_store.clear()
    monkeypatch.setattr(Detector, "load", classmethod(lambda cls, o: Detector(o, embedder=embedder)))
    data = make_jsonl(tmp_path / "d.jsonl", make_rows(12), ['{"id": "x", "question": "q", "knowledge": "k"}'])
    runs = RunStore(Store(url))
    run_batch(str(data), "nightly", ColumnMap(label="label", model="model"), BatchOptions(verifier="none"), runs)
    return runs


def _answers(at):
    """The riskiest-answers table (the breakdown tables come before it)."""
    return next(d.value for d in at.dataframe if "risk" in d.value.columns)


def _dataset_page():
    at = AppTest.from_file(str(APP), default_timeout=120).run()
    return at.switch_page("app_pages/dataset.py").run()


def test_dataset_page_shows_a_run_and_opens_the_riskiest_answer_for_a_verdict(run_in_store):
    runs = run_in_store
    run = runs.get_run("nightly")
    items = runs.items(run)
    at = _dataset_page()
    assert not at.exception, at.exception
    metrics = {m.label: m.value for m in at.metric}
    assert metrics["Answers"] == "12" and metrics["Rows skipped"] == "1"
    n_flagged = sum(it.status == "flagged" for it in items)
    assert metrics["Flagged"] == f"{n_flagged} ({n_flagged / len(items):.0%})"  # the share in the value, no delta
    assert len(at.get("plotly_chart")) == 2  # the histogram and the reliability diagram (the data had labels)
    assert any("AUROC" in m.value for m in at.markdown)
    table = _answers(at)
    assert list(table["risk"]) == sorted(table["risk"], reverse=True)
    assert set(table["status"]) <= {"flagged", "uncertain", "spot_check"}
    # every flag says why, beside the score: the weakest flagged sentence, its label and first reason
    assert list(table.columns[:4]) == ["risk", "status", "support", "why"]
    for it in items:  # with nothing flagged, the weakest sentence's support and reason
        assert it.reason.startswith("weakest sentence supported at ") == (it.n_flagged_sentences == 0), it
        assert "': " in it.reason, it
    flagged = table[table["status"] == "flagged"]
    assert len(flagged) and all(w.split(":")[0] in ("unsupported", "contradicted") and "': " in w for w in flagged["why"])
    riskiest = items[0]
    assert at.selectbox(key="dataset_pick").value == riskiest.audit_id  # the pick offers the riskiest first
    # every status: all 12 answers; a model filter keeps that model's answers only
    at.multiselect(key="dataset_status").set_value(["flagged", "uncertain", "spot_check", "auto_accepted"]).run()
    assert len(_answers(at)) == 12
    at.selectbox(key="dataset_model").set_value("model-a").run()
    assert set(_answers(at)["model"]) == {"model-a"}
    at.selectbox(key="dataset_model").set_value("any").run()
    # the triage policy is set in percent, as support reads everywhere; a crossed pair is refused in those terms
    assert at.slider(key="policy_flag").value == 50 and at.slider(key="policy_accept").value == 80
    at.slider(key="policy_flag").set_value(90)
    next(b for b in at.button if b.label == "Save policy").click().run()
    assert any("'Flag below' (90 %) must not be above 'Auto-accept at or above' (80 %)" in e.value for e in at.error)
    assert runs.get_run("nightly").policy.flag_below == 0.5  # unchanged
    at.slider(key="policy_flag").set_value(40)
    next(b for b in at.button if b.label == "Save policy").click().run()
    assert runs.get_run("nightly").policy.flag_below == pytest.approx(0.4)

    # the riskiest answer opens in the Review queue, where a verdict is left on it
    at.selectbox(key="dataset_pick").set_value(riskiest.audit_id)
    at.button[0].click().run()  # the form's "Open in the Review queue"
    assert not at.exception, at.exception
    assert any(f"Audit {riskiest.audit_id}" in h.value for h in at.header)
    at.switch_page("app_pages/review.py").run()  # AppTest keeps its own page across reruns; the browser follows
    assert any(f"Audit {riskiest.audit_id}" in h.value for h in at.header)
    at.text_input(key=f"queue_reviewer_{riskiest.audit_id}").set_value("ana")
    at.radio[0].set_value("reject")
    next(b for b in at.button if b.label == "Save verdict").click().run()
    assert not at.exception, at.exception
    assert not at.error, [e.value for e in at.error]
    assert [h["verdict"] for h in runs.store.history(riskiest.audit_id)] == ["reject"]
    assert runs.items(run)[0].latest_verdict == "reject"


def test_dataset_page_without_runs_says_how_to_make_one(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", f"sqlite:///{tmp_path / 'empty.db'}")
    from dashboard.resources import review_store

    review_store.clear()
    at = _dataset_page()
    assert not at.exception, at.exception
    assert "audit-batch" in at.info[0].value


def test_a_contradicted_answer_is_explained_by_what_the_source_says_not_a_word_count(embedder, verifier):
    from explainers.batch.runs import flag_reason
    from explainers.retrieval.grounding import ground
    from explainers.types import Grounding, SentenceGrounding

    source = ("Marie Curie was born in Warsaw in 1867. She won the Nobel Prize in Physics in 1903 and the Nobel "
              "Prize in Chemistry in 1911.")
    g = ground("Marie Curie was not born in Warsaw. She was a chemist.", [source], embedder=embedder,
               verifier=verifier)
    why = flag_reason(g)
    # the reason quotes what the source says instead
    assert why.startswith("contradicted: 'Marie Curie was not born in Warsaw.': ") and \
        "'Marie Curie was born in Warsaw in 1867.'" in why, why
    # an answer with nothing flagged still says what its support rests on (an uncertain one had an empty why)
    supported = ground("Marie Curie was born in Warsaw in 1867.", [source], embedder=embedder, verifier=verifier)
    assert supported.sentences[0].label == "supported"
    assert flag_reason(supported) == (f"weakest sentence supported at {supported.sentences[0].support_probability:.0%}"
                                      f": 'Marie Curie was born in Warsaw in 1867.': {supported.sentences[0].reasons[0]}")
    assert flag_reason(Grounding("", (), 0.0)) == ""
    # a Dataset row read "contradicted: '...': 1 of 5 content words are in no source": the swap is the reason
    swapped = SentenceGrounding("Stark won more titles.", 0, 22, 0.1, "contradicted", reasons=(
        "1 of 5 content words are in no source", "roles look swapped (Stark / Lee): the source pairs them the other "
        "way round: 'Lee won more titles than Stark.'"))
    assert "roles look swapped" in flag_reason(Grounding("Stark won more titles.", (swapped,), 0.1))
