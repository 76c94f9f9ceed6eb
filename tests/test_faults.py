"""Faults while starting or building: damaged, foreign or unwritable index; killed builds; bad corpus files.

The rule: rebuild or a clear error, never a wrong answer; a killed build leaves a loadable index.
"""

from __future__ import annotations

import json
import logging
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest

from askknee.answering import Answerer
from askknee.embedding import HASHING_MODEL, HashingEmbedder, get_embedder
from askknee.errors import CorpusError
from askknee.index import build_index, load_index, open_index, save_index
from askknee.retrieval import Retriever
from askknee.profile import load_profile
from askknee.settings import Settings

QUESTION = "why does my knee twitch"
ASKKNEE = Path(sys.executable).with_name("askknee")


@pytest.fixture()
def built(corpus_dir, tmp_path, fake_embedder):
    index_dir = tmp_path / "index"
    save_index(build_index(corpus_dir, fake_embedder), index_dir)
    return corpus_dir, index_dir


def _settings(corpus_dir, index_dir, model=HASHING_MODEL) -> Settings:
    return Settings().with_(corpus_dir=corpus_dir, index_dir=index_dir, model=model)


def _reference(corpus_dir, embedder=None):
    """Top hits and reply from a freshly built, in-memory index: what a correct start must give."""
    embedder = embedder or get_embedder(HASHING_MODEL)
    r = Retriever(build_index(corpus_dir, embedder, progress=False), embedder, profile=load_profile(corpus_dir))
    return [h.chunk.id for h in r.search(QUESTION, k=5)], Answerer(r).reply(QUESTION).text


def _assert_serves_correctly(settings, corpus_dir, embedder=None):
    answerer = Answerer.from_settings(settings)
    ids, text = _reference(corpus_dir, embedder)
    assert [h.chunk.id for h in answerer.retriever.search(QUESTION, k=5)] == ids
    assert answerer.reply(QUESTION).text == text
    return answerer


# --- damaged index at start ---------------------------------------------------------------------

DAMAGE = {
    "delete-vectors": lambda d: (d / "vectors.faiss").unlink(),
    "delete-chunks": lambda d: (d / "chunks.jsonl").unlink(),
    "delete-manifest": lambda d: (d / "manifest.json").unlink(),
    "delete-all": lambda d: [p.unlink() for p in d.iterdir()],
    "truncate-vectors": lambda d: (d / "vectors.faiss").write_bytes((d / "vectors.faiss").read_bytes()[:-7]),
    "truncate-chunks": lambda d: (d / "chunks.jsonl").write_bytes((d / "chunks.jsonl").read_bytes()[:500]),
    "truncate-manifest": lambda d: (d / "manifest.json").write_bytes((d / "manifest.json").read_bytes()[:40]),
    "empty-vectors": lambda d: (d / "vectors.faiss").write_bytes(b""),
    "zeroed-vectors": lambda d: (d / "vectors.faiss").write_bytes(bytes(len((d / "vectors.faiss").read_bytes()))),
    "swapped-chunk-lines": lambda d: (d / "chunks.jsonl").write_text(
        "".join(reversed((d / "chunks.jsonl").read_text().splitlines(keepends=True)))),
}


@pytest.mark.parametrize("damage", sorted(DAMAGE))
def test_damaged_index_at_start_is_rebuilt_and_answers_correctly(built, damage, caplog):
    corpus_dir, index_dir = built
    DAMAGE[damage](index_dir)
    with caplog.at_level(logging.WARNING, logger="askknee"):
        _assert_serves_correctly(_settings(corpus_dir, index_dir), corpus_dir)
    assert any("rebuilding" in r.getMessage() for r in caplog.records)
    load_index(index_dir, model=HASHING_MODEL, corpus_dir=corpus_dir)  # repaired on disk


def test_index_from_another_model_name_is_rebuilt(built, caplog):
    corpus_dir, index_dir = built  # built with "hashing" (256-d)
    other = get_embedder("hashing:64")
    with caplog.at_level(logging.WARNING, logger="askknee"):
        _assert_serves_correctly(_settings(corpus_dir, index_dir, "hashing:64"), corpus_dir, other)
    assert any("built with model 'hashing'" in r.getMessage() for r in caplog.records)
    assert json.loads((index_dir / "manifest.json").read_text())["model"] == "hashing:64"


def test_foreign_files_under_our_model_name_are_rebuilt(built, tmp_path, caplog):
    """Another model's files with a manifest relabelled (and re-digested) as ours: dimension differs."""
    corpus_dir, index_dir = built
    foreign = tmp_path / "foreign"
    save_index(build_index(corpus_dir, get_embedder("hashing:64")), foreign)
    m = json.loads((foreign / "manifest.json").read_text())
    m["model"] = HASHING_MODEL
    m.pop("probe", None)
    shutil.rmtree(index_dir)
    shutil.copytree(foreign, index_dir)
    (index_dir / "manifest.json").write_text(json.dumps(m))
    with caplog.at_level(logging.WARNING, logger="askknee"):
        _assert_serves_correctly(_settings(corpus_dir, index_dir), corpus_dir)
    assert any("dimension 64 does not match" in r.getMessage() for r in caplog.records)


