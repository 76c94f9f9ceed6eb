"""The ONNX Runtime embedder: sentence-transformers' vectors, one cached export, safe fallbacks, no torch when serving."""

from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from askknee import onnx_encoder
from askknee.embedding import (
    HashingEmbedder,
    OnnxEmbedder,
    SentenceTransformerEmbedder,
    get_embedder,
)
from askknee.errors import ModelError

ROOT = Path(__file__).resolve().parents[1]
MODEL = "all-MiniLM-L6-v2"
# ~400 word pieces: beyond MiniLM's 256-token limit, so it is truncated.
LONG = " ".join(f"spasm{i} knee cramp" for i in range(130))
TEXTS = ["knee", "How do I stop a knee muscle spasm at night?", LONG,
         "Can dehydration cause cramps behind the knee, and should I drink more water or take magnesium?", ""]


@pytest.fixture(scope="session")
def onnx_cache(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("askknee-cache")


@pytest.fixture(autouse=True)
def _cache_env(monkeypatch, onnx_cache):
    """No test writes to ~/.cache; the backend is the default unless a test says otherwise."""
    monkeypatch.setenv("ASKKNEE_CACHE_DIR", str(onnx_cache))
    monkeypatch.delenv("ASKKNEE_BACKEND", raising=False)


@pytest.fixture(scope="session")
def reference() -> SentenceTransformerEmbedder:
    return SentenceTransformerEmbedder(MODEL)


@pytest.fixture(scope="session")
def exported(onnx_cache, reference) -> OnnxEmbedder:
    """The one real export of the session, into the session's cache folder.

    Made by a fresh process, as a server's first start would: it must serve ONNX vectors without
    ever importing torch itself (the export runs in a child process of its own).
    """
    script = textwrap.dedent("""
        import sys
        from askknee.embedding import OnnxEmbedder
        embedder = OnnxEmbedder("all-MiniLM-L6-v2")
        assert embedder.backend == "onnx"
        assert embedder.encode(["knee"]).shape == (1, 384)
        heavy = sorted({"torch", "transformers", "sentence_transformers", "onnxscript"} & set(sys.modules))
        assert not heavy, heavy
        print("ok")
    """)
    env = {**os.environ, "ASKKNEE_CACHE_DIR": str(onnx_cache)}
    env.pop("ASKKNEE_BACKEND", None)
    run = subprocess.run([sys.executable, "-c", script], check=False, env=env, capture_output=True, text=True,
                         timeout=900)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-2000:]
    assert len(cached_files(onnx_cache)) == 1
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("ASKKNEE_CACHE_DIR", str(onnx_cache))
        mp.setattr(onnx_encoder, "export_model", _refuse)  # from the cache, not a second export
        embedder = OnnxEmbedder(MODEL, reference=reference)
        assert embedder.backend == "onnx"
    return embedder


@pytest.fixture(scope="session")
def session_bytes(exported, onnx_cache) -> bytes:
    """The session export, to stand in for a second real export."""
    return cached_files(onnx_cache)[0].read_bytes()


def cached_files(cache: Path) -> list[Path]:
    return sorted((cache / "onnx").glob("*.onnx")) if (cache / "onnx").is_dir() else []


def cosines(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return np.sum(a * b, axis=1)


def warnings_of(caplog) -> list[str]:
    return [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]


# ---- the real model ------------------------------------------------------------------------

@pytest.mark.integration
def test_same_vectors_as_sentence_transformers(exported, reference):
    assert exported.dimension == reference.dimension == 384
    batch = exported.encode(TEXTS)  # one padded batch of mixed lengths
    assert batch.dtype == np.float32 and batch.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(np.linalg.norm(batch, axis=1), 1.0, atol=1e-5)
    assert cosines(batch, reference.encode(TEXTS)).min() >= 0.9999
    singles = np.vstack([exported.encode([t]) for t in TEXTS])
    assert cosines(singles, batch).min() >= 0.9999


@pytest.mark.integration
def test_committed_index_accepts_the_onnx_vectors(exported):
    from askknee.index import MANIFEST, same_model

    manifest = json.loads((ROOT / "index" / MANIFEST).read_text(encoding="utf-8"))
    assert manifest["model"] == exported.name == MODEL
    assert same_model(manifest, exported)  # the probe check: no rebuild when switching backends


@pytest.mark.integration
def test_long_text_is_truncated_like_sentence_transformers(exported, reference):
    longer = LONG + " and what comes after the limit changes nothing"
    ours = exported.encode([LONG, longer])
    assert float(ours[0] @ ours[1]) >= 0.99999  # both cut at 256 tokens
    assert cosines(ours, reference.encode([LONG, longer])).min() >= 0.9999


@pytest.mark.integration
def test_more_than_one_batch_keeps_the_order(exported, reference):
    texts = [f"question {i} about knee spasm {'and stretching ' * (i % 7)}" for i in range(70)]
    assert cosines(exported.encode(texts), reference.encode(texts)).min() >= 0.9999


@pytest.mark.integration
def test_second_load_reuses_the_cache(exported, reference, onnx_cache, monkeypatch, caplog):
    assert len(cached_files(onnx_cache)) == 1
    monkeypatch.setattr(onnx_encoder, "export_model", _refuse)
    again = OnnxEmbedder(MODEL, reference=reference)
    assert again.backend == "onnx"
    assert cosines(again.encode(TEXTS[:3]), exported.encode(TEXTS[:3])).min() >= 0.99999
    assert warnings_of(caplog) == []


def _refuse(*_a, **_k):
    raise RuntimeError("export must not run")


@pytest.mark.integration
def test_corrupt_cache_file_is_exported_again(session_bytes, reference, tmp_path, monkeypatch):
    good = session_bytes
    monkeypatch.setenv("ASKKNEE_CACHE_DIR", str(tmp_path))
    spec = onnx_encoder.inspect_model(_model_dir())
    target = onnx_encoder.cache_path(MODEL, spec)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"not an onnx model")
    monkeypatch.setattr(onnx_encoder, "export_model", lambda *_: good)
    assert OnnxEmbedder(MODEL, reference=reference).backend == "onnx"
    assert target.read_bytes() == good


