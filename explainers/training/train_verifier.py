"""Train the claim verifier (``auditlens train-verifier``): seeded, CPU-sized, result one small safetensors file.

Data: pairs made by ``verifier_data.generate`` from plain passages (by default the public-domain Factbook
passages in ``../shared/data`` and the bundled demo documents); passages are split 90/10 so the reported
validation figures come from passages the model never saw. Trained: low-rank adapters (rank 16) on every
linear layer of the MiniLM encoder, its LayerNorms and the head; the base stays frozen and is not saved.
Opt-in (``n_paraphrase``): rewrites an LM writes of passage sentences, sorted by checks (``lm_paraphrase``), as
reworded positives and the LM's own slips as negatives (shown twice: they are few). With the packaged
SmolLM2-135M they did not help (README), so the shipped adapter is trained without them.
"""

from __future__ import annotations

import json
import math
import random
import time
from collections import Counter, defaultdict
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ..errors import InputError
from ..retrieval.grounding.verifier import (BASE_NAME, LABELS, _base_weights, base_model_dir, build_net,
                                            sha256_file)
from .verifier_data import Pair, generate, passages_from_jsonl, passages_from_texts

DEFAULTS = {"n_pairs": 14000, "n_val": 2000, "epochs": 1, "batch_size": 32, "lr": 8e-4, "r": 16, "alpha": 32.0,
            "max_length": 112, "seed": 0, "warmup": 0.05, "label_smoothing": 0.05, "n_paraphrase": 0,
            "n_paraphrase_val": 300, "paraphrase_repeat": 2, "paraphrase_lm": None, "wordnet": True}


def default_passage_files() -> list[Path]:
    here = Path(__file__).resolve()
    candidates = [Path.cwd() / "../shared/data/factbook_passages.jsonl",
                  here.parents[2] / "../shared/data/factbook_passages.jsonl"]
    return [p.resolve() for p in candidates if p.exists()][:1]


def load_passages(files: Sequence[str | Path]) -> list[list[str]]:
    passages: list[list[str]] = []
    for f in files:
        path = Path(f)
        if not path.exists():
            raise InputError(f"passage file not found: {path}")
        if path.suffix == ".jsonl":
            passages += passages_from_jsonl(path)
        else:
            try:
                passages += passages_from_texts([path.read_text(encoding="utf-8")])
            except UnicodeDecodeError:
                raise InputError(f"{path}: not UTF-8 text") from None
    assets = Path(__file__).resolve().parents[2] / "assets" / "documents"
    if assets.is_dir():
        passages += passages_from_texts(p.read_text(encoding="utf-8") for p in sorted(assets.iterdir())
                                        if p.suffix in (".md", ".txt"))
    if not passages:
        raise InputError("no usable passages to make training pairs from")
    return passages


def lm_paraphrase_pairs(passages, n: int, seed: int, progress=None, model: str | None = None):
    """The LM-written paraphrase pairs (``lm_paraphrase``), with the given (default: the default) LM."""
    from ..models import cache_dir, load_embedder, load_lm
    from .lm_paraphrase import paraphrase_pairs

    return paraphrase_pairs(passages, load_lm(model), load_embedder(), n, seed=seed, progress=progress,
                            cache_dir=cache_dir() / "verifier")


def recipe_synonyms(passages: list[list[str]]) -> dict[str, tuple[str, ...]]:
    """The recipe's WordNet substitutions, from the vocabulary of every passage (train and held out)."""
    from .wordnet_lexicon import substitutions, vocabulary

    return substitutions(vocabulary(s for p in passages for s in p))


def split_passages(passages: list[list[str]], seed: int, val_share: float = 0.1):
    rng = random.Random(seed)
    idx = list(range(len(passages)))
    rng.shuffle(idx)
    n_val = max(1, int(len(idx) * val_share))
    return [passages[i] for i in idx[n_val:]], [passages[i] for i in idx[:n_val]]


