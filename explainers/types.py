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


# Limits for reading untrusted JSON: checked before anything is allocated.
MAX_REPORT_BYTES = 64 * 2**20
MAX_DEPTH = 40  # our reports nest about 12 deep
MAX_INT_DIGITS = 30
MAX_ARRAY_DIMS = 4
ARRAY_DTYPES = frozenset({"float64", "float32", "float16", "int64", "int32", "int16", "int8", "uint8", "bool"})
NONFINITE = {"nan": math.nan, "inf": math.inf, "-inf": -math.inf}


def _array_leaves(data: Any, shape: list[int], path: str, is_bool: bool) -> None:
    """Check that nested lists match ``shape`` exactly and hold numbers, without recursion into Python limits."""
    stack = [(data, 0)]
    while stack:
        item, level = stack.pop()
        if level == len(shape):
            ok = isinstance(item, bool) if is_bool else isinstance(item, (int, float)) and not isinstance(item, bool)
            if not ok:
                raise SchemaError(f"{path}: array element {item!r:.40} is not a {'bool' if is_bool else 'number'}")
            continue
        if not isinstance(item, list) or len(item) != shape[level]:
            raise SchemaError(f"{path}: array data does not match its declared shape {shape}")
        stack.extend((x, level + 1) for x in item)


def _decode_array(value: dict, path: str) -> np.ndarray:
    if set(value) - {"__ndarray__", "dtype", "shape"}:
        raise SchemaError(f"{path}: unknown array keys {sorted(set(value) - {'__ndarray__', 'dtype', 'shape'})}")
    dtype, shape, data = value.get("dtype", "float64"), value.get("shape"), value["__ndarray__"]
    if not isinstance(dtype, str) or dtype not in ARRAY_DTYPES:
        raise SchemaError(f"{path}: array dtype {dtype!r:.40} is not one of {', '.join(sorted(ARRAY_DTYPES))}")
    if shape is None:  # a flat list: its length is the shape
        shape = [len(data)] if isinstance(data, list) else None
    if (not isinstance(shape, list) or len(shape) > MAX_ARRAY_DIMS
            or not all(type(n) is int and n >= 0 for n in shape)):
        raise SchemaError(f"{path}: array shape must be a list of up to {MAX_ARRAY_DIMS} whole numbers >= 0")
    if not shape:
        raise SchemaError(f"{path}: zero-dimensional arrays are not stored")
    # The data must hold exactly prod(shape) numbers; walking it first means a shape of 10**8 over three
    # numbers is refused before numpy allocates anything.
    _array_leaves(data, shape, path, dtype == "bool")
    arr = np.array(data, dtype=dtype)
    return arr.reshape(shape)


def _check_type(value: Any, hint: Any, path: str) -> None:
    """Check a decoded field against its annotation (the common shapes of ours; anything else is accepted)."""
    import types
    import typing

    if hint is Any or hint is object:
        return
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin in (typing.Union, types.UnionType):
        for option in args:
            try:
                return _check_type(value, option, path)
            except SchemaError:
                continue
        names = ", ".join(getattr(a, "__name__", str(a)) for a in args)
        raise SchemaError(f"{path}: {type(value).__name__} is not one of {names}")
    if hint is type(None):
        if value is not None:
            raise SchemaError(f"{path}: expected null")
        return
    if hint is bool:
        if not isinstance(value, bool):
            raise SchemaError(f"{path}: expected true/false, got {type(value).__name__}")
        return
    if hint is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise SchemaError(f"{path}: expected a whole number, got {type(value).__name__}")
        return
    if hint is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SchemaError(f"{path}: expected a number, got {type(value).__name__}")
        if not math.isfinite(value):
            raise SchemaError(f"{path}: must be a finite number, got {value}")
        return
    if hint is str:
        if not isinstance(value, str):
            raise SchemaError(f"{path}: expected text, got {type(value).__name__}")
        return
    if hint is np.ndarray:
        if not isinstance(value, np.ndarray):
            raise SchemaError(f"{path}: expected an array, got {type(value).__name__}")
        return
    if origin is tuple or origin is list or hint in (tuple, list):
        if not isinstance(value, (tuple, list)):
            raise SchemaError(f"{path}: expected a list, got {type(value).__name__}")
        if len(args) == 2 and args[1] is Ellipsis:
            for k, v in enumerate(value):
                _check_type(v, args[0], f"{path}[{k}]")
        elif args and origin is tuple:
            if len(value) != len(args):
                raise SchemaError(f"{path}: expected {len(args)} items, got {len(value)}")
            for k, (v, a) in enumerate(zip(value, args)):
                _check_type(v, a, f"{path}[{k}]")
        elif args:
            for k, v in enumerate(value):
                _check_type(v, args[0], f"{path}[{k}]")
        return
    if origin is dict or hint is dict:
        if not isinstance(value, dict):
            raise SchemaError(f"{path}: expected an object, got {type(value).__name__}")
        if args and args[1] is not Any:
            for k, v in value.items():
                if args[1] is float and isinstance(v, float):  # a signal may be NaN; it is still a number
                    continue
                _check_type(v, args[1], f"{path}.{k}")
        return
    if isinstance(hint, type):
        if not isinstance(value, hint):
            raise SchemaError(f"{path}: expected {hint.__name__}, got {type(value).__name__}")


