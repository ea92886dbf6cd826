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
    at = _app("review", {"is_logged_in": True, "email": "viewer@example.org", "email_verified": True,
                        "name": "Viewer"})
    assert not at.exception, at.exception
    assert "Secret answer." in [t.value for t in at.text]
    assert any("only users listed as reviewers" in i.value for i in at.info)
    assert not [b for b in at.button if b.label == "Save verdict"]
    assert store.count_verdicts() == 0


def test_reviewer_writes_verdicts_under_the_signed_in_identity(store):
    at = _app("review", {"is_logged_in": True, "email": "rev@example.org", "email_verified": True, "name": "Rev"})
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


APP = PAGES.parent / "app.py"
AUTH_TOML = "\n".join(f'{k} = "{v}"' for k, v in AUTH.items())


@pytest.fixture()
def secrets_file(tmp_path):
    """Point Streamlit at a real secrets file (the global singleton, as a server reads it)."""
    from streamlit import config
    from streamlit.runtime.secrets import secrets_singleton

    path = tmp_path / ".streamlit" / "secrets.toml"
    path.parent.mkdir()
    saved = config.get_option("secrets.files")

    def write(text: str):
        path.write_text(text)
        config.set_option("secrets.files", [str(path)])
        secrets_singleton._reset()
        return path

    yield write
    config.set_option("secrets.files", saved)
    secrets_singleton._reset()


def _page_text(at) -> str:
    return " ".join(str(e.value) for kind in ("text", "markdown", "header", "caption", "title", "info", "error")
                    for e in at.get(kind))


BROKEN_SECRETS = {
    "unclosed reviewers array": f'[auth]\n{AUTH_TOML}\n[auditlens]\nreviewers = [\n',
    "incomplete [auth]": '[auth]\nredirect_uri = "http://localhost:8501/oauth2callback"\ncookie_secret = "s"\n'
                         '[auditlens]\nreviewers = ["rev@example.org"]\n',
    "reviewers without [auth]": '[auditlens]\nreviewers = ["rev@example.org"]\n',
    "reviewers not a list": f'[auth]\n{AUTH_TOML}\n[auditlens]\nreviewers = "rev@example.org"\n',
    "not UTF-8": b"[auth]\nclient_id = \"\xff\xfe\"\n",
}


@pytest.mark.parametrize("case", list(BROKEN_SECRETS))
@pytest.mark.parametrize("page", ["review", "reports", "audit", "cnn_vs_llm"])
def test_unreadable_or_incomplete_secrets_fail_closed(store, secrets_file, case, page):
    text = BROKEN_SECRETS[case]
    path = secrets_file(text if isinstance(text, str) else "")
    if isinstance(text, bytes):
        path.write_bytes(text)
    at = AppTest.from_file(str(PAGES / f"{page}.py"), default_timeout=60)
    at.user = {"is_logged_in": False}
    at.run()
    assert not at.exception, at.exception
    assert at.error and "Sign-in is misconfigured" in at.error[0].value  # says why, on the page
    assert "Secret" not in _page_text(at) and not at.dataframe and not at.get("download_button")
    assert not at.button and not at.text_area and not at.get("file_uploader")  # nothing to run either


def _walk_pages():
    """Every page file app.py's st.navigation lists (found in app_pages/ by dashboard.navigation)."""
    from dashboard.navigation import discover_pages

    return [p.path for p in discover_pages()]


def test_signed_out_walk_of_every_navigation_page_computes_and_shows_nothing(store, monkeypatch):
    from explainers import models

    pages = _walk_pages()
    assert len(pages) >= 5 and "app_pages/cnn_vs_llm.py" in pages
    loads = []
    real_shared = models._shared
    monkeypatch.setattr(models, "_shared", lambda kind, key, factory: loads.append(kind) or real_shared(
        kind, key, factory))
    at = AppTest.from_file(str(APP), default_timeout=60)
    at.secrets["auth"] = AUTH
    at.secrets["auditlens"] = {"reviewers": ["rev@example.org"]}
    at.user = {"is_logged_in": False}
    at.run()
    for page in pages:
        # through the navigation (app.py's gate: every page, also a future one) and the page file alone
        # (its own gate; the About page shows no data and has none)
        for shown, buttons in ((at.switch_page(page).run(), (["Sign in"],)),
                               (_app(page[len("app_pages/"):-3], {"is_logged_in": False}), (["Sign in"], []))):
            assert not shown.exception, (page, shown.exception)
            assert [b.label for b in shown.button] in buttons, page
            assert not shown.get("file_uploader") and not shown.text_area and not shown.dataframe, page
            assert not shown.get("imgs") and not shown.get("plotly_chart") and not shown.get("download_button")
            assert "Secret" not in _page_text(shown), page
    assert loads == []  # no model was loaded for a signed-out visitor


def test_sign_in_button_reaches_the_login_redirect(store, secrets_file):
    from streamlit.auth_util import decode_provider_token
    from streamlit.user_info import generate_login_redirect_url

    secrets_file(f'[auth]\n{AUTH_TOML}\n[auditlens]\nreviewers = ["rev@example.org"]\n')
    at = AppTest.from_file(str(PAGES / "review.py"), default_timeout=60)
    at.user = {"is_logged_in": False}
    at.run()
    assert [b.label for b in at.button] == ["Sign in"]
    at.button[0].click().run()  # st.login: Authlib installed, credentials valid, redirect queued
    assert not at.exception, at.exception
    url = generate_login_redirect_url("default")
    assert url.startswith("/auth/login?provider=")
    assert decode_provider_token(url.split("provider=", 1)[1])["provider"] == "default"
    from authlib.integrations import starlette_client  # noqa: F401 - the server's login route needs it


@pytest.mark.parametrize("user", [
    {"is_logged_in": True, "name": "rev@example.org"},  # no email claim: the display name is not identity
    {"is_logged_in": True, "name": "rev@example.org", "email": "other@example.org", "email_verified": True},
    {"is_logged_in": True, "email": "rev@example.org", "email_verified": False},
    {"is_logged_in": True, "email": "rev@example.org"},  # not said to be verified
])
def test_only_a_verified_reviewer_email_writes(store, user):
    at = _app("review", user)
    assert not at.exception, at.exception
    assert not [b for b in at.button if b.label == "Save verdict"]
    assert store.count_verdicts() == 0
