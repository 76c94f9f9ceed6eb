"""Question -> ranked `[Hit]`: dense (FAISS) and lexical (BM25, bm25s) scores fused.

Fused score = w * cosine + (1 - w) * bm25 / (bm25 + h). Both parts are absolute (not
normalised per question), so one threshold separates answerable from unanswerable questions.
"""

from __future__ import annotations

import logging
import threading

import bm25s
import numpy as np
import Stemmer

from .chunking import search_text
from .embedding import Embedder, get_embedder
from .errors import QueryError
from .index import Index, open_index
from .settings import Settings
from .types import Hit
from .vocabulary import expand_query

MODES = ("fused", "dense", "lexical")
logging.getLogger("bm25s").setLevel(logging.WARNING)  # its index-building debug lines reach stderr


class LexicalIndex:
    """BM25 over passages with English stemming and stop words."""

    def __init__(self, texts: list[str]):
        self._stemmer = Stemmer.Stemmer("english")
        self._lock = threading.Lock()  # PyStemmer objects are not thread-safe
        self._bm25 = bm25s.BM25()
        self._bm25.index(self.tokenize(texts), show_progress=False)

    def tokenize(self, texts: list[str]) -> list[list[str]]:
        with self._lock:
            return bm25s.tokenize(texts, stopwords="en", stemmer=self._stemmer,
                                  return_ids=False, show_progress=False)

    def scores(self, text: str) -> np.ndarray:
        tokens = [t for t in self.tokenize([text])[0] if t in self._bm25.vocab_dict]
        if not tokens:
            return np.zeros(self._bm25.scores["num_docs"], dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)


class Retriever:
    """Finds the passages that answer a question; `search` returns ranked `Hit`s."""

    def __init__(self, index: Index, embedder: Embedder, settings: Settings | None = None):
        self.index = index
        self.embedder = embedder
        self.settings = settings or Settings()
        self.lexical = LexicalIndex([search_text(c) for c in index.chunks])
        self._n = len(index.chunks)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "Retriever":
        """Open (or rebuild) the index named by the settings and wrap it."""
        settings = settings or Settings()
        embedder = get_embedder(settings.model)
        index = open_index(settings.index_dir, settings.corpus_dir, embedder)
        return cls(index, embedder, settings)

    @property
    def chunks(self):
        return self.index.chunks

    def _dense(self, qvec: np.ndarray, candidates: int) -> np.ndarray:
        """Best cosine over each passage's views (0 for passages outside the candidates)."""
        fidx = self.index.faiss_index
        k = min(fidx.ntotal, candidates)
        sims, rows = fidx.search(qvec.reshape(1, -1), k)
        out = np.zeros(self._n, dtype=np.float32)
        valid = rows[0] >= 0
        owners = self.index.view_chunk[rows[0][valid]]
        np.maximum.at(out, owners, np.clip(sims[0][valid], 0, None))
        return out

    def _score(self, question: str, qvec: np.ndarray | None, mode: str, k: int) -> list[Hit]:
        w = self.settings.dense_weight
        h = self.settings.lexical_halfpoint
        n = self._n
        dense = self._dense(qvec, max(200, 20 * k) if n > 2000 else n) if mode != "lexical" else np.zeros(n, np.float32)
        if mode != "dense":
            raw = self.lexical.scores(expand_query(question))
            lexical = raw / (raw + h)
        else:
            lexical = np.zeros(n, np.float32)
        if mode == "dense":
            fused = dense
        elif mode == "lexical":
            fused = lexical
        else:
            fused = w * dense + (1 - w) * lexical
        k = min(k, n)
        top = np.argpartition(-fused, k - 1)[:k] if k < n else np.arange(n)
        # Ties broken by corpus order, so rankings are deterministic.
        top = sorted(top, key=lambda i: (-float(fused[i]), int(i)))
        return [
            Hit(chunk=self.index.chunks[i], score=float(fused[i]), rank=r,
                dense=float(dense[i]), lexical=float(lexical[i]))
            for r, i in enumerate(top, start=1)
        ]

    def search(self, question: str, k: int = 5, mode: str = "fused") -> list[Hit]:
        """Top-k passages for a question, best first."""
        return self.search_batch([question], k=k, mode=mode)[0]

    def search_batch(self, questions: list[str], k: int = 5, mode: str = "fused") -> list[list[Hit]]:
        """Top-k passages for each question; embeds all questions in one call."""
        if k < 1:
            raise QueryError(f"k must be at least 1 (got {k})")
        if mode not in MODES:
            raise QueryError(f"unknown retrieval mode {mode!r}; use one of {', '.join(MODES)}")
        questions = [q.strip() for q in questions]
        for q in questions:
            if not q:
                raise QueryError("the question is empty; type a question about the article")
        if mode == "lexical":
            vecs = [None] * len(questions)
        else:
            vecs = self.embedder.encode([expand_query(q) for q in questions])
        return [self._score(q, v, mode, k) for q, v in zip(questions, vecs)]
