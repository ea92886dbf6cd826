"""Reviewer identity. Optional sign-in through ``st.login`` (OIDC) when ``.streamlit/secrets.toml`` has an
``[auth]`` section; then only users listed as reviewers (``[auditlens] reviewers = ["a@b.org", ...]``) may write
verdicts, and a signed-out user sees no page that computes or shows data. Without a secrets file the app says
it runs without sign-in and the reviewer types a name.

Fail closed: a secrets file that exists but cannot be read, an incomplete ``[auth]`` section, or reviewers
listed without ``[auth]`` stop every page with the reason, never fall back to "no sign-in".
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import streamlit as st

# Streamlit's default OIDC provider (``st.login()`` without a name) reads these keys from ``[auth]``.
AUTH_KEYS = ("redirect_uri", "cookie_secret", "client_id", "client_secret", "server_metadata_url")


@dataclass(frozen=True)
class Identity:
    sign_in: bool  # is sign-in configured?
    name: str  # the signed-in user's verified email; "" without sign-in
    can_write: bool


class AuthConfigError(Exception):
    """Sign-in is configured badly: the app serves no data until it is fixed."""


def _secrets_files() -> list[Path]:
    from streamlit import config

    files = config.get_option("secrets.files") or []
    return [Path(f) for f in ([files] if isinstance(files, str) else files)]


def _check_secrets_files() -> bool:
    """Whether a secrets file exists; ``AuthConfigError`` when one exists but is not valid TOML."""
    found = False
    for path in _secrets_files():
        if not path.exists():
            continue
        found = True
        if path.is_dir():  # a secrets folder: Streamlit reads it, and a failure there also fails closed below
            continue
        try:
            tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
            # the file's name only: the page is shown to anonymous visitors
            raise AuthConfigError(f"the secrets file {path.parent.name}/{path.name} cannot be read ({exc}); "
                                  "the app serves no data "
                                  "until it is fixed") from None
    return found


def _settings() -> dict | None:
    """The sign-in settings; None when sign-in is not configured at all; ``AuthConfigError`` when half-done."""
    file_found = _check_secrets_files()
    try:
        has_auth = "auth" in st.secrets
        extra = st.secrets.get("auditlens", None) if has_auth or "auditlens" in st.secrets else None
        auth = dict(st.secrets["auth"]) if has_auth else {}
    except FileNotFoundError:  # Streamlit's "no secrets file" (StreamlitSecretNotFoundError derives from it)
        if file_found:
            raise AuthConfigError("the secrets file exists but Streamlit cannot read it; the app serves no data "
                                  "until it is fixed") from None
        return None
    except Exception as exc:  # noqa: BLE001 - any other failure to read the secrets: fail closed
        raise AuthConfigError(f"the secrets cannot be read ({type(exc).__name__}); the app serves no data "
                              "until they are fixed") from None
    if not has_auth:
        if extra is not None:
            raise AuthConfigError("[auditlens] lists reviewers but there is no [auth] section: sign-in is not "
                                  "configured, so the app serves no data")
        return None
    missing = [k for k in AUTH_KEYS if not (isinstance(auth.get(k), str) and auth[k].strip())]
    if missing:
        raise AuthConfigError(f"the [auth] section lacks {', '.join(missing)}: sign-in cannot work, so the app "
                              "serves no data")
    reviewers = extra.get("reviewers", []) if hasattr(extra, "get") else []
    if not isinstance(reviewers, (list, tuple)) or not all(isinstance(r, str) for r in reviewers):
        raise AuthConfigError("[auditlens] reviewers must be a list of email addresses")
    return {"reviewers": {r.strip().lower() for r in reviewers if r.strip()}}


def verified_email(user) -> str:
    """The user's email when the identity provider says it is verified; "" otherwise (never the name)."""
    email = user.get("email")
    verified = user.get("email_verified")
    if not isinstance(email, str) or "@" not in email:
        return ""
    if verified is True or (isinstance(verified, str) and verified.strip().lower() == "true"):
        return email.strip()
    return ""


def gate() -> dict | None:
    """Stop the script unless the visitor may see data: misconfigured sign-in, or signed out when it is on.

    Returns the sign-in settings (None: sign-in not configured)."""
    try:
        settings = _settings()
    except AuthConfigError as exc:
        st.title("AuditLens")
        st.error(f"Sign-in is misconfigured: {exc}.")
        st.stop()
    if settings is not None and not st.user.is_logged_in:
        st.title("AuditLens")
        st.info("Sign in to see and review audits.")
        st.button("Sign in", on_click=st.login, type="primary", key="sign_in")
        st.stop()
    return settings


def require_identity() -> Identity:
    """Call first on every page that computes or shows data: stops the page unless the visitor may see it."""
    settings = gate()
    if settings is None:
        return Identity(sign_in=False, name="", can_write=True)
    email = verified_email(st.user)
    shown = email or str(st.user.get("name") or "").strip() or "a user without a verified email"
    identity = Identity(sign_in=True, name=email, can_write=bool(email) and email.lower() in settings["reviewers"])
    with st.sidebar:
        st.text(f"Signed in as {shown}" + ("" if identity.can_write else " (read only)"))
        st.button("Sign out", on_click=st.logout, key="sign_out")
    return identity


def may_write(identity: Identity) -> bool:
    """Whether this user may write verdicts; says why not when they may not."""
    if not identity.can_write:
        if identity.sign_in and not identity.name:
            st.info("You can read audits; writing verdicts needs a verified email from the sign-in provider.")
        else:
            st.info("You can read audits; only users listed as reviewers can write verdicts.")
    return identity.can_write


def reviewer_field(identity: Identity, key: str) -> str:
    """The reviewer's name input, or the signed-in identity (call only when ``may_write``)."""
    if identity.sign_in:
        st.text(f"Reviewer: {identity.name}")
        return identity.name
    st.caption("Running without sign-in: enter your name; it is stored with the verdict.")
    return st.text_input("Reviewer name", max_chars=200, key=key)
