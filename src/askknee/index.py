"""Build, save, load and verify the FAISS index and its manifest.

`index/` is a folder of plain files: `vectors.faiss`, `chunks.jsonl`, `manifest.json`.
Each is written to a temporary file and renamed into place, the manifest last, so a reader
sees either the old index or the new one; the manifest's file digests catch anything else.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import tempfile
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

from . import __version__
from .chunking import CHUNKER_VERSION, chunk_corpus, passage_views
from .embedding import Embedder
from .errors import IndexFileError
from .ingest import corpus_sha256, load_corpus
from .types import Chunk, RelatedLink

log = logging.getLogger("askknee")

FORMAT = 1
VECTORS = "vectors.faiss"
CHUNKS = "chunks.jsonl"
MANIFEST = "manifest.json"
# Exact search is fast enough below this many vectors; above it an HNSW graph keeps p95 low.
ANN_THRESHOLD = int(os.environ.get("ASKKNEE_ANN_THRESHOLD", "50000"))


@dataclass
class Index:
    """Passages, their view vectors and the manifest that describes them."""

    chunks: list[Chunk]
    faiss_index: faiss.Index
    view_chunk: np.ndarray  # faiss row -> position in `chunks`
    manifest: dict
    related: list[RelatedLink]

    @property
    def dimension(self) -> int:
        return int(self.faiss_index.d)


def _sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _view_map(chunks: list[Chunk]) -> tuple[list[str], np.ndarray]:
    texts, owners = [], []
    for i, c in enumerate(chunks):
        for v in passage_views(c):
            texts.append(v)
            owners.append(i)
    return texts, np.asarray(owners, dtype=np.int64)


def make_faiss_index(vectors: np.ndarray) -> faiss.Index:
    """Exact inner product (cosine, as vectors are normalised) or HNSW for large collections."""
    d = vectors.shape[1]
    if len(vectors) > ANN_THRESHOLD:
        idx = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = 80
        idx.hnsw.efSearch = 128
    else:
        idx = faiss.IndexFlatIP(d)
    idx.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return idx


def build_index(corpus_dir: Path, embedder: Embedder, *, progress: bool = True) -> Index:
    """Ingest, chunk and embed a corpus into an in-memory index."""
    articles = load_corpus(corpus_dir)
    chunks = chunk_corpus(articles)
    texts, owners = _view_map(chunks)
    vectors = embedder.encode(texts, progress=progress and len(texts) > 256)
    idx = make_faiss_index(vectors)
    related = list(dict.fromkeys(r for a in articles for r in a.related))
    manifest = {
        "format": FORMAT,
        "model": embedder.name,
        "dimension": int(vectors.shape[1]),
        "corpus_sha256": corpus_sha256(corpus_dir),
        "chunker_version": CHUNKER_VERSION,
        "package_version": __version__,
        "created": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "chunks": len(chunks),
        "vectors": int(idx.ntotal),
        "faiss_index": type(idx).__name__,
        "articles": [{"id": a.id, "title": a.title, "url": a.url} for a in articles],
        "related": [{"title": r.title, "url": r.url} for r in related],
    }
    return Index(chunks=chunks, faiss_index=idx, view_chunk=owners, manifest=manifest, related=related)


def _atomic_write(path: Path, write) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.chmod(tmp, 0o644)  # mkstemp makes 0600; index files are ordinary shared files
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_index(index: Index, index_dir: Path) -> None:
    """Write the index files atomically; raises OSError when the folder is not writable."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    vec_bytes = faiss.serialize_index(index.faiss_index).tobytes()
    chunk_bytes = "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in index.chunks).encode()
    _atomic_write(index_dir / VECTORS, lambda f: f.write(vec_bytes))
    _atomic_write(index_dir / CHUNKS, lambda f: f.write(chunk_bytes))
    manifest = dict(index.manifest)
    manifest["files"] = {
        VECTORS: hashlib.sha256(vec_bytes).hexdigest(),
        CHUNKS: hashlib.sha256(chunk_bytes).hexdigest(),
    }
    index.manifest = manifest
    body = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    _atomic_write(index_dir / MANIFEST, lambda f: f.write(body))


def load_index(index_dir: Path, *, model: str, corpus_dir: Path | None = None) -> Index:
    """Load and verify an index; raises IndexFileError saying why it is missing, stale or corrupt."""
    index_dir = Path(index_dir)
    mpath = index_dir / MANIFEST
    if not mpath.exists():
        raise IndexFileError(f"no index at {index_dir} (manifest.json missing); run `askknee build`")
    try:
        manifest = json.loads(mpath.read_text(encoding="utf-8"))
        files = manifest["files"]
        dim = int(manifest["dimension"])
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise IndexFileError(f"index at {index_dir} is corrupt (bad manifest: {e}); run `askknee build`") from None
    if manifest.get("format") != FORMAT or manifest.get("chunker_version") != CHUNKER_VERSION:
        raise IndexFileError(f"index at {index_dir} is stale (built by another askknee version); run `askknee build`")
    if manifest.get("model") != model:
        raise IndexFileError(
            f"index at {index_dir} is stale (built with model {manifest.get('model')!r}, not {model!r}); run `askknee build`"
        )
    if corpus_dir is not None and manifest.get("corpus_sha256") != corpus_sha256(corpus_dir):
        raise IndexFileError(f"index at {index_dir} is stale (corpus changed); run `askknee build`")
    for name in (VECTORS, CHUNKS):
        p = index_dir / name
        if not p.exists():
            raise IndexFileError(f"index at {index_dir} is corrupt ({name} missing); run `askknee build`")
        if _sha256_file(p) != files.get(name):
            raise IndexFileError(f"index at {index_dir} is corrupt ({name} does not match its manifest); run `askknee build`")
    try:
        fidx = faiss.read_index(str(index_dir / VECTORS))
        chunks = [Chunk.from_dict(json.loads(line)) for line in
                  (index_dir / CHUNKS).read_text(encoding="utf-8").splitlines() if line.strip()]
    except Exception as e:  # noqa: BLE001 - faiss raises RuntimeError, json ValueError, dicts KeyError
        raise IndexFileError(f"index at {index_dir} is corrupt ({type(e).__name__}); run `askknee build`") from None
    _texts, owners = _view_map(chunks)
    if fidx.d != dim or fidx.ntotal != len(owners):
        raise IndexFileError(f"index at {index_dir} is corrupt (vectors do not match passages); run `askknee build`")
    related = [RelatedLink(**r) for r in manifest.get("related", [])]
    return Index(chunks=chunks, faiss_index=fidx, view_chunk=owners, manifest=manifest, related=related)


def open_index(index_dir: Path, corpus_dir: Path, embedder: Embedder) -> Index:
    """Load the index, or rebuild it (one log line saying why) when missing, stale or corrupt.

    When the rebuilt index cannot be saved (read-only folder) it is served from memory.
    """
    try:
        index = load_index(index_dir, model=embedder.name, corpus_dir=corpus_dir)
        if index.dimension == embedder.dimension:
            return index
        reason = f"index dimension {index.dimension} does not match model dimension {embedder.dimension}"
    except IndexFileError as e:
        reason = str(e).split("; run")[0]
    log.warning("askknee: %s; rebuilding it from %s", reason, corpus_dir)
    index = build_index(corpus_dir, embedder)
    try:
        save_index(index, index_dir)
    except OSError as e:
        log.warning("askknee: cannot write the index to %s (%s); serving it from memory", index_dir, e.strerror)
    return index
