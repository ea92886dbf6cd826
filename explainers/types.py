"""Result values shared by every explainer and read by every export.

Small frozen dataclasses holding numpy arrays: attributions (text, image), grounding, the context
perturbations (leave-one-out and ablations, reliance, what-if edits), faithfulness curves and the audit report
that holds them. Each type has a tag in ``_TYPES``; JSON carries the tag and ``SCHEMA_VERSION`` (never a Python
class path), and ``from_json`` rebuilds the exact value.
"""

from __future__ import annotations

import dataclasses
import json
import math
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any

import numpy as np

from .colours import ATTRIBUTION_SCALE
from .errors import SchemaError

# 2: AuditReport holds typed ``perturbations``, ``answer_generated`` and plain ``metadata`` instead of an ``extra``
# dict; version 1 reports (with ``extra``) are still read, their ``extra`` sorted into the typed fields.
SCHEMA_VERSION = 2


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
    ``answer_token_log_probs``: log p(answer token | prompt, answer before it) per answer token as the method's
    own pass computed it (NaN where it scored no such token), or None; context reliance reuses it.
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
    answer_token_log_probs: np.ndarray | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "input_units", tuple(self.input_units))
        object.__setattr__(self, "output_units", tuple(self.output_units))
        if self.answer_token_log_probs is not None:
            object.__setattr__(self, "answer_token_log_probs",
                               _as_float_array(self.answer_token_log_probs, 1, "answer_token_log_probs"))
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


# ---------------------------------------------------------------- perturbation results (text/context)


@dataclass(frozen=True)
class Table:
    """A plain table a report can print (headers and cells as strings or numbers)."""

    title: str
    header: tuple[str, ...]
    rows: tuple[tuple[Any, ...], ...]
    note: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "header", tuple(self.header))
        object.__setattr__(self, "rows", tuple(tuple(r) for r in self.rows))


@dataclass(frozen=True)
class ContextAttribution:
    """Effects of source units on the answer: ``scores[i, j]`` for answer sentence ``i`` and source unit ``j``,
    ``answer_scores[j]`` for the whole answer (log-probability units: positive = the unit supports the answer)."""

    mode: str  # "leave_one_out" or "ablate"
    model_id: str
    question: str
    answer: str
    sources: tuple[str, ...]
    units: tuple[Unit, ...]  # offsets inside their source's text
    unit_sources: tuple[int, ...]  # 0-based source index of each unit
    answer_units: tuple[Unit, ...]  # answer sentences (offsets in the answer)
    scores: np.ndarray
    answer_scores: np.ndarray
    base_log_prob: float
    base_sentence_log_probs: np.ndarray
    variants: tuple[dict[str, Any], ...] = ()  # leave-one-out: one per unit (log_prob, regenerated answer, diff)
    fit: dict[str, Any] = field(default_factory=dict)  # ablate: surrogate fit quality
    agreement: dict[str, Any] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    forward_passes: int = 0
    elapsed_s: float = 0.0
    created_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        if self.mode not in ("leave_one_out", "ablate"):
            raise ValueError(f"unknown context attribution mode {self.mode!r}")
        for name in ("units", "answer_units", "variants", "sources"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "unit_sources", tuple(int(k) for k in self.unit_sources))
        if len(self.unit_sources) != len(self.units):
            raise ValueError(f"{len(self.unit_sources)} source indices for {len(self.units)} units")
        scores = _as_float_array(self.scores, 2, "scores")
        if scores.shape != (len(self.answer_units), len(self.units)):
            raise ValueError(f"scores shape {scores.shape} != ({len(self.answer_units)}, {len(self.units)})")
        answer_scores = _as_float_array(self.answer_scores, 1, "answer_scores")
        if answer_scores.shape != (len(self.units),):
            raise ValueError(f"answer_scores shape {answer_scores.shape} != ({len(self.units)},)")
        base_sent = _as_float_array(self.base_sentence_log_probs, 1, "base_sentence_log_probs")
        if base_sent.shape != (len(self.answer_units),):
            raise ValueError(f"base_sentence_log_probs shape {base_sent.shape} != ({len(self.answer_units)},)")
        object.__setattr__(self, "scores", scores)
        object.__setattr__(self, "answer_scores", answer_scores)
        object.__setattr__(self, "base_sentence_log_probs", base_sent)
        object.__setattr__(self, "base_log_prob", float(self.base_log_prob))
        for name in ("fit", "agreement", "params"):
            object.__setattr__(self, name, dict(getattr(self, name)))

    def top_units(self, k: int = 5, row: int | None = None) -> list[tuple[int, float]]:
        values = self.answer_scores if row is None else self.scores[row]
        return [(int(j), float(values[j])) for j in np.argsort(-values)[:k]]

    def as_tables(self) -> list[Table]:
        title = ("Leave-one-out over sources" if self.mode == "leave_one_out"
                 else f"Context attribution by {self.params.get('n_ablations')} random ablations (Lasso surrogate)")
        header = ["source", "unit", "effect on answer log-prob"]
        if self.mode == "leave_one_out":
            header += ["answer regenerated without it"]
        rows = []
        for j, u in enumerate(self.units):
            row = [str(self.unit_sources[j] + 1), u.text, round(float(self.answer_scores[j]), 4)]
            if self.mode == "leave_one_out":
                row.append(self.variants[j].get("regenerated", "") if j < len(self.variants) else "")
            rows.append(tuple(row))
        note = f"base answer log-probability {self.base_log_prob:.3f}"
        if self.fit:
            note += (f"; surrogate held-out R² {self.fit.get('r2_heldout', float('nan')):.2f}, "
                     f"LDS {self.fit.get('lds', float('nan')):.2f}")
        return [Table(title, tuple(header), tuple(rows), note)]


