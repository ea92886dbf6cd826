"""The method registry: each method's metadata, what it promises checked against what it computes, and loud failures."""

import dataclasses
import importlib.util
import sys

import numpy as np
import pytest

from explainers import UnknownMethodError, list_methods
from explainers.registry import COST_CLASSES, MethodFamilyUnavailableError, method_info


def test_method_info_records_what_each_method_costs_and_promises():
    sal, ixg, ig = (method_info("text", m) for m in ("saliency", "input_x_gradient", "integrated_gradients"))
    assert (sal.kind, sal.cost, sal.cost_param) == ("gradient", "one pass", None)
    assert not sal.exact_regrouping and ixg.exact_regrouping and ig.exact_regrouping
    assert (ig.cost, ig.cost_param, ig.defaults["n_steps"], ig.defaults["baseline"]) == ("n_steps passes", "n_steps",
                                                                                          16, "zero")
    lime, kshap, shap = (method_info("text", m) for m in ("lime", "kernel_shap", "shap"))
    assert (lime.kind, lime.cost, lime.cost_param, lime.defaults) == (
        "perturbation", "samples passes", "n_samples", {"n_samples": 64, "seed": 0, "kernel_width": 0.75})
    assert kshap.defaults == {"n_samples": 64, "seed": 0} and shap.defaults == {"max_evals": 200}
    assert method_info("text", "feature_ablation").cost == "units passes"
    assert method_info("image", "scorecam").cost == "channels passes"
    assert method_info("image", "gradcam").kind == "cam" and method_info("image", "integrated_gradients").kind == "captum"
    with pytest.raises(dataclasses.FrozenInstanceError):
        ig.cost = "free"
    with pytest.raises(UnknownMethodError, match="available: feature_ablation"):
        method_info("text", "partition_shap")


@pytest.mark.parametrize("family", ["text", "image"])
def test_every_method_has_complete_metadata(family):
    for name in list_methods(family):
        info = method_info(family, name)
        assert info.family == family and info.name == name and info.description
        assert info.cost in COST_CLASSES and info.kind
        assert info.guide.startswith("measures ") and "Cost:" in info.guide and "Trust it:" in info.guide
        if info.cost_param is not None:  # the dashboard makes this a control, so its default lies in its range
            low, high = info.cost_range
            param = next(p for p in info.params if p.name == info.cost_param)
            assert low <= info.defaults[info.cost_param] <= high and param.low <= low and high <= param.high
        if family == "text":
            assert info.kind in ("gradient", "perturbation") and info.supports_contrast
        else:
            assert not info.supports_contrast and not info.exact_regrouping


def test_a_registry_that_cannot_import_the_image_family_says_what_to_install(monkeypatch):
    from explainers import registry

    real_find_spec = importlib.util.find_spec
    monkeypatch.setattr(registry, "_loaded", False)
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "pytorch_grad_cam" else real_find_spec(name, *a))
    with pytest.raises(MethodFamilyUnavailableError, match=r"image attribution methods .*pytorch_grad_cam.*"
                                                           r"pip install grad-cam captum"):
        list_methods("image")
    # a module that fails to import, not only a missing package
    monkeypatch.setattr(importlib.util, "find_spec", real_find_spec)
    monkeypatch.setitem(sys.modules, "explainers.vision.cam", None)
    with pytest.raises(MethodFamilyUnavailableError, match="cannot be loaded"):
        registry.get_explainer("image", "gradcam")
    monkeypatch.undo()
    assert "gradcam" in list_methods("image")


def test_the_cli_lists_every_method_with_its_cost(capsys):
    from explainers.cli import main

    assert main(["methods"]) == 0
    out = capsys.readouterr().out
    for family in ("text", "image"):
        for name in list_methods(family):
            info = method_info(family, name)
            line = next(line for line in out.splitlines() if line.startswith(f"{family:5s} {name} "))
            details = out.splitlines()[out.splitlines().index(line) + 1]
            assert info.description in line and f"cost: {info.cost}" in details
    assert "n_steps=16" in out and "regroup exactly" in out and "not sums of token rows" in out


def test_exact_regrouping_is_what_each_text_method_computes(lm):
    """A unit's row equals the sum of its tokens' rows exactly where the registry says so (and not for saliency)."""
    from explainers.text.aggregate import membership
    from explainers.text.explain import answer_units, explain
    from explainers.text.lm import prepare, raw_prompt

    inp = prepare(lm, raw_prompt("Paris is in France."), " It is in France.")
    _, sentence = answer_units(inp, "sentence")
    assert len(sentence) == 1 and inp.n_answer > 2
    small = {"n_samples": 4, "max_evals": 20, "n_steps": 2}
    for name in list_methods("text"):
        info = method_info("text", name)
        params = {info.cost_param: small[info.cost_param]} if info.cost_param else {}
        tokens = explain(lm, inp, name, "word", output_granularity="token", **params)
        whole = explain(lm, inp, name, "word", output_granularity="sentence", **params)
        summed = membership(sentence, inp.n_answer) @ tokens.scores
        gap = np.abs(whole.scores - summed).max() / np.abs(summed).max()
        if info.exact_regrouping:
            assert gap <= 1e-5, (name, gap)
        else:
            assert gap > 1e-3, (name, gap)  # a norm of summed gradients is not a sum of norms