def _encode(tokenizer, pairs: Sequence[Pair], max_length: int):
    enc = tokenizer([p.evidence for p in pairs], [p.claim for p in pairs], truncation="longest_first",
                    max_length=max_length)
    return [(enc["input_ids"][i], enc["token_type_ids"][i]) for i in range(len(pairs))]


def _batches(encoded, labels, batch_size: int, rng: random.Random):
    """Length-bucketed batches (similar lengths together, buckets shuffled): less padding on the CPU."""
    order = sorted(range(len(encoded)), key=lambda i: len(encoded[i][0]) + rng.random())
    chunks = [order[k:k + batch_size] for k in range(0, len(order), batch_size)]
    rng.shuffle(chunks)
    return chunks


def _collate(torch, encoded, labels, idx):
    width = max(len(encoded[i][0]) for i in idx)
    ids = torch.zeros((len(idx), width), dtype=torch.long)
    types = torch.zeros_like(ids)
    mask = torch.zeros_like(ids)
    for row, i in enumerate(idx):
        a, t = encoded[i]
        ids[row, :len(a)] = torch.tensor(a)
        types[row, :len(t)] = torch.tensor(t)
        mask[row, :len(a)] = 1
    return ids, mask, types, torch.tensor([labels[i] for i in idx])


def evaluate_pairs(net, tokenizer, pairs: Sequence[Pair], max_length: int, device: str = "cpu") -> dict:
    import torch

    encoded = _encode(tokenizer, pairs, max_length)
    labels = [p.label for p in pairs]
    probs = np.zeros((len(pairs), len(LABELS)), dtype=np.float32)
    net.eval()
    with torch.inference_mode():
        order = sorted(range(len(pairs)), key=lambda i: len(encoded[i][0]))
        for k in range(0, len(order), 128):
            idx = order[k:k + 128]
            ids, mask, types, _ = _collate(torch, encoded, labels, idx)
            logits = net(ids.to(device), mask.to(device), types.to(device))
            probs[idx] = logits.float().softmax(-1).cpu().numpy()
    pred = probs.argmax(1)
    y = np.array(labels)
    per_kind = defaultdict(list)
    for p, ok in zip(pairs, pred == y):
        per_kind[p.kind].append(bool(ok))
    return {"accuracy": float((pred == y).mean()),
            "per_kind": {k: round(float(np.mean(v)), 3) for k, v in sorted(per_kind.items())},
            "confusion": [[int(((y == a) & (pred == b)).sum()) for b in range(len(LABELS))] for a in range(len(LABELS))]}


