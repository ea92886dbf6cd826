"""Shared models, many users: concurrent audits on the process-wide models give exactly the serial results,
and Grad-CAM leaves no hook behind."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np

from explainers.text.explain import explain
from explainers.text.lm import answer_log_probs
from explainers.vision.cam import explain_image
from explainers.vision.images import sample_images


def _hooks(model):
    return sum(len(m._forward_hooks) + len(m._backward_hooks) + len(m._forward_pre_hooks) for m in model.modules())


def test_concurrent_text_and_image_audits_equal_serial_ones(lm, classifier, france, rag_input):
    coffee = sample_images()["coffee"]
    jobs = [("text", "input_x_gradient", france), ("text", "integrated_gradients", france),
            ("text", "feature_ablation", rag_input), ("image", "gradcam", None), ("image", "gradcam++", None),
            ("score", None, rag_input)] * 2

    def run(job):
        kind, method, inp = job
        if kind == "text":
            return explain(lm, inp, method, "word", **({"n_steps": 8} if method == "integrated_gradients" else {})).scores
        if kind == "image":
            return explain_image(classifier, coffee, method).heatmap
        return answer_log_probs(lm, [inp.prompt_ids, inp.prompt_ids[3:]], inp.answer_ids)

    serial = [run(j) for j in jobs[:6]]
    with ThreadPoolExecutor(max_workers=6) as pool:
        concurrent = list(pool.map(run, jobs))
    for k, value in enumerate(concurrent):
        assert np.allclose(value, serial[k % 6], rtol=1e-5, atol=1e-7), jobs[k][:2]
    assert _hooks(classifier.model) == 0
    assert all(not p.requires_grad or p.grad is None for p in lm.model.parameters())


def test_sentence_vector_cache_under_threads_equals_single_thread(embedder):
    """Eight threads share one small sentence-vector cache (evicting all the time): every call returns the vectors
    a single thread gets, none fails, and the cache holds only correct vectors within its size. Grounding's
    module-level cache raised KeyError in 190 of 320 such calls (a vector evicted between check and read)."""
    import random

    from explainers.models import Embedder

    small = Embedder(model=embedder.model, model_id=embedder.model_id, dimension=embedder.dimension,
                     lock=embedder.lock, vector_cache_size=8)
    texts = [f"Sentence {k} is about the river {k % 7} and the town {k % 5}." for k in range(40)]
    reference = embedder.encode(texts)

    def run(seed):
        rng = random.Random(seed)
        picks = [rng.sample(range(len(texts)), 6) for _ in range(40)]
        return [(idx, small.encode_cached([texts[i] for i in idx])) for idx in picks]

    with ThreadPoolExecutor(max_workers=8) as pool:
        results = [r for rs in pool.map(run, range(8)) for r in rs]
    assert len(results) == 320
    for idx, got in results:
        assert np.allclose(got, reference[idx], atol=1e-5)
    assert 0 < len(small._vectors) <= 8
    for text, vector in small._vectors.items():
        assert np.allclose(vector, reference[texts.index(text)], atol=1e-5)
