"""Rows of a dataset file, streamed: JSONL, CSV or Parquet, one row at a time, memory flat in the row count.

Columns are mapped by name (``ColumnMap``); every column not mapped is kept as the row's metadata. A bad row
(no answer, not UTF-8, over a size cap, not an object) becomes a ``BadRow`` with its line number and the reason,
and reading goes on: one bad line never stops a batch. Line numbers are the file's lines for JSONL, the line
a record starts on for CSV (a quoted field may span lines) and the row number for Parquet (1 = first row).
"""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

from ..errors import InputError, not_a_file

FORMATS = ("jsonl", "csv", "parquet")
MAX_ROW_BYTES = 2 * 2**20  # one JSONL line / CSV field; a longer one is skipped without being held in memory
MAX_ANSWER_CHARS = 20_000
MAX_QUESTION_CHARS = 4_000
MAX_SOURCES_CHARS = 200_000
MAX_SOURCES = 100
MAX_ID_CHARS = 200
LABELS = ("supported", "hallucinated")


@dataclass(frozen=True)
class ColumnMap:
    """Which input column holds what (``--id-col`` ... ``--model-col``); ``label`` and ``model`` are optional."""

    id: str = "id"
    question: str = "question"
    sources: str = "knowledge"
    answer: str = "answer"
    label: str | None = None
    model: str | None = None

    def mapped(self) -> set[str]:
        return {c for c in (self.id, self.question, self.sources, self.answer, self.label, self.model) if c}


@dataclass(frozen=True)
class InputRow:
    line_no: int
    row_id: str
    question: str
    answer: str
    sources: tuple[str, ...]
    source_names: tuple[str, ...]
    label: str | None = None  # supported / hallucinated
    model: str = ""
    metadata: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class BadRow:
    line_no: int
    reason: str
    row_id: str | None = None


def detect_format(path: str | Path, fmt: str | None = None) -> str:
    if fmt:
        if fmt not in FORMATS:
            raise InputError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}")
        return fmt
    suffix = Path(path).suffix.lower()
    known = {".jsonl": "jsonl", ".ndjson": "jsonl", ".json": "jsonl", ".csv": "csv", ".parquet": "parquet",
             ".pq": "parquet"}
    if suffix not in known:
        raise InputError(f"{path}: cannot tell the format from {suffix or 'no suffix'!r}; pass --format "
                         f"{'|'.join(FORMATS)}")
    return known[suffix]


def count_rows(path: str | Path, fmt: str | None = None) -> int | None:
    """Rows in the file for the progress bar's ETA, read in 1 MiB blocks (Parquet: from its footer)."""
    fmt = detect_format(path, fmt)
    if fmt == "parquet":
        return _parquet_file(Path(path)).metadata.num_rows
    if fmt == "csv":
        return None  # quoted fields may span lines: a line count would mislead the ETA
    n, last = 0, b"\n"
    with open(path, "rb") as fh:
        while block := fh.read(2**20):
            n += block.count(b"\n")
            last = block[-1:]
    return n + (last != b"\n")


def read_rows(path: str | Path, columns: ColumnMap, fmt: str | None = None) -> Iterator[InputRow | BadRow]:
    """Every row of the file in order, as an ``InputRow`` or a ``BadRow``; the file is never held whole."""
    p = Path(path)
    if not p.is_file():
        raise InputError(not_a_file(path))
    fmt = detect_format(p, fmt)
    records = _records(p, fmt)
    for line_no, record in records:
        if isinstance(record, BadRow):
            yield record
            continue
        yield to_row(line_no, record, columns)


def check_columns(path: str | Path, columns: ColumnMap, fmt: str | None = None, peek: int = 50) -> None:
    """Before a run is made: the file has rows, and the id, answer and sources columns appear in its first
    ``peek`` records. A mistyped --answer-col, or JSONL read as CSV, would otherwise skip every row as bad and
    leave an empty run behind (rows that are bad for other reasons are recorded one by one, as always)."""
    from itertools import islice

    p = Path(path)
    fmt = detect_format(p, fmt)
    records = _records(p, fmt)
    try:
        head = list(islice(records, peek))
    finally:
        records.close()
    if not head:
        raise InputError(f"{path}: no rows to audit (the file is empty{', or has a header only' if fmt == 'csv' else ''})")
    keys = set().union(*(r for _, r in head if not isinstance(r, BadRow)))
    if not keys:
        return  # every row unreadable: each is recorded as a bad row with its reason
    missing = [f"{name!r} (--{flag}-col)" for flag, name in (("id", columns.id), ("answer", columns.answer),
                                                              ("sources", columns.sources)) if name not in keys]
    if missing:
        shown = ", ".join(repr(k)[:40] for k in sorted(keys)[:8]) + (", ..." if len(keys) > 8 else "")
        raise InputError(f"{path}: no column {', '.join(missing)} in its first {len(head)} rows, which have "
                         f"{shown}; name the columns with --id-col/--answer-col/--sources-col, or check --format "
                         f"(read as {fmt})")


