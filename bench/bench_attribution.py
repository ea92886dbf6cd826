"""Integrated gradients: ours and captum's LLMGradientAttribution(LayerIntegratedGradients), same inputs.

Prints both times, the ratio, peak memory and the max relative difference; then, for a 512-token context and
a 64-token answer of several sentences, token-level (one target per answer token) against sentence-level
(one target per answer sentence) times of gradient x input, IG and saliency, their ratio and the max relative
difference between the sentence rows and the summed token rows (saliency: no such identity, times only).
Token-level IG there would take 64 x 18-step backwards (~20 min on 2 cores): it is timed on the answer's first
4 token rows and scaled to 64 rows, and printed as an estimate. A last row times sentence-level gradient x input
in bf16 with its measured max relative difference to fp32. Usage:
    python bench/bench_attribution.py [--n-steps 16] [--device cpu|cuda] [--skip-long]
"""

from __future__ import annotations

import argparse
import resource
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from explainers.models import load_lm  # noqa: E402
from explainers.text.explain import explain  # noqa: E402
from explainers.text.lm import build_prompt, prepare  # noqa: E402

IG_TOKEN_ROWS = 4  # token-level IG rows timed in the long case (all 64 would take ~20 min on 2 cores)
ANSWER = ("The Eiffel Tower was designed and built by the company of the engineer Gustave Eiffel. It stands on the "
          "Champ de Mars in Paris, France. Construction ran from 1887 to 1889, in time for the World's Fair. The "
          "tower is made of wrought iron and is named after Eiffel. Visitors can still climb it today, and many do.")
CONTEXT = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
           "after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.")


def peak_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def vjp_kw(args) -> dict:
    """--vjp-batch when given (the registry refuses None; without it the device default applies)."""
    return {"vjp_batch": args.vjp_batch} if args.vjp_batch else {}


def random_init_lm(path: str):
    from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

    from explainers.models import LanguageModel

    torch.manual_seed(0)
    config = AutoConfig.from_pretrained(path)
    model = AutoModelForCausalLM.from_config(config, dtype=torch.float32).eval()
    for p in model.parameters():
        p.requires_grad_(False)
    tok = AutoTokenizer.from_pretrained(path)
    return LanguageModel(model=model, tokenizer=tok, model_id=f"random-init:{path}", source_path=path,
                         max_context_tokens=config.max_position_embeddings)


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-steps", type=int, default=16)
    ap.add_argument("--answer-tokens", type=int, default=22)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--vjp-batch", type=int, default=None)
    ap.add_argument("--skip-long", action="store_true")
    ap.add_argument("--tf32", action="store_true", help="ours with TF32 matmuls (opt-in; captum stays fp32)")
    ap.add_argument("--config-dir", help="build the model from this config + tokenizer with random weights "
                    "(same architecture and FLOPs; for machines where the packaged weights cannot travel)")
    args = ap.parse_args()
    lm = load_lm() if not args.config_dir else random_init_lm(args.config_dir)
    lm.model.to(args.device)
    dev = lm.device
    prompt = build_prompt(lm, "Who designed the Eiffel Tower?", [CONTEXT], instruction="")
    probe = prepare(lm, prompt, None, max_new_tokens=args.answer_tokens)
    ids = list(probe.answer_ids)
    while len(ids) < args.answer_tokens:  # keep the answer length fixed for comparable rows
        ids += ids[: args.answer_tokens - len(ids)]
    inp = prepare(lm, prompt, answer_ids=ids[: args.answer_tokens])
    print(f"device={dev} prompt_tokens={inp.n_prompt} answer_tokens={inp.n_answer} n_steps={args.n_steps} "
          f"threads={torch.get_num_threads()}")

    from captum.attr import LayerIntegratedGradients, LLMGradientAttribution, TextTokenInput

    # Warm both paths up (kernels, allocator) on a short input so neither pays first-call costs.
    lig = LayerIntegratedGradients(lm.model, lm.model.get_input_embeddings())
    warm = prepare(lm, prompt, answer_ids=ids[:2])
    with torch.enable_grad():
        LLMGradientAttribution(lig, lm.tokenizer).attribute(
            TextTokenInput(prompt.text, lm.tokenizer), target=torch.tensor(ids[:2], device=dev), n_steps=2)
    explain(lm, warm, "integrated_gradients", "token", baseline=0, n_steps=2, **vjp_kw(args))

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    lig = LayerIntegratedGradients(lm.model, lm.model.get_input_embeddings())
    llm_attr = LLMGradientAttribution(lig, lm.tokenizer)
    tinp = TextTokenInput(prompt.text, lm.tokenizer, baselines=0)
    t0 = time.perf_counter()
    with torch.enable_grad():
        ref = llm_attr.attribute(tinp, target=torch.tensor(inp.answer_ids, device=dev), n_steps=args.n_steps)
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t_captum = time.perf_counter() - t0
    mem_captum = peak_mb(dev)
    ref_m = ref.token_attr.detach().double().cpu().numpy()

    if dev.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    ours = explain(lm, inp, "integrated_gradients", "token", baseline=0, n_steps=args.n_steps,
                   **vjp_kw(args), matmul_precision="high" if args.tf32 else "highest")
    if dev.type == "cuda":
        torch.cuda.synchronize()
    t_ours = time.perf_counter() - t0
    mem_ours = peak_mb(dev)
    rel = np.abs(ours.scores - ref_m).max() / np.abs(ref_m).max()
    print(f"{'impl':8s} {'time_s':>8s} {'peak_MiB':>9s}")
    print(f"{'captum':8s} {t_captum:8.2f} {mem_captum:9.0f}")
    print(f"{'ours':8s} {t_ours:8.2f} {mem_ours:9.0f}")
    print(f"speedup={t_captum / t_ours:.2f}x max_rel_diff={rel:.2e} completeness_delta={ours.convergence_delta:.3g}")

    if args.skip_long:
        return
    long_rows(lm, args)