@pytest.mark.integration
@pytest.mark.parametrize("breakage", ["no onnxruntime", "export raises", "export process fails"])
def test_fallback_gives_sentence_transformers_vectors_and_one_warning(
        breakage, session_bytes, reference, tmp_path, monkeypatch, caplog):
    monkeypatch.setenv("ASKKNEE_CACHE_DIR", str(tmp_path))  # empty cache: forces an export
    if breakage == "no onnxruntime":
        monkeypatch.setitem(sys.modules, "onnxruntime", None)  # makes `import onnxruntime` fail
    elif breakage == "export raises":
        monkeypatch.setattr(onnx_encoder, "export_model", _refuse)
    else:  # the child exits non-zero (as when its check fails): the real subprocess call, a broken interpreter
        monkeypatch.setattr(onnx_encoder.sys, "executable", sys.executable + "-missing")
    with caplog.at_level(logging.INFO, logger="askknee"):
        embedder = OnnxEmbedder(MODEL, reference=reference)
        vectors = embedder.encode(TEXTS)
    assert embedder.backend == "torch"
    np.testing.assert_array_equal(vectors, reference.encode(TEXTS))
    fallbacks = [w for w in warnings_of(caplog) if "using sentence-transformers" in w]
    assert len(fallbacks) == 1, warnings_of(caplog)
    assert cached_files(tmp_path) == []  # nothing unverified is left behind


@pytest.mark.integration
def test_unwritable_cache_serves_the_export_from_memory(session_bytes, reference, tmp_path, monkeypatch, caplog):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    monkeypatch.setenv("ASKKNEE_CACHE_DIR", str(blocker / "cache"))  # mkdir fails, even for root
    monkeypatch.setattr(onnx_encoder, "export_model", lambda *_: session_bytes)  # skip a second real export
    with caplog.at_level(logging.INFO, logger="askknee"):
        embedder = OnnxEmbedder(MODEL, reference=reference)
        vectors = embedder.encode(TEXTS)
    assert embedder.backend == "onnx"
    assert cosines(vectors, reference.encode(TEXTS)).min() >= 0.9999
    assert len(warnings_of(caplog)) == 1 and "cannot write the cache" in warnings_of(caplog)[0]


@pytest.mark.integration
@pytest.mark.parametrize("cosine", [0.93, float("nan")])  # 0.93: what the legacy exporter gave
def test_export_process_writes_nothing_when_the_check_fails(session_bytes, tmp_path, monkeypatch, capsys, cosine):
    monkeypatch.setattr(onnx_encoder, "export_onnx", lambda *_: session_bytes)  # skip a real export
    monkeypatch.setattr(onnx_encoder, "verify", lambda *_: cosine)
    out = tmp_path / "model.onnx"
    assert onnx_encoder.export_main([_model_dir(), str(out)]) == 1
    assert not out.exists()
    assert "exported vectors differ" in capsys.readouterr().err


@pytest.mark.integration
def test_export_process_writes_the_checked_model(session_bytes, tmp_path, monkeypatch):
    monkeypatch.setattr(onnx_encoder, "export_onnx", lambda *_: session_bytes)  # the check itself is real
    out = tmp_path / "model.onnx"
    assert onnx_encoder.export_main([_model_dir(), str(out)]) == 0
    assert out.read_bytes() == session_bytes


def _model_dir() -> str:
    from askknee.embedding import resolve_model_path

    return resolve_model_path(MODEL)


