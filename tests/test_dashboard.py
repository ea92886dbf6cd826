import ast
import re
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "dashboard" / "app_pages"
PAYLOADS = ['<script>alert(1)</script>', '<img src=x onerror=alert(1)>', '"><svg onload=alert(1)>', '<!--',
            '[click](javascript:alert(1))', '![x](http://example.invalid/x.png)', ':red[styled]', '\u202eevil\u202c',
            'http://evil.example www.evil.example x@evil.example _https://evil.example/x_ snake_www.evil.example']
# what the Markdown renderer links by itself, escapes or not (bare URLs, www. names, e-mail addresses)
AUTOLINK = re.compile(r"(?i)[a-z]\\?:\\?//|www\\?\.|[\w.+-]@")


@pytest.fixture()
def db(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'audits.db'}"
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", url)
    from dashboard.resources import review_store

    review_store.clear()  # the store is a cached resource: a fresh one per test database
    from explainers.store import Store

    return Store(url)


def markdown_like(at) -> list[str]:
    """Every element whose value Streamlit renders as Markdown (our own colour directives removed)."""
    out = []
    for kind in ("markdown", "caption", "success", "warning", "error", "info", "title", "header", "subheader"):
        out += [re.sub(r":(green|red|orange)-background\[", "", str(e.value)) for e in at.get(kind)]
    return out


def test_about_page_lists_the_pages():
    at = AppTest.from_file(str(PAGES / "home.py"), default_timeout=60).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    for page in ("Audit", "CNN vs LLM", "Review queue", "Reports"):
        assert page in text
    assert "integrated_gradients" in text and "not available yet" not in text


def test_audit_page_opens_on_the_demo_and_saves_a_verdict(lm, embedder, db, settle):
    at = settle(AppTest.from_file(str(PAGES / "audit.py"), default_timeout=240).run())
    assert not at.exception, at.exception
    assert any("Leonardo da Vinci" in t.value for t in at.text)  # the demo answer, as plain text
    # the answer with its flags comes before the tabs and the form: the flagged sentence, its words in bold
    # (words no source has) and its reason are in the summary, not only in the table
    summary = " ".join(m.value for m in at.markdown)
    assert ":red-background[It was designed by **Leonardo** **da** **Vinci**" in summary.replace("\\", ""), summary
    assert "unsupported" in summary and "names in no source" in summary
    grounding = at.dataframe[0].value
    labels = dict(zip(grounding["sentence"], grounding["label"]))
    assert labels["It was designed by Leonardo da Vinci."] == "unsupported"
    assert labels["It is 330 metres tall."] == "supported"
    assert at.metric[0].label == "Answer support probability"
    assert len(at.get("plotly_chart")) >= 2  # attribution heatmap and step scores
    assert any("Leonardo" in w.value for w in at.warning)  # context reliance flags words from the prior
    # another granularity is computed and shown without error
    settle(at.selectbox(key="attr_granularity").set_value("word").run())
    assert not at.exception, at.exception
    # the method in use says what it measures, costs and when to trust it
    assert any(c.value.startswith(f"{at.selectbox(key='attr_method').value}: measures") for c in at.caption)
    # the verdict tab says what a saved verdict keeps: the audit as computed so far, named part by part
    keeps = [c.value for c in at.caption if c.value.startswith("The first verdict saved keeps this audit with")]
    assert keeps and "grounding" in keeps[0] and "context reliance" in keeps[0], keeps
    # no verdict is preselected; saving without one is refused
    assert at.radio(key="verdict_choice").value is None
    at.text_input(key="verdict_reviewer").set_value("ana")
    at.button(key="verdict_save").click().run()
    assert any("Choose a verdict" in e.value for e in at.error), [e.value for e in at.error]
    assert not db.list_audits()
    # a verdict without a name is refused, with a name it is stored
    at.text_input(key="verdict_reviewer").set_value("")
    at.radio(key="verdict_choice").set_value("reject")
    at.button(key="verdict_save").click().run()
    assert "reviewer name is required" in at.error[0].value
    at.text_input(key="verdict_reviewer").set_value("ana")
    at.radio(key="verdict_choice").set_value("reject")
    at.text_area(key="verdict_note").set_value("not in <b>sources</b>")
    at.button(key="verdict_save").click().run()
    assert any("Verdict saved" in m.value for m in at.success), [m.value for m in at.success]
    stored = db.list_audits()
    assert stored[0].latest_verdict == "reject" and "Leonardo" in stored[0].answer
    report = db.load_report(stored[0].id)
    assert report.grounding is not None and report.attributions and report.perturbations
    assert [b.label for b in at.get("download_button")] == ["Download JSON", "Download HTML", "Download PDF"]


def _saved_demo(db, embedder, reviewer="ana", verdict="reject"):
    from explainers.demo import load_demos
    from explainers.retrieval.grounding import ground
    from explainers.types import AuditReport, Source

    case = load_demos()[1]
    report = AuditReport(question=case.question, answer=case.answer,
                         sources=tuple(Source(f"source {k}", t) for k, t in enumerate(case.sources, 1)),
                         grounding=ground(case.answer, list(case.sources), case.question, embedder=embedder))
    audit_id = db.save_audit(report, reviewer)
    if verdict:
        db.add_verdict(audit_id, verdict, reviewer, note="volcano is made up")
    return audit_id


