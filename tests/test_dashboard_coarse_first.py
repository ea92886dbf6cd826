"""The Audit page computes answer sentences first, token detail on demand; `auditlens serve` warms the models."""

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parents[1]
PAGES = ROOT / "dashboard" / "app_pages"


@pytest.fixture()
def fresh_results(tmp_path, monkeypatch):
    monkeypatch.setenv("AUDITLENS_DATABASE_URL", f"sqlite:///{tmp_path / 'audits.db'}")
    from dashboard.compute import results
    from dashboard.resources import review_store

    from dashboard.jobs import jobs

    review_store.clear()
    results.clear()  # nothing computed by an earlier test
    jobs.clear()
    return results


def _detail_box(at):
    return next(s for s in at.selectbox if str(s.key).startswith("attr_detail_sentence"))


def _attribution_rows(results) -> list[str]:
    """The answer units of every cached attribution: what has been computed so far."""
    return [a.params["output_granularity"] for a in results().values_where(lambda key: key[0] == "attribution")]


def test_audit_shows_sentence_rows_first_and_token_detail_only_when_asked(lm, embedder, fresh_results, settle):
    from dashboard.compute import attribution_key
    from explainers.text.explain import answer_units
    from explainers.text.lm import build_prompt, prepare

    at = settle(AppTest.from_file(str(PAGES / "audit.py"), default_timeout=300).run())
    assert not at.exception, at.exception
    audit = at.session_state["audit"]
    args = (audit["question"], audit["sources"], audit["answer"], "input_x_gradient")
    # the first view: one gradient pass per answer sentence, no token rows anywhere
    assert set(_attribution_rows(fresh_results)) == {"sentence"}
    coarse = fresh_results().peek(attribution_key(*args, "sentence"))
    inp = prepare(lm, build_prompt(lm, audit["question"], audit["sources"]), audit["answer"])
    sentences, _ = answer_units(inp, "sentence")
    assert [u.text for u in coarse.output_units] == [u.text for u in sentences] and len(sentences) >= 2
    # token rows of the second sentence, when the reviewer picks it; they add up to its sentence row
    settle(_detail_box(at).set_value(1).run())
    assert not at.exception, at.exception
    detail = fresh_results().peek(attribution_key(*args, "sentence", detail=(1, "token")))
    assert [u.text for u in detail.output_units] == [inp.answer[a:b] for a, b in inp.answer_offsets
                                                     if a >= sentences[1].start and b <= sentences[1].end]
    # two separate fp32 runs (threads may reduce in another order): 1e-4 of the row's scale; the exactness of
    # one VJP per unit at 1e-5 is tested within one run in tests/text/test_sentence_targets.py
    assert np.abs(detail.scores.sum(0) - coarse.scores[1]).max() <= 1e-4 * np.abs(coarse.scores[1]).max()
    assert attribution_key(*args, "sentence", detail=(0, "token")) not in fresh_results()
    # words of that sentence are sums of its token rows: no new gradients, and a rerun computes nothing
    misses = fresh_results().misses
    settle(at.radio(key="attr_detail_unit").set_value("word").run())
    assert not at.exception, at.exception
    words = fresh_results().peek(attribution_key(*args, "sentence", detail=(1, "word")))
    assert words.params["regrouped_from"] == "token" and fresh_results().misses == misses + 1
    at.run()
    assert fresh_results().misses == misses + 1


def test_the_first_render_reuses_the_attribution_pass_for_context_reliance(lm, embedder, fresh_results, settle,
                                                                             monkeypatch):
    """The attribution is queued before the perturbation panel, context reliance after it: reliance reads the answer's
    log-probabilities with the sources from the attribution's pass and scores two prompts, not three."""
    import explainers.text.context.reliance as reliance_module
    from dashboard.compute import answer_log_probs_cached
    from explainers.text.context import context_reliance

    scored = []
    real = reliance_module.answer_log_probs
    monkeypatch.setattr(reliance_module, "answer_log_probs",
                        lambda lm_, prompts, *a, **k: scored.append(len(prompts)) or real(lm_, prompts, *a, **k))
    at = settle(AppTest.from_file(str(PAGES / "audit.py"), default_timeout=300).run())
    assert not at.exception, at.exception
    audit = at.session_state["audit"]
    q, srcs, ans = audit["question"], audit["sources"], audit["answer"]
    assert answer_log_probs_cached(q, srcs, ans) is not None
    assert scored == [2]  # without and with shuffled sources; the pass with them came from the attribution
    shown = fresh_results().peek(("reliance", q, srcs, ans))
    fresh = context_reliance(lm, q, srcs, ans)
    assert np.allclose(shown.word_reliance, fresh.word_reliance, atol=1e-3) and shown.flagged == fresh.flagged
    assert any("Leonardo" in w.value for w in at.warning)  # the page shows it


