"""Explainer calls for the pages: models from resources, results cached by their inputs.

Results are immutable values, so one cache serves every session of the server (``st.cache_resource`` holds
it); progress callbacks run only when something is really computed, and a cache hit returns at once.
"""

from __future__ import annotations

import os
import threading
from collections import OrderedDict
from typing import Any, Callable

import streamlit as st

from dashboard.resources import embedder, language_model
from explainers.limits import time_limited
from explainers.retrieval.grounding import ground
from explainers.text.explain import explain
from explainers.text.lm import build_prompt, prepare

TIME_LIMIT_S = float(os.environ.get("AUDITLENS_TIME_LIMIT_S", "600"))  # per request: attribution, SHAP, perturbation
DEFAULT_METHOD = "input_x_gradient"
DEFAULT_GRANULARITY = "sentence"  # prompt side of the first view; its answer side is always sentences
DEFAULT_PRECISION = "fp32"
DETAIL_GRANULARITIES = ("token", "word")


class ResultCache:
    """A small thread-safe LRU of immutable results keyed by their inputs."""

    def __init__(self, maxsize: int = 256):
        self.maxsize, self._data, self._lock = maxsize, OrderedDict(), threading.Lock()
        self.hits = self.misses = 0

    def get_or_compute(self, key: tuple, fn: Callable[[], Any]) -> Any:
        with self._lock:
            if key in self._data:
                self._data.move_to_end(key)
                self.hits += 1
                return self._data[key]
        value = fn()  # outside the lock: the model's own lock serialises inference
        with self._lock:
            self.misses += 1
            self._data[key] = value
            while len(self._data) > self.maxsize:
                self._data.popitem(last=False)
        return value

    def peek(self, key: tuple) -> Any:
        """The cached value, or None (never computes)."""
        with self._lock:
            return self._data.get(key)

    def values_where(self, predicate: Callable[[tuple], bool]) -> list:
        """Cached values whose key satisfies ``predicate`` (never computes)."""
        with self._lock:
            return [value for key, value in self._data.items() if predicate(key)]

    def __contains__(self, key: tuple) -> bool:
        with self._lock:
            return key in self._data


@st.cache_resource(show_spinner=False)
def results() -> ResultCache:
    return ResultCache()


def generate_answer(question: str, sources: tuple[str, ...], max_new_tokens: int = 64) -> str:
    def run():
        lm = language_model()
        return prepare(lm, build_prompt(lm, question, sources), None, max_new_tokens=max_new_tokens).answer

    return results().get_or_compute(("generate", question, sources, max_new_tokens), run)


def attribution_key(question, sources, answer, method, granularity, precision: str = DEFAULT_PRECISION,
                    detail: tuple | None = None, params: tuple = ()) -> tuple:
    """The cache key of an attribution: answer sentences x ``granularity`` units, or with ``detail``
    (answer sentence index, "token" | "word") that sentence's tokens or words x ``granularity`` units;
    ``params``: the method's cost settings as sorted (name, value) pairs (IG steps, samples)."""
    return ("attribution", question, tuple(sources), answer, method, granularity, precision, detail, tuple(params))


def _inputs(question: str, sources: tuple[str, ...], answer: str):
    lm = language_model()
    return lm, prepare(lm, build_prompt(lm, question, sources), answer)


def _precision_params(precision: str, params: tuple = ()) -> dict:
    return dict(params) | ({} if precision == DEFAULT_PRECISION else {"precision": precision})


def run_attribution(question: str, sources: tuple[str, ...], answer: str, method: str = DEFAULT_METHOD,
                    granularity: str = DEFAULT_GRANULARITY, progress=None, precision: str = DEFAULT_PRECISION,
                    params: tuple = ()):
    """The coarse view first: every answer sentence against prompt units, one target per answer sentence.

    Gradient methods are computed once against prompt tokens (one VJP per answer sentence, per IG step) and
    summed into any prompt granularity (exact, instant); perturbation methods are run per granularity.
    """
    progress = time_limited(progress, TIME_LIMIT_S, method)
    from explainers.registry import get_explainer
    from explainers.text.explain import regroup

    key = attribution_key(question, sources, answer, method, granularity, precision, params=params)
    if get_explainer("text", method).kind == "gradient":
        def tokens():
            lm, inp = _inputs(question, sources, answer)
            return explain(lm, inp, method, "token", output_granularity="sentence", progress=progress,
                           **_precision_params(precision, params))

        base = results().get_or_compute(attribution_key(question, sources, answer, method, "token", precision,
                                                        params=params), tokens)
        if granularity == "token":
            return base
        return results().get_or_compute(key, lambda: regroup(base, _inputs(question, sources, answer)[1], granularity))

    def run():
        lm, inp = _inputs(question, sources, answer)
        return explain(lm, inp, method, granularity, output_granularity="sentence", progress=progress,
                       **dict(params))

    return results().get_or_compute(key, run)