def train(out_path: str | Path, passage_files: Sequence[str | Path] | None = None, *, device: str = "cpu",
          time_budget_s: float = 3300.0, progress: Callable[[float, str], None] | None = None,
          base_dir: str | Path | None = None, **overrides) -> dict:
    """Train and write the adapter file plus its card (JSON with checksum, settings and validation figures)."""
    import torch
    from safetensors.torch import save_file
    from transformers import AutoTokenizer

    cfg = {**DEFAULTS, **{k: v for k, v in overrides.items() if v is not None}}
    unknown = set(overrides) - set(DEFAULTS)
    if unknown:
        raise InputError(f"unknown training settings: {sorted(unknown)}")
    started = time.perf_counter()
    seed = int(cfg["seed"])
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
    files = list(passage_files) if passage_files else default_passage_files()
    if not files:
        raise InputError("no passage file given and ../shared/data/factbook_passages.jsonl not found: "
                         "pass --passages FILE")
    passages = load_passages(files)
    train_p, val_p = split_passages(passages, seed)
    synonyms = recipe_synonyms(passages) if cfg["wordnet"] else None
    train_pairs = generate(train_p, int(cfg["n_pairs"]), seed=seed, synonyms=synonyms)
    val_pairs = generate(val_p, int(cfg["n_val"]), seed=seed + 1, synonyms=synonyms)
    lm_counts = {}
    if int(cfg["n_paraphrase"]) > 0:
        lm_id = cfg["paraphrase_lm"]
        extra, lm_counts["train"] = lm_paraphrase_pairs(train_p, int(cfg["n_paraphrase"]), seed, progress, lm_id)
        extra_val, lm_counts["validation"] = lm_paraphrase_pairs(val_p, int(cfg["n_paraphrase_val"]), seed + 2,
                                                                  model=lm_id)
        train_pairs = train_pairs + extra * int(cfg["paraphrase_repeat"])  # few but the only real rewording
        random.Random(seed).shuffle(train_pairs)
        val_pairs = val_pairs + extra_val
    base = Path(base_dir) if base_dir else base_model_dir()
    tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
    net = build_net(base, r=int(cfg["r"]), alpha=float(cfg["alpha"])).to(device)
    encoded = _encode(tokenizer, train_pairs, int(cfg["max_length"]))
    labels = [p.label for p in train_pairs]
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=float(cfg["lr"]), weight_decay=0.01)
    rng = random.Random(seed)
    steps_per_epoch = math.ceil(len(encoded) / int(cfg["batch_size"]))
    total = steps_per_epoch * int(cfg["epochs"])
    warm = max(1, int(total * float(cfg["warmup"])))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warm) * max(0.0, (total - s) / max(1, total - warm)))
    loss_fn = torch.nn.CrossEntropyLoss(label_smoothing=float(cfg["label_smoothing"]))
    step, stopped_early, losses = 0, False, []
    for _epoch in range(int(cfg["epochs"])):
        net.train()
        for idx in _batches(encoded, labels, int(cfg["batch_size"]), rng):
            ids, mask, types, y = _collate(torch, encoded, labels, idx)
            logits = net(ids.to(device), mask.to(device), types.to(device))
            loss = loss_fn(logits, y.to(device))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, 1.0)
            opt.step()
            sched.step()
            step += 1
            losses.append(float(loss.detach()))
            if progress and (step % 20 == 0 or step == total):
                elapsed = time.perf_counter() - started
                progress(step / total, f"step {step}/{total} loss {np.mean(losses[-50:]):.3f} "
                                       f"{elapsed:.0f}s elapsed, ~{elapsed / step * (total - step):.0f}s left")
            if time.perf_counter() - started > time_budget_s:
                stopped_early = True
                break
        if stopped_early:
            break
    train_s = time.perf_counter() - started
    val = evaluate_pairs(net, tokenizer, val_pairs, int(cfg["max_length"]), device)
    state = {k: v.to(torch.float16) for k, v in net.trained_state().items()}
    out_path = Path(out_path)
    out_path.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_path.with_name(out_path.name + ".tmp")
    meta = {"base": BASE_NAME, "base_sha256": sha256_file(_base_weights(base)), "labels": ",".join(LABELS),
            "r": str(cfg["r"]), "alpha": str(cfg["alpha"]), "max_length": str(cfg["max_length"]),
            "format": "auditlens-verifier-1"}
    save_file(state, str(tmp), metadata=meta)
    tmp.replace(out_path)
    out_path.chmod(0o644)
    card = {"file": out_path.name, "sha256": sha256_file(out_path), "base": BASE_NAME,
            "base_sha256": meta["base_sha256"], "settings": cfg, "passage_files": [Path(f).name for f in files],
            "passages": {"train": len(train_p), "validation": len(val_p)},
            "pairs": {"train": len(train_pairs), "validation": len(val_pairs),
                      "train_kinds": dict(Counter(p.kind for p in train_pairs))},
            "wordnet_substitutions": len(synonyms or {}), "lm_paraphrases": lm_counts, "steps": step, "stopped_at_time_budget": stopped_early, "train_seconds": round(train_s, 1),
            "device": device, "torch": torch.__version__, "validation": val,
            "final_loss": round(float(np.mean(losses[-100:])), 4) if losses else None}
    out_path.with_suffix(".json").write_text(json.dumps(card, indent=1), encoding="utf-8")
    return card
