"""The only caching of models in the dashboard: one instance per server process, shared by sessions."""

import gc

import streamlit as st

from explainers import models


def _kept(model):
    """A model loaded here lives as long as the server: freeze it out of the garbage collector's sight, as
    `auditlens serve` does with the warm-up's models (dashboard/serve.py). Else Streamlit's full collection after
    every script run walks it again, and a running job's once-a-second progress reruns starve the job. No
    collection first: it would cost the visitor who waits for this model a second or more, for a one-off."""
    gc.freeze()
    return model


@st.cache_resource(show_spinner="Loading the language model...")
def language_model(model_id: str | None = None):  # None: AUDITLENS_LM or the packaged default
    return _kept(models.load_lm(model_id))


@st.cache_resource(show_spinner="Loading the sentence embedder...")
def embedder(model_id: str | None = None):  # None: AUDITLENS_EMBEDDER or the packaged default
    return _kept(models.load_embedder(model_id))


@st.cache_resource(show_spinner="Loading the image classifier...")
def classifier(name: str = models.DEFAULT_CLASSIFIER):
    return _kept(models.load_classifier(name))


@st.cache_resource(show_spinner=False)
def review_store():
    from explainers.store import Store

    return Store()
