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
    skipped: list[str] = field(default_factory=list)  # warm passes left out because a visitor's audit came first
    started_s: float = field(default_factory=time.monotonic)
    elapsed_s: float | None = None
    finished: threading.Event = field(default_factory=threading.Event)

    @property
    def fraction(self) -> float:
        return (len(self.done) + len(self.errors) + len(self.skipped)) / max(1, len(self.steps))

    @property
    def error(self) -> str | None:
        return "; ".join(self.errors) or None


_lock = threading.Lock()
_state: WarmUp | None = None
# Set when a page waits on the warm-up: a visitor's own audit then pays the first passes' one-off costs, and the
# made-up passes below would only compete with it for the CPU.
_visitor = threading.Event()
WARM_PASSES = ("first grounding", "first gradient pass")


# A made-up passage of about the length of a real audit's sources (not the demo: warming must not cache a result).
_WARM_SOURCE = " ".join(
    f"The {name} station opened in {1900 + 7 * k} and served {k + 3} villages along the river before the line "
    f"closed." for k, name in enumerate(("north", "harbour", "mill", "chapel", "market", "bridge", "quarry")))
_WARM_ANSWER = "The mill station opened in 1914. It served five villages. The line closed later."


def _warm_kernels() -> None:
    # The first passes through a model pay one-off costs for each new tensor shape (allocator, kernel selection):
    # paid here, on inputs shaped like an audit's (a ~250-token prompt, a three-sentence answer), not by a visitor.
    from explainers.models import load_lm
    from explainers.text.explain import explain
    from explainers.text.lm import answer_log_probs, build_prompt, prepare

    lm = load_lm()
    inp = prepare(lm, build_prompt(lm, "Which station opened in 1914?", [_WARM_SOURCE]), _WARM_ANSWER)
    explain(lm, inp, "input_x_gradient", "token", output_granularity="sentence")
    answer_log_probs(lm, [inp.prompt_ids, inp.prompt_ids[: len(inp.prompt_ids) // 3]], inp.answer_ids)


def _warm_grounding() -> None:
    from explainers.retrieval.grounding import ground

    ground(_WARM_ANSWER, [_WARM_SOURCE], "Which station opened in 1914?")


def _import_pages() -> None:
    # What the Audit page imports on its first run (its views, exports, the store, the perturbation panel): a
    # running server has them loaded, so the first visitor does not pay for them.
    import importlib

    for name in ("dashboard.compute", "dashboard.jobs", "dashboard.components.audit_views",
                 "dashboard.components.exports", "dashboard.components.perturb_views", "explainers.store",
                 "explainers.report.bundle", "explainers.demo", "explainers.retrieval.index"):
        importlib.import_module(name)


def default_steps() -> list[tuple[str, Callable[[], object]]]:
    """The models the Audit page needs, in the order it needs them."""
    from explainers import models

    steps: list[tuple[str, Callable[[], object]]] = [("language model", models.load_lm),
                                                     ("sentence embedder", models.load_embedder)]
    if hasattr(models, "load_verifier"):  # the claim verifier grounding uses, where this build has one
        steps.append(("claim verifier", models.load_verifier))
    steps.append(("first grounding", _warm_grounding))
    steps.append(("first gradient pass", _warm_kernels))
    steps.append(("dashboard pages", _import_pages))
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
                if name in WARM_PASSES and _visitor.is_set():
                    state.skipped.append(name)
                    continue
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
    _visitor.set()
    bar = slot.progress(state.fraction, text="Loading models…")
    while not state.finished.wait(poll_s):
        waited = time.monotonic() - state.started_s
        bar.progress(state.fraction, text=f"Loading models: {state.current or '…'} "
                                          f"({len(state.done) + len(state.errors) + len(state.skipped)}/{len(state.steps)}, "
                                          f"{waited:.0f} s)")
    slot.empty()
    _show_errors(state)


def _show_errors(state: WarmUp) -> None:
    import streamlit as st

    if state.error:
        st.warning(f"Some models did not load in the background ({state.error}); they load when first used.",
                   icon=":material/warning:")
