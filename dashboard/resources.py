"""The only caching of models in the dashboard: one instance per server process, shared by sessions."""

import streamlit as st

from explainers import models


@st.cache_resource(show_spinner="Loading the language model...")
def language_model(model_id: str | None = None):  # None: AUDITLENS_LM or the packaged default
    return models.load_lm(model_id)


@st.cache_resource(show_spinner="Loading the sentence embedder...")
def embedder(model_id: str | None = None):  # None: AUDITLENS_EMBEDDER or the packaged default
    return models.load_embedder(model_id)


@st.cache_resource(show_spinner="Loading the image classifier...")
def classifier(name: str = models.DEFAULT_CLASSIFIER):
    return models.load_classifier(name)


@st.cache_resource(show_spinner=False)
def review_store():
    from explainers.store import Store

    return Store()
