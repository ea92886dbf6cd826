"""Reviewer identity. Optional sign-in through ``st.login`` (OIDC) when ``.streamlit/secrets.toml`` has an
``[auth]`` section; then only users listed as reviewers (``[auditlens] reviewers = ["a@b.org", ...]``) may write
verdicts, and a signed-out user sees no audit data. Without it the app says it runs without sign-in and the
reviewer types a name.
"""

from __future__ import annotations

from dataclasses import dataclass

import streamlit as st


@dataclass(frozen=True)
class Identity:
    sign_in: bool  # is sign-in configured?
    name: str  # the signed-in user's email (or name); "" without sign-in
    can_write: bool


def _settings() -> dict | None:
    try:
        if "auth" not in st.secrets:
            return None
        extra = st.secrets.get("auditlens", {})
        reviewers = extra.get("reviewers", []) if hasattr(extra, "get") else []
    except Exception:  # noqa: BLE001 - no secrets file at all: sign-in is simply not configured
        return None
    return {"reviewers": {str(r).strip().lower() for r in reviewers}}


def require_identity() -> Identity:
    """Call first on every page: stops the page for a signed-out user when sign-in is configured."""
    settings = _settings()
    if settings is None:
        return Identity(sign_in=False, name="", can_write=True)
    if not st.user.is_logged_in:
        st.title("AuditLens")
        st.info("Sign in to see and review audits.")
        st.button("Sign in", on_click=st.login, type="primary", key="sign_in")
        st.stop()
    who = str(st.user.get("email") or st.user.get("name") or "").strip()
    identity = Identity(sign_in=True, name=who, can_write=who.lower() in settings["reviewers"])
    with st.sidebar:
        st.text(f"Signed in as {who}" + ("" if identity.can_write else " (read only)"))
        st.button("Sign out", on_click=st.logout, key="sign_out")
    return identity


def may_write(identity: Identity) -> bool:
    """Whether this user may write verdicts; says why not when they may not."""
    if not identity.can_write:
        st.info("You can read audits; only users listed as reviewers can write verdicts.")
    return identity.can_write


def reviewer_field(identity: Identity, key: str) -> str:
    """The reviewer's name input, or the signed-in identity (call only when ``may_write``)."""
    if identity.sign_in:
        st.text(f"Reviewer: {identity.name}")
        return identity.name
    st.caption("Running without sign-in: enter your name; it is stored with the verdict.")
    return st.text_input("Reviewer name", max_chars=200, key=key)