@pytest.mark.integration
def test_serving_imports_no_torch_when_the_cache_is_warm(exported, onnx_cache, tmp_path):
    index = tmp_path / "index"
    shutil.copytree(ROOT / "index", index)  # a stale copy may be rebuilt; the committed one never is
    script = textwrap.dedent("""
        import sys
        import askknee.web
        from askknee.answering import Answerer
        from askknee.retrieval import Retriever
        from askknee.settings import Settings
        retriever = Retriever.from_settings(Settings())
        hits = retriever.search("how do I stop a knee spasm at night", k=5)
        assert len(hits) == 5, hits
        askknee.web.build_demo(Answerer(retriever))
        assert retriever.embedder.backend == "onnx"
        assert retriever.adapter is not None  # the committed query adapter, applied without torch
        heavy = sorted({"torch", "transformers", "sentence_transformers", "onnxscript"} & set(sys.modules))
        assert not heavy, heavy
        print("ok")
    """)
    env = {**os.environ, "ASKKNEE_CACHE_DIR": str(onnx_cache), "ASKKNEE_INDEX": str(index),
           "ASKKNEE_CORPUS": str(ROOT / "corpus")}
    env.pop("ASKKNEE_BACKEND", None)
    run = subprocess.run([sys.executable, "-c", script], check=False, env=env, capture_output=True, text=True,
                         timeout=300)
    assert run.returncode == 0 and run.stdout.strip().endswith("ok"), run.stderr[-2000:]


# ---- no model needed -----------------------------------------------------------------------

def test_backend_setting_picks_the_embedder(monkeypatch):
    from askknee.settings import Settings

    assert isinstance(get_embedder(MODEL, Settings().backend), OnnxEmbedder)
    monkeypatch.setenv("ASKKNEE_BACKEND", "torch")
    assert isinstance(get_embedder(MODEL, Settings().backend), SentenceTransformerEmbedder)
    assert get_embedder(MODEL, "torch").name == MODEL
    assert isinstance(get_embedder("hashing", "torch"), HashingEmbedder)
    monkeypatch.setenv("ASKKNEE_BACKEND", "tensorflow")
    with pytest.raises(ModelError, match="ASKKNEE_BACKEND"):
        get_embedder(MODEL, Settings().backend)


def _st_folder(root: Path, *, modules=("Transformer", "Pooling", "Normalize"), pooling="mean") -> Path:
    root.mkdir(parents=True, exist_ok=True)
    paths = {"Transformer": "", "Pooling": "1_Pooling", "Normalize": "2_Normalize", "Dense": "2_Dense"}
    (root / "modules.json").write_text(json.dumps([
        {"idx": i, "name": str(i), "path": paths[m], "type": f"sentence_transformers.models.{m}"}
        for i, m in enumerate(modules)]))
    (root / "1_Pooling").mkdir(exist_ok=True)
    (root / "1_Pooling" / "config.json").write_text(json.dumps({
        "word_embedding_dimension": 8, "pooling_mode_cls_token": pooling == "cls",
        "pooling_mode_mean_tokens": pooling == "mean", "pooling_mode_max_tokens": False}))
    (root / "sentence_bert_config.json").write_text(json.dumps({"max_seq_length": 16, "do_lower_case": False}))
    (root / "tokenizer.json").write_text("{}")
    (root / "model.safetensors").write_bytes(b"weights")
    return root


def test_only_transformer_mean_pooling_models_are_exported(tmp_path):
    spec = onnx_encoder.inspect_model(_st_folder(tmp_path / "ok"))
    assert (spec.max_seq_length, spec.dimension) == (16, 8)
    assert onnx_encoder.inspect_model(_st_folder(tmp_path / "no-norm", modules=("Transformer", "Pooling")))
    for bad in (_st_folder(tmp_path / "cls", pooling="cls"),
                _st_folder(tmp_path / "dense", modules=("Transformer", "Pooling", "Dense", "Normalize")),
                tmp_path / "not-a-model"):
        with pytest.raises(onnx_encoder.Unsupported):
            onnx_encoder.inspect_model(bad)


def test_cache_name_follows_the_model_files(tmp_path, monkeypatch):
    folder = _st_folder(tmp_path / "m")
    first = onnx_encoder.cache_path("org/some model", onnx_encoder.inspect_model(folder))
    assert first.parent == Path(os.environ["ASKKNEE_CACHE_DIR"]) / "onnx"
    assert first.name.startswith("org_some_model-") and first.suffix == ".onnx"
    (folder / "model.safetensors").write_bytes(b"other weights")
    assert onnx_encoder.cache_path("org/some model", onnx_encoder.inspect_model(folder)) != first
    monkeypatch.delenv("ASKKNEE_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert onnx_encoder.cache_dir() == tmp_path / "xdg" / "askknee"


def test_unsupported_model_falls_back_with_one_warning(tmp_path, caplog):
    reference = HashingEmbedder(8, name="stand-in")
    embedder = OnnxEmbedder(str(_st_folder(tmp_path / "cls", pooling="cls")), reference=reference)
    with caplog.at_level(logging.INFO, logger="askknee"):
        assert embedder.backend == "torch"
        np.testing.assert_array_equal(embedder.encode(["knee"]), reference.encode(["knee"]))
    assert len(warnings_of(caplog)) == 1 and "mean-only" in warnings_of(caplog)[0]