def test_a_visitor_waiting_on_the_warm_up_skips_its_made_up_passes(monkeypatch):
    """The warm-up's made-up grounding and gradient pass only pre-pay one-off costs: when a visitor's page is
    already waiting, their own audit pays them, and the warm-up leaves them out instead of competing for the CPU."""
    from dashboard import warmup

    monkeypatch.setattr(warmup, "_state", None)
    monkeypatch.setattr(warmup, "_visitor", __import__("threading").Event())
    ran = []
    state = warmup.start([("slow model", lambda: time.sleep(1.0)),
                          ("first grounding", lambda: ran.append("grounding")),
                          ("first gradient pass", lambda: ran.append("gradient"))])

    def page():
        from dashboard import warmup

        warmup.show_progress(poll_s=0.05)

    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception, at.exception
    assert state.finished.is_set() and ran == [] and state.skipped == ["first grounding", "first gradient pass"]
    assert state.done == ["slow model"] and state.fraction == 1.0
    monkeypatch.setattr(warmup, "_state", None)


def test_a_failed_background_load_is_shown_and_the_page_goes_on(monkeypatch):
    from dashboard import warmup

    monkeypatch.setattr(warmup, "_state", None)

    def broken():
        raise OSError("disk unplugged")

    state = warmup.start([("slow model", lambda: time.sleep(0.5)), ("broken model", broken), ("next", lambda: 0)])
    assert not state.finished.is_set()  # start() returns while the models load

    def page():
        from dashboard import warmup

        warmup.show_progress(poll_s=0.05)
        import streamlit as st

        st.write("page rendered")

    at = AppTest.from_function(page, default_timeout=30).run()
    assert not at.exception, at.exception
    assert state.done == ["slow model", "next"] and "disk unplugged" in state.error  # one failure stops no other
    assert any("disk unplugged" in w.value for w in at.warning) and state.fraction == 1.0
    assert "page rendered" in at.markdown[-1].value
    monkeypatch.setattr(warmup, "_state", None)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_serve_loads_the_default_models_before_any_visitor(tmp_path):
    port = _free_port()
    log = tmp_path / "server.log"
    env = {**os.environ, "AUDITLENS_DATA_DIR": str(tmp_path / "data"), "HF_HUB_OFFLINE": "1"}
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "explainers.cli", "serve", "--address", "127.0.0.1", "--port",
                                 str(port)], stdout=out, stderr=subprocess.STDOUT, env=env, cwd=tmp_path)
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and "models ready" not in log.read_text() and proc.poll() is None:
            time.sleep(0.5)
        text = log.read_text()
        # no visitor came: the server loaded the models and ran a first gradient pass on its own
        assert "models ready" in text, text[-3000:]
        ready = text[text.index("models ready"):].splitlines()[0]
        assert "(language model, sentence embedder" in ready and "first gradient pass" in ready, ready
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def test_serve_freezes_the_warm_models_out_of_the_collectors_sight(capsys, monkeypatch):
    """Streamlit collects all garbage generations after each script run, and a running job's progress fragment
    reruns once a second: with the models loaded each walk took 1-3 s under the GIL and starved the job (a 10-s
    attribution waited over 2 min in the browser test). Once the warm-up is done, `auditlens serve` collects once
    and freezes what it loaded; a model the pages load later is frozen the same way."""
    import gc
    import threading
    from types import SimpleNamespace

    from dashboard import resources, serve

    calls = []
    monkeypatch.setattr(gc, "collect", lambda *a: calls.append("collect") or 0)
    monkeypatch.setattr(gc, "freeze", lambda: calls.append("freeze"))
    monkeypatch.setenv("AUDITLENS_GC_FREEZE", "1")
    done = threading.Event()
    done.set()
    serve._announce(SimpleNamespace(finished=done, error=None, elapsed_s=1.5, done=["language model"]))
    assert calls == ["collect", "freeze"]  # collected first: no garbage is frozen with the models
    assert "models ready in 1.5 s (language model)" in capsys.readouterr().err

    made = []
    monkeypatch.setattr(resources.models, "load_lm", lambda model_id=None: made.append({"id": model_id}) or made[-1])
    resources.language_model.clear()
    try:
        assert resources.language_model("a test model") is made[0]
        assert calls == ["collect", "freeze"] * 2
        monkeypatch.setenv("AUDITLENS_GC_FREEZE", "0")  # off: as the test suite runs
        resources.freeze_long_lived()
        assert calls == ["collect", "freeze"] * 2
    finally:
        resources.language_model.clear()