def _timed(fn, *args, **kwargs):
    t0 = time.perf_counter()
    value = fn(*args, **kwargs)
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0, value


def long_rows(lm, args) -> None:
    from explainers.text.aggregate import membership
    from explainers.text.explain import answer_units
    from explainers.text.lm import raw_prompt

    long_ctx = " ".join([CONTEXT] * 40)
    prompt = build_prompt(lm, "Who designed the Eiffel Tower?", [long_ctx], instruction="")
    ids = lm.tokenizer(prompt.text, add_special_tokens=False)["input_ids"]
    cut = lm.tokenizer.decode(ids[:512])
    answer_ids = lm.tokenizer(" " + ANSWER, add_special_tokens=False)["input_ids"][:64]
    inp = prepare(lm, raw_prompt(cut), answer_ids=answer_ids)
    sentences, groups = answer_units(inp, "sentence")
    m_out = membership(groups, inp.n_answer)
    print(f"\nprompt_tokens={inp.n_prompt} answer_tokens={inp.n_answer} answer_sentences={len(sentences)}")
    print(f"{'method':22s} {'token_s':>9s} {'sentence_s':>10s} {'ratio':>7s} {'max_rel_diff':>12s}")
    last = None
    for method, params in (("saliency", {}), ("input_x_gradient", {}),
                           ("integrated_gradients", {"n_steps": args.n_steps, "baseline": 0})):
        params = {**params, "vjp_batch": args.vjp_batch} if args.vjp_batch else params
        t_sent, sent = _timed(explain, lm, inp, method, "token", output_granularity="sentence", **params)
        if method == "integrated_gradients":  # the first token rows, scaled to the whole answer
            first = (inp.answer_offsets[0][0], inp.answer_offsets[IG_TOKEN_ROWS - 1][1])
            t_part, part = _timed(explain, lm, inp, method, "token", output_granularity="token",
                                  answer_span=first, **params)
            t_tok = t_part * inp.n_answer / IG_TOKEN_ROWS
            # exactness where both exist: one target for those tokens together against their rows summed
            from explainers.registry import get_explainer

            together = get_explainer("text", method).token_matrix(
                lm, inp, row_groups=[list(range(IG_TOKEN_ROWS))], baseline=0, n_steps=args.n_steps).matrix[0]
            ref = part.scores.sum(0)
            rel = np.abs(together - ref).max() / np.abs(ref).max()
            label = f"{t_tok:8.1f}*"
        else:
            t_tok, tok = _timed(explain, lm, inp, method, "token", output_granularity="token", **params)
            summed = m_out @ tok.scores
            rel = np.abs(sent.scores - summed).max() / np.abs(summed).max()
            label = f"{t_tok:9.2f}"
        diff = "n/a (norm)" if method == "saliency" else f"{rel:.2e}"
        print(f"{method:22s} {label:>9s} {t_sent:10.2f} {t_tok / t_sent:6.1f}x {diff:>12s}")
        if method == "input_x_gradient":
            last = (t_tok / t_sent, rel)
    print(f"* estimated: the first {IG_TOKEN_ROWS} token rows timed, scaled to {inp.n_answer} rows; its max_rel_diff "
          f"is one target for those {IG_TOKEN_ROWS} tokens against their rows summed")
    t_bf16, bf16 = _timed(explain, lm, inp, "input_x_gradient", "token", output_granularity="sentence",
                          precision="bf16")
    print(f"input_x_gradient sentence-level bf16: time_s={t_bf16:.2f} (incl. its fp32 check row) "
          f"max_rel_diff_vs_fp32={bf16.params['max_rel_diff_vs_fp32']:.2e}")
    print(f"sentence_vs_token method=input_x_gradient speedup={last[0]:.1f} max_rel_diff={last[1]:.2e}")


if __name__ == "__main__":
    main()