def to_row(line_no: int, record: dict[str, Any], columns: ColumnMap) -> InputRow | BadRow:
    """One record checked and mapped; anything wrong is a ``BadRow`` saying which field and why."""
    raw_id = record.get(columns.id)
    row_id = None if raw_id is None else str(raw_id).strip()
    if not row_id:
        return BadRow(line_no, f"no id (column {columns.id!r} missing or empty)")
    if len(row_id) > MAX_ID_CHARS:
        return BadRow(line_no, f"the id is {len(row_id):,} characters, over {MAX_ID_CHARS}")

    def bad(reason: str) -> BadRow:
        return BadRow(line_no, reason, row_id)

    answer = record.get(columns.answer)
    if answer is None or (isinstance(answer, str) and not answer.strip()):
        return bad(f"missing answer (column {columns.answer!r})")
    if not isinstance(answer, str):
        return bad(f"the answer must be text, not {type(answer).__name__}")
    if len(answer) > MAX_ANSWER_CHARS:
        return bad(f"the answer is {len(answer):,} characters, over {MAX_ANSWER_CHARS:,}")
    question = record.get(columns.question)
    question = "" if question is None else question
    if not isinstance(question, str):
        return bad(f"the question must be text, not {type(question).__name__}")
    if len(question) > MAX_QUESTION_CHARS:
        return bad(f"the question is {len(question):,} characters, over {MAX_QUESTION_CHARS:,}")
    sources = _sources(record.get(columns.sources))
    if isinstance(sources, str):
        return bad(sources)
    texts, names = sources
    if not texts:
        return bad(f"no sources (column {columns.sources!r} missing or empty)")
    if len(texts) > MAX_SOURCES:
        return bad(f"{len(texts)} sources, over {MAX_SOURCES}")
    total = sum(len(t) for t in texts)
    if total > MAX_SOURCES_CHARS:
        return bad(f"the sources hold {total:,} characters, over {MAX_SOURCES_CHARS:,}")
    label = None
    if columns.label:
        raw = record.get(columns.label)
        if raw is not None and str(raw).strip():
            label = str(raw).strip().lower()
            if label not in LABELS:
                return bad(f"label must be supported or hallucinated, not {str(raw)[:40]!r}")
    model = ""
    if columns.model and record.get(columns.model) is not None:
        model = str(record[columns.model]).strip()[:200]
    mapped = columns.mapped()
    metadata = {k: _plain(v) for k, v in record.items() if k not in mapped}
    return InputRow(line_no, row_id, question, answer, tuple(texts), tuple(names), label, model, metadata)


def _sources(value: Any) -> tuple[list[str], list[str]] | str:
    """Sources as (texts, names) from a list (of texts, or of objects with ``text`` and a ``title``/``id``), a
    JSON list held in a text (CSV cells), or one text; a reason string when they are malformed."""
    if value is None:
        return [], []
    if isinstance(value, str):
        stripped = value.strip()
        if stripped.startswith("["):
            try:
                parsed = json.loads(stripped)
            except (ValueError, RecursionError):
                parsed = None
            if isinstance(parsed, list):
                value = parsed
        if isinstance(value, str):
            return ([value], [_name(value)]) if value.strip() else ([], [])
    if hasattr(value, "tolist"):  # numpy arrays from Parquet list columns
        value = value.tolist()
    if not isinstance(value, (list, tuple)):
        return f"sources must be a text or a list, not {type(value).__name__}"
    texts, names = [], []
    for k, item in enumerate(value, 1):
        if isinstance(item, dict):
            text = item.get("text")
            name = item.get("title") or item.get("id") or item.get("doc")
        else:
            text, name = item, None
        if not isinstance(text, str):
            return f"source {k} must be text, not {type(text).__name__}"
        if text.strip():
            texts.append(text)
            names.append(str(name)[:120] if name else _name(text))
    return texts, names


