"""The fusion: a sign-constrained logistic model over named signals, stored as JSON in the package."""

from __future__ import annotations

import json
import math
from importlib import resources
from typing import Sequence

import numpy as np

from ...errors import InputError

# bigram_support is shown as a signal but left out of the fusion: it rewards copied wording so strongly on
# extractive QA that paraphrased, correct sentences fall below the threshold (measured: 0.05 vs 0.51).
LEXICAL_FEATURES = ("content_support", "source_recall", "pair_support", "phrase_support", "novel_numbers", "novel_names",
                    "embedding_similarity")
LM_FEATURES = ("context_reliance",)
ALIGNMENT_FEATURES = ("negation_mismatch", "antonym_mismatch", "number_mismatch", "name_mismatch", "order_swap",
                      "quantifier_mismatch", "causal_reversal")
VERIFIER_FEATURES = ("verifier_entailment", "verifier_contradiction")
MEANING_FEATURES = ("meaning_support", "weakest_word_match")
# The default detector: lexical + meaning + alignment + our trained claim verifier.
DETECTOR_FEATURES = LEXICAL_FEATURES + MEANING_FEATURES + ALIGNMENT_FEATURES + VERIFIER_FEATURES
# Shown and used for the contradicted label, not (yet) a feature of the shipped fusion.
LABEL_SIGNALS = ("value_substitution",)
NEGATIVE_SIGNALS = ("novel_numbers", "novel_names", "nli_contradiction", "verifier_contradiction") + \
    ALIGNMENT_FEATURES + LABEL_SIGNALS
COUNT_SIGNALS = ("novel_numbers", "novel_names", "antonym_mismatch", "number_mismatch", "name_mismatch",
                 "quantifier_mismatch", "value_substitution")
# How each signal reads in a reason when it pulls a verdict down.
DESCRIPTIONS = {
    "content_support": "share of its content words found in the sources",
    "source_recall": "share of the words it adds beyond the question that the sources hold",
    "pair_support": "share of its word pairs that stand together in one source sentence",
    "phrase_support": "share of its word pairs that stand close together in a source sentence",
    "novel_numbers": "numbers or dates in no source",
    "novel_names": "names in no source",
    "embedding_similarity": "meaning similarity to the closest source sentence",
    "meaning_support": "share of its words the evidence says, in the same or other words",
    "weakest_word_match": "how closely the evidence matches its least-supported word",
    "context_reliance": "how much the model's wording depends on the sources",
    "verifier_entailment": "the claim verifier's belief that a source passage states it",
    "verifier_contradiction": "the claim verifier's belief that the source says otherwise",
    "negation_mismatch": "negation differs from the aligned source sentence",
    "antonym_mismatch": "words whose opposite the source uses",
    "number_mismatch": "numbers missing from the cited evidence",
    "name_mismatch": "names from elsewhere in the sources",
    "order_swap": "names or numbers in swapped roles, or a name where the source has another",
    "quantifier_mismatch": "quantifiers the source does not use",
    "causal_reversal": "cause and effect reversed",
    "value_substitution": "names or numbers where the source has others of their kind",
}


def describe(feature: str) -> str:
    """How a signal reads in a reason: built-in ones here, added ones from their registration."""
    if feature in DESCRIPTIONS:
        return DESCRIPTIONS[feature]
    from .signals import get

    added = get(feature)
    return added.description if added is not None else feature


def _value(feature: str, value: float) -> str:
    """A count said as one ("names in no source: 2 of them": the lexical reason beside it lists the names
    themselves), anything else with two decimals."""
    return f"{int(round(value))} of them" if feature in COUNT_SIGNALS and float(value).is_integer() else f"{value:.2f}"


def is_negative(feature: str) -> bool:
    """More of it means less support (the fusion's weight may only be <= 0)."""
    if feature in NEGATIVE_SIGNALS:
        return True
    from .signals import get

    added = get(feature)
    return added is not None and added.negative


