"""Showing untrusted text: never as HTML, and escaped wherever Streamlit would read it as Markdown."""

from __future__ import annotations

import logging
import re

import streamlit as st

from explainers import ExplainerError

log = logging.getLogger("auditlens.dashboard")
_MD_SPECIAL = re.compile(r"([\\`*_{}\[\]()#+\-.!|<>~$:&=\"'])")


_JOIN = "\u2060"  # word joiner: invisible, and breaks the patterns below
_SCHEME = re.compile(r":(?=//)")  # any "scheme://", whatever precedes it ("_https://" is linked too)
_WWW = re.compile(r"(?i)www\.")


def md_escape(text: str) -> str:
    """Backslash-escape every Markdown/directive character so the text shows literally (links, images,
    ``:red[...]`` directives, LaTeX and HTML-looking text included). Bare URLs, "www." names and e-mail
    addresses, which the Markdown renderer turns into links whatever the escapes, get an invisible word joiner
    ("http:\u2060//", "www\u2060.", "\u2060@") so an answer's "http://evil.example" shows as text, not as a link."""
    text = _SCHEME.sub(":" + _JOIN, str(text))
    text = _WWW.sub(lambda m: m.group(0)[:3] + _JOIN + ".", text).replace("@", _JOIN + "@")
    return _MD_SPECIAL.sub(r"\\\1", text).replace("\n", "  \n")


def show_error(exc: BaseException, what: str = "That did not work") -> None:
    """A clear message for the user; the full trace goes to the server log, not the page."""
    if isinstance(exc, ExplainerError | ValueError):
        st.error(f"{what}: {md_escape(str(exc))}", icon=":material/error:")
    else:
        log.exception("unexpected error in the dashboard")
        st.error(f"{what}: an internal error ({type(exc).__name__}). The details are in the server log.",
                 icon=":material/error:")


def plotly_label(text: str, limit: int = 40) -> str:
    """Plotly reads a few HTML tags in labels (<b>, <a href>, <br>): remove the brackets, keep the text."""
    text = str(text).replace("<", "‹").replace(">", "›").replace("\n", "⏎")
    return text if len(text) <= limit else text[: limit - 1] + "…"
