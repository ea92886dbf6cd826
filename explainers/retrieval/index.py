"""A FAISS index of chunk embeddings, persisted with its chunks and a manifest; written atomically."""

from __future__ import annotations

import dataclasses
import json
import re
import os
import shutil
import tempfile
from pathlib import Path
from typing import Callable

import numpy as np

from ..errors import InputError
from ..models import Embedder, embedder_id
from .ingest import Chunk

INDEX_VERSION = 1
INDEX_FILES = frozenset({"index.faiss", "chunks.jsonl", "manifest.json"})
MAX_MANIFEST_BYTES = 64 * 1024


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
        if isinstance(k, bool) or not isinstance(k, int) or k < 1:
            raise InputError(f"the number of chunks to retrieve must be a whole number of at least 1, not {k!r}")
        if not self.chunks:
            return []
        scores, ids = self.index.search(self.embedder.encode([query]), min(k, len(self.chunks)))
        return [(self.chunks[i], float(s)) for s, i in zip(scores[0], ids[0]) if i >= 0]

    def save(self, directory: str | Path) -> Path:
        """Write to a temp folder beside ``directory`` and rename it into place.

        ``directory`` must be new or hold an AuditLens index and nothing else (``check_index_target``):
        replacing it deletes the old folder, so anything that is not ours is refused first.
        """
        import faiss

        directory = check_index_target(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=directory.name + ".tmp-", dir=directory.parent))
        try:
            umask = _umask()
            if umask is not None:  # mkdtemp makes it 0700: the index gets the mode any new folder would have
                os.chmod(tmp, 0o777 & ~umask)
            faiss.write_index(self.index, str(tmp / "index.faiss"))
            with open(tmp / "chunks.jsonl", "w", encoding="utf-8") as fh:
                for c in self.chunks:
                    fh.write(json.dumps(dataclasses.asdict(c), ensure_ascii=False) + "\n")
            manifest = {"version": INDEX_VERSION, "embedding_model": self.embedder.model_id,
                        "dimension": self.embedder.dimension, "chunks": len(self.chunks)}
            (tmp / "manifest.json").write_text(json.dumps(manifest, indent=1))
            old = None
            if directory.exists():
                check_index_target(directory)  # again, just before the rename: it may have changed meanwhile
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
    def load(cls, directory: str | Path, embedder: Embedder | Callable[[], Embedder]) -> "ChunkIndex":
        """Read an index folder. ``embedder`` may be a function that loads it: every file is checked first,
        so a folder that is not a usable index is refused before a model is loaded."""
        import faiss

        directory = Path(directory)
        manifest = read_manifest(directory)
        if manifest["version"] != INDEX_VERSION:
            raise IndexMismatchError(f"{directory}: index version {manifest['version']} is not {INDEX_VERSION}; rebuild it")
        for name in ("index.faiss", "chunks.jsonl"):
            if not (directory / name).is_file():
                raise InputError(f"{directory}: the index has no {name}; rebuild it")
        try:
            vectors = faiss.read_index(str(directory / "index.faiss"))
        except RuntimeError as exc:  # faiss reports a damaged file as a RuntimeError with a C++ trace
            raise InputError(f"{directory}/index.faiss is not a readable FAISS index; rebuild it") from exc
        if vectors.d != manifest["dimension"]:
            raise InputError(f"{directory}: the vectors have {vectors.d} dimensions, the manifest says "
                             f"{manifest['dimension']}; rebuild the index")
        chunks = _read_chunks(directory / "chunks.jsonl")
        if vectors.ntotal != len(chunks):
            raise InputError(f"{directory}: the index holds {vectors.ntotal} vectors for {len(chunks)} chunks")
        if not hasattr(embedder, "model_id"):
            embedder = embedder()
        # embedder_id: an index written while "default" was recorded as the model's id still matches the default
        if embedder_id(manifest["embedding_model"]) != embedder.model_id or manifest["dimension"] != embedder.dimension:
            raise IndexMismatchError(
                f"{directory} was built with the embedder {manifest['embedding_model']!r} "
                f"({manifest['dimension']} dimensions); this run uses {embedder.model_id!r} "
                f"({embedder.dimension}). Rebuild the index or use the same embedder.")
        out = cls(embedder)
        out.index, out.chunks = vectors, chunks
        return out

    def embeddings(self) -> np.ndarray:
        return self.index.reconstruct_n(0, self.index.ntotal)


