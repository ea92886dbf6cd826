"""What-if edits as data: an edit is a small JSON object (op, unit, where, index or match, replacement), so a
stored what-if can be shown, checked and replayed. ``apply_edits`` turns edits into the edited question and
sources; ``what_if`` scores the answer under them."""

from __future__ import annotations

import re
from typing import Any, Sequence

from ...errors import EmptyInputError, InputError, SpanError
from ..aggregate import sentence_spans, word_spans

EDIT_OPS = ("remove", "replace")
EDIT_UNITS = ("source", "sentence", "word", "text")


def make_edit(op: str, unit: str, where: str, index: int | None = None, match: str | None = None,
              replacement: str = "") -> dict[str, Any]:
    """One edit as plain data. ``where`` is "question" or "source N" (1-based); ``unit`` "source" (the whole
    source), "sentence" or "word" (by 0-based ``index``) or "text" (the first exact ``match``)."""
    edit = {"op": op, "unit": unit, "where": where, "index": index, "match": match, "replacement": replacement}
    validate_edit(edit)
    return edit


EDIT_FIELDS = {"op": (str,), "unit": (str,), "where": (str,), "index": (int, type(None)),
               "match": (str, type(None)), "replacement": (str,)}


def edit_from_dict(data: Any, where: str = "edit") -> dict[str, Any]:
    """An edit read from JSON (CLI, stored reports): fields and their types checked, then ``make_edit``."""
    if not isinstance(data, dict):
        raise InputError(f"{where}: an edit is a JSON object with {', '.join(EDIT_FIELDS)}, "
                         f"not {type(data).__name__}")
    unknown = sorted(str(k) for k in data if k not in EDIT_FIELDS)
    if unknown:
        raise InputError(f"{where}: unknown field {', '.join(map(repr, unknown))}; an edit has "
                         f"{', '.join(EDIT_FIELDS)}")
    missing = [k for k in ("op", "unit", "where") if k not in data]
    if missing:
        raise InputError(f"{where}: missing field {', '.join(map(repr, missing))}")
    for key, value in data.items():
        if isinstance(value, bool) or not isinstance(value, EDIT_FIELDS[key]):
            raise InputError(f"{where}: {key!r} has the wrong type ({type(value).__name__})")
    return make_edit(**data)


def validate_edit(edit: dict[str, Any]) -> None:
    if edit.get("op") not in EDIT_OPS:
        raise InputError(f"edit op must be one of {', '.join(EDIT_OPS)}, not {edit.get('op')!r}")
    if edit.get("unit") not in EDIT_UNITS:
        raise InputError(f"edit unit must be one of {', '.join(EDIT_UNITS)}, not {edit.get('unit')!r}")
    where = str(edit.get("where", ""))
    if where != "question" and not re.fullmatch(r"source \d+", where):
        raise InputError(f"edit 'where' must be 'question' or 'source N', not {where!r}")
    if edit["unit"] in ("sentence", "word") and not isinstance(edit.get("index"), int):
        raise InputError(f"a {edit['unit']} edit needs an integer index")
    if edit["unit"] == "text" and not edit.get("match"):
        raise InputError("a text edit needs the text to match")
    if edit["unit"] == "source" and where == "question":
        raise InputError("a 'source' edit must name a source, not the question")


def apply_edits(question: str, sources: Sequence[str], edits: Sequence[dict[str, Any]]) -> tuple[str, list[str]]:
    """Apply edits in order; a removed source becomes empty (later source numbers do not shift)."""
    q, srcs = question, [s for s in sources]
    for n, edit in enumerate(edits, 1):
        validate_edit(edit)
        where = edit["where"]
        if where == "question":
            text = q
        else:
            k = int(where.split()[1])
            if not 1 <= k <= len(srcs):
                raise SpanError(f"edit {n}: there is no {where} (the audit has {len(srcs)} source(s))")
            text = srcs[k - 1]
        unit, new = edit["unit"], edit.get("replacement", "") if edit["op"] == "replace" else ""
        if unit == "source":
            a, b = 0, len(text)
        elif unit == "text":
            a = text.find(edit["match"])
            if a < 0:
                raise SpanError(f"edit {n}: {edit['match']!r} does not occur in {where}")
            b = a + len(edit["match"])
        else:
            spans = sentence_spans(text) if unit == "sentence" else word_spans(text)
            i = edit["index"]
            if not 0 <= i < len(spans):
                raise SpanError(f"edit {n}: {where} has {len(spans)} {unit}s; index {i} does not exist")
            a, b = spans[i]
        text = text[:a] + new + text[b:]
        if where == "question":
            q = text
        else:
            srcs[int(where.split()[1]) - 1] = text
    if not q.strip():
        raise EmptyInputError("the edits leave the question empty")
    return q, srcs


def json_edit(edit: dict[str, Any]) -> str:
    """One edit as a short line a reviewer reads ("replace text in source 1 “Quenby” → “Arlesford”")."""
    parts = [edit["op"], edit["unit"], f"in {edit['where']}"]
    if edit.get("index") is not None:
        parts.append(f"#{edit['index']}")
    if edit.get("match"):
        parts.append(f"“{edit['match']}”")
    if edit["op"] == "replace":
        parts.append(f"→ “{edit.get('replacement', '')}”")
    return " ".join(parts)
