"""Answer units as targets: one VJP per answer sentence (per IG step), exactly the sum of its tokens' rows."""

import numpy as np
import pytest
import torch

from explainers.errors import InputError
from explainers.text.aggregate import membership
from explainers.text.explain import answer_units, explain, regroup


@pytest.fixture(scope="module")
def two_sentences(lm):
    from explainers.text.lm import prepare, raw_prompt

    return prepare(lm, raw_prompt("Paris is in France. Berlin is in Germany. Where is Paris? Where is Berlin?"),
                   " Paris is in France. Berlin is in Germany.")


@pytest.fixture(scope="module")
def token_rows(lm, two_sentences):
    """Token-level results, computed once per method for this module."""
    cache = {}

    def get(method, **params):
        key = (method, tuple(sorted(params.items())))
        if key not in cache:
            cache[key] = explain(lm, two_sentences, method, "token", output_granularity="token", **params)
        return cache[key]

    return get


def _max_rel(ours, ref):
    return np.abs(ours - ref).max() / np.abs(ref).max()


@pytest.mark.parametrize("method, params", [("input_x_gradient", {}),
                                            ("integrated_gradients", {"n_steps": 4, "baseline": 0.5})])
@pytest.mark.parametrize("out_gran", ["sentence", "word"])
def test_unit_rows_equal_the_sum_of_their_token_rows(lm, two_sentences, token_rows, method, params, out_gran):
    _, groups = answer_units(two_sentences, out_gran)
    assert out_gran != "sentence" or len(groups) == 2
    tokens = token_rows(method, **params)
    units = explain(lm, two_sentences, method, "token", output_granularity=out_gran, **params)
    summed = membership(groups, two_sentences.n_answer) @ tokens.scores
    assert units.scores.shape == summed.shape
    assert _max_rel(units.scores, summed) <= 1e-5
    assert _max_rel(units.sequence_scores, tokens.sequence_scores) <= 1e-5
    assert np.allclose(units.step_scores["log_prob"], membership(groups, two_sentences.n_answer)
                       @ tokens.step_scores["log_prob"], rtol=1e-6)
    if method == "integrated_gradients":  # completeness holds per unit as well
        assert units.convergence_delta <= max(1e-2, 2 * tokens.convergence_delta * len(groups[0]))


def test_token_detail_of_one_sentence_is_those_rows_of_the_full_matrix(lm, two_sentences, token_rows):
    units, groups = answer_units(two_sentences, "sentence")
    full = token_rows("input_x_gradient")
    for k in range(2):
        detail = explain(lm, two_sentences, "input_x_gradient", "token", output_granularity="token",
                         answer_span=(units[k].start, units[k].end))
        assert [u.text for u in detail.output_units] == [full.output_units[i].text for i in groups[k]]
        assert _max_rel(detail.scores, full.scores[groups[k]]) <= 1e-5
        assert _max_rel(detail.sequence_scores, full.scores[groups[k]].sum(0)) <= 1e-5
        assert np.allclose(detail.step_scores["probability"], full.step_scores["probability"][groups[k]], rtol=1e-5)
    with pytest.raises(InputError, match="no word of the answer"):
        explain(lm, two_sentences, "input_x_gradient", "token", output_granularity="word", answer_span=(3, 3))


def test_saliency_of_a_sentence_is_the_norm_of_its_own_gradient_not_a_sum(lm, two_sentences, token_rows):
    inp = two_sentences
    _, groups = answer_units(inp, "sentence")
    res = explain(lm, inp, "saliency", "token", output_granularity="sentence")
    tokens = token_rows("saliency")
    emb = lm.model.get_input_embeddings()(torch.tensor([list(inp.prompt_ids) + list(inp.answer_ids)]))
    emb = emb.detach().requires_grad_(True)
    with torch.enable_grad():
        logp = torch.log_softmax(lm.model(inputs_embeds=emb).logits[0, inp.n_prompt - 1:-1].float(), -1)
        token_lp = logp.gather(-1, torch.tensor(inp.answer_ids)[:, None])[:, 0]
        for k, g in enumerate(groups + [list(range(inp.n_answer))]):
            (grad,) = torch.autograd.grad(token_lp[g].sum(), emb, retain_graph=True)
            ref = grad[0, :inp.n_prompt].abs().sum(-1).double().numpy()
            ours = res.scores[k] if k < len(groups) else res.sequence_scores
            assert _max_rel(ours, ref) <= 1e-4
    # |sum of gradients| <= sum of |gradients|, strictly somewhere: a sentence's saliency is not the sum
    summed = membership(groups, inp.n_answer) @ tokens.scores
    assert (res.scores <= summed + 1e-6).all() and (res.scores < 0.99 * summed).any()
    with pytest.raises(InputError, match="gradient norm"):
        regroup(tokens, inp, "word", output_granularity="sentence")