def test_review_queue_filters_opens_and_records_an_edit_as_a_new_version(embedder, db):
    first = _saved_demo(db, embedder)
    _saved_demo(db, embedder, reviewer="bo", verdict=None)
    at = AppTest.from_file(str(PAGES / "review.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert len(at.dataframe[0].value) == 2
    at.selectbox(key="queue_verdict").set_value("reject").run()
    assert list(at.dataframe[0].value["id"]) == [first]
    at.selectbox(key="queue_verdict").set_value("accept").run()
    assert "No saved audit matches" in at.info[0].value
    at.selectbox(key="queue_verdict").set_value("any").run()
    at.text_input(key="queue_reviewer").set_value("bo").run()
    assert len(at.dataframe[0].value) == 1
    at.text_input(key="queue_reviewer").set_value("").run()
    # the support filter is in percent, like the column it filters
    support = db.load_report(first).grounding.answer_support_probability
    slider = at.slider(key="queue_support")
    assert slider.value == (0, 100) and slider.max == 100
    above = min(100, 5 * (int(support * 100) // 5 + 1))
    slider.set_value((above, 100)).run()
    assert at.info and "No saved audit matches" in at.info[0].value
    at.slider(key="queue_support").set_value((5 * (int(support * 100) // 5), above)).run()
    assert len(at.dataframe[0].value) == 2
    at.slider(key="queue_support").set_value((0, 100)).run()
    at.selectbox(key="queue_open").set_value(first).run()
    assert at.header[0].value.startswith(f"Audit {first}")
    fixed = "The Great Barrier Reef lies in the Coral Sea off Queensland, Australia."
    assert at.radio[0].value is None  # no verdict preselected
    at.text_input[-1].set_value("cy")
    at.radio[0].set_value("edit")
    at.text_area[0].set_value(fixed)
    # the queue shows verdict and reviewer before the long question, and support as a percentage
    assert list(at.dataframe[0].value.columns[:4]) == ["id", "verdict", "reviewer", "support"]
    assert '"format":"percent"' in at.dataframe[0].proto.columns.replace(" ", "")
    at.button[0].click().run()
    assert not at.exception, at.exception
    versions = db.versions(db.audit_meta(first)["audit_key"])
    assert [v.version for v in versions] == [1, 2] and versions[1].answer == fixed
    # the banner and the page agree: the edited answer's audit is the one shown
    assert f"audit {versions[1].id}" in at.success[0].value
    assert at.header[0].value.startswith(f"Audit {versions[1].id} · version 2"), at.header[0].value
    assert [v["verdict"] for v in db.history(first)] == ["reject", "edit"]
    assert db.load_report(versions[1].id).grounding.sentences[0].label == "supported"
    at.selectbox(key="queue_open").set_value(first).run()
    history = at.dataframe[-1].value  # the first version's verdicts: the reject gave no edited answer
    assert list(history["verdict"]) == ["reject", "edit"]
    assert history["edited_answer"].iloc[0] == ""


def test_an_edit_on_the_audit_page_is_a_new_version_as_in_the_review_queue(lm, embedder, db):
    # the Audit page kept the edited answer in the verdict only, while the queue saved it as a new version
    at = AppTest.from_file(str(PAGES / "audit.py"), default_timeout=240).run()
    assert not at.exception, at.exception
    fixed = "The Eiffel Tower was built between 1887 and 1889. It is 330 metres tall."
    at.text_input(key="verdict_reviewer").set_value("ana")
    at.radio(key="verdict_choice").set_value("edit")
    at.text_area(key="verdict_edited").set_value(fixed)
    at.button(key="verdict_save").click().run()
    assert not at.exception, at.exception
    [audit] = [a for a in db.list_audits() if a.version == 1]
    versions = db.versions(audit.audit_key)
    assert [v.version for v in versions] == [1, 2] and versions[1].answer == fixed
    assert f"the edited answer is audit {versions[1].id} (a new version)" in at.success[0].value
    assert db.load_report(versions[1].id).grounding.sentences[1].label == "supported"
    # an over-long note is refused with its count, and nothing is saved
    at.radio(key="verdict_choice").set_value("accept")
    at.text_area(key="verdict_note").set_value("n" * 4_500)
    at.button(key="verdict_save").click().run()
    assert any("The note holds 4,500 characters" in e.value for e in at.error), [e.value for e in at.error]
    assert [v["verdict"] for v in db.history(audit.id)] == ["edit"]


def test_a_refused_verdict_leaves_no_audit_behind_and_a_long_answer_can_be_accepted(lm, embedder, db):
    # the Audit page saved the audit, then refused its verdict (a 4,500-character note) and said nothing was saved
    at = AppTest.from_file(str(PAGES / "audit.py"), default_timeout=240).run()
    at.text_input(key="verdict_reviewer").set_value("ana")
    at.radio(key="verdict_choice").set_value("accept")
    at.text_area(key="verdict_note").set_value("n" * 4_500)
    at.button(key="verdict_save").click().run()
    assert not at.exception, at.exception
    assert any("The note holds 4,500 characters" in e.value for e in at.error), [e.value for e in at.error]
    assert db.list_audits() == []
    # the queue fills the edit box with the answer; accepting a batch answer longer than the edit limit is no edit
    from dashboard.compute import save_verdict
    from explainers.types import AuditReport, Source

    report = AuditReport(question="q?", answer="A long answer. " * 400, sources=(Source("s", "A long answer."),))
    audit_id = db.save_audit(report, "ana")
    assert save_verdict(db, audit_id, report, "accept", "ana", "", report.answer) is None
    assert [v["verdict"] for v in db.history(audit_id)] == ["accept"]


def test_reports_page_offers_three_formats_for_one_or_many(embedder, db):
    _saved_demo(db, embedder)
    _saved_demo(db, embedder, verdict="accept")
    at = AppTest.from_file(str(PAGES / "reports.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert [b.label for b in at.get("download_button")] == ["Download JSON", "Download HTML", "Download PDF"]
    at.radio(key="report_scope").set_value("every audit shown").run()
    assert "2 audit(s)" in at.caption[0].value


def test_untrusted_text_is_escaped_in_the_app(lm, embedder, db):
    at = AppTest.from_file(str(PAGES / "audit.py"), default_timeout=240).run()
    at.selectbox(key="audit_case").set_value("custom").run()
    evil = " ".join(PAYLOADS)
    at.text_input(key="q_custom").set_value("Who wrote " + PAYLOADS[0] + "?")
    at.text_area(key="s_custom").set_value("The note says " + evil + ". Paris is in France.")
    at.text_area(key="a_custom").set_value("It says " + evil + ". Zorblax wrote it.")
    at.button(key="audit_run").click().run()
    assert not at.exception, at.exception
    assert any(evil in t.value for t in at.text)  # shown as plain text, exactly
    for value in markdown_like(at):
        assert not re.search(r"(?<!\\)[<\[]", value.replace("\\\\", "")), value  # every < and [ is escaped
        assert not AUTOLINK.search(value), value  # no bare URL or address left for the renderer to link
    at.text_input(key="verdict_reviewer").set_value(PAYLOADS[1])
    at.radio(key="verdict_choice").set_value("accept")
    at.button(key="verdict_save").click().run()
    assert "Verdict saved" in at.success[0].value
    review = AppTest.from_file(str(PAGES / "review.py"), default_timeout=60).run()
    assert not review.exception
    for value in markdown_like(review):
        assert not re.search(r"(?<!\\)[<\[]", value.replace("\\\\", "")), value


def test_explainers_never_import_streamlit():
    for path in (ROOT / "explainers").rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            assert not any(n.split(".")[0] == "streamlit" for n in names), path


def test_no_unsafe_html_in_dashboard():
    for path in (ROOT / "dashboard").rglob("*.py"):
        src = path.read_text()
        assert "unsafe_allow_html" not in src and "components.html" not in src and "st.html" not in src, path


def test_cnn_vs_llm_page_compares_both(lm, classifier):
    at = AppTest.from_file(str(PAGES / "cnn_vs_llm.py"), default_timeout=180).run()
    assert not at.exception
    at.button[0].click().run()
    assert not at.exception, at.exception
    captions = [t.value for t in at.text]
    assert any("espresso" in c for c in captions) and any("deletion AUC" in c for c in captions)
    assert any("Analysed\\: the sample image coffee" in i.value for i in at.info), [i.value for i in at.info]
    # an uploaded image is the one analysed, and the page says so (the sample stays selected in its box)
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (64, 48), (200, 30, 30)).save(buf, format="PNG")
    at.file_uploader(key="cnn_upload").set_value(("red.png", buf.getvalue(), "image/png"))
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert any("Analysed\\: the uploaded image red\\.png" in i.value for i in at.info), [i.value for i in at.info]


def test_cnn_vs_llm_reads_the_sample_images_once_not_on_every_rerun(monkeypatch):
    from explainers.vision import images

    reads = []
    real = images.sample_images
    monkeypatch.setattr(images, "sample_images", lambda: reads.append(1) or real())
    at = AppTest.from_file(str(PAGES / "cnn_vs_llm.py"), default_timeout=60).run()
    for choice in ("coffee", *at.selectbox[0].options):
        at.selectbox[0].set_value(choice).run()  # every widget change reruns the page
    assert not at.exception, at.exception
    assert len(at.selectbox[0].options) >= 2 and len(reads) <= 1  # cached per server (0: read by an earlier test)


def test_side_by_side_is_kept_per_image_and_names_it(lm, classifier):
    from dashboard.compute import results, run_side_by_side
    from explainers.vision.images import sample_images

    coffee = sample_images()["coffee"]
    args = ("gradcam", "The capital of France is", " Paris", "feature_ablation")
    first = run_side_by_side("coffee", coffee, *args)
    assert first.image_caption.startswith("coffee: ") and "espresso" in first.image_caption
    hits = results().hits
    assert run_side_by_side("coffee", coffee, *args) is first and results().hits == hits + 1  # kept, not recomputed
    renamed = run_side_by_side("my-upload.png", coffee, *args)
    assert renamed.image_caption.startswith("my-upload.png: ") and renamed is not first
    other = coffee.transpose(0)  # mirrored: the same name, other pixels, is another image
    assert run_side_by_side("coffee", other, *args) is not first


def test_audit_with_sources_retrieved_from_a_saved_index(lm, embedder, db, tmp_path, monkeypatch):
    from explainers.demo import assets_dir
    from explainers.errors import InputError
    from explainers.retrieval.index import ChunkIndex, list_named_indexes, named_index_dir
    from explainers.retrieval.ingest import ingest_files

    monkeypatch.setenv("AUDITLENS_DATA_DIR", str(tmp_path / "data"))
    _, chunks, _ = ingest_files(sorted((assets_dir() / "documents").iterdir()), max_chars=300)
    index = ChunkIndex(embedder)
    index.add(chunks)
    index.save(named_index_dir("demo-docs"))
    assert list_named_indexes() == ["demo-docs"]
    for bad in ("../escape", "a/b", "", ".hidden"):
        with pytest.raises(InputError):
            named_index_dir(bad)
    at = AppTest.from_file(str(PAGES / "audit.py"), default_timeout=240).run()
    at.selectbox(key="audit_case").set_value("custom").run()
    at.radio(key="source_mode").set_value("retrieved from a saved index").run()
    at.text_input(key="q_custom").set_value("How tall is the Eiffel Tower?")
    at.number_input(key="index_k").set_value(2)
    at.text_area(key="a_custom").set_value("The Eiffel Tower is 330 metres tall.")
    at.button(key="audit_run").click().run()
    assert not at.exception, at.exception
    audit = at.session_state["audit"]
    assert len(audit["sources"]) == 2 and "330 metres" in " ".join(audit["sources"])
    assert all("eiffel_tower.md" in name for name in audit["names"][:1])
    assert dict(zip(at.dataframe[0].value["sentence"], at.dataframe[0].value["label"])) == {
        "The Eiffel Tower is 330 metres tall.": "supported"}
    # the retrieved chunks are listed with rank, document, page and score, each expandable to its text
    labels = [e.label for e in at.expander]
    chunks = [lab for lab in labels if lab.startswith("\\#")]
    assert len(chunks) == 2 and "eiffel\\_tower\\.md" in chunks[0] and "page" in chunks[0] and "score" in chunks[0], labels
    assert any("Retrieved from the index demo\\-docs" in m.value for m in at.markdown)


def test_an_unreadable_stored_audit_is_named_and_the_others_still_export(db):
    from sqlalchemy import update

    from explainers.store import audits
    from explainers.types import AuditReport

    good = [db.save_audit(AuditReport(question=f"Readable {k}?", answer=f"Answer {k}."), "ana") for k in (1, 2)]
    bad = db.save_audit(AuditReport(question="Broken?", answer="x"), "ana")
    with db.engine.begin() as conn:  # a damaged row: a hostile dtype that used to allocate 1.6 GB
        conn.execute(update(audits).where(audits.c.id == bad).values(
            report_json='{"schema_version": 1, "result": {"__ndarray__": [], "dtype": "U400000000"}}'))
    at = AppTest.from_file(str(PAGES / "reports.py"), default_timeout=60).run()
    at.radio(key="report_scope").set_value("every audit shown").run()
    assert not at.exception, at.exception
    assert any(f"audit {bad}" in w.value and "dtype" in w.value for w in at.warning)
    assert len(at.get("download_button")) == 3  # the two readable audits still export
    at.radio(key="report_scope").set_value("one audit").run()
    at.selectbox(key="report_audit").set_value(bad).run()
    assert not at.exception and any(f"audit {bad}" in w.value for w in at.warning)
    at.selectbox(key="report_audit").set_value(good[0]).run()
    assert not at.exception and not at.warning and len(at.get("download_button")) == 3


def _custom_audit_page():
    at = AppTest.from_file(str(PAGES / "audit.py"), default_timeout=60)
    at.session_state["audit_case"] = "custom"  # no demo: nothing runs until the form is submitted
    return at.run()


def _documents_alive() -> int:
    import gc

    from explainers.retrieval.ingest import Document

    gc.collect()
    return sum(type(o) is Document for o in gc.get_objects())


def test_pasted_sources_over_the_limit_are_refused_with_the_count(db, monkeypatch):
    from explainers import models

    loads = []
    real_shared = models._shared
    monkeypatch.setattr(models, "_shared", lambda kind, key, factory: loads.append(kind) or real_shared(
        kind, key, factory))
    at = _custom_audit_page()
    assert not at.exception, at.exception
    area = at.text_area(key="s_custom")
    assert "20,000 characters" in area.label  # the limit is said before pasting
    area.set_value("The Eiffel Tower is 330 metres tall. " * 700)  # 25,900 characters, kept in the field
    at.text_input(key="q_custom").set_value("How tall is it?")
    at.text_area(key="a_custom").set_value("330 metres.")
    at.button(key="audit_run").click().run()
    assert not at.exception, at.exception
    assert any("25,900 characters" in e.value and "20,000" in e.value for e in at.error)
    assert "audit" not in at.session_state and loads == []
    assert len(at.text_area(key="s_custom").value) == 25_900  # nothing cut or emptied


def test_a_large_jsonl_upload_is_refused_with_the_count_and_not_kept(db, monkeypatch):
    import json

    from dashboard.compute import results

    before = _documents_alive()
    cached = len(results().values_where(lambda key: True))
    lines = [json.dumps({"text": f"Document {k}. " + "Words about towers and reefs. " * 40}) for k in range(300)]
    lines[5] = "[" * 100_000 + "]" * 100_000  # nested too deep: skipped, the other lines are kept
    lines[6] = "{not json"
    at = _custom_audit_page()
    at.text_area(key="s_custom").set_value("")
    at.file_uploader(key="u_custom").set_value(("big.jsonl", "\n".join(lines).encode(), "application/jsonl"))
    at.text_input(key="q_custom").set_value("How tall is it?")
    at.text_area(key="a_custom").set_value("330 metres.")
    at.button(key="audit_run").click().run()
    assert not at.exception, at.exception
    assert any("2 line" in w.value and "nested too deep" in w.value for w in at.warning), [w.value for w in at.warning]
    assert any("The sources hold" in e.value and "the limit is 200,000" in e.value for e in at.error)
    assert "audit" not in at.session_state
    assert len(results().values_where(lambda key: True)) == cached  # nothing computed or cached on it
    del at
    assert _documents_alive() == before  # no parsed document outlives the run


def test_a_row_picked_in_one_audit_is_never_read_in_another(embedder):
    from dashboard.components.audit_views import grounding_key, picked_sentence
    from explainers.retrieval.grounding import ground

    long = ground("Paris is in France. It has a tower. The tower is 330 metres tall.", ["Paris is in France."],
                  embedder=embedder, verifier=None)
    short = ground("Paris is in France.", ["Paris is in France."], embedder=embedder, verifier=None)
    # the table of each audit has its own key, so a selection does not carry over
    assert grounding_key(long, "audit") != grounding_key(short, "audit")
    # and a stale row number is no sentence (it raised IndexError before)
    assert picked_sentence(short, [2]) is None and picked_sentence(short, []) is None
    assert picked_sentence(long, [2]).sentence == "The tower is 330 metres tall."


def test_prior_words_are_split_by_whether_a_source_has_them():
    from dashboard.components.perturb_views import split_by_sources

    has, none = split_by_sources(["Eiffel", "Tower", "1889", "Leonardo"], ["The Eiffel Tower opened in 1889."])
    assert has == ["Eiffel", "Tower", "1889"] and none == ["Leonardo"]


def test_every_method_has_a_guide_line():
    from explainers import list_methods
    from explainers.registry import guide

    for family in ("text", "image"):
        for m in list_methods(family):
            line = guide(family, m)
            assert line.startswith("measures ") and "Cost:" in line and "Trust it:" in line, (family, m, line)


def test_a_long_attribution_runs_beside_the_page_and_can_be_stopped(lm, embedder, db, settle):
    import time

    from dashboard.jobs import jobs

    at = settle(AppTest.from_file(str(PAGES / "audit.py"), default_timeout=240).run())
    at.selectbox(key="attr_method").set_value("integrated_gradients").run()
    # the cost the time-limit message names ("choose fewer steps") is a control on the page
    steps = at.number_input(key="attr_cost_integrated_gradients")
    assert steps.value == 16
    steps.set_value(64).run()
    started = time.monotonic()
    at.button(key="attr_go").click().run()
    # the script run ends while the job works: the page is drawn, with a live progress bar
    assert jobs().busy() and time.monotonic() - started < 30
    assert any("stays usable" in str(p.proto.text) for p in at.get("progress")), at.get("progress")
    # another control answers while it runs
    started = time.monotonic()
    at.radio(key="source_mode").set_value("retrieved from a saved index").run()
    assert not at.exception and jobs().busy() and time.monotonic() - started < 30
    # Stop ends the job at its next progress report; the page says so and offers a retry
    next(b for b in at.button if str(b.key).startswith("stop_")).click().run()
    deadline = time.monotonic() + 240  # it stops at its next progress report (a chunk of IG steps)
    while jobs().busy() and time.monotonic() < deadline:
        time.sleep(0.2)
    # another reviewer on the same audit and method is not shown this stop (nothing failed): the Compute button
    other = settle(AppTest.from_file(str(PAGES / "audit.py"), default_timeout=240).run())
    other.selectbox(key="attr_method").set_value("integrated_gradients").run()
    other.number_input(key="attr_cost_integrated_gradients").set_value(64).run()
    assert not any("was stopped" in m.value for m in [*other.info, *other.error]), [m.value for m in other.info]
    assert any(b.key == "attr_go" for b in other.button) and not jobs().busy()
    # the reviewer who stopped it is told so, not as a failure, and one click runs it again
    at.run()
    assert not at.error, [e.value for e in at.error]
    assert any("integrated_gradients (sentence) was stopped." == m.value for m in at.info), [m.value for m in at.info]
    next(b for b in at.button if b.label == "Run again").click().run()
    assert jobs().busy()
    next(b for b in at.button if str(b.key).startswith("stop_")).click().run()
    deadline = time.monotonic() + 240
    while jobs().busy() and time.monotonic() < deadline:
        time.sleep(0.2)


# ------------------------------------------------------------------ the Audit page's inputs (dashboard.compute)

class _Upload:
    """What st.file_uploader hands over: a name and the bytes."""

    def __init__(self, name: str, data: bytes):
        self.name, self._data = name, data

    def getvalue(self) -> bytes:
        return self._data


def _no_embedder():
    raise AssertionError("the embedder was loaded although no index is read or written")


def test_gather_sources_names_pastes_normalises_uploads_and_reports_bad_files():
    from dashboard.compute import gather_sources
    from explainers.demo import load_demos
    from explainers.retrieval.ingest import IngestError

    md = b"# Tower facts\n\nThe tower is\n330 metres\ttall.\n\nIt opened in 1889."
    got = gather_sources("How tall?", "First source.\n\n\n\nSecond source.", [_Upload("tower.md", md),
                         _Upload("virus.exe", b"MZ")], load_embedder=_no_embedder)
    assert got.refusal is None and got.retrieved == ()
    assert got.texts[:2] == ("First source.", "Second source.") and got.names == ("pasted 1", "pasted 2", "Tower facts")
    assert got.texts[2] == "# Tower facts The tower is 330 metres tall. It opened in 1889."  # one space per gap
    (kind, exc), = got.notes
    assert kind == "skipped" and isinstance(exc, IngestError) and "virus.exe" in str(exc)
    case = load_demos()[0]  # the demo's own sources keep the demo's document names while unchanged
    demo = gather_sources(case.question, "\n\n".join(case.sources), case=case, load_embedder=_no_embedder)
    assert demo.names == case.source_names
    edited = gather_sources(case.question, "\n\n".join(case.sources) + "\n\nMy note.", case=case,
                            load_embedder=_no_embedder)
    assert edited.names[0] == "pasted 1"


def test_gather_sources_refuses_over_the_limits_with_the_counts_before_any_model_loads():
    import json

    from dashboard.compute import MAX_AUDIT_SOURCE_CHARS, MAX_SOURCES_CHARS, gather_sources

    pasted = gather_sources("q?", "x" * (MAX_SOURCES_CHARS + 1), load_embedder=_no_embedder)
    assert pasted.texts == () and f"{MAX_SOURCES_CHARS + 1:,} characters" in pasted.refusal
    lines = [json.dumps({"text": "Words about towers. " * 100}) for _ in range(120)]  # 240,000 characters
    lines[3] = "{not json"
    big = gather_sources("q?", "", [_Upload("big.jsonl", "\n".join(lines).encode())], load_embedder=_no_embedder)
    assert big.texts == () and f"the limit is {MAX_AUDIT_SOURCE_CHARS:,}" in big.refusal and "big.jsonl" in big.refusal
    assert big.notes == (("warning", "big.jsonl: 1 line(s) skipped, e.g. big.jsonl: line 4 is not JSON "
                                     "(Expecting property name enclosed in double quotes)"),)


def test_uploads_saved_as_an_index_are_retrieved_by_the_next_audit(embedder, tmp_path, monkeypatch):
    from dashboard.compute import gather_sources, new_audit, save_uploads_as_index
    from explainers.retrieval.index import list_named_indexes

    monkeypatch.setenv("AUDITLENS_DATA_DIR", str(tmp_path / "data"))
    docs = [_Upload("tower.txt", b"The Eiffel Tower is 330 metres tall. It was designed by Gustave Eiffel's firm."),
            _Upload("reef.txt", b"The Great Barrier Reef lies off Queensland. It is made of coral.")]
    first = gather_sources("Where is the reef?", "", docs, save_as=" towers ", load_embedder=lambda: embedder)
    assert first.notes == (("success", "Saved 2 new chunks to the index towers (2 in all)."),)
    assert list_named_indexes() == ["towers"]
    assert save_uploads_as_index("towers", docs[:1], lambda: embedder) == (0, 2)  # the same chunk is not added twice
    got = gather_sources("How tall is the Eiffel Tower?", "", index_name="towers", top_k=1,
                         load_embedder=lambda: embedder)
    assert got.texts == ("The Eiffel Tower is 330 metres tall. It was designed by Gustave Eiffel's firm.",)
    assert got.retrieved[0]["document"].endswith("tower.txt") and got.retrieved[0]["rank"] == 1
    audit = new_audit(" How tall is the Eiffel Tower? ", got, " 330 metres. ")
    assert audit == {"question": "How tall is the Eiffel Tower?", "sources": got.texts, "names": got.names,
                     "answer": "330 metres.", "generated": False, "retrieved": list(got.retrieved)}


def test_new_audit_needs_a_question_and_generates_an_empty_answer(lm):
    from dashboard.compute import GatheredSources, new_audit
    from explainers.errors import EmptyInputError

    sources = GatheredSources(("Paris is the capital of France.",), ("pasted 1",))
    with pytest.raises(EmptyInputError, match="Enter a question"):
        new_audit("  ", sources, "Paris.")
    audit = new_audit("What is the capital of France?", sources, "  ")
    assert audit["generated"] and "Paris" in audit["answer"]


def test_an_over_long_answer_is_refused_with_its_count_not_dropped_or_swapped_for_the_old_one(db):
    # the answer box had max_chars: a longer paste left it empty (-> a generated answer) or kept the old text,
    # without a word; now the page refuses it on submit and keeps the audit it showed
    at = AppTest.from_file(str(PAGES / "audit.py"), default_timeout=240).run()
    shown = at.session_state["audit"]["answer"] if "audit" in at.session_state else None
    at.selectbox(key="audit_case").set_value("custom").run()
    at.text_input(key="q_custom").set_value("How tall is it?")
    at.text_area(key="s_custom").set_value("The tower is 330 metres tall.")
    at.text_area(key="a_custom").set_value("It is tall. " * 500)  # 6,000 characters
    at.button(key="audit_run").click().run()
    assert not at.exception, at.exception
    assert any("The answer holds 6,000 characters; the limit is 4,000" in e.value for e in at.error), \
        [e.value for e in at.error]
    assert (at.session_state["audit"]["answer"] if "audit" in at.session_state else None) == shown
    # the page reruns when background work ends: the refusal is still said after a rerun without a submit
    at.run()
    assert any("The answer holds 6,000 characters" in e.value for e in at.error), [e.value for e in at.error]


# ------------------------------------------------------------------ navigation: a page is one file

def test_app_lists_the_pages_found_in_app_pages_in_the_declared_order():
    from dashboard.navigation import discover_pages

    pages = discover_pages()
    assert [(p.title, p.path) for p in pages] == [
        ("Audit", "app_pages/audit.py"), ("About", "app_pages/home.py"), ("CNN vs LLM", "app_pages/cnn_vs_llm.py"),
        ("Review queue", "app_pages/review.py"), ("Dataset", "app_pages/dataset.py"), ("Reports", "app_pages/reports.py")]
    assert [p.title for p in pages if p.default] == ["Audit"]
    app = (ROOT / "dashboard" / "app.py").read_text()
    assert "discover_pages()" in app and not re.search(r"st\.Page\(\s*[\"']", app)  # no page is listed by hand


def test_adding_a_page_is_adding_its_file(tmp_path):
    import shutil

    from dashboard.navigation import PageDeclarationError, discover_pages

    folder = tmp_path / "app_pages"
    shutil.copytree(PAGES, folder, ignore=shutil.ignore_patterns("__pycache__"))
    (folder / "glossary.py").write_text(
        '"""Glossary."""\nimport streamlit as st\n\nfrom dashboard.auth import require_identity\n\n'
        'PAGE = {"title": "Glossary", "icon": ":material/menu_book:", "order": 25}\n\n'
        'require_identity()\nst.title("Glossary")\n')
    (folder / "_helpers.py").write_text("X = 1\n")  # a helper module is not a page
    titles = [p.title for p in discover_pages(folder)]
    assert titles == ["Audit", "About", "Glossary", "CNN vs LLM", "Review queue", "Dataset", "Reports"]
    (folder / "broken.py").write_text("import streamlit as st\nst.title('no declaration')\n")
    with pytest.raises(PageDeclarationError, match="broken.py"):
        discover_pages(folder)  # never silently missing from the menu
    (folder / "broken.py").write_text('PAGE = {"title": "Broken", "icon": ":x:", "order": 30}\n')
    with pytest.raises(PageDeclarationError, match="order"):
        discover_pages(folder)


def test_a_new_page_is_behind_the_sign_in_gate_through_the_navigation(tmp_path, monkeypatch):
    """app.py's gate runs before any page, also one added as a file without its own require_identity()."""
    import shutil

    dash = tmp_path / "dashboard"
    shutil.copytree(ROOT / "dashboard", dash, ignore=shutil.ignore_patterns("__pycache__"))
    (dash / "app_pages" / "leaky.py").write_text(
        'import streamlit as st\n\nPAGE = {"title": "Leaky", "icon": ":material/warning:", "order": 99}\n\n'
        'st.write("Secret page content")\n')
    monkeypatch.setattr("dashboard.navigation.PAGES_DIR", dash / "app_pages")
    at = AppTest.from_file(str(dash / "app.py"), default_timeout=60)
    at.secrets["auth"] = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "s",
                          "client_id": "c", "client_secret": "x", "server_metadata_url": "https://idp.invalid/x"}
    at.user = {"is_logged_in": False}
    at.run()
    shown = at.switch_page("app_pages/leaky.py").run()
    assert not shown.exception, shown.exception
    assert "Sign in" in shown.info[0].value
    assert "Secret page content" not in " ".join(str(m.value) for m in shown.markdown)


def test_top_units_show_their_score_first_and_their_place_in_the_prompt():
    from dashboard.components.audit_views import unit_context
    from explainers.types import Unit

    prompt = "Question: how tall is it?\nSources:\n[1] The tower is 330 metres tall and was the tallest."
    start = prompt.index("330")
    assert unit_context(prompt, Unit("330", start, start + 3)) == "…[1] The tower is ⟦330⟧ metres tall and was the…"
    assert unit_context("Hi there", Unit("Hi", 0, 2)) == "⟦Hi⟧ there"
    # the chat template's markers are not shown around a unit
    chat = "<|im_start|>user\nWhere is it?<|im_end|>\n<|im_start|>assistant\nParis"
    at = chat.index("Where")
    assert unit_context(chat, Unit("Where", at, at + 5), width=30) == "⟦Where⟧ is it?…"
    assert unit_context(chat, Unit("Paris", len(chat) - 5, len(chat)), width=40) == "…is it? ⟦Paris⟧"
    ask = chat.index("Where is it?")  # only markers cut away after it: no "…"
    assert unit_context(chat, Unit("Where is it?", ask, ask + 12), width=30) == "⟦Where is it?⟧"
    llama = "<|start_header_id|>user<|end_header_id|>\n\nWhere?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nParis"
    assert unit_context(llama, Unit("Paris", len(llama) - 5, len(llama)), width=90) == "…Where? ⟦Paris⟧"
    gemma = "<start_of_turn>user\nWhere?<end_of_turn>\n<start_of_turn>model\nParis"
    assert unit_context(gemma, Unit("Paris", len(gemma) - 5, len(gemma)), width=60) == "…Where? ⟦Paris⟧"


def test_steps_chart_shows_log_probability_where_sentence_probabilities_are_near_zero():
    import numpy as np

    from dashboard.components.figures import steps_figure
    from explainers.types import TextAttribution, Unit

    def attribution(log_prob):
        n = len(log_prob)
        return TextAttribution("input_x_gradient", "sentence", "m", "p", "a" * n, (Unit("p", 0, 1),),
                               tuple(Unit("a", k, k + 1) for k in range(n)), np.zeros((n, 1)), np.zeros(1),
                               step_scores={"log_prob": np.array(log_prob), "probability": np.exp(log_prob),
                                            "entropy": np.ones(n)})

    sentences = steps_figure(attribution([-28.0, -41.5]))  # whole sentences: probabilities ~1e-12, no bar visible
    assert sentences.data[0].name == "log-probability (nats)" and list(sentences.data[0].y) == [-28.0, -41.5]
    assert sentences.layout.legend.orientation == "h"  # above the plot, off the entropy axis
    tokens = steps_figure(attribution([-0.1] * 120))
    assert tokens.data[0].name == "probability" and len(tokens.layout.xaxis.tickvals) <= 40


def test_a_what_if_edit_that_cannot_apply_is_refused_when_added_and_one_edit_can_be_removed(lm, embedder, db):
    # an edit naming sentence 99 of a 6-sentence source was listed without a word, then failed the whole run, and
    # the only way out was to clear every edit
    at = AppTest.from_file(str(PAGES / "audit.py"), default_timeout=240).run()
    assert not at.exception, at.exception

    def add(unit, index=0, match="", replacement="300 metres"):
        at.selectbox(key="what_if_where").set_value("source 1")
        at.selectbox(key="what_if_unit").set_value(unit)
        at.selectbox(key="what_if_op").set_value("replace")
        at.text_input(key="what_if_match").set_value(match)
        at.number_input(key="what_if_index").set_value(index)
        at.text_input(key="what_if_replacement").set_value(replacement)
        at.button(key="what_if_add").click().run()
        assert not at.exception, at.exception

    add("text", match="330 metres")
    add("sentence", index=99)
    assert any("index 99 does not exist" in e.value for e in at.error), [e.value for e in at.error]
    assert len(at.session_state["what_if_edits"]) == 1
    add("word", index=1, replacement="steel")
    assert len(at.session_state["what_if_edits"]) == 2
    at.button(key="undo_edit").click().run()
    assert [e["unit"] for e in at.session_state["what_if_edits"]] == ["text"]


def _in_order(node):
    """The page's elements in the order the browser shows them (containers opened in place)."""
    children = getattr(node, "children", None)
    if isinstance(children, dict):
        for k in sorted(children):
            yield from _in_order(children[k])
    else:
        yield node


def test_an_answer_opened_from_the_dataset_page_comes_above_the_queue(embedder, db):
    # it opened below the queue's filters and table, out of the first viewport
    first = _saved_demo(db, embedder)
    second = _saved_demo(db, embedder, reviewer="bo", verdict=None)
    at = AppTest.from_file(str(PAGES / "review.py"), default_timeout=60)
    at.session_state["open_audit"] = at.session_state["queue_focus"] = second
    at.run()
    assert not at.exception, at.exception
    kinds = [n.type for n in _in_order(at.main)]
    assert kinds.index("header") < kinds.index("dataframe"), kinds
    assert at.header[0].value.startswith(f"Audit {second}")
    assert "queue is below the audit" in at.caption[0].value
    # picking another audit in the queue puts the queue back on top
    at.selectbox(key="queue_open").set_value(first).run()
    kinds = [n.type for n in _in_order(at.main)]
    assert kinds.index("dataframe") < kinds.index("header"), kinds
    assert at.header[0].value.startswith(f"Audit {first}")
    assert "queue_focus" not in at.session_state


def test_the_opened_answer_leaves_the_top_when_a_filter_hides_it_and_after_the_visit(embedder, db):
    first = _saved_demo(db, embedder)  # rejected
    second = _saved_demo(db, embedder, reviewer="bo", verdict=None)
    at = AppTest.from_file(str(PAGES / "review.py"), default_timeout=60)
    at.session_state["open_audit"] = at.session_state["queue_focus"] = second
    at.run()
    at.selectbox(key="queue_verdict").set_value("reject").run()  # only the first audit matches
    assert not at.exception, at.exception
    kinds = [n.type for n in _in_order(at.main)]
    assert kinds.index("dataframe") < kinds.index("header") and at.header[0].value.startswith(f"Audit {first}")
    assert not any("Opened from the Dataset page" in c.value for c in at.caption)
    assert f"Audit {second}, opened from the Dataset page, is hidden by the filters." in at.info[0].value
    # leaving the Review queue ends the visit: the next one shows the queue first
    app = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60)
    app.session_state["queue_focus"] = second
    app.switch_page("app_pages/reports.py").run()
    assert not app.exception, app.exception
    assert "queue_focus" not in app.session_state


def test_an_edit_of_the_opened_answer_keeps_its_new_version_above_the_queue(embedder, db):
    first = _saved_demo(db, embedder)
    _saved_demo(db, embedder, reviewer="bo", verdict=None)
    at = AppTest.from_file(str(PAGES / "review.py"), default_timeout=60)
    at.session_state["open_audit"] = at.session_state["queue_focus"] = first
    at.run()
    at.text_input(key=f"queue_reviewer_{first}").set_value("cy")
    at.radio[0].set_value("edit")
    at.text_area[0].set_value("The Great Barrier Reef lies in the Coral Sea off Queensland, Australia.")
    at.button[0].click().run()
    assert not at.exception, at.exception
    new = db.versions(db.audit_meta(first)["audit_key"])[1].id
    for _ in range(2):  # after the save, and after another verdict on the new version
        kinds = [n.type for n in _in_order(at.main)]
        assert kinds.index("header") < kinds.index("dataframe"), kinds
        assert at.header[0].value.startswith(f"Audit {new}")
        at.text_input(key=f"queue_reviewer_{new}").set_value("cy")
        at.radio[0].set_value("accept")
        at.button[0].click().run()
        assert not at.exception, at.exception
    assert [v["verdict"] for v in db.history(first)] == ["reject", "edit"]
    assert [v["verdict"] for v in db.history(new)] == ["accept", "accept"]