class _OtherWeights(HashingEmbedder):
    """Same name and dimension as the fake model, different vectors (as after a model update)."""

    def encode(self, texts, *, progress=False):
        return np.roll(super().encode(texts), 17, axis=1)


def test_index_from_same_named_model_with_other_weights_is_rebuilt(built, caplog):
    corpus_dir, index_dir = built
    other = _OtherWeights(256, name=HASHING_MODEL)
    with caplog.at_level(logging.WARNING, logger="askknee"):
        idx = open_index(index_dir, corpus_dir, other)
    assert any("probe vector differs" in r.getMessage() for r in caplog.records)
    r = Retriever(idx, other)
    fresh = Retriever(build_index(corpus_dir, other), other)
    assert [h.chunk.id for h in r.search(QUESTION, k=5)] == [h.chunk.id for h in fresh.search(QUESTION, k=5)]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="askknee"):
        open_index(index_dir, corpus_dir, other)  # now fresh for these weights: no second rebuild
    assert not caplog.records


def test_unbuildable_index_is_a_clear_error_not_a_wrong_answer(built):
    """Damaged index and an unreadable corpus: the start fails loudly, naming what to fix."""
    corpus_dir, index_dir = built
    (index_dir / "vectors.faiss").write_bytes(b"junk")
    page = corpus_dir / "knee-muscle-spasm.md"
    page.write_bytes(page.read_text(encoding="utf-8").encode("utf-16"))
    with pytest.raises(CorpusError, match="knee-muscle-spasm.md.*UTF-8"):
        Answerer.from_settings(_settings(corpus_dir, index_dir))


# --- killed builds --------------------------------------------------------------------------------

# Runs `askknee build` with os.replace announcing each rename and pausing after the PAUSE_AT-th,
# so the test can SIGKILL it right after any step of save_index.
_SLOW_BUILD = """
import os, sys, time
real, pause_at, count = os.replace, int(os.environ["PAUSE_AT"]), [0]
def announced(src, dst, *a, **k):
    real(src, dst, *a, **k)
    count[0] += 1
    print("REPLACED", os.path.basename(str(dst)), flush=True)
    if count[0] == pause_at:
        time.sleep(120)
os.replace = announced
from askknee.cli import main
sys.exit(main(sys.argv[1:]))
"""


def _edit_corpus(corpus_dir: Path) -> None:
    page = corpus_dir / "knee-muscle-spasm.md"
    page.write_text(page.read_text().replace("Gentle stretching exercises", "Gentle stretching moves"))


def _chunk_texts(index_dir: Path) -> str:
    return " ".join(c.text for c in load_index(index_dir, model=HASHING_MODEL).chunks)


@pytest.mark.slow
@pytest.mark.parametrize("kill_after", [1, 2, 3, 4, 5])
def test_build_killed_after_each_write_leaves_a_loadable_index(built, kill_after):
    """Five renames: pending vectors, pending chunks, manifest (commit), vectors, chunks."""
    corpus_dir, index_dir = built
    before = _chunk_texts(index_dir)
    assert "stretching moves" not in before
    _edit_corpus(corpus_dir)
    proc = subprocess.Popen(
        [sys.executable, "-c", _SLOW_BUILD, "build", "--corpus", str(corpus_dir), "--index", str(index_dir),
         "--model", HASHING_MODEL],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env={**os.environ, "PAUSE_AT": str(kill_after)})
    try:
        seen = []
        deadline = time.monotonic() + 60
        while len(seen) < kill_after and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if line.startswith("REPLACED"):
                seen.append(line.split()[1])
        assert len(seen) == kill_after, f"build stopped early after {seen}"
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    after = _chunk_texts(index_dir)  # loads and verifies every digest; raises if inconsistent
    committed = "manifest.json" in seen
    assert ("stretching moves" in after) == committed
    assert after == before or committed
    # The next start serves the edited corpus, answering from it.
    _assert_serves_correctly(_settings(corpus_dir, index_dir), corpus_dir)
    assert not [p for p in index_dir.iterdir() if p.name.startswith(".")]  # leftovers cleaned


@pytest.mark.slow
def test_build_killed_at_random_times_never_breaks_the_index(tmp_path, fake_embedder):
    """Unpatched `askknee build` over a larger corpus, SIGKILLed at random moments."""
    from conftest import PAGE

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    text = PAGE.read_text()
    for i in range(24):
        (corpus / f"copy-{i:02d}.md").write_text(text.replace("Knee Muscle Spasm", f"Knee Muscle Spasm {i}"))
    index_dir = tmp_path / "index"
    save_index(build_index(corpus, fake_embedder), index_dir)
    cmd = [str(ASKKNEE), "build", "--corpus", str(corpus), "--index", str(index_dir), "--model", HASHING_MODEL]
    t = time.monotonic()
    subprocess.run(cmd, check=True, capture_output=True)
    full = time.monotonic() - t
    rng = random.Random(3)
    for i in range(5):
        (corpus / "copy-00.md").write_text(text.replace("Gentle stretching", f"Gentle stretching {i}"))
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(rng.uniform(0.3, 1.0) * full)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        idx = load_index(index_dir, model=HASHING_MODEL)  # old or new, but whole
        assert len(idx.chunks) == idx.manifest["chunks"] > 1000  # 24 copies x 43 passages