def test_sentence_rows_regroup_inputs_exactly_and_keep_their_rows(lm, two_sentences):
    coarse = explain(lm, two_sentences, "input_x_gradient", "token", output_granularity="sentence")
    spans = [(0, 19), (20, 41)]  # the two source sentences as user spans; the questions fall back to sentences
    for granularity in ("word", "sentence", "span"):
        fast = regroup(coarse, two_sentences, granularity, spans=spans)
        direct = explain(lm, two_sentences, "input_x_gradient", granularity, output_granularity="sentence",
                         spans=spans)
        assert [u.text for u in fast.input_units] == [u.text for u in direct.input_units]
        assert [u.text for u in fast.output_units] == [u.text for u in direct.output_units]
        assert _max_rel(fast.scores, direct.scores) <= 1e-5
    with pytest.raises(InputError, match="compute token rows"):
        regroup(coarse, two_sentences, "word", output_granularity="token")


def test_bf16_is_opt_in_and_stores_its_measured_difference_to_fp32(lm, two_sentences):
    # measured on prompt tokens, the finest columns (coarser units average some of the difference away)
    fp32 = explain(lm, two_sentences, "input_x_gradient", "token", output_granularity="sentence")
    assert "max_rel_diff_vs_fp32" not in fp32.params
    bf16 = explain(lm, two_sentences, "input_x_gradient", "token", output_granularity="sentence", precision="bf16")
    measured = _max_rel(bf16.sequence_scores, fp32.sequence_scores)
    assert bf16.params["precision"] == "bf16"
    assert bf16.params["max_rel_diff_vs_fp32"] == pytest.approx(measured, rel=1e-3, abs=1e-5)
    assert 0 < bf16.params["max_rel_diff_vs_fp32"] < 0.5  # reduced precision, still the same picture
    with pytest.raises(InputError, match="precision is one of"):
        explain(lm, two_sentences, "input_x_gradient", "sentence", precision="fp8")


def test_cli_explains_answer_sentences_and_prints_the_bf16_difference(tmp_path, lm, capsys):
    from explainers.cli import main
    from explainers.types import from_json

    out = tmp_path / "a.json"
    code = main(["attribute", "--prompt", "Paris is in France. Berlin is in Germany.", "--raw", "--answer",
                 " Paris is in France. Berlin is in Germany.", "--method", "input_x_gradient", "--granularity",
                 "word", "--output-granularity", "sentence", "--precision", "bf16", "--json", str(out)])
    assert code == 0
    result = from_json(out.read_text())
    assert [u.text.strip() for u in result.output_units] == ["Paris is in France.", "Berlin is in Germany."]
    printed = capsys.readouterr().out
    assert f"max relative difference to fp32 {result.params['max_rel_diff_vs_fp32']:.2e}" in printed


def test_global_torch_state_changes_only_under_the_models_lock(lm, two_sentences):
    """TF32/bf16 runs set the process-global matmul precision: only while they hold the model's lock, restored
    after. Before, a run set it and then waited for the lock, so the run holding the model computed under it."""
    import threading
    import time

    torch.set_float32_matmul_precision("highest")
    seen, finished = [], threading.Event()

    def tf32_bf16_run():
        explain(lm, two_sentences, "input_x_gradient", "token", output_granularity="sentence",
                matmul_precision="high", precision="bf16")
        finished.set()

    with lm.lock:  # another run holds the model
        worker = threading.Thread(target=tf32_bf16_run)
        worker.start()
        deadline = time.monotonic() + 2.0
        while time.monotonic() < deadline:
            seen.append(torch.get_float32_matmul_precision())
            time.sleep(0.005)
        assert not finished.is_set()  # the runs do not interleave: it waits for the lock
    worker.join(timeout=300)
    assert finished.is_set()
    assert set(seen) == {"highest"}, sorted(set(seen))
    assert torch.get_float32_matmul_precision() == "highest"
