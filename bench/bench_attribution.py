"""Integrated gradients: ours and captum's LLMGradientAttribution(LayerIntegratedGradients), same inputs.

Prints both times, the ratio, peak memory and the max relative difference; then the time of saliency and
input x gradient for a 512-token context and a 64-token answer. Usage:
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

CONTEXT = ("The Eiffel Tower is a wrought-iron lattice tower on the Champ de Mars in Paris, France. It is named "
           "after the engineer Gustave Eiffel, whose company designed and built the tower from 1887 to 1889.")


def peak_mb(device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n-steps", type=int, default=16)
    ap.add_argument("--answer-tokens", type=int, default=22)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--vjp-batch", type=int, default=None)
    ap.add_argument("--skip-long", action="store_true")
    args = ap.parse_args()
    lm = load_lm()
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
                   vjp_batch=args.vjp_batch)
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
    long_ctx = " ".join([CONTEXT] * 40)
    prompt = build_prompt(lm, "Who designed the Eiffel Tower?", [long_ctx], instruction="")
    ids = lm.tokenizer(prompt.text, add_special_tokens=False)["input_ids"]
    cut = lm.tokenizer.decode(ids[:512])
    from explainers.text.lm import raw_prompt

    inp = prepare(lm, raw_prompt(cut), answer_ids=(list(probe.answer_ids) * 8)[:64])
    for method in ("saliency", "input_x_gradient"):
        t0 = time.perf_counter()
        explain(lm, inp, method, "token", vjp_batch=args.vjp_batch)
        print(f"{method}: prompt_tokens={inp.n_prompt} answer_tokens={inp.n_answer} time_s={time.perf_counter() - t0:.2f}")


if __name__ == "__main__":
    main()