@dataclass(frozen=True)
class ContextReliance:
    """Per answer token: log p with the sources, without them and with them shuffled; per word the reliance and
    whether it is flagged as coming from the model's prior (content words only)."""

    model_id: str
    question: str
    answer: str
    tokens: tuple[Unit, ...]  # offsets in the answer
    log_prob_with: np.ndarray
    log_prob_without: np.ndarray
    log_prob_shuffled: np.ndarray
    words: tuple[Unit, ...]
    word_reliance: np.ndarray  # sum over the word's tokens of (with - without), nats
    word_shuffle_drop: np.ndarray  # sum over the word's tokens of (with - shuffled)
    flagged: tuple[bool, ...]  # content word with reliance below the threshold: from the model's prior
    threshold: float
    params: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    created_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        for name in ("tokens", "words"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "flagged", tuple(bool(f) for f in self.flagged))
        n_tok, n_word = len(self.tokens), len(self.words)
        for name, n in (("log_prob_with", n_tok), ("log_prob_without", n_tok), ("log_prob_shuffled", n_tok),
                        ("word_reliance", n_word), ("word_shuffle_drop", n_word)):
            arr = _as_float_array(getattr(self, name), 1, name)
            if arr.shape != (n,):
                raise ValueError(f"{name} has shape {arr.shape}, expected ({n},)")
            object.__setattr__(self, name, arr)
        if len(self.flagged) != n_word:
            raise ValueError("one flag per word is needed")
        object.__setattr__(self, "threshold", float(self.threshold))
        object.__setattr__(self, "params", dict(self.params))

    @property
    def token_reliance(self) -> np.ndarray:
        return self.log_prob_with - self.log_prob_without

    def flagged_words(self) -> list[str]:
        return [w.text for w, f in zip(self.words, self.flagged) if f]

    def as_tables(self) -> list[Table]:
        rows = tuple((w.text, round(float(r), 3), round(float(s), 3), "prior" if f else "")
                     for w, r, s, f in zip(self.words, self.word_reliance, self.word_shuffle_drop, self.flagged))
        return [Table("Context reliance of each answer word", ("word", "reliance (nats)", "drop when shuffled",
                                                               "flag"), rows,
                      f"reliance = log p(with sources) - log p(without); content words under {self.threshold:g} "
                      "nats are flagged as coming from the model's prior")]


