"""The only caching of models in the dashboard: one instance per server process, shared by sessions."""

import gc
import os

import streamlit as st

from explainers import models


def freeze_long_lived() -> None:
    """Move what is alive now (the loaded models, the imported pages) out of the garbage collector's sight.

    Streamlit runs a full collection after every script run, and a running job's progress fragment reruns once
    a second. With the models loaded that walked ~550k objects under the GIL, 1-3 s each on this 2-core machine
    (measured), and starved the background job: a 10-s attribution waited over 2 min. The models live as long as
    the server, so they are frozen; the collections stay (they free the cycles each computation leaves, which was
    faster than turning them off: measured). A collection first, so no garbage is frozen with them: once the
    warm-up's models are frozen it only walks what came after. AUDITLENS_GC_FREEZE=0 turns this off (the test
    suite does: a freeze mid-run would hide objects from its leak checks)."""
    if os.environ.get("AUDITLENS_GC_FREEZE", "1") == "0":
        return
    gc.collect()
    gc.freeze()


def _kept(model):
    """A model loaded here (no warm-up, or another model chosen) lives as long as the server, like the
    warm-up's models that `auditlens serve` freezes."""
    freeze_long_lived()
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