def _decode(value: Any, path: str = "result", depth: int = 0) -> Any:
    if depth > MAX_DEPTH:
        raise SchemaError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, list):
        return [_decode(v, f"{path}[{k}]", depth + 1) for k, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        return _decode_array(value, path)
    if "__tuple__" in value:
        if set(value) != {"__tuple__"} or not isinstance(value["__tuple__"], list):
            raise SchemaError(f"{path}: a tuple is {{\"__tuple__\": [...]}}")
        return tuple(_decode(v, f"{path}[{k}]", depth + 1) for k, v in enumerate(value["__tuple__"]))
    if "__float__" in value:
        if set(value) != {"__float__"} or value["__float__"] not in NONFINITE:
            raise SchemaError(f"{path}: a special float is one of {', '.join(NONFINITE)}")
        return NONFINITE[value["__float__"]]
    if "__type__" in value:
        tag = value["__type__"]
        if not isinstance(tag, str):
            raise SchemaError(f"{path}: the type tag must be text")
        cls = _TYPES.get(tag)
        if cls is None and tag in _DEFINED_IN:  # a type from a module this process has not imported yet
            importlib.import_module(_DEFINED_IN[tag])
            cls = _TYPES.get(tag)
        if cls is None:
            raise SchemaError(f"unknown result type {tag!r:.60}; known: {', '.join(sorted(_TYPES))}")
        return _decode_dataclass(cls, tag, value, path, depth)
    return {k: _decode(v, f"{path}.{k}", depth + 1) for k, v in value.items()}


def _decode_dataclass(cls: type, tag: str, value: dict, path: str, depth: int) -> Any:
    import typing

    fields = {f.name: f for f in dataclasses.fields(cls)}
    unknown = sorted(k for k in value if k != "__type__" and k not in fields)
    if unknown:
        raise SchemaError(f"{path}: {tag} has no field {', '.join(map(repr, unknown))}"[:300])
    missing = [n for n, f in fields.items() if n not in value and f.default is dataclasses.MISSING
               and f.default_factory is dataclasses.MISSING]
    if missing:
        raise SchemaError(f"{path}: {tag} lacks {', '.join(missing)}")
    hints = typing.get_type_hints(cls)
    kwargs = {}
    for k, v in value.items():
        if k == "__type__":
            continue
        kwargs[k] = _decode(v, f"{path}.{k}", depth + 1)
        _check_type(kwargs[k], hints.get(k, Any), f"{path}.{k}")
    try:
        return cls(**kwargs)
    except (TypeError, ValueError, IndexError, KeyError) as exc:  # __post_init__'s own checks (shapes, ranges)
        raise SchemaError(f"{path}: not a valid {tag}: {exc}"[:400]) from None


def to_dict(value: Any) -> dict[str, Any]:
    return {"schema_version": SCHEMA_VERSION, "result": _encode(value)}


def from_dict(data: dict[str, Any]) -> Any:
    """Rebuild a result from its JSON form; every problem is one ``SchemaError`` that says what is wrong."""
    if not isinstance(data, dict) or "schema_version" not in data or "result" not in data:
        raise SchemaError("not an AuditLens result: expected keys 'schema_version' and 'result'")
    version = data["schema_version"]
    if type(version) is not int or version > SCHEMA_VERSION or version < 1:
        raise SchemaError(f"schema version {version!r:.40} is not supported (this AuditLens reads 1..{SCHEMA_VERSION})")
    return _decode(data["result"])


def to_json(value: Any, indent: int | None = None) -> str:
    return json.dumps(to_dict(value), indent=indent, ensure_ascii=False, allow_nan=False)


def _refuse_constant(name: str) -> Any:
    raise SchemaError(f"{name} is not a JSON number (non-finite values are stored as {{\"__float__\": ...}})")


def _bounded_int(text: str) -> int:
    if len(text.lstrip("-")) > MAX_INT_DIGITS:
        raise SchemaError(f"a whole number of {len(text):,} digits is not a plausible value")
    return int(text)


def from_json(text: str | bytes) -> Any:
    """Read a result from untrusted JSON: size, nesting, numbers, types, dtypes and shapes are all checked."""
    if len(text) > MAX_REPORT_BYTES:
        raise SchemaError(f"the JSON is {len(text):,} bytes; the limit is {MAX_REPORT_BYTES:,}")
    try:
        data = json.loads(text, parse_constant=_refuse_constant, parse_int=_bounded_int)
    except json.JSONDecodeError as exc:
        raise SchemaError(f"not valid JSON: {exc}") from None
    except RecursionError:
        raise SchemaError(f"the JSON is nested deeper than {MAX_DEPTH} levels") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise SchemaError(f"not valid JSON text: {exc}"[:300]) from None
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
