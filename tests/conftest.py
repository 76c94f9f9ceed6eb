"""Shared fixtures: the real corpus indexed with the deterministic hashing embedder (fast, no model)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from askknee.embedding import HASHING_MODEL, get_embedder
from askknee.index import build_index, save_index
from askknee.retrieval import Retriever
from askknee.settings import Settings

ROOT = Path(__file__).resolve().parents[1]
CORPUS = ROOT / "corpus"
PAGE = CORPUS / "knee-muscle-spasm.md"


@pytest.fixture(scope="session")
def fake_embedder():
    return get_embedder(HASHING_MODEL)


@pytest.fixture()
def corpus_dir(tmp_path) -> Path:
    """A writable copy of the default corpus."""
    d = tmp_path / "corpus"
    shutil.copytree(CORPUS, d)
    return d


@pytest.fixture(scope="session")
def fake_settings(tmp_path_factory) -> Settings:
    """Settings pointing at a hashing-embedder index of the real corpus (built once per session)."""
    index_dir = tmp_path_factory.mktemp("index")
    save_index(build_index(CORPUS, get_embedder(HASHING_MODEL)), index_dir)
    return Settings().with_(corpus_dir=CORPUS, index_dir=index_dir, model=HASHING_MODEL)


@pytest.fixture(scope="session")
def fake_retriever(fake_settings) -> Retriever:
    return Retriever.from_settings(fake_settings)


@pytest.fixture(scope="session")
def real_retriever() -> Retriever:
    """The default model over the committed index (one model load per test session)."""
    return Retriever.from_settings(Settings().with_(corpus_dir=CORPUS, index_dir=ROOT / "index"))


@pytest.fixture(scope="session")
def real_answerer(tmp_path_factory):
    """The default model, classifier and committed index (a copy: a stale index is rebuilt there)."""
    from askknee.answering import Answerer

    index_dir = tmp_path_factory.mktemp("real-index")
    default = Settings()
    if default.index_dir.is_dir():
        shutil.copytree(default.index_dir, index_dir, dirs_exist_ok=True)
    return Answerer.from_settings(default.with_(index_dir=index_dir))


# What makes a test slow: the real model, a server or a browser, Gradio's app, or a fitted adapter.
# `pytest -m "not slow"` is the fast tier; the README's command runs everything.
SLOW_FIXTURES = {"real_retriever", "real_answerer", "recorder_server", "hashing_server", "app_url", "listed_app",
                 "browser", "fitted", "exported", "onnx_cache", "headache", "client_factory", "client", "make"}


def pytest_collection_modifyitems(items):
    for item in items:
        if (item.get_closest_marker("integration") or item.get_closest_marker("browser")
                or SLOW_FIXTURES & set(getattr(item, "fixturenames", ()))):
            item.add_marker(pytest.mark.slow)
