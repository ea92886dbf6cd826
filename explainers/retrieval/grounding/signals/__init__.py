"""Grounding signals a newcomer adds in one file: put a module in this package with one decorated function.

    # explainers/retrieval/grounding/signals/hedging.py
    from . import ClaimContext, claim_signal

    @claim_signal("hedged_claim", "hedging words the aligned source does not use", negative=True)
    def hedged_claim(ctx: ClaimContext):
        extra = sorted(HEDGES & ctx.claim_words - ctx.evidence_words)
        return len(extra), (f"hedges ({', '.join(extra)}) where the source states it plainly" if extra else None)

Every module here is imported when grounding first needs the signals; each function runs once per claim, gets the
claim with its question and evidence (:class:`ClaimContext`) and returns a value, or ``(value, reason)`` where a
reason (shown to the reviewer) is ``None`` when there is nothing to say. The value is shown at once with the other
signals (the dashboard's signal table, reports, JSON). ``fused=True`` makes it a feature of the detector when the
fusion is refitted (``auditlens eval-grounding --save-fusion`` / ``train-verifier --fusion-only``), pushing only
the way ``negative`` says (sign-constrained); the shipped fusions are not changed by adding a file.
"""

from __future__ import annotations

import importlib
import pkgutil
import threading
from dataclasses import dataclass, field
from typing import Callable

from ....errors import InputError


@dataclass(frozen=True)
class ClaimContext:
    """What a signal may read about one claim."""

    claim: str
    question: str
    evidence: str  # the aligned source window's text ("" when the sources have none near the claim)
    windows: tuple[str, ...]  # every evidence window the claim was checked against
    claim_words: frozenset[str] = field(default_factory=frozenset)  # normalised content words
    evidence_words: frozenset[str] = field(default_factory=frozenset)


@dataclass(frozen=True)
class ClaimSignal:
    name: str
    fn: Callable[[ClaimContext], object]
    description: str  # how it reads in a reason when it pulls a verdict down
    negative: bool = False  # more of it means less support
    fused: bool = False  # a feature of the detector when the fusion is refitted


_SIGNALS: dict[str, ClaimSignal] = {}
_LOADED = False
_LOCK = threading.Lock()
# signals grounding computes itself beyond the fusion's described ones: a plug-in may not shadow them
_OTHER_BUILT_INS = ("bigram_support", "nli_entailment", "nli_contradiction", "source_attribution_mass",
                    "sampling_consistency", "prior_word_share")


def claim_signal(name: str, description: str, *, negative: bool = False, fused: bool = False) -> Callable:
    """Decorator: register ``fn(ctx) -> value | (value, reason)`` as the claim signal ``name``."""
    if not name.isidentifier():
        raise InputError(f"a signal name is an identifier, not {name!r}")

    def deco(fn: Callable) -> Callable:
        from ..fusion import DESCRIPTIONS

        if name in DESCRIPTIONS or name in _OTHER_BUILT_INS:
            raise InputError(f"signal {name!r} is a built-in grounding signal")
        old = _SIGNALS.get(name)
        if old is not None and old.fn is not fn and (old.fn.__module__, old.fn.__qualname__) != (fn.__module__,
                                                                                                 fn.__qualname__):
            raise InputError(f"signal {name!r} is already registered by {old.fn.__module__}")
        _SIGNALS[name] = ClaimSignal(name, fn, description, negative, fused)
        return fn

    return deco


def registered() -> tuple[ClaimSignal, ...]:
    """Every signal of this package (its modules imported once), in name order."""
    global _LOADED
    with _LOCK:
        if not _LOADED:
            for info in pkgutil.iter_modules(__path__):
                importlib.import_module(f"{__name__}.{info.name}")
            _LOADED = True
        return tuple(_SIGNALS[k] for k in sorted(_SIGNALS))


def get(name: str) -> ClaimSignal | None:
    return {s.name: s for s in registered()}.get(name)


def fused_names() -> tuple[str, ...]:
    return tuple(s.name for s in registered() if s.fused)


def compute(ctx: ClaimContext) -> tuple[dict[str, float], list[str]]:
    """Every registered signal on one claim: values by name, and the reasons they give."""
    values, reasons = {}, []
    for s in registered():
        out = s.fn(ctx)
        value, reason = out if isinstance(out, tuple) else (out, None)
        values[s.name] = float(value)
        if reason:
            reasons.append(str(reason))
    return values, reasons
