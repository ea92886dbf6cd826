"""Perturbation speed: 32 random ablations over 20 source sentences with a 64-token answer, scored in batches
(as ``explainers.text.context.ablate`` does) and the same done one forward pass at a time, side by side.

Sources: the bundled demo documents (18 sentences) plus two more; the answer is the first 64 tokens of a
generated-looking summary. Prints both times, the ratio and the max difference of the scores.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))

from explainers.demo import load_demos  # noqa: E402
from explainers.models import load_lm  # noqa: E402
from explainers.text.context import ablation_masks, source_units  # noqa: E402
from explainers.text.lm import prompt_without  # noqa: E402
from explainers.text.lm import answer_log_probs, build_prompt, prepare  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--ablations", type=int, default=32)
    ap.add_argument("--repeats", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--config-dir", help="random weights from this config + tokenizer (same FLOPs), for machines "
                    "where the packaged weights cannot travel")
    args = ap.parse_args()
    if args.config_dir:
        from bench_attribution import random_init_lm

        lm = random_init_lm(args.config_dir)
    else:
        lm = load_lm()
    lm.model.to(args.device)
    sources = [s for c in load_demos() for s in c.sources]
    sources.append("The Louvre is the world's most visited art museum. It holds the Mona Lisa.")
    answer_text = ("The Eiffel Tower was completed in 1889 for the World's Fair and is 330 metres tall. The Great "
                   "Barrier Reef lies off Queensland and has suffered mass bleaching. Marie Curie won Nobel Prizes "
                   "in Physics and Chemistry, and the Louvre holds the Mona Lisa, which many visitors come to see "
                   "every year in Paris, France.")
    ids = lm.tokenizer(answer_text, add_special_tokens=False)["input_ids"][:64]
    inp = prepare(lm, build_prompt(lm, "Summarise the sources.", sources), answer_ids=ids)
    units, _, groups = source_units(inp, len(sources), "sentence")
    keep = np.vstack([np.ones((1, len(units)), bool), ablation_masks(len(units), args.ablations)])
    prompts = [prompt_without(inp, groups, np.flatnonzero(~m)) for m in keep]
    print(f"{len(units)} source sentences, {inp.n_prompt} prompt tokens, {inp.n_answer} answer tokens, "
          f"{len(prompts)} variants (full prompt + {args.ablations} ablations), device {lm.device}, torch threads {torch.get_num_threads()}")
    answer_log_probs(lm, prompts[:2], inp.answer_ids)  # warm-up
    best_batched = best_serial = float("inf")
    for _ in range(args.repeats):
        t0 = time.perf_counter()
        batched = answer_log_probs(lm, prompts, inp.answer_ids)
        if lm.device.type == "cuda":
            torch.cuda.synchronize()
        best_batched = min(best_batched, time.perf_counter() - t0)
        t0 = time.perf_counter()
        serial = np.vstack([answer_log_probs(lm, [p], inp.answer_ids) for p in prompts])
        if lm.device.type == "cuda":
            torch.cuda.synchronize()
        best_serial = min(best_serial, time.perf_counter() - t0)
    diff = float(np.max(np.abs(batched - serial)))
    print(f"{'mode':<18}{'seconds':>10}{'variants/s':>12}")
    print(f"{'batched':<18}{best_batched:>10.2f}{len(prompts) / best_batched:>12.1f}")
    print(f"{'one at a time':<18}{best_serial:>10.2f}{len(prompts) / best_serial:>12.1f}")
    print(f"speed-up {best_serial / best_batched:.2f}x; max |batched - serial| log-prob {diff:.2e}")


if __name__ == "__main__":
    main()
