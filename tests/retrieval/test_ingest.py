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
