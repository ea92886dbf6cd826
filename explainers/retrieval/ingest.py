"""Documents in, chunks out: .txt .md .html .pdf .jsonl, chunked by sentences with a size limit and overlap.

Every chunk keeps its document id and name, title, character offsets into the document text, and page.
A bad file gets an ``IngestError`` naming it; the other files of a batch still load.
"""

from __future__ import annotations

import hashlib
import html.parser
import io
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError, not_a_file
from ..text.aggregate import sentence_spans

MAX_FILE_BYTES = 20 * 2**20
SUFFIXES = (".txt", ".md", ".html", ".htm", ".pdf", ".jsonl")


class IngestError(InputError):
    """A document that cannot be read; the message names the file."""


@dataclass(frozen=True)
class Document:
    doc_id: str
    name: str
    title: str
    text: str
    page_starts: tuple[int, ...] = (0,)  # char offset where each page begins (PDF); one page otherwise

    def page_of(self, offset: int) -> int:
        page = 1
        for k, start in enumerate(self.page_starts, 1):
            if offset >= start:
                page = k
        return page


@dataclass(frozen=True)
class Chunk:
    chunk_id: str
    doc_id: str
    doc_name: str
    title: str
    text: str
    start: int  # offsets in the document text: document.text[start:end] == text
    end: int
    page: int = 1
    metadata: dict[str, Any] = field(default_factory=dict)


class _TextOnly(html.parser.HTMLParser):
    """HTML to text without executing or fetching anything; script/style content is dropped."""

    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.parts: list[str] = []
        self.title = ""
        self._skip = 0
        self._in_title = False

    def handle_starttag(self, tag, attrs):
        if tag in ("script", "style", "noscript"):
            self._skip += 1
        if tag == "title":
            self._in_title = True
        if tag in ("p", "br", "div", "li", "h1", "h2", "h3", "h4", "tr", "section", "article"):
            self.parts.append("\n")

    def handle_endtag(self, tag):
        if tag in ("script", "style", "noscript") and self._skip:
            self._skip -= 1
        if tag == "title":
            self._in_title = False
        if tag in ("p", "div", "li", "h1", "h2", "h3", "h4"):
            self.parts.append("\n")

    def handle_data(self, data):
        if self._in_title:
            self.title += data
        elif not self._skip:
            self.parts.append(data)


def _decode(data: bytes, name: str) -> str:
    if b"\x00" in data[:4096]:
        raise IngestError(f"{name}: looks like binary data, not text")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise IngestError(f"{name}: not UTF-8 text (byte {exc.start})") from exc


def _parse_jsonl(text: str, name: str) -> tuple[list[Document], list[str]]:
    docs, problems = [], []
    for n, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as exc:
            problems.append(f"{name}: line {n} is not JSON ({exc.msg})")
            continue
        except RecursionError:  # e.g. 100,000 nested brackets: Python's decoder gives up, the file does not
            problems.append(f"{name}: line {n} is nested too deep")
            continue
        if not isinstance(row, dict) or not isinstance(row.get("text"), str):
            problems.append(f"{name}: line {n} has no string field 'text'")
            continue
        body = row["text"]
        if body.strip():
            title, raw_id = row.get("title", ""), row.get("id")
            title = str(title) if isinstance(title, (str, int, float)) else ""
            scalar_id = isinstance(raw_id, (str, int)) and not isinstance(raw_id, bool) and raw_id
            doc_id = str(raw_id)[:200] if scalar_id else _doc_id(f"{name}:{n}", body)
            docs.append(Document(doc_id, f"{name}:{n}", title[:500], body))
    return docs, problems


def _doc_id(name: str, text: str) -> str:
    return hashlib.sha256((name + "\0" + text).encode("utf-8")).hexdigest()[:12]


def parse_document(data: bytes, name: str, skipped: list[str] | None = None) -> list[Document]:
    """Parse one file's bytes; .jsonl gives one document per line (fields text, title, id).

    A bad .jsonl line (not JSON, nested too deep, no text) is skipped and described in ``skipped`` when a list
    is given; the valid lines are kept. A file with no usable line raises ``IngestError``.
    """
    if not data:
        raise IngestError(f"{name}: the file is empty")
    if len(data) > MAX_FILE_BYTES:
        raise IngestError(f"{name}: {len(data):,} bytes is over the limit of {MAX_FILE_BYTES:,}")
    suffix = Path(name).suffix.lower()
    if suffix not in SUFFIXES:
        raise IngestError(f"{name}: unsupported file type {suffix or '(none)'}; use {', '.join(SUFFIXES)}")
    if suffix == ".pdf":
        return [_parse_pdf(data, name)]
    text = _decode(data, name)
    if suffix == ".jsonl":
        docs, problems = _parse_jsonl(text, name)
        if not docs:
            more = f", and {len(problems) - 1} more bad lines" if len(problems) > 1 else ""
            raise IngestError(f"{name}: no line with text" + (f" ({problems[0]}{more})" if problems else ""))
        if skipped is not None:
            skipped.extend(problems)
        return docs
    title = ""
    if suffix in (".html", ".htm"):
        parser = _TextOnly()
        parser.feed(text)
        title = " ".join(parser.title.split())
        text = "\n".join(" ".join(line.split()) for line in "".join(parser.parts).splitlines())
        text = "\n\n".join(p for p in text.split("\n") if p.strip())
    elif suffix == ".md":
        first = next((line for line in text.splitlines() if line.strip()), "")
        title = first.lstrip("# ").strip() if first.startswith("#") else ""
    if not text.strip():
        raise IngestError(f"{name}: no text in the file")
    return [Document(_doc_id(name, text), name, title or Path(name).stem, text)]