def run_attribution_detail(question: str, sources: tuple[str, ...], answer: str, method: str, granularity: str,
                           sentence: int, detail: str = "token", progress=None, precision: str = DEFAULT_PRECISION,
                           params: tuple = ()):
    """Token or word rows of one answer sentence, computed when the reviewer opens it and kept.

    For the additive gradient methods the word rows are sums of the token rows (exact, instant once the
    tokens are cached); saliency's words are their own gradient norms and get their own VJPs.
    """
    if detail not in DETAIL_GRANULARITIES:
        raise ValueError(f"detail is one of {DETAIL_GRANULARITIES}, not {detail!r}")
    progress = time_limited(progress, TIME_LIMIT_S, method)
    from explainers.registry import get_explainer
    from explainers.text.explain import answer_units, regroup

    cls = get_explainer("text", method)
    key = attribution_key(question, sources, answer, method, granularity, precision, (sentence, detail), params)

    def span():
        units, _ = answer_units(_inputs(question, sources, answer)[1], "sentence")
        return units[sentence].start, units[sentence].end

    if cls.kind != "gradient":
        def run():
            lm, inp = _inputs(question, sources, answer)
            return explain(lm, inp, method, granularity, output_granularity=detail, answer_span=span(),
                           progress=progress, **dict(params))

        return results().get_or_compute(key, run)
    rows = "token" if getattr(cls, "additive_targets", False) else detail

    def compute():
        lm, inp = _inputs(question, sources, answer)
        return explain(lm, inp, method, "token", output_granularity=rows, answer_span=span(), progress=progress,
                       **_precision_params(precision, params))

    base = results().get_or_compute(attribution_key(question, sources, answer, method, "token", precision,
                                                    (sentence, rows), params), compute)
    if (granularity, detail) == ("token", rows):
        return base
    return results().get_or_compute(key, lambda: regroup(base, _inputs(question, sources, answer)[1], granularity,
                                                         output_granularity=detail))


def run_grounding(question: str, sources: tuple[str, ...], answer: str):
    return results().get_or_compute(("grounding", question, tuple(sources), answer),
                                    lambda: ground(answer, list(sources), question, embedder=embedder()))


def run_side_by_side(image_name: str, image, cam_method: str, prompt: str, answer: str, text_method: str):
    """Grad-CAM on the image and a word-level text attribution, paired on one scale with faithfulness curves."""
    from dashboard.resources import classifier
    from explainers.text.lm import raw_prompt
    from explainers.vision.cam import explain_image
    from explainers.vision.compare import side_by_side
    from explainers.vision.faithfulness import image_deletion_curve, text_deletion_curve

    clf = classifier()
    img_attr = explain_image(clf, image, cam_method)
    lm = language_model()
    inp = prepare(lm, raw_prompt(prompt), answer)
    txt_attr = explain(lm, inp, text_method, "word")
    return side_by_side(img_attr, txt_attr, image_deletion_curve(clf, image, img_attr.heatmap, img_attr.class_id),
                        text_deletion_curve(lm, inp, txt_attr))


def run_leave_one_out(question: str, sources: tuple[str, ...], answer: str, unit: str = "sentence", progress=None):
    progress = time_limited(progress, TIME_LIMIT_S, "leave-one-out")
    from explainers.text.context import leave_one_out

    return results().get_or_compute(("loo", question, sources, answer, unit), lambda: leave_one_out(
        language_model(), question, sources, answer, unit=unit, progress=progress))


def run_ablate(question: str, sources: tuple[str, ...], answer: str, n_ablations: int = 32, progress=None):
    progress = time_limited(progress, TIME_LIMIT_S, "random ablations")
    from explainers.text.context import ablate

    return results().get_or_compute(("ablate", question, sources, answer, n_ablations), lambda: ablate(
        language_model(), question, sources, answer, n_ablations=n_ablations, progress=progress))


def run_reliance(question: str, sources: tuple[str, ...], answer: str):
    from explainers.text.context import context_reliance

    return results().get_or_compute(("reliance", question, sources, answer),
                                    lambda: context_reliance(language_model(), question, sources, answer))


def run_what_if(question: str, sources: tuple[str, ...], answer: str, edits: tuple, progress=None):
    progress = time_limited(progress, TIME_LIMIT_S, "what-if")
    from explainers.text.context import what_if

    key = ("what_if", question, sources, answer, repr(edits))
    return results().get_or_compute(key, lambda: what_if(language_model(), question, sources, answer,
                                                         [dict(e) for e in edits], progress=progress))


def cached_perturbations(question: str, sources: tuple[str, ...], answer: str, what_if_result=None) -> list:
    """Perturbation results already computed for this audit (they go into its report)."""
    out = results().values_where(lambda key: key[0] in ("reliance", "loo", "ablate")
                                 and key[1:4] == (question, sources, answer))
    if what_if_result is not None and what_if_result.question == question and what_if_result.answer == answer:
        out.append(what_if_result)
    return out
