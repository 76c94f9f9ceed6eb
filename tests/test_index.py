"""Index round trip, manifest verification, automatic rebuilds, and a multi-article corpus."""

from __future__ import annotations

import json
import logging

import pytest

from askknee.embedding import HASHING_MODEL, get_embedder
from askknee.errors import IndexFileError
from askknee.index import build_index, load_index, open_index, save_index
from askknee.retrieval import Retriever
from askknee.settings import Settings

SECOND = """---
url: https://example.org/articles/hamstring-cramps
---
# Hamstring Cramps at Night

Night cramps in the hamstring wake many runners from sleep.

## Gentle Relief

- **Walk it off**: Standing and walking slowly often eases a hamstring cramp within a minute.

## Frequently Asked Questions

### Are night cramps dangerous?

Most night cramps are harmless, but frequent ones deserve a check-up.
"""


@pytest.fixture()
def built(corpus_dir, tmp_path, fake_embedder):
    index_dir = tmp_path / "index"
    save_index(build_index(corpus_dir, fake_embedder), index_dir)
    return corpus_dir, index_dir


def test_round_trip(built, fake_embedder):
    corpus_dir, index_dir = built
    assert sorted(p.name for p in index_dir.iterdir()) == ["chunks.jsonl", "manifest.json", "vectors.faiss"]
    idx = load_index(index_dir, model=HASHING_MODEL, corpus_dir=corpus_dir)
    fresh = build_index(corpus_dir, fake_embedder)
    assert idx.chunks == fresh.chunks
    assert idx.faiss_index.ntotal == fresh.faiss_index.ntotal
    m = json.loads((index_dir / "manifest.json").read_text())
    for key in ("model", "dimension", "corpus_sha256", "chunker_version", "package_version", "created"):
        assert key in m
    assert m["model"] == HASHING_MODEL and m["dimension"] == fake_embedder.dimension


def test_stale_corpus_is_detected_and_rebuilt(built, fake_embedder, caplog):
    corpus_dir, index_dir = built
    page = corpus_dir / "knee-muscle-spasm.md"
    page.write_text(page.read_text().replace("Gentle stretching exercises", "Gentle stretching moves"))
    with pytest.raises(IndexFileError, match="stale.*corpus changed"):
        load_index(index_dir, model=HASHING_MODEL, corpus_dir=corpus_dir)
    with caplog.at_level(logging.WARNING, logger="askknee"):
        idx = open_index(index_dir, corpus_dir, fake_embedder)
    assert [r.message for r in caplog.records if "rebuilding" in r.message] and len(caplog.records) == 1
    assert any("stretching moves" in c.text for c in idx.chunks)
    load_index(index_dir, model=HASHING_MODEL, corpus_dir=corpus_dir)  # saved, now fresh


def test_model_change_is_stale(built):
    corpus_dir, index_dir = built
    with pytest.raises(IndexFileError, match="built with model 'hashing'"):
        load_index(index_dir, model="hashing:64", corpus_dir=corpus_dir)


@pytest.mark.parametrize("damage", ["truncate-vectors", "garble-chunks", "delete-vectors", "bad-manifest"])
def test_corrupt_index_is_rebuilt(built, fake_embedder, damage, caplog):
    corpus_dir, index_dir = built
    if damage == "truncate-vectors":
        p = index_dir / "vectors.faiss"
        p.write_bytes(p.read_bytes()[:100])
    elif damage == "garble-chunks":
        p = index_dir / "chunks.jsonl"
        p.write_text(p.read_text().replace('"text"', '"txet"', 1))
    elif damage == "delete-vectors":
        (index_dir / "vectors.faiss").unlink()
    else:
        (index_dir / "manifest.json").write_text("{not json")
    with pytest.raises(IndexFileError, match="corrupt"):
        load_index(index_dir, model=HASHING_MODEL, corpus_dir=corpus_dir)
    with caplog.at_level(logging.WARNING, logger="askknee"):
        idx = open_index(index_dir, corpus_dir, fake_embedder)
    assert any("corrupt" in r.message for r in caplog.records)
    assert len(idx.chunks) > 30
    load_index(index_dir, model=HASHING_MODEL, corpus_dir=corpus_dir)


def test_dimension_mismatch_rebuilds_instead_of_crashing(built):
    corpus_dir, index_dir = built
    m = json.loads((index_dir / "manifest.json").read_text())
    other = get_embedder("hashing:64")
    m["model"] = other.name  # manifest claims the 64-d model but holds 256-d vectors
    (index_dir / "manifest.json").write_text(json.dumps(m))
    idx = open_index(index_dir, corpus_dir, other)
    assert idx.dimension == 64
    hits = Retriever(idx, other).search("why is my knee twitching", k=3)
    assert len(hits) == 3


def test_missing_index_is_built(corpus_dir, tmp_path, fake_embedder):
    idx = open_index(tmp_path / "none", corpus_dir, fake_embedder)
    assert (tmp_path / "none" / "manifest.json").exists() and idx.chunks


def test_second_article_searchable_with_its_own_urls(corpus_dir, tmp_path):
    (corpus_dir / "hamstring-cramps.md").write_text(SECOND)
    settings = Settings().with_(corpus_dir=corpus_dir, index_dir=tmp_path / "ix", model=HASHING_MODEL)
    r = Retriever.from_settings(settings)
    assert {a["id"] for a in r.index.manifest["articles"]} == {"knee-muscle-spasm", "hamstring-cramps"}
    top = r.search("hamstring cramp walking slowly", k=1)[0]
    assert top.chunk.article_id == "hamstring-cramps"
    assert top.chunk.url == "https://example.org/articles/hamstring-cramps#gentle-relief"
    faq = r.search("are night cramps dangerous", k=1)[0]
    assert faq.chunk.kind == "faq" and faq.chunk.url.endswith("#frequently-asked-questions")
    assert r.search("knee twitching", k=1)[0].chunk.url.startswith("https://docus.ai/")


def test_committed_index_matches_default_corpus():
    """The committed index/ must be fresh for the committed corpus and default model."""
    from conftest import CORPUS, ROOT
    from askknee.settings import DEFAULT_MODEL

    idx = load_index(ROOT / "index", model=DEFAULT_MODEL, corpus_dir=CORPUS)
    assert idx.dimension == 384
