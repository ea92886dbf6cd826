"""Result values shared by every explainer and read by every export.

Small frozen dataclasses holding numpy arrays. Each type has a tag in ``_TYPES``; JSON carries the
tag and ``SCHEMA_VERSION`` (never a Python class path), and ``from_json`` rebuilds the exact value.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from .errors import SchemaError

SCHEMA_VERSION = 1


def utc_now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _as_float_array(value: Any, ndim: int, name: str) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != ndim:
        raise ValueError(f"{name} must have {ndim} dimensions, got shape {arr.shape}")
    arr.setflags(write=False)
    return arr


@dataclass(frozen=True)
class Unit:
    """An interpretable unit of a text: a token, word, sentence or user span, with char offsets."""

    text: str
    start: int
    end: int
    special: bool = False  # chat-template or special token: attributed, hidden by default

    def __post_init__(self) -> None:
        if self.start < 0 or self.end < self.start:
            raise ValueError(f"bad offsets for unit {self.text!r}: [{self.start}, {self.end})")


@dataclass(frozen=True)
class TextAttribution:
    """Attribution of an answer (output units) to a prompt (input units).

    ``scores[i, j]`` is the attribution of output unit ``i`` to input unit ``j``;
    ``sequence_scores[j]`` is the attribution of the whole answer (sum of log-probabilities).
    ``step_scores`` hold per-output-unit values (``log_prob``, ``probability``, ``entropy``, ``rank``).
    """

    method: str
    granularity: str
    model_id: str
    input_text: str
    output_text: str
    input_units: tuple[Unit, ...]
    output_units: tuple[Unit, ...]
    scores: np.ndarray
    sequence_scores: np.ndarray
    step_scores: dict[str, np.ndarray] = field(default_factory=dict)
    target: str = "log_prob"
    params: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    convergence_delta: float | None = None
    created_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_units", tuple(self.input_units))
        object.__setattr__(self, "output_units", tuple(self.output_units))
        scores = _as_float_array(self.scores, 2, "scores")
        seq = _as_float_array(self.sequence_scores, 1, "sequence_scores")
        n_out, n_in = len(self.output_units), len(self.input_units)
        if scores.shape != (n_out, n_in):
            raise ValueError(f"scores shape {scores.shape} != (output units {n_out}, input units {n_in})")
        if seq.shape != (n_in,):
            raise ValueError(f"sequence_scores shape {seq.shape} != ({n_in},)")
        steps = {}
        for name, values in dict(self.step_scores).items():
            arr = _as_float_array(values, 1, f"step_scores[{name}]")
            if arr.shape != (n_out,):
                raise ValueError(f"step_scores[{name}] has {arr.shape[0]} values for {n_out} output units")
            steps[name] = arr
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "sequence_scores", seq)
        object.__setattr__(self, "step_scores", steps)
        object.__setattr__(self, "params", dict(self.params))

    @property
    def visible_input(self) -> np.ndarray:
        """Boolean mask of input units shown by default (not special/template tokens)."""
        return np.array([not u.special for u in self.input_units], dtype=bool)

    def top_inputs(self, k: int = 5, row: int | None = None) -> list[tuple[Unit, float]]:
        values = self.sequence_scores if row is None else self.scores[row]
        order = [int(i) for i in np.argsort(-values) if not self.input_units[int(i)].special]
        return [(self.input_units[i], float(values[i])) for i in order[:k]]


@dataclass(frozen=True)
class ImageAttribution:
    """A heatmap over an image (height x width, values in [0, 1] for CAMs) for one class."""

    method: str
    model_id: str
    layer: str
    image_size: tuple[int, int]  # (height, width)
    heatmap: np.ndarray
    class_id: int
    class_label: str
    class_probability: float
    top_classes: tuple[tuple[int, str, float], ...] = ()
    params: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    created_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        heat = _as_float_array(self.heatmap, 2, "heatmap")
        size = tuple(int(s) for s in self.image_size)
        if heat.shape != size:
            raise ValueError(f"heatmap shape {heat.shape} != image size {size}")
        object.__setattr__(self, "heatmap", heat)
        object.__setattr__(self, "image_size", size)
        object.__setattr__(self, "top_classes", tuple((int(c), str(lbl), float(p)) for c, lbl, p in self.top_classes))
        object.__setattr__(self, "params", dict(self.params))


@dataclass(frozen=True)
class SentenceGrounding:
    """The verdict on one answer sentence, with its evidence and the reasons behind it."""

    sentence: str
    start: int  # offsets in the answer
    end: int
    support_probability: float
    label: str  # supported / unsupported / contradicted
    source_id: str | None = None  # best supporting chunk
    source_span: tuple[int, int] | None = None  # offsets of the supporting span in that chunk's text
    source_text: str = ""
    signals: dict[str, float] = field(default_factory=dict)
    reasons: tuple[str, ...] = ()
    unsupported_spans: tuple[tuple[int, int], ...] = ()  # offsets in the answer

    def __post_init__(self) -> None:
        if not 0.0 <= self.support_probability <= 1.0 or math.isnan(self.support_probability):
            raise ValueError(f"support_probability must lie in [0, 1], got {self.support_probability}")
        if self.label not in ("supported", "unsupported", "contradicted"):
            raise ValueError(f"unknown label {self.label!r}")
        object.__setattr__(self, "signals", {k: float(v) for k, v in self.signals.items()})
        object.__setattr__(self, "reasons", tuple(self.reasons))
        object.__setattr__(
            self, "unsupported_spans", tuple((int(a), int(b)) for a, b in self.unsupported_spans)
        )
        if self.source_span is not None:
            object.__setattr__(self, "source_span", (int(self.source_span[0]), int(self.source_span[1])))


@dataclass(frozen=True)
class Grounding:
    """Grounding of a whole answer: one verdict per sentence and an answer-level score."""

    answer: str
    sentences: tuple[SentenceGrounding, ...]
    answer_support_probability: float
    model_id: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    created_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        object.__setattr__(self, "sentences", tuple(self.sentences))
        object.__setattr__(self, "params", dict(self.params))


@dataclass(frozen=True)
class Source:
    """A source document or chunk shown to the model."""

    source_id: str
    text: str
    title: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class AuditReport:
    """Everything about one audited answer: inputs, model and every result computed on it."""

    question: str
    answer: str
    sources: tuple[Source, ...] = ()
    model_id: str = ""
    attributions: tuple[TextAttribution, ...] = ()
    image_attributions: tuple[ImageAttribution, ...] = ()
    grounding: Grounding | None = None
    extra: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        for name in ("sources", "attributions", "image_attributions"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "extra", dict(self.extra))


# ---------------------------------------------------------------- JSON with explicit type tags

_TYPES: dict[str, type] = {
    "unit": Unit,
    "text_attribution": TextAttribution,
    "image_attribution": ImageAttribution,
    "sentence_grounding": SentenceGrounding,
    "grounding": Grounding,
    "source": Source,
    "audit_report": AuditReport,
}
_TAG_OF = {cls: tag for tag, cls in _TYPES.items()}


# Result types defined outside this module (registered on import): the module to import for each tag, so a
# fresh process can read a report that holds them. Fixed names only, never taken from the data.
_DEFINED_IN = {"context_attribution": "explainers.text.context", "context_reliance": "explainers.text.context",
               "edit_result": "explainers.text.context", "context_table": "explainers.text.context"}


def register_type(tag: str, cls: type) -> None:
    """Let a later module add a result type to the JSON map (explicit, never a class path)."""
    if tag in _TYPES and _TYPES[tag] is not cls:
        raise ValueError(f"type tag {tag!r} is taken by {_TYPES[tag].__name__}")
    _TYPES[tag] = cls
    _TAG_OF[cls] = tag


def _encode(value: Any) -> Any:
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        tag = _TAG_OF.get(type(value))
        if tag is None:
            raise TypeError(f"{type(value).__name__} has no JSON type tag")
        out: dict[str, Any] = {"__type__": tag}
        for f in dataclasses.fields(value):
            out[f.name] = _encode(getattr(value, f.name))
        return out
    if isinstance(value, np.ndarray):
        return {"__ndarray__": value.tolist(), "dtype": str(value.dtype), "shape": list(value.shape)}
    if isinstance(value, (np.floating, np.integer, np.bool_)):
        return value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return {"__float__": repr(value)}
    if isinstance(value, dict):
        return {str(k): _encode(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return {"__tuple__": [_encode(v) for v in value]} if isinstance(value, tuple) else [_encode(v) for v in value]
    return value


def _decode(value: Any) -> Any:
    if isinstance(value, list):
        return [_decode(v) for v in value]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        arr = np.array(value["__ndarray__"], dtype=value.get("dtype", "float64"))
        return arr.reshape(value.get("shape", arr.shape))
    if "__tuple__" in value:
        return tuple(_decode(v) for v in value["__tuple__"])
    if "__float__" in value:
        return float(value["__float__"])
    if "__type__" in value:
        tag = value["__type__"]
        cls = _TYPES.get(tag)
        if cls is None and tag in _DEFINED_IN:  # a type from a module this process has not imported yet
            importlib.import_module(_DEFINED_IN[tag])
            cls = _TYPES.get(tag)
        if cls is None:
            raise SchemaError(f"unknown result type {tag!r}; known: {', '.join(sorted(_TYPES))}")
        names = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: _decode(v) for k, v in value.items() if k in names}
        return cls(**kwargs)
    return {k: _decode(v) for k, v in value.items()}


def to_dict(value: Any) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "result": _encode(value)}


def from_dict(data: dict[str, Any]) -> Any:
    if not isinstance(data, dict) or "schema_version" not in data or "result" not in data:
        raise SchemaError("not an AuditLens result: expected keys 'schema_version' and 'result'")
    version = data["schema_version"]
    if not isinstance(version, int) or version > SCHEMA_VERSION or version < 1:
        raise SchemaError(f"schema version {version!r} is not supported (this AuditLens reads 1..{SCHEMA_VERSION})")
    return _decode(data["result"])


def to_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(to_dict(value), indent=indent, ensure_ascii=False, allow_nan=False)


def from_json(text: str) -> Any:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"not valid JSON: {exc}") from exc
    return from_dict(data)


def results_equal(a: Any, b: Any) -> bool:
    """Exact structural equality, arrays compared element-wise (NaN equal to NaN)."""
    if type(a) is not type(b):
        return False
    if dataclasses.is_dataclass(a):
        return all(results_equal(getattr(a, f.name), getattr(b, f.name)) for f in dataclasses.fields(a))
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and a.dtype == b.dtype and np.array_equal(a, b, equal_nan=True)
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(results_equal(a[k], b[k]) for k in a)
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(results_equal(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return isinstance(b, float) and math.isnan(b)
    return a == b
