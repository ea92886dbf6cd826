"""Explainer calls for the pages: models from resources, results cached by their inputs."""

from __future__ import annotations

from dashboard.resources import embedder, language_model
from explainers.retrieval.grounding import ground
from explainers.text.explain import explain
from explainers.text.lm import build_prompt, prepare


def run_attribution(question: str, sources: tuple[str, ...], answer: str | None, method: str, granularity: str,
                    progress=None, max_new_tokens: int = 48):
    lm = language_model()
    inp = prepare(lm, build_prompt(lm, question, sources), answer, max_new_tokens=max_new_tokens)
    return explain(lm, inp, method, granularity, progress=progress)


def run_grounding(question: str, sources: tuple[str, ...], answer: str):
    return ground(answer, list(sources), question, embedder=embedder())
