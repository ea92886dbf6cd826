"""A FAISS index of chunk embeddings, persisted with its chunks and a manifest; written atomically."""

from __future__ import annotations

import dataclasses
import json
import re
import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from ..errors import InputError
from ..models import Embedder
from .ingest import Chunk

INDEX_VERSION = 1


class IndexMismatchError(InputError):
    """The index was built with another embedding model (or another version)."""


class ChunkIndex:
    def __init__(self, embedder: Embedder):
        import faiss

        self.embedder = embedder
        self.index = faiss.IndexFlatIP(embedder.dimension)  # cosine: embeddings are L2-normalised
        self.chunks: list[Chunk] = []

    def __len__(self) -> int:
        return len(self.chunks)

    def add(self, chunks: list[Chunk], batch_size: int = 64) -> int:
        known = {c.chunk_id for c in self.chunks}
        new = [c for c in chunks if c.chunk_id not in known]
        if new:
            vecs = self.embedder.encode([c.text for c in new], batch_size=batch_size)
            self.index.add(vecs)
            self.chunks.extend(new)
        return len(new)

    def search(self, query: str, k: int = 5) -> list[tuple[Chunk, float]]:
        if not query.strip():
            raise InputError("the query is empty")
        if not self.chunks:
            return []
        scores, ids = self.index.search(self.embedder.encode([query]), min(k, len(self.chunks)))
        return [(self.chunks[i], float(s)) for s, i in zip(scores[0], ids[0]) if i >= 0]

    def save(self, directory: str | Path) -> Path:
        """Write to a temp folder beside ``directory`` and rename it into place."""
        import faiss

        directory = Path(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=directory.name + ".tmp-", dir=directory.parent))
        try:
            faiss.write_index(self.index, str(tmp / "index.faiss"))
            with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
                for c in self.chunks:
                    fh.write(json.dumps(dataclasses.asdict(c), ensure_ascii=False) + "\n")
            manifest = {"version": INDEX_VERSION, "embedding_model": self.embedder.model_id,
                        "dimension": self.embedder.dimension, "chunks": len(self.chunks)}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
            old = None
            if directory.exists():
                old = directory.with_name(directory.name + ".old-" + next(tempfile._get_candidate_names()))
                os.replace(directory, old)
            os.replace(tmp, directory)
            if old is not None:
                shutil.rmtree(old, ignore_errors=True)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)
        return directory

    @classmethod
    def load(cls, directory: str | Path, embedder: Embedder) -> "ChunkIndex":
        import faiss

        directory = Path(directory)
        manifest_path = directory / "manifest.json"
        if not manifest_path.is_file():
            raise InputError(f"{directory} is not an AuditLens index (no manifest.json)")
        manifest = json.loads(manifest_path.read_text())
        if manifest.get("version") != INDEX_VERSION:
            raise IndexMismatchError(f"{directory}: index version {manifest.get('version')} is not {INDEX_VERSION}; rebuild it")
        if manifest.get("embedding_model") != embedder.model_id or manifest.get("dimension") != embedder.dimension:
            raise IndexMismatchError(
                f"{directory} was built with the embedder {manifest.get('embedding_model')!r} "
                f"({manifest.get('dimension')} dimensions); this run uses {embedder.model_id!r} "
                f"({embedder.dimension}). Rebuild the index or use the same embedder.")
        out = cls(embedder)
        out.index = faiss.read_index(str(directory / "index.faiss"))
        with open(directory / "chunks.jsonl", encoding="utf-8") as fh:
            out.chunks = [Chunk(**json.loads(line)) for line in fh if line.strip()]
        if out.index.ntotal != len(out.chunks):
            raise InputError(f"{directory}: the index holds {out.index.ntotal} vectors for {len(out.chunks)} chunks")
        return out

    def embeddings(self) -> np.ndarray:
        return self.index.reconstruct_n(0, self.index.ntotal)


_INDEX_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_-]{0,63}")


def named_index_dir(name: str, root: str | Path | None = None) -> Path:
    """The folder of a named index inside the data directory; a name can never leave it (no '/', '..')."""
    from ..store import data_dir

    if not isinstance(name, str) or not _INDEX_NAME.fullmatch(name):
        raise InputError(f"index names use letters, digits, '-' and '_' (up to 64), not {name!r}")
    return Path(root or data_dir() / "indexes") / name


def list_named_indexes(root: str | Path | None = None) -> list[str]:
    from ..store import data_dir

    base = Path(root or data_dir() / "indexes")
    if not base.is_dir():
        return []
    return sorted(p.name for p in base.iterdir() if p.is_dir() and _INDEX_NAME.fullmatch(p.name)
                  and (p / "manifest.json").is_file())