class Fusion:
    """Standardised logistic regression over named signals; JSON in, JSON out."""

    def __init__(self, features: Sequence[str], coef, intercept: float, mean, scale, threshold: float = 0.5,
                 meta: dict | None = None):
        self.features = tuple(features)
        self.coef = np.asarray(coef, dtype=np.float64)
        self.intercept = float(intercept)
        self.mean = np.asarray(mean, dtype=np.float64)
        self.scale = np.asarray(scale, dtype=np.float64)
        self.threshold = float(threshold)
        self.meta = dict(meta or {})

    @staticmethod
    def transform(name: str, value: float) -> float:
        return math.log1p(value) if name in COUNT_SIGNALS else float(value)

    def matrix(self, rows: Sequence[dict[str, float]]) -> np.ndarray:
        missing = sorted({f for r in rows for f in self.features if f not in r})
        if missing:
            raise InputError(f"the fusion needs signals this grounding did not compute: {', '.join(missing)} "
                             "(pass an embedder / verifier, or a fusion fitted without them)")
        return np.array([[self.transform(f, r[f]) for f in self.features] for r in rows], dtype=np.float64)

    def predict(self, rows: Sequence[dict[str, float]]) -> np.ndarray:
        z = ((self.matrix(rows) - self.mean) / self.scale) @ self.coef + self.intercept
        return 1.0 / (1.0 + np.exp(-z))

    def contributions(self, row: dict[str, float]) -> dict[str, float]:
        """Each signal's push on the log-odds relative to an average row (negative: towards unsupported)."""
        x = self.matrix([row])[0]
        return {f: float(c * (v - m) / s) for f, c, v, m, s in zip(self.features, self.coef, x, self.mean, self.scale)}

    def explain_low(self, row: dict[str, float], top: int = 3) -> list[str]:
        """Reasons for a low probability: the signals that pulled it down most, in words, with their values."""
        pulls = sorted((v, f) for f, v in self.contributions(row).items() if v < -0.05)
        out = [f"{describe(f)}: {_value(f, row[f])} (pulls the support down by {-v:.1f} log-odds)"
               for v, f in pulls[:top]]
        if not out:
            z = float(((self.matrix([row]) - self.mean) / self.scale @ self.coef + self.intercept)[0])
            out = [f"no single signal is low, but together they stay under the threshold "
                   f"(log-odds {z:.2f}, needs {math.log(self.threshold / (1 - self.threshold)):.2f})"]
        return out

    def to_json(self) -> str:
        return json.dumps({"features": self.features, "coef": self.coef.tolist(), "intercept": self.intercept,
                           "mean": self.mean.tolist(), "scale": self.scale.tolist(), "threshold": self.threshold,
                           "meta": self.meta}, indent=1)

    @classmethod
    def from_json(cls, text: str) -> "Fusion":
        d = json.loads(text)
        return cls(d["features"], d["coef"], d["intercept"], d["mean"], d["scale"], d.get("threshold", 0.5), d.get("meta"))

    @classmethod
    def fit(cls, rows: Sequence[dict[str, float]], labels: Sequence[int], features: Sequence[str], C: float = 0.1,
            meta: dict | None = None) -> "Fusion":
        """Balanced, L2-regularised logistic regression with sign constraints.

        Each signal may only push the way its meaning says (more support -> more likely supported; a
        novel number -> less), so the fusion cannot learn a quirk of one data set, such as HaluEval's
        long hallucinated answers being *more* similar to the source than short correct ones.
        """
        from scipy.optimize import minimize

        tmp = cls(features, np.zeros(len(features)), 0.0, np.zeros(len(features)), np.ones(len(features)))
        x = tmp.matrix(rows)
        y = np.asarray(labels, dtype=np.float64)
        mean, scale = x.mean(0), x.std(0)
        scale[scale < 1e-9] = 1.0
        z = (x - mean) / scale
        w = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))

        def loss(theta):
            margin = z @ theta[:-1] + theta[-1]
            p = 1.0 / (1.0 + np.exp(-margin))
            value = np.sum(w * (np.logaddexp(0, margin) - y * margin)) + 0.5 / C * theta[:-1] @ theta[:-1]
            grad = np.append(z.T @ (w * (p - y)) + theta[:-1] / C, np.sum(w * (p - y)))
            return value, grad

        bounds = [(None, 0.0) if is_negative(f) else (0.0, None) for f in features] + [(None, None)]
        res = minimize(loss, np.zeros(len(features) + 1), jac=True, method="L-BFGS-B", bounds=bounds)
        return cls(features, res.x[:-1], res.x[-1], mean, scale, 0.5, meta)


def load_fusion(name: str = "lexical") -> Fusion:
    data = resources.files("explainers").joinpath("data", f"grounding_fusion_{name}.json")
    return Fusion.from_json(data.read_text(encoding="utf-8"))


