"""Default models loaded in the background from server start, so the first visitor waits only for their audit.

``auditlens serve`` calls ``start()`` before Streamlit serves (dashboard/serve.py). The models land in
``explainers.models``' process-wide cache, which ``dashboard.resources`` reads, so a page that asks for a
model while it loads simply waits for that one load; ``show_progress`` turns that wait into a progress bar.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable

log = logging.getLogger("auditlens.warmup")


@dataclass
class WarmUp:
    """Which models are loaded, which one is loading, and the errors (shown; those models load on demand)."""

    steps: tuple[str, ...]
    done: list[str] = field(default_factory=list)
    current: str | None = None
    errors: list[str] = field(default_factory=list)
    started_s: float = field(default_factory=time.monotonic)
    elapsed_s: float | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def fraction(self) -> float:
        return (len(self.done) + len(self.errors)) / max(1, len(self.steps))

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) or None


_lock = threading.Lock()
_state: WarmUp | None = None


def _warm_kernels() -> None:
    # The first backward through the LM pays one-off costs (allocator, kernel selection): paid here, not by a visitor.
    from explainers.models import load_lm
    from explainers.text.explain import explain
    from explainers.text.lm import prepare, raw_prompt

    lm = load_lm()
    explain(lm, prepare(lm, raw_prompt("Warm up the model."), " Done."), "input_x_gradient", "sentence")


def default_steps() -> list[tuple[str, Callable[[], object]]]:
    """The models the Audit page needs, in the order it needs them."""
    from explainers import models

    steps: list[tuple[str, Callable[[], object]]] = [("language model", models.load_lm),
                                                     ("sentence embedder", models.load_embedder)]
    if hasattr(models, "load_verifier"):  # the claim verifier grounding uses, where this build has one
        steps.append(("claim verifier", models.load_verifier))
    steps.append(("first gradient pass", _warm_kernels))
    return steps


def start(steps: list[tuple[str, Callable[[], object]]] | None = None) -> WarmUp:
    """Start loading in a daemon thread (once per process) and return its state."""
    global _state
    with _lock:
        if _state is not None:
            return _state
        steps = default_steps() if steps is None else steps
        state = _state = WarmUp(tuple(name for name, _ in steps))

    def run() -> None:
        try:
            for name, load in steps:
                state.current = name
                try:
                    load()
                    state.done.append(name)
                except Exception as exc:  # noqa: BLE001 - reported on the page; that model loads on demand
                    state.errors.append(f"{name}: {exc}")
                    log.warning("warm-up: %s not loaded: %s", name, exc)
        finally:
            state.current = None
            state.elapsed_s = time.monotonic() - state.started_s
            state.finished.set()

    threading.Thread(target=run, name="auditlens-warmup", daemon=True).start()
    return state


def current() -> WarmUp | None:
    """The warm-up of this process, or None when none was started (plain ``streamlit run``, tests)."""
    return _state


def show_progress(poll_s: float = 0.2) -> None:
    """While the warm-up runs, a "loading models" bar on the page instead of a blank wait."""
    import streamlit as st

    # One placeholder on every run, loading or not: if the bar were drawn only while loading, every element
    # after it would shift one place on the next run and Streamlit would draw the tabs afresh (a second tab
    # bar, back on the first tab, a just-shown "verdict saved" gone).
    slot = st.empty()
    state = current()
    if state is None:
        return
    if state.finished.is_set():
        _show_errors(state)
        return
    bar = slot.progress(state.fraction, text="Loading models…")
    while not state.finished.wait(poll_s):
        waited = time.monotonic() - state.started_s
        bar.progress(state.fraction, text=f"Loading models: {state.current or '…'} "
                                          f"({len(state.done) + len(state.errors)}/{len(state.steps)}, {waited:.0f} s)")
    slot.empty()
    _show_errors(state)


def _show_errors(state: WarmUp) -> None:
    import streamlit as st

    if state.error:
        st.warning(f"Some models did not load in the background ({state.error}); they load when first used.",
                   icon=":material/warning:")
