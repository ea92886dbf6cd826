"""Sign-in with st.login when configured: signed-out users see no audit data; only reviewers write verdicts."""

from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

PAGES = Path(__file__).resolve().parents[1] / "dashboard" / "app_pages"
AUTH = {"redirect_uri": "http://localhost:8501/oauth2callback", "cookie_secret": "test-secret",
        "client_id": "auditlens", "client_secret": "x", "server_metadata_url": "https://idp.invalid/.well-known"}


@pytest.fixture()
def store(tmp_path, monkeypatch):
    url = f"sqlite:///{tmp_path / 'audits.db'}"
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", url)
    from dashboard.resources import review_store

    review_store.clear()
    from explainers.store import Store
    from explainers.types import AuditReport

    s = Store(url)
    s.save_audit(AuditReport(question="Secret question?", answer="Secret answer."), "ana")
    return s


def _app(page: str, user: dict) -> AppTest:
    at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.secrets["auditlens"] = {"reviewers": ["rev@example.org"]}
    at.user = user
    return at.run()


@pytest.mark.parametrize("page", ["review", "reports"])
def test_signed_out_users_see_no_audit_data(store, page):
    at = _app(page, {"is_logged_in": False})
    assert not at.exception, at.exception
    assert "Sign in" in at.info[0].value and at.button[0].label == "Sign in"
    assert not at.dataframe and not at.get("download_button")
    everything = " ".join(str(e.value) for kind in ("text", "markdown", "header", "caption")
                          for e in at.get(kind))
    assert "Secret" not in everything


def test_signed_in_non_reviewer_reads_but_cannot_write(store):
    at = _app("review", {"is_logged_in": True, "email": "viewer@example.org", "name": "Viewer"})
    assert not at.exception, at.exception
    assert "Secret answer." in [t.value for t in at.text]
    assert any("only users listed as reviewers" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == "Save verdict"]
    assert store.count_verdicts() == 0


def test_reviewer_writes_verdicts_under_the_signed_in_identity(store):
    at = _app("review", {"is_logged_in": True, "email": "rev@example.org", "name": "Rev"})
    assert not at.exception, at.exception
    assert not [t for t in at.text_input if t.label == "Reviewer name"]  # identity comes from sign-in
    at.radio[0].set_value("accept")
    next(b for b in at.button if b.label == "Save verdict").click().run()
    assert not at.exception, at.exception
    history = store.history(store.list_audits()[0].id)
    assert [(v["verdict"], v["reviewer"]) for v in history] == [("accept", "rev@example.org")]


def test_without_sign_in_the_app_says_so(store):
    at = AppTest.from_file(str(PAGES / "review.py"), default_timeout=60).run()
    assert not at.exception, at.exception
    assert any("without sign-in" in c.value for c in at.caption)
    assert [t for t in at.text_input if t.label == "Reviewer name"]