def _name(text: str) -> str:
    """A readable name for a source given as bare text: its first words."""
    words = " ".join(text.split())
    return words if len(words) <= 60 else words[:57] + "..."


def _plain(value: Any) -> Any:
    """Metadata as JSON-safe values (Parquet gives numpy scalars, timestamps and arrays)."""
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, float):
        return value if value == value and abs(value) != float("inf") else None
    if hasattr(value, "tolist"):
        return _plain(value.tolist())
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    return str(value)


# ------------------------------------------------------------------------------------------ formats


def _jsonl_records(path: Path) -> Iterator[tuple[int, dict | BadRow]]:
    with open(path, "rb") as fh:
        line_no = 0
        while True:
            line = fh.readline(MAX_ROW_BYTES + 1)
            if not line:
                return
            line_no += 1
            if len(line) > MAX_ROW_BYTES and not line.endswith(b"\n"):
                while (rest := fh.readline(2**20)) and not rest.endswith(b"\n"):
                    pass  # skip the rest of an over-long line without holding it
                yield line_no, BadRow(line_no, f"the line is over {MAX_ROW_BYTES:,} bytes")
                continue
            if not line.strip():
                continue
            try:
                text = line.decode("utf-8")
            except UnicodeDecodeError as exc:
                yield line_no, BadRow(line_no, f"not UTF-8 (byte {exc.start} of the line)")
                continue
            try:
                record = json.loads(text)
            except (ValueError, RecursionError) as exc:
                detail = f"{exc.msg} at column {exc.colno}" if isinstance(exc, json.JSONDecodeError) else "nested too deep"
                yield line_no, BadRow(line_no, f"not JSON ({detail})")
                continue
            if not isinstance(record, dict):
                yield line_no, BadRow(line_no, f"not a JSON object ({type(record).__name__})")
                continue
            yield line_no, record


def _csv_records(path: Path) -> Iterator[tuple[int, dict | BadRow]]:
    csv.field_size_limit(MAX_ROW_BYTES)
    with open(path, "rb") as raw:
        # surrogateescape keeps reading past bytes that are not UTF-8; the row holding them is then refused
        text = io.TextIOWrapper(raw, encoding="utf-8", errors="surrogateescape", newline="")
        reader = csv.reader(text)
        try:
            header = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"{path}: the CSV header cannot be read ({exc})") from None
        if header and header[0].startswith("\ufeff"):
            header[0] = header[0][1:]
        if _has_surrogates(header):
            raise InputError(f"{path}: the CSV header is not UTF-8")
        start = reader.line_num + 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                yield start, BadRow(start, f"not a CSV record ({exc})")
                start = reader.line_num + 1
                continue
            line_no, start = start, reader.line_num + 1
            if not cells or all(not c.strip() for c in cells):
                continue
            if _has_surrogates(cells):
                yield line_no, BadRow(line_no, "not UTF-8")
                continue
            if len(cells) != len(header):
                yield line_no, BadRow(line_no, f"{len(cells)} fields, the header has {len(header)}")
                continue
            yield line_no, {k: (v if v != "" else None) for k, v in zip(header, cells)}


def _has_surrogates(cells: list[str]) -> bool:
    return any(any("\udc80" <= ch <= "\udcff" for ch in c) for c in cells)


def _records(path: Path, fmt: str) -> Iterator[tuple[int, dict | BadRow]]:
    """(line or row number, record or BadRow) of a file in a known format, lazily."""
    return {"jsonl": _jsonl_records, "csv": _csv_records, "parquet": _parquet_records}[fmt](path)


def _parquet_file(path: Path):
    """The opened Parquet file (its footer read), or an InputError that says it is not one."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    try:
        return pq.ParquetFile(path)
    except (pa.ArrowException, OSError) as exc:
        raise InputError(f"{path}: not a readable Parquet file ({str(exc)[:120]})") from None


def _parquet_records(path: Path) -> Iterator[tuple[int, dict | BadRow]]:
    pf = _parquet_file(path)
    row = 0
    for batch in pf.iter_batches(batch_size=256):  # one batch of rows in memory at a time
        for record in batch.to_pylist():
            row += 1
            bad = [k for k, v in record.items() if isinstance(v, bytes)]
            for k in bad:
                try:
                    record[k] = record[k].decode("utf-8")
                except UnicodeDecodeError:
                    yield row, BadRow(row, f"column {k!r} is not UTF-8")
                    break
            else:
                yield row, record
