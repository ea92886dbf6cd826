"""Untrusted documents: a bad JSONL line is skipped and named, the valid lines of the same file are kept."""

import json

import pytest

from explainers.retrieval.ingest import IngestError, ingest_files, parse_document


def test_a_jsonl_line_nested_100000_deep_loses_only_itself(tmp_path):
    lines = [json.dumps({"text": "The Eiffel Tower is 330 metres tall.", "title": "Tower"}),
             "[" * 100_000 + "]" * 100_000,
             "{not json",
             json.dumps({"text": 5}),
             json.dumps({"text": "The reef lies off Queensland.", "id": 7})]
    path = tmp_path / "docs.jsonl"
    path.write_text("\n".join(lines))
    skipped = []
    docs = parse_document(path.read_bytes(), "docs.jsonl", skipped)
    assert [d.text for d in docs] == ["The Eiffel Tower is 330 metres tall.", "The reef lies off Queensland."]
    assert [d.name for d in docs] == ["docs.jsonl:1", "docs.jsonl:5"] and docs[1].doc_id == "7"
    assert skipped == ["docs.jsonl: line 2 is nested too deep", "docs.jsonl: line 3 is not JSON (Expecting "
                       "property name enclosed in double quotes)", "docs.jsonl: line 4 has no string field 'text'"]
    docs, chunks, errors = ingest_files([path])
    assert len(docs) == 2 and len(chunks) == 2 and len(errors) == 3  # the batch goes on, each problem named
    assert all(isinstance(e, IngestError) for e in errors)


def test_a_jsonl_file_with_no_usable_line_names_its_problem():
    with pytest.raises(IngestError, match="no line with text .*line 1 is nested too deep, and 1 more"):
        parse_document(("[" * 5000 + "]" * 5000 + "\n{bad").encode(), "x.jsonl")


def test_one_source_text_normaliser_for_the_cli_the_page_and_the_demos(tmp_path):
    import re
    from pathlib import Path

    from explainers.cli import _source_texts
    from explainers.demo import assets_dir, load_demos
    from explainers.retrieval.ingest import normalise_source_text, parse_document

    assert normalise_source_text("  The tower\n\nis\u00a0330\tmetres  tall.\r\n") == "The tower is 330 metres tall."
    doc = tmp_path / "tower.md"
    doc.write_text("# Tower\n\nThe tower is\n330 metres tall.\n", encoding="utf-8")
    assert _source_texts([str(doc)]) == ["# Tower The tower is 330 metres tall."]
    case = load_demos()[0]  # the demo sources are the documents under the same rule (headings dropped)
    raw = parse_document((assets_dir() / "documents" / "eiffel_tower.md").read_bytes(), "eiffel_tower.md")[0].text
    body = "\n".join(line for line in raw.splitlines() if not line.startswith("#"))
    assert normalise_source_text(body) in case.sources
    root = Path(__file__).resolve().parents[2]
    copies = [str(p.relative_to(root)) for p in [*(root / "explainers").rglob("*.py"), *(root / "dashboard").rglob("*.py")]
              if re.search(r'" "\.join\((?:doc\.text|body)\.split\(\)\)', p.read_text(encoding="utf-8"))]
    assert copies == []