# --- unwritable index folder ---------------------------------------------------------------------

@pytest.fixture()
def read_only(monkeypatch):
    """Make a folder unwritable: chmod, plus refusing index writes there (root ignores chmod)."""
    dirs: list[Path] = []
    real_mkstemp = tempfile.mkstemp

    def mkstemp(*a, dir=None, **k):
        if dir is not None and Path(dir).resolve() in dirs:
            raise PermissionError(13, "Permission denied", str(dir))
        return real_mkstemp(*a, dir=dir, **k)

    monkeypatch.setattr(tempfile, "mkstemp", mkstemp)

    def make(d: Path) -> Path:
        d.mkdir(parents=True, exist_ok=True)
        dirs.append(d.resolve())
        os.chmod(d, 0o555)
        return d

    yield make
    for d in dirs:
        os.chmod(d, 0o755)


def test_read_only_stale_index_is_served_from_memory_with_a_warning(built, read_only, caplog):
    corpus_dir, index_dir = built
    _edit_corpus(corpus_dir)
    before = {p.name: p.read_bytes() for p in index_dir.iterdir()}
    read_only(index_dir)
    with caplog.at_level(logging.WARNING, logger="askknee"):
        answerer = _assert_serves_correctly(_settings(corpus_dir, index_dir), corpus_dir)
    assert any("serving it from memory" in r.getMessage() for r in caplog.records)
    assert any("stretching moves" in c.text for c in answerer.retriever.chunks)
    assert {p.name: p.read_bytes() for p in index_dir.iterdir()} == before


def test_read_only_missing_index_is_served_from_memory(corpus_dir, tmp_path, read_only, caplog):
    index_dir = read_only(tmp_path / "empty-index")
    with caplog.at_level(logging.WARNING, logger="askknee"):
        _assert_serves_correctly(_settings(corpus_dir, index_dir), corpus_dir)
    assert any("serving it from memory" in r.getMessage() for r in caplog.records)
    assert list(index_dir.iterdir()) == []


def test_read_only_fresh_index_loads_without_writing(built, read_only, caplog):
    corpus_dir, index_dir = built
    read_only(index_dir)
    with caplog.at_level(logging.WARNING, logger="askknee"):
        _assert_serves_correctly(_settings(corpus_dir, index_dir), corpus_dir)
    # The hashing model has no triage classifier or scope judge (those warnings are tested with
    # them); the index itself must load without a word.
    assert not [r for r in caplog.records if "no usable" not in r.getMessage()]


# --- corpus files that cannot be read --------------------------------------------------------------

def _utf16(text: str) -> bytes:
    return text.encode("utf-16")


BAD_FILES = {
    "latin-1": lambda t: t.replace("’", "'").encode("utf-8").replace(b"Knee Muscle", "Kn\xe9e Muscle".encode("latin-1")),
    "utf-16": _utf16,
    "binary": lambda t: bytes(range(256)) * 8,
    "empty": lambda t: b"",
    "no-title": lambda t: t.replace("# Knee Muscle Spasm", "Knee Muscle Spasm", 1).encode(),
    "unclosed-front-matter-yaml": lambda t: t.replace("url: https://", "url: [https://", 1).encode(),
    "front-matter-list": lambda t: t.replace("url: https://docus.ai/symptoms-guide/knee-muscle-spasm",
                                             "- just\n- a list", 1).encode(),
    "headings-only": lambda t: b"---\nurl: https://example.org/x\n---\n# Title\n\n## A\n\n## B\n",
    "unbalanced-markup": lambda t: b"---\nurl: https://example.org/x\n---\n# T\n\n```\n<div>[[[**\n",
}


@pytest.mark.parametrize("kind", sorted(BAD_FILES))
def test_bad_corpus_file_is_a_clear_error_naming_the_file(corpus_dir, tmp_path, kind):
    from conftest import PAGE

    bad = corpus_dir / "broken-article.md"
    bad.write_bytes(BAD_FILES[kind](PAGE.read_text(encoding="utf-8")))
    with pytest.raises(CorpusError) as e:
        Answerer.from_settings(_settings(corpus_dir, tmp_path / "index"))
    assert "broken-article.md" in str(e.value)
    assert not (tmp_path / "index" / "manifest.json").exists()


@pytest.mark.slow
def test_bad_corpus_file_in_cli_build_is_one_line_exit_2(corpus_dir, tmp_path):
    (corpus_dir / "broken-article.md").write_bytes(_utf16("# Title\n\nText.\n"))
    p = subprocess.run([str(ASKKNEE), "build", "--corpus", str(corpus_dir), "--index", str(tmp_path / "ix"),
                        "--model", HASHING_MODEL], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert "broken-article.md" in p.stderr and "Traceback" not in p.stderr
    assert len(p.stderr.strip().splitlines()) == 1
