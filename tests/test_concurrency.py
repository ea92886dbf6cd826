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
