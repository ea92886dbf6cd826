"""Session fixtures: each real model is loaded once. The suite runs offline."""

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
# the server freezes its models out of the collector's sight (dashboard/resources.py); mid-run in the suite that
# would hide objects from the leak checks, so the session models are frozen once, as they load (_frozen)
os.environ["AUDITLENS_GC_FREEZE"] = "0"

from pathlib import Path  # noqa: E402

import pytest  # noqa: E402

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def _frozen(model):
    """A session model, frozen out of the garbage collector's sight as `auditlens serve` freezes its warm models:
    Streamlit's full collection after every AppTest run would otherwise walk its objects each time."""
    import gc

    gc.collect()
    gc.freeze()
    return model


@pytest.fixture(scope="session")
def lm():
    from explainers.models import load_lm

    return _frozen(load_lm())


@pytest.fixture(scope="session")
def classifier():
    from explainers.models import load_classifier

    return _frozen(load_classifier())


@pytest.fixture(scope="session")
def embedder():
    from explainers.models import load_embedder

    return _frozen(load_embedder())


@pytest.fixture(scope="session")
def france(lm):
    from explainers.text.lm import prepare, raw_prompt

    return prepare(lm, raw_prompt("The capital of France is"), " Paris")


@pytest.fixture(scope="session")
def rag_input(lm):
    from explainers.text.lm import build_prompt, prepare

    prompt = build_prompt(lm, "What is the capital of France?",
                          ["Paris is the capital of France.", "Berlin is a city in Germany."])
    return prepare(lm, prompt, "The capital of France is Paris.")


@pytest.fixture(scope="session")
def verifier():
    from explainers.models import load_verifier

    return _frozen(load_verifier())


@pytest.fixture()
def settle():
    """Run an AppTest page again until no background job is left (long attributions run beside the page)."""
    import time

    def run(at, timeout: float = 300.0):
        from dashboard.jobs import jobs

        deadline = time.monotonic() + timeout
        while True:
            busy = jobs().busy()
            at.run()
            if not busy and not jobs().busy():
                return at
            if time.monotonic() > deadline:
                raise TimeoutError("a background job did not finish")
            time.sleep(0.2)

    return run
