import ast
from pathlib import Path

from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]


def test_home_page_lists_the_audit_pages():
    at = AppTest.from_file(str(ROOT / "dashboard" / "app.py"), default_timeout=60).run()
    assert not at.exception
    text = " ".join(m.value for m in at.markdown)
    for page in ("Audit", "CNN vs LLM", "Review queue", "Reports"):
        assert page in text
    assert "integrated_gradients" in text


def test_placeholder_pages_say_they_are_not_available():
    for page in ("review", "reports"):
        at = AppTest.from_file(str(ROOT / "dashboard" / "app_pages" / f"{page}.py"), default_timeout=30).run()
        assert not at.exception
        assert "not available yet" in at.info[0].value


def test_audit_page_runs_the_demo(lm, tmp_path, monkeypatch):
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", f"sqlite:///{tmp_path / 'audits.db'}")
    at = AppTest.from_file(str(ROOT / "dashboard" / "app_pages" / "audit.py"), default_timeout=120).run()
    assert not at.exception
    at.button[0].click().run()
    assert not at.exception, at.exception
    assert "Paris" in at.text[0].value  # the generated answer, rendered as plain text
    assert len(at.dataframe) == 3  # top inputs, step scores, grounding
    grounding = at.dataframe[2].value
    assert list(grounding["label"]) and set(grounding["label"]) <= {"supported", "unsupported", "contradicted"}
    assert at.metric[0].label == "Answer support probability"
    # a verdict without a name is refused, with a name it is stored
    at.button[1].click().run()
    assert "reviewer name is required" in at.error[0].value
    at.text_input[1].set_value("ana")
    at.radio[0].set_value("reject")
    at.text_area[3].set_value("not in <b>sources</b>")
    at.button[1].click().run()
    assert "Verdict saved" in at.success[0].value
    from explainers.store import Store

    stored = Store(f"sqlite:///{tmp_path / 'audits.db'}").list_audits()
    assert stored[0].latest_verdict == "reject" and "Paris" in stored[0].answer


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
    at = AppTest.from_file(str(ROOT / "dashboard" / "app_pages" / "cnn_vs_llm.py"), default_timeout=180).run()
    assert not at.exception
    at.button[0].click().run()
    assert not at.exception, at.exception
    captions = [t.value for t in at.text]
    assert any("espresso" in c for c in captions) and any("deletion AUC" in c for c in captions)
