"""Index folders are untrusted input too: every file is checked before a model loads; k is checked, not asserted."""

import json

import pytest

from explainers.errors import InputError
from explainers.retrieval.index import ChunkIndex, check_index_target, read_manifest


class _NoModel:
    """Stands in for the embedder where the code must refuse before using it."""

    model_id, dimension = "all-minilm-l6-v2", 4

    def encode(self, texts, batch_size=64):
        raise AssertionError("the embedder must not be used")


def _never_load():
    raise AssertionError("the embedder must not be loaded for a bad index")


@pytest.mark.parametrize("k", [0, -1, 2.5, True])
def test_search_refuses_a_bad_k_with_an_error_not_an_assert(k):
    with pytest.raises(InputError, match="at least 1"):
        ChunkIndex(_NoModel()).search("Who designed it?", k)


MANIFEST = {"version": 1, "embedding_model": "all-minilm-l6-v2", "dimension": 4, "chunks": 1}


@pytest.mark.parametrize("files", [
    {"manifest.json": "[]"},
    {"manifest.json": '{"version": "1"}'},
    {"manifest.json": b"\xff\xfe"},
    {"manifest.json": "[" * 100_000},
    {"manifest.json": json.dumps(MANIFEST)},  # no vectors, no chunks
    {"manifest.json": json.dumps(MANIFEST), "index.faiss": "not faiss", "chunks.jsonl": "{}\n"},
])
def test_a_crafted_index_folder_is_refused_before_the_embedder_loads(tmp_path, files):
    for name, data in files.items():
        (tmp_path / name).write_bytes(data if isinstance(data, bytes) else data.encode())
    with pytest.raises(InputError):
        ChunkIndex.load(tmp_path, _never_load)


def test_crafted_chunks_are_refused(tmp_path):
    import faiss
    import numpy as np

    vectors = faiss.IndexFlatIP(4)
    vectors.add(np.ones((1, 4), dtype=np.float32))
    faiss.write_index(vectors, str(tmp_path / "index.faiss"))
    (tmp_path / "manifest.json").write_text(json.dumps(MANIFEST))
    for line in ('{"chunk_id": 1}', '{"__class__": "os.system"}', "[" * 100_000, '"text"'):
        (tmp_path / "chunks.jsonl").write_text(line + "\n")
        with pytest.raises(InputError, match="chunks.jsonl:1"):
            ChunkIndex.load(tmp_path, _never_load)


def test_index_targets(tmp_path):
    assert check_index_target(tmp_path / "new") == tmp_path / "new"
    (tmp_path / "idx").mkdir()
    (tmp_path / "idx" / "manifest.json").write_text(json.dumps(MANIFEST))
    assert read_manifest(tmp_path / "idx")["dimension"] == 4
    assert check_index_target(tmp_path / "idx") == tmp_path / "idx"  # ours: may be replaced
    (tmp_path / "idx" / "notes.txt").write_text("mine")
    for bad in (tmp_path / "idx", tmp_path / "idx" / "notes.txt", ".", "..", "", tmp_path / ("x" * 300)):
        with pytest.raises(InputError):
            check_index_target(bad)
