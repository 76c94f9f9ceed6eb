"""Build, save, load and verify the FAISS index and its manifest.

`index/` is a folder of plain files: `vectors.faiss`, `chunks.jsonl`, `manifest.json`.

Saving is crash-safe: the new data files are first written in full beside the old ones under
names carrying their digest (`.vectors.faiss.<sha>.pending`), then the manifest is replaced
(the commit point), then the pending files are renamed into place. A crash before the commit
leaves the previous index untouched; a crash after it leaves a manifest whose files the loader
finds under their pending names. The manifest's digests catch anything else (hand edits, bit rot),
and a probe vector recorded at build time catches an index built by a different model of the
same name and dimension.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path

import faiss
import numpy as np

from . import __version__
from .chunking import CHUNKER_VERSION, chunk_corpus, passage_views
from .embedding import Embedder
from .errors import IndexFileError
from .files import atomic_write, fsync_dir
from .ingest import corpus_sha256, load_corpus
from .settings import ANN_THRESHOLD
from .types import Chunk, RelatedLink

log = logging.getLogger("askknee")

FORMAT = 1
VECTORS = "vectors.faiss"
CHUNKS = "chunks.jsonl"
MANIFEST = "manifest.json"
PROBE_TEXT = "askknee index probe: knee muscle spasm"
# Exact search is fast enough below this many vectors; above it an HNSW graph keeps p95 low.


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


def make_faiss_index(vectors: np.ndarray, ann_threshold: int = ANN_THRESHOLD) -> faiss.Index:
    """Exact inner product (cosine, as vectors are normalised) or HNSW above `ann_threshold` vectors."""
    d = vectors.shape[1]
    if len(vectors) > ann_threshold:
        idx = faiss.IndexHNSWFlat(d, 32, faiss.METRIC_INNER_PRODUCT)
        idx.hnsw.efConstruction = 80
        idx.hnsw.efSearch = 128
    else:
        idx = faiss.IndexFlatIP(d)
    idx.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return idx


def probe_vector(embedder: Embedder) -> list[float]:
    """The model's vector for a fixed text, rounded: a fingerprint of the weights, not just the name."""
    return [round(float(x), 4) for x in embedder.encode([PROBE_TEXT])[0]]


def same_model(manifest: dict, embedder: Embedder) -> bool:
    """False when the index's probe vector shows it was built by different weights (True if none recorded)."""
    probe = manifest.get("probe")
    if not probe:
        return True
    ours = np.asarray(probe_vector(embedder), dtype=np.float32)
    theirs = np.asarray(probe, dtype=np.float32)
    return ours.shape == theirs.shape and float(ours @ theirs) > 0.99


def build_index(corpus_dir: Path, embedder: Embedder, *, progress: bool = True,
                ann_threshold: int = ANN_THRESHOLD) -> Index:
    """Ingest, chunk and embed a corpus into an in-memory index."""
    articles = load_corpus(corpus_dir)
    chunks = chunk_corpus(articles)
    texts, owners = _view_map(chunks)
    vectors = embedder.encode(texts, progress=progress and len(texts) > 256)
    idx = make_faiss_index(vectors, ann_threshold)
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
        "probe": probe_vector(embedder),
        "articles": [{"id": a.id, "title": a.title, "url": a.url} for a in articles],
        "related": [{"title": r.title, "url": r.url} for r in related],
    }
    return Index(chunks=chunks, faiss_index=idx, view_chunk=owners, manifest=manifest, related=related)


def _pending(index_dir: Path, name: str, digest: str) -> Path:
    return index_dir / f".{name}.{digest[:16]}.pending"


def _leftovers(index_dir: Path) -> list[Path]:
    """Temporary and pending files of earlier, interrupted saves."""
    return [p for name in (VECTORS, CHUNKS, MANIFEST) for p in index_dir.glob(f".{name}.*")
            if p.suffix in (".tmp", ".pending")]