_CHUNK_FIELDS = tuple(f.name for f in dataclasses.fields(Chunk))


def _read_chunks(path: Path) -> list[Chunk]:
    """Chunks from an index's chunks.jsonl, each field checked (a crafted file is an error, not a traceback)."""
    chunks = []
    try:
        with open(path, encoding="utf-8") as fh:
            for n, line in enumerate(fh, 1):
                if not line.strip():
                    continue
                try:
                    row = json.loads(line)
                except (ValueError, RecursionError) as exc:
                    raise InputError(f"{path}:{n}: not a JSON object ({type(exc).__name__})") from None
                if not isinstance(row, dict) or set(row) - set(_CHUNK_FIELDS):
                    raise InputError(f"{path}:{n}: not a chunk (fields: {', '.join(_CHUNK_FIELDS)})")
                texts = ("chunk_id", "doc_id", "doc_name", "title", "text")
                ints = ("start", "end", "page")
                if (any(not isinstance(row.get(k), str) for k in texts)
                        or any(not isinstance(row.get(k, 1), int) or isinstance(row.get(k, 1), bool) for k in ints)
                        or not isinstance(row.get("metadata", {}), dict)):
                    raise InputError(f"{path}:{n}: a chunk field has the wrong type")
                chunks.append(Chunk(**row))
    except UnicodeDecodeError:
        raise InputError(f"{path}: not UTF-8 text") from None
    return chunks


def read_manifest(directory: str | Path) -> dict:
    """The manifest of an AuditLens index folder, checked; ``InputError`` when the folder holds none."""
    path = Path(directory) / "manifest.json"
    if not path.is_file():
        raise InputError(f"{directory} is not an AuditLens index (no manifest.json)")
    if path.stat().st_size > MAX_MANIFEST_BYTES:
        raise InputError(f"{path} is larger than {MAX_MANIFEST_BYTES:,} bytes: not an AuditLens manifest")
    try:
        manifest = json.loads(path.read_text(encoding="utf-8"))
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise InputError(f"{path} is not valid UTF-8 JSON: not an AuditLens manifest") from None
    if (not isinstance(manifest, dict) or not isinstance(manifest.get("embedding_model"), str)
            or type(manifest.get("dimension")) is not int or type(manifest.get("version")) is not int
            or type(manifest.get("chunks")) is not int):
        raise InputError(f"{path} is not an AuditLens manifest (it needs version, embedding_model, dimension "
                         "and chunks, with a text model name and whole numbers)")
    return manifest


def check_index_target(directory: str | Path) -> Path:
    """Where an index may be written: a new folder, or a folder holding only an AuditLens index (replaced).

    Anything else (a file, a folder with other content, '.', '..', a name too long) raises ``InputError``
    before any work is done, so building an index can never delete what is not ours.
    """
    raw = str(directory)
    path = Path(directory)
    if not raw.strip() or path.name in ("", ".", ".."):  # Path(".").name is ""
        raise InputError(f"{raw!r} cannot be an index folder: name a new folder (or an existing index)")
    if any(len(part.encode("utf-8", "surrogateescape")) > 255 for part in path.parts):
        raise InputError(f"the index folder name is longer than 255 bytes: {raw[:60]!r}...")
    if path.is_symlink() or (path.exists() and not path.is_dir()):
        raise InputError(f"{raw} exists and is not a folder: an index is written only to a new folder or "
                         "over an existing AuditLens index")
    if path.is_dir():
        others = sorted(p.name for p in path.iterdir() if p.name not in INDEX_FILES)
        if not (path / "manifest.json").is_file():
            raise InputError(f"{raw} exists and is not an AuditLens index (no manifest.json): an index is written "
                             "only to a new folder or over an existing index")
        read_manifest(path)
        if others:
            shown = ", ".join(others[:5]) + (f" and {len(others) - 5} more" if len(others) > 5 else "")
            raise InputError(f"{raw} holds an index and other files ({shown}); replacing the index would "
                             "delete them. Move them or choose another folder.")
    elif path.parent != path and path.parent.exists() and not path.parent.is_dir():
        raise InputError(f"{path.parent} is not a folder")
    return path


def _umask() -> int | None:
    """This process's umask, read without setting it (os.umask sets it, for every thread); None if unknown."""
    try:
        with open("/proc/self/status", encoding="ascii") as fh:
            for line in fh:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    return None


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
