"""A grounding signal added as one file in explainers/retrieval/grounding/signals/ is found, computed for every
claim with its reason, described in reasons, sign-constrained in a refit and offered as a feature."""

import sys
import textwrap

import numpy as np
import pytest

from explainers.errors import InputError
from explainers.retrieval.grounding import signals
from explainers.retrieval.grounding.claim_signals import claim_signals
from explainers.retrieval.grounding.fusion import Fusion, describe, is_negative
from explainers.retrieval.grounding.lexical import prepare_sources
from explainers.retrieval.ingest import chunks_from_texts

PLUGIN = textwrap.dedent('''
    from explainers.retrieval.grounding.signals import ClaimContext, claim_signal

    HEDGES = {"may", "might", "reportedly", "possibly", "perhaps", "allegedly"}


    @claim_signal("hedged_claim", "hedging words the aligned source does not use", negative=True, fused=True)
    def hedged_claim(ctx: ClaimContext):
        extra = sorted(HEDGES & ctx.claim_words - ctx.evidence_words)
        return len(extra), (f"hedges ({', '.join(extra)}) where the source states it plainly" if extra else None)
''')


@pytest.fixture
def plugin(tmp_path, monkeypatch):
    """The newcomer's one file, in a folder searched as part of the signals package."""
    (tmp_path / "hedging.py").write_text(PLUGIN, encoding="utf-8")
    monkeypatch.setattr(signals, "__path__", [*signals.__path__, str(tmp_path)])
    monkeypatch.setattr(signals, "_SIGNALS", {})
    monkeypatch.setattr(signals, "_LOADED", False)
    monkeypatch.delitem(sys.modules, f"{signals.__name__}.hedging", raising=False)
    yield
    sys.modules.pop(f"{signals.__name__}.hedging", None)


def _signals_of(claims, source):
    return claim_signals(claims, "", prepare_sources(chunks_from_texts([source])))


def test_a_signal_file_is_found_and_computed_for_every_claim_with_its_reason(plugin):
    assert [s.name for s in signals.registered()] == ["hedged_claim"]
    source = "The museum opened in 1902. It holds four thousand paintings."
    hedged, plain = _signals_of(["The museum reportedly opened in 1902.", "It holds four thousand paintings."], source)
    assert hedged.signals["hedged_claim"] == 1.0 and plain.signals["hedged_claim"] == 0.0
    assert "hedges (reportedly) where the source states it plainly" in hedged.reasons
    assert not any("hedges" in r for r in plain.reasons)
    # reasons and refits read the signal from its registration
    assert describe("hedged_claim") == "hedging words the aligned source does not use"
    assert is_negative("hedged_claim") and not is_negative("content_support")
    from explainers.retrieval.evaluate import default_features

    assert default_features(with_lm=False, with_verifier=True)[-1] == "hedged_claim"


def test_a_refit_keeps_an_added_signal_to_its_declared_sign(plugin):
    signals.registered()
    rng = np.random.default_rng(0)
    support = rng.uniform(size=400)
    labels = (support > 0.5).astype(int)
    # in this data hedging goes with *supported* answers: an unconstrained fit would give it a positive weight
    rows = [{"content_support": s, "hedged_claim": float(y and rng.uniform() < 0.7)} for s, y in zip(support, labels)]
    fused = Fusion.fit(rows, labels, ["content_support", "hedged_claim"])
    assert fused.coef[1] <= 0.0 and fused.coef[0] > 0.0


def test_a_signal_may_not_take_a_built_in_name_or_a_taken_one(plugin):
    with pytest.raises(InputError, match="built-in"):
        signals.claim_signal("content_support", "x")(lambda ctx: 0.0)
    signals.registered()
    with pytest.raises(InputError, match="already registered"):
        signals.claim_signal("hedged_claim", "x")(lambda ctx: 0.0)


def test_no_added_signal_leaves_grounding_as_shipped():
    # the shipped package holds no added signal: the detector's features are the fitted fusion's
    from explainers.retrieval.grounding.fusion import DETECTOR_FEATURES, load_fusion

    assert signals.fused_names() == ()
    assert tuple(load_fusion("verifier").features) == DETECTOR_FEATURES