def save_index(index: Index, index_dir: Path) -> None:
    """Write the index crash-safely (see the module docstring); raises OSError when not writable."""
    index_dir = Path(index_dir)
    index_dir.mkdir(parents=True, exist_ok=True)
    data = {
        VECTORS: faiss.serialize_index(index.faiss_index).tobytes(),
        CHUNKS: "".join(json.dumps(c.to_dict(), ensure_ascii=False) + "\n" for c in index.chunks).encode(),
    }
    digests = {name: hashlib.sha256(body).hexdigest() for name, body in data.items()}
    pending = {name: _pending(index_dir, name, digests[name]) for name in data}
    for name, body in data.items():  # 1. new files in full, beside the live ones
        atomic_write(pending[name], body)
    manifest = dict(index.manifest)
    manifest["files"] = digests
    body = (json.dumps(manifest, indent=2, ensure_ascii=False) + "\n").encode()
    atomic_write(index_dir / MANIFEST, body)  # 2. commit
    fsync_dir(index_dir)
    index.manifest = manifest
    for name, p in pending.items():  # 3. into place; the loader also finds them if we stop here
        os.replace(p, index_dir / name)
    fsync_dir(index_dir)
    for p in _leftovers(index_dir):
        p.unlink(missing_ok=True)


def _data_file(index_dir: Path, name: str, digest: str | None) -> Path | None:
    """The file holding `name` with the manifest's digest: in place, or pending from an interrupted save."""
    live = index_dir / name
    if live.exists() and _sha256_file(live) == digest:
        return live
    if digest:
        p = _pending(index_dir, name, digest)
        if p.exists() and _sha256_file(p) == digest:
            try:  # finish the interrupted save; a read-only folder is served from the pending file
                os.replace(p, live)
                return live
            except OSError:
                return p
    return None


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
    paths = {}
    for name in (VECTORS, CHUNKS):
        found = _data_file(index_dir, name, files.get(name) if isinstance(files, dict) else None)
        if found is None:
            what = "does not match its manifest" if (index_dir / name).exists() else "missing"
            raise IndexFileError(f"index at {index_dir} is corrupt ({name} {what}); run `askknee build`")
        paths[name] = found
    try:
        fidx = faiss.read_index(str(paths[VECTORS]))
        chunks = [Chunk.from_dict(json.loads(line)) for line in
                  paths[CHUNKS].read_text(encoding="utf-8").splitlines() if line.strip()]
    except Exception as e:  # noqa: BLE001 - faiss raises RuntimeError, json ValueError, dicts KeyError
        raise IndexFileError(f"index at {index_dir} is corrupt ({type(e).__name__}); run `askknee build`") from None
    _texts, owners = _view_map(chunks)
    if fidx.d != dim or fidx.ntotal != len(owners):
        raise IndexFileError(f"index at {index_dir} is corrupt (vectors do not match passages); run `askknee build`")
    related = [RelatedLink(**r) for r in manifest.get("related", [])]
    return Index(chunks=chunks, faiss_index=fidx, view_chunk=owners, manifest=manifest, related=related)


def open_index(index_dir: Path, corpus_dir: Path, embedder: Embedder, ann_threshold: int = ANN_THRESHOLD) -> Index:
    """Load the index, or rebuild it (one log line saying why) when missing, stale or corrupt.

    When the rebuilt index cannot be saved (read-only folder) it is served from memory.
    """
    try:
        index = load_index(index_dir, model=embedder.name, corpus_dir=corpus_dir)
        if index.dimension != embedder.dimension:
            reason = f"index dimension {index.dimension} does not match model dimension {embedder.dimension}"
        elif not same_model(index.manifest, embedder):
            reason = f"index was built by different weights than model {embedder.name!r} (probe vector differs)"
        else:
            return index
    except IndexFileError as e:
        reason = str(e).split("; run")[0]
    log.warning("askknee: %s; rebuilding it from %s", reason, corpus_dir)
    index = build_index(corpus_dir, embedder, ann_threshold=ann_threshold)
    try:
        save_index(index, index_dir)
    except OSError as e:
        log.warning("askknee: cannot write the index to %s (%s); serving it from memory", index_dir, e.strerror)
    return index
