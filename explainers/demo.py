"""The bundled demo: documents and questions under ``assets/`` (written for AuditLens, no model data)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

from .errors import InputError
from .retrieval.ingest import normalise_source_text, parse_document


def assets_dir() -> Path:
    """``assets/`` beside the package (editable install or source tree); ``AUDITLENS_ASSETS_DIR`` overrides."""
    path = Path(os.environ.get("AUDITLENS_ASSETS_DIR") or Path(__file__).resolve().parents[1] / "assets")
    if not (path / "demo_questions.json").is_file():
        raise InputError(f"the demo assets are not at {path}: run from the AuditLens source tree "
                         "(pip install -e .) or set AUDITLENS_ASSETS_DIR")
    return path


@dataclass(frozen=True)
class DemoCase:
    case_id: str
    question: str
    sources: tuple[str, ...]  # one text per bundled document
    source_names: tuple[str, ...]
    answer: str


def load_demos() -> list[DemoCase]:
    root = assets_dir()
    spec = json.loads((root / "demo_questions.json").read_text(encoding="utf-8"))
    cases = []
    for q in spec["questions"]:
        texts, names = [], []
        for name in q["documents"]:
            for doc in parse_document((root / "documents" / name).read_bytes(), name):
                body = doc.text
                if name.endswith(".md"):  # drop the heading line; the title is kept as the name
                    body = "\n".join(line for line in body.splitlines() if not line.startswith("#"))
                texts.append(normalise_source_text(body))
                names.append(doc.title or name)
        cases.append(DemoCase(q["id"], q["question"], tuple(texts), tuple(names), q["answer"]))
    return cases