@dataclass(frozen=True)
class EditResult:
    """A what-if: the edits (data), the edited inputs, the answer re-scored and regenerated."""

    edits: tuple[dict[str, Any], ...]
    model_id: str
    question: str
    sources: tuple[str, ...]
    edited_question: str
    edited_sources: tuple[str, ...]
    answer: str
    base_log_prob: float
    edited_log_prob: float
    answer_units: tuple[Unit, ...]
    sentence_deltas: np.ndarray  # edited - base, per answer sentence
    regenerated: str = ""
    diff: tuple[tuple[str, str, str], ...] = ()  # (op, old words, new words)
    params: dict[str, Any] = field(default_factory=dict)
    elapsed_s: float = 0.0
    created_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        for name in ("sources", "edited_sources", "answer_units"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        object.__setattr__(self, "edits", tuple(dict(e) for e in self.edits))
        object.__setattr__(self, "diff", tuple(tuple(d) for d in self.diff))
        deltas = _as_float_array(self.sentence_deltas, 1, "sentence_deltas")
        if deltas.shape != (len(self.answer_units),):
            raise ValueError(f"sentence_deltas shape {deltas.shape} != ({len(self.answer_units)},)")
        object.__setattr__(self, "sentence_deltas", deltas)
        object.__setattr__(self, "base_log_prob", float(self.base_log_prob))
        object.__setattr__(self, "edited_log_prob", float(self.edited_log_prob))
        object.__setattr__(self, "params", dict(self.params))

    @property
    def probability_ratio(self) -> float:
        return float(np.exp(self.edited_log_prob - self.base_log_prob))

    def as_tables(self) -> list[Table]:
        from .text.context.edits import json_edit  # the edit language describes its own edits

        rows = tuple((json_edit(e), "") for e in self.edits)
        rows += (("answer log-prob", f"{self.base_log_prob:.3f} → {self.edited_log_prob:.3f}"),
                 ("regenerated answer", self.regenerated))
        return [Table("What-if edit", ("edit", "result"), rows)]


# The results an audit report keeps beside its attributions and grounding.
PERTURBATION_TYPES = (ContextAttribution, ContextReliance, EditResult)


# ---------------------------------------------------------------- faithfulness and the CNN-vs-LLM pairing


def _floats(values: Any, name: str) -> tuple[float, ...]:
    values = tuple(values)
    if any(isinstance(v, (bool, np.bool_)) for v in values):
        raise ValueError(f"{name} must hold numbers, not true/false")
    return tuple(float(v) for v in values)


@dataclass(frozen=True)
class TextFaithfulness:
    """ERASER comprehensiveness and sufficiency of a text attribution at each fraction of units deleted."""

    fractions: tuple[float, ...]
    comprehensiveness: tuple[float, ...]
    sufficiency: tuple[float, ...]
    aopc_comprehensiveness: float
    aopc_sufficiency: float
    random_aopc_comprehensiveness: float  # the same with a random ranking, for scale

    def __post_init__(self) -> None:
        for name in ("fractions", "comprehensiveness", "sufficiency"):
            object.__setattr__(self, name, _floats(getattr(self, name), name))
        if not len(self.fractions) == len(self.comprehensiveness) == len(self.sufficiency):
            raise ValueError("one comprehensiveness and one sufficiency value per fraction are needed")
        for name in ("aopc_comprehensiveness", "aopc_sufficiency", "random_aopc_comprehensiveness"):
            object.__setattr__(self, name, float(getattr(self, name)))


@dataclass(frozen=True)
class DeletionCurve:
    """Deletion and insertion curves (RISE): the normalised score after removing / restoring the top fraction."""

    fractions: tuple[float, ...]
    deletion: tuple[float, ...]  # normalised score after removing the top fraction
    insertion: tuple[float, ...]
    deletion_auc: float
    insertion_auc: float

    def __post_init__(self) -> None:
        for name in ("fractions", "deletion", "insertion"):
            object.__setattr__(self, name, _floats(getattr(self, name), name))
        if not len(self.fractions) == len(self.deletion) == len(self.insertion):
            raise ValueError("one deletion and one insertion value per fraction are needed")
        object.__setattr__(self, "deletion_auc", float(self.deletion_auc))
        object.__setattr__(self, "insertion_auc", float(self.insertion_auc))


@dataclass(frozen=True)
class SideBySide:
    """One image and one text attribution on one colour scale, with their deletion curves and captions."""

    image: ImageAttribution
    text: TextAttribution
    image_heat: np.ndarray  # heatmap / max|heatmap|, in [-1, 1]
    text_scores: np.ndarray  # whole-answer unit scores / max|score| over visible units, in [-1, 1]
    image_curve: DeletionCurve
    text_curve: DeletionCurve
    image_caption: str
    text_caption: str
    color_scale: tuple[tuple[float, str], ...] = ATTRIBUTION_SCALE

    def __post_init__(self) -> None:
        heat = _as_float_array(self.image_heat, 2, "image_heat")
        if heat.shape != self.image.heatmap.shape:
            raise ValueError(f"image_heat shape {heat.shape} != heatmap shape {self.image.heatmap.shape}")
        scores = _as_float_array(self.text_scores, 1, "text_scores")
        if scores.shape != (len(self.text.input_units),):
            raise ValueError(f"text_scores shape {scores.shape} != ({len(self.text.input_units)},)")
        object.__setattr__(self, "image_heat", heat)
        object.__setattr__(self, "text_scores", scores)
        object.__setattr__(self, "color_scale", tuple((float(a), str(c)) for a, c in self.color_scale))


_RESERVED_KEYS = frozenset({"__type__", "__ndarray__", "__tuple__", "__float__"})


def _check_plain(value: Any, path: str, depth: int = 0) -> None:
    """Metadata holds plain JSON values (text, numbers, true/false, null, lists, objects), never results."""
    if depth > MAX_DEPTH:
        raise ValueError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    if value is None or isinstance(value, (str, bool, int, float)):
        return
    if isinstance(value, dict):
        for k, v in value.items():
            if not isinstance(k, str):
                raise ValueError(f"{path}: keys must be text, not {type(k).__name__}")
            if k in _RESERVED_KEYS:  # they would read back as a type tag, an array, a tuple or a float
                raise ValueError(f"{path}: the key {k!r} is reserved for the JSON form")
            _check_plain(v, f"{path}.{k}", depth + 1)
        return
    if isinstance(value, (list, tuple)):
        for k, v in enumerate(value):
            _check_plain(v, f"{path}[{k}]", depth + 1)
        return
    raise ValueError(f"{path}: {type(value).__name__} is not a plain value (results have their own fields)")


@dataclass(frozen=True)
class AuditReport:
    """Everything about one audited answer: inputs, model and every result computed on it.

    ``perturbations`` are the context results (leave-one-out, ablations, reliance, what-if edits);
    ``metadata`` is provenance as plain values (batch run and row, the audit an edited answer came from)."""

    question: str
    answer: str
    sources: tuple[Source, ...] = ()
    model_id: str = ""
    attributions: tuple[TextAttribution, ...] = ()
    image_attributions: tuple[ImageAttribution, ...] = ()
    grounding: Grounding | None = None
    perturbations: tuple[ContextAttribution | ContextReliance | EditResult, ...] = ()
    answer_generated: bool = False  # the model wrote the answer here (not pasted by the user)
    metadata: dict[str, Any] = field(default_factory=dict)
    created_at: str = field(default_factory=utc_now)
    updated_at: str = field(default_factory=utc_now)

    def __post_init__(self) -> None:
        for name in ("sources", "attributions", "image_attributions", "perturbations"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        for k, p in enumerate(self.perturbations):
            if not isinstance(p, PERTURBATION_TYPES):
                raise TypeError(f"perturbations[{k}] is a {type(p).__name__}, not one of "
                                f"{', '.join(t.__name__ for t in PERTURBATION_TYPES)}")
        object.__setattr__(self, "answer_generated", bool(self.answer_generated))
        metadata = dict(self.metadata)
        _check_plain(metadata, "metadata")
        object.__setattr__(self, "metadata", metadata)


# ---------------------------------------------------------------- JSON with explicit type tags

_TYPES: dict[str, type] = {
    "unit": Unit,
    "text_attribution": TextAttribution,
    "image_attribution": ImageAttribution,
    "sentence_grounding": SentenceGrounding,
    "grounding": Grounding,
    "source": Source,
    "context_attribution": ContextAttribution,
    "context_reliance": ContextReliance,
    "edit_result": EditResult,
    "context_table": Table,
    "text_faithfulness": TextFaithfulness,
    "deletion_curve": DeletionCurve,
    "side_by_side": SideBySide,
    "audit_report": AuditReport,
}
_TAG_OF = {cls: tag for tag, cls in _TYPES.items()}


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


def _decode(value: Any, path: str = "result", depth: int = 0, version: int = SCHEMA_VERSION) -> Any:
    if depth > MAX_DEPTH:
        raise SchemaError(f"{path}: nested deeper than {MAX_DEPTH} levels")
    if isinstance(value, list):
        return [_decode(v, f"{path}[{k}]", depth + 1, version) for k, v in enumerate(value)]
    if not isinstance(value, dict):
        return value
    if "__ndarray__" in value:
        return _decode_array(value, path)
    if "__tuple__" in value:
        if set(value) != {"__tuple__"} or not isinstance(value["__tuple__"], list):
            raise SchemaError(f"{path}: a tuple is {{\"__tuple__\": [...]}}")
        return tuple(_decode(v, f"{path}[{k}]", depth + 1, version) for k, v in enumerate(value["__tuple__"]))
    if "__float__" in value:
        if set(value) != {"__float__"} or value["__float__"] not in NONFINITE:
            raise SchemaError(f"{path}: a special float is one of {', '.join(NONFINITE)}")
        return NONFINITE[value["__float__"]]
    if "__type__" in value:
        tag = value["__type__"]
        if not isinstance(tag, str):
            raise SchemaError(f"{path}: the type tag must be text")
        cls = _TYPES.get(tag)
        if cls is None:
            raise SchemaError(f"unknown result type {tag!r:.60}; known: {', '.join(sorted(_TYPES))}")
        if cls is AuditReport and version < 2:
            value = _report_from_v1(value, path)
        return _decode_dataclass(cls, tag, value, path, depth, version)
    return {k: _decode(v, f"{path}.{k}", depth + 1, version) for k, v in value.items()}


_PERTURBATION_TAGS = frozenset(_TAG_OF[cls] for cls in PERTURBATION_TYPES)


def _report_from_v1(value: dict, path: str) -> dict:
    """A version 1 audit report (still JSON) in the version 2 form: its ``extra`` dict sorted into
    ``perturbations`` (every perturbation result, wherever it sat), ``answer_generated`` and ``metadata`` (the rest,
    which must be plain values)."""
    if "extra" not in value:
        return value
    extra = value["extra"]
    if not isinstance(extra, dict):
        raise SchemaError(f"{path}.extra: expected an object, got {type(extra).__name__}")
    out = {k: v for k, v in value.items() if k != "extra"}
    perturbations, metadata = [], {}

    def is_result(v: Any) -> bool:
        return isinstance(v, dict) and v.get("__type__") in _PERTURBATION_TAGS

    for key, item in extra.items():
        items = item.get("__tuple__") if isinstance(item, dict) and set(item) == {"__tuple__"} else item
        if key == "answer_generated" and isinstance(item, bool):
            out["answer_generated"] = item
        elif is_result(item):
            perturbations.append(item)
        elif key == "perturbations" and isinstance(items, list) and all(is_result(v) for v in items):
            perturbations.extend(items)
        else:
            metadata[key] = item
    out["perturbations"] = {"__tuple__": perturbations}
    out["metadata"] = metadata
    return out


def _decode_dataclass(cls: type, tag: str, value: dict, path: str, depth: int, version: int) -> Any:
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
        kwargs[k] = _decode(v, f"{path}.{k}", depth + 1, version)
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
    return _decode(data["result"], version=version)


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