def _parse_pdf(data: bytes, name: str) -> Document:
    import logging

    from pypdf import PdfReader
    from pypdf.errors import PdfReadError

    # pypdf logs a warning for each flaw of a malformed file (printed before our one-line error on the command
    # line); a file it cannot read is refused by the error below, one that it can is read
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    try:
        reader = PdfReader(io.BytesIO(data))
        pages = [(page.extract_text() or "") for page in reader.pages]
    except (PdfReadError, ValueError, KeyError, TypeError, OSError) as exc:
        raise IngestError(f"{name}: not a readable PDF ({exc})") from exc
    except Exception as exc:  # noqa: BLE001 - a malformed PDF can break the parser anywhere; it is still bad input
        raise IngestError(f"{name}: not a readable PDF ({type(exc).__name__})") from exc
    starts, text = [], ""
    for page in pages:
        starts.append(len(text))
        text += page.strip() + "\n\n"
    if not text.strip():
        raise IngestError(f"{name}: the PDF has no extractable text (scanned images need OCR)")
    title = ""
    try:
        title = str((reader.metadata or {}).get("/Title") or "")
    except (PdfReadError, ValueError, TypeError):
        title = ""
    return Document(_doc_id(name, text), name, title or Path(name).stem, text, tuple(starts))


def normalise_source_text(text: str) -> str:
    """A document's text as a source the model and grounding read: every run of whitespace (line breaks, tabs,
    no-break spaces) becomes one space, ends stripped. The one rule for the CLI, the Audit page and the demos, so
    one document gives the same source, and the same audit key, wherever it comes in."""
    return " ".join(text.split())


def chunk_document(doc: Document, max_chars: int = 800, overlap_sentences: int = 1) -> list[Chunk]:
    """Greedy sentence packing up to ``max_chars``; consecutive chunks share ``overlap_sentences``."""
    if max_chars < 50:
        raise InputError("max_chars must be at least 50")
    sents = []
    for a, b in sentence_spans(doc.text):
        while b - a > max_chars:  # an over-long "sentence" (a table, a list): cut at a space
            cut = doc.text.rfind(" ", a, a + max_chars)
            cut = cut if cut > a else a + max_chars
            sents.append((a, cut))
            a = cut
            while a < b and doc.text[a].isspace():
                a += 1
        if b > a:
            sents.append((a, b))
    chunks, i = [], 0
    while i < len(sents):
        j = i
        while j + 1 < len(sents) and sents[j + 1][1] - sents[i][0] <= max_chars:
            j += 1
        a, b = sents[i][0], sents[j][1]
        chunks.append(Chunk(f"{doc.doc_id}#{len(chunks)}", doc.doc_id, doc.name, doc.title, doc.text[a:b], a, b,
                            doc.page_of(a)))
        if j + 1 >= len(sents):
            break
        i = max(i + 1, j + 1 - overlap_sentences)
    return chunks


def ingest_files(paths, max_chars: int = 800, overlap_sentences: int = 1):
    """Load and chunk many files: returns (documents, chunks, errors); a bad file does not stop the batch."""
    docs, chunks, errors = [], [], []
    for p in paths:
        p = Path(p)
        try:
            if not p.is_file():
                raise IngestError(not_a_file(p))
            if p.stat().st_size > MAX_FILE_BYTES:
                raise IngestError(f"{p}: {p.stat().st_size:,} bytes is over the limit of {MAX_FILE_BYTES:,}")
            skipped: list[str] = []
            for doc in parse_document(p.read_bytes(), str(p), skipped):
                docs.append(doc)
                chunks.extend(chunk_document(doc, max_chars, overlap_sentences))
            errors.extend(IngestError(problem) for problem in skipped)
        except IngestError as exc:
            errors.append(exc)
    return docs, chunks, errors


def chunks_from_texts(texts, max_chars: int = 800) -> list[Chunk]:
    """Sources pasted as plain strings (one document each)."""
    out = []
    for k, t in enumerate(texts, 1):
        if t and t.strip():
            out.extend(chunk_document(Document(_doc_id(f"source {k}", t), f"source {k}", f"Source {k}", t), max_chars))
    return out
