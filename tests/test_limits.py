"""Resource limits: out-of-memory retries with smaller batches (same result), then a clear error; time limits."""

import numpy as np
import pytest
import torch

from explainers.errors import ResourceLimitError, TimeLimitError
from explainers.limits import time_limited
from explainers.text import gradient
from explainers.text import lm as lm_module
from explainers.text.explain import explain
from explainers.text.lm import answer_log_probs


class _OOMAbove:
    """Wraps the transformer body: raises torch.OutOfMemoryError when a batch is larger than ``limit`` rows."""

    def __init__(self, body, limit):
        self.body, self.limit, self.refused = body, limit, 0

    def __call__(self, **kw):
        x = kw.get("input_ids", kw.get("inputs_embeds"))
        if x.shape[0] > self.limit:
            self.refused += 1
            raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB (simulated)")
        return self.body(**kw)


def test_scoring_retries_smaller_batches_after_oom_and_gives_the_same_scores(lm, rag_input, monkeypatch):
    prompts = [list(rag_input.prompt_ids)[: n] for n in (30, 31, 32, 33, 34, 35)]
    expected = answer_log_probs(lm, prompts, rag_input.answer_ids, max_rows=100_000)
    real = lm_module.lm_backbone
    fake = {}

    def backbone(model):
        body, head = real(model)
        fake.setdefault("body", _OOMAbove(body, 2))
        return fake["body"], head

    monkeypatch.setattr(lm_module, "lm_backbone", backbone)
    got = answer_log_probs(lm, prompts, rag_input.answer_ids, max_rows=100_000)
    assert fake["body"].refused >= 1
    assert np.allclose(got, expected, atol=1e-5)
    fake["body"] = _OOMAbove(real(lm)[0], 0)  # even one sequence does not fit
    with pytest.raises(ResourceLimitError, match="shorten the sources"):
        answer_log_probs(lm, prompts, rag_input.answer_ids)


def test_integrated_gradients_retries_smaller_step_chunks_after_oom(lm, france, monkeypatch):
    expected = explain(lm, france, "integrated_gradients", "token", n_steps=8)
    real = gradient._gradient_token_matrix
    calls = []

    def flaky(*args, **kw):
        calls.append(args[-1] if len(args) > 11 else kw.get("grad_rows"))
        if len(calls) == 1:
            raise RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 1 GB")
        return real(*args, **kw)

    monkeypatch.setattr(gradient, "_gradient_token_matrix", flaky)
    got = explain(lm, france, "integrated_gradients", "token", n_steps=8)
    assert len(calls) == 2 and calls[1] < calls[0]
    assert np.allclose(got.scores, expected.scores, rtol=1e-5, atol=1e-8)


def test_integrated_gradients_in_small_graphs_reports_each_and_gives_the_same_scores(lm, france, monkeypatch):
    """Steps run in graphs of at most max_grad_rows(lm) rows, with a progress report (where a Stop or a time
    limit acts) before each: on a CPU 4096 rows, so a Stop waits seconds, not a minute; the scores do not
    depend on it."""
    assert gradient.max_grad_rows(lm) == (gradient.CPU_GRAD_ROWS if lm.device.type == "cpu" else
                                          gradient.MAX_GRAD_ROWS)
    expected = explain(lm, france, "integrated_gradients", "sentence", n_steps=8)
    seq_len = france.n_prompt + france.n_answer
    monkeypatch.setattr(gradient, "max_grad_rows", lambda _lm: 3 * seq_len)  # 3 of the 10 points per graph
    reports = []
    got = explain(lm, france, "integrated_gradients", "sentence", n_steps=8,
                  progress=lambda f, m="": reports.append(m))
    assert sum(m.startswith("backward passes") for m in reports) >= 4  # one before each of the 4 graphs, at least
    assert reports[-1].endswith(f"/{4 * expected.scores.shape[0]}")  # the count names every graph's VJPs
    assert np.allclose(got.scores, expected.scores, rtol=1e-5, atol=1e-8)


def test_a_time_limit_stops_a_long_run_with_a_clear_error(lm, france):
    with pytest.raises(TimeLimitError, match="time limit of 1e-06 s"):
        explain(lm, france, "shapley_sampling", "token", n_samples=4,
                progress=time_limited(None, 1e-6, "shapley_sampling"))
    # and the model is still usable afterwards
    assert explain(lm, france, "saliency", "token").scores.shape[0] == france.n_answer
