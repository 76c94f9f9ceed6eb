"""Question -> ranked `[Hit]`: dense (FAISS) and lexical (BM25, bm25s) scores fused.

Fused score = w * cosine + (1 - w) * bm25 / (bm25 + h). Both parts are absolute (not
normalised per question), so one threshold separates answerable from unanswerable questions.

The question is first rewritten: mistyped words repaired against the corpus vocabulary, then
lay wording expanded with clinical terms (`vocabulary.py`). The dense score blends the plain
cosine with the cosine after subtracting the mean passage vector (from query and passages
alike): every passage of a one-topic corpus shares the topic's direction ("knee muscle
spasm"), which otherwise drowns out what tells passages apart. It is a fixed change of origin,
the same for every question, so scores stay comparable across questions.

When the index folder holds a query adapter fitted on labelled questions (`adapter.py`), the
question's vector goes through it before the search, and the fused scores are raised twice from
its question memory: for passages judged relevant to the labelled questions nearest this one, then
for passages whose prototype (the mean of the questions judged relevant to them) is near it.
"""

from __future__ import annotations

import copy
import logging
import re
import threading
from dataclasses import dataclass

import bm25s
import numpy as np
import Stemmer
from bm25s.stopwords import STOPWORDS_EN

from . import adapter as adapters
from .chunking import search_text
from .embedding import Embedder, get_embedder
from .errors import QueryError
from .index import Index, open_index
from .params import Params, load_params
from .profile import Profile, load_profile
from .scoring import blend_centred, fuse, saturate
from .settings import Settings
from .types import Hit
from .vocabulary import GENERAL, Speller, Vocabulary

MODES = ("fused", "dense", "lexical")
logging.getLogger("bm25s").setLevel(logging.WARNING)  # its index-building debug lines reach stderr


class LexicalIndex:
    """BM25 over passages with English stemming and stop words."""

    def __init__(self, texts: list[str]):
        self._stemmer = Stemmer.Stemmer("english")
        self._lock = threading.Lock()  # PyStemmer objects are not thread-safe
        self._bm25 = bm25s.BM25()
        self._bm25.index(self.tokenize(texts), show_progress=False)

    # bm25s.tokenize's defaults (token pattern, lower-casing, English stop words), for one text:
    # its batch machinery costs ~0.3 ms a call, and replies tokenize dozens of short texts.
    _TOKEN = re.compile(r"(?u)\b\w\w+\b")
    _STOP = frozenset(STOPWORDS_EN)

    def tokenize(self, texts: list[str]) -> list[list[str]]:
        with self._lock:
            if len(texts) == 1:
                words = [w for w in self._TOKEN.findall(texts[0].lower()) if w not in self._STOP]
                return [self._stemmer.stemWords(words)]
            return bm25s.tokenize(texts, stopwords="en", stemmer=self._stemmer,
                                  return_ids=False, show_progress=False)

    @property
    def vocabulary(self) -> set[str]:
        """The stemmed words of the indexed passages."""
        return set(self._bm25.vocab_dict)

    def scores(self, text: str) -> np.ndarray:
        tokens = [t for t in self.tokenize([text])[0] if t in self._bm25.vocab_dict]
        if not tokens:
            return np.zeros(self._bm25.scores["num_docs"], dtype=np.float32)
        return np.asarray(self._bm25.get_scores(tokens), dtype=np.float32)


@dataclass(frozen=True)
class Query:
    """A question as the retriever reads it: as typed, as searched (typos repaired, lay wording
    expanded) and the model's vector of the searched text (before the query adapter)."""

    text: str
    searched: str
    vector: np.ndarray


class Retriever:
    """Finds the passages that answer a question: `query` reads it once, `rank` returns `Hit`s
    (`search` does both)."""

    def __init__(self, index: Index, embedder: Embedder, params: Params | None = None, *, rewrite: bool = True,
                 adapter: adapters.QueryAdapter | None = None, profile: Profile | None = None):
        """`profile` is the corpus's: its lay vocabulary is tried before the general one."""
        self.index = index
        self.embedder = embedder
        self.params = params or Params()
        self.rewrite = rewrite
        self.adapter = adapter
        self.profile = profile or Profile()
        self.vocabulary = Vocabulary(self.profile.vocabulary) if self.profile.vocabulary else GENERAL
        texts = [search_text(c) for c in index.chunks]
        self.lexical = LexicalIndex(texts)
        self.speller = Speller(texts, self.vocabulary)
        self._n = len(index.chunks)
        self._centering = _centering(index.faiss_index, index.view_chunk)

    def variant(self, **options) -> "Retriever":
        """The same index and models with other options (`params`, `rewrite`, `adapter`)."""
        other = copy.copy(self)
        for name, value in options.items():
            if name not in ("params", "rewrite", "adapter"):
                raise TypeError(f"unknown retriever option {name!r}")
            setattr(other, name, value)
        return other

    def query(self, question: str) -> Query:
        """The question read once: rewritten and embedded (what triage, retrieval and scope share)."""
        searched = self.rewrite_query(question.strip())
        return Query(question, searched, self.embedder.encode([searched])[0])

    def rank(self, query: Query, k: int = 5, mode: str = "fused") -> list[Hit]:
        """Top-k passages for a read question, best first."""
        _check(k, mode)
        vector = None if mode == "lexical" else self._adapted(np.asarray(query.vector, np.float32).reshape(1, -1))[0]
        return self._score(query.searched, vector, mode, k)

    # What the corpus says, as the lexical index reads it (for the scope judge and related articles).
    def stems(self, text: str) -> set[str]:
        """A text's stems as the lexical index makes them."""
        return set(self.lexical.tokenize([text])[0])

    @property
    def corpus_stems(self) -> set[str]:
        return self.lexical.vocabulary

    def fix_word(self, word: str) -> str:
        """The corpus word a mistyped word most likely meant (or the word)."""
        return self.speller.fix(word)

    @property
    def related(self):
        """The related-article links of the corpus's pages."""
        return self.index.related

    def rewrite_query(self, question: str) -> str:
        """What is searched for: typos repaired, lay wording expanded."""
        return self.vocabulary.expand(self.speller.correct(question)) if self.rewrite else question

    def question_vectors(self, questions: list[str]) -> np.ndarray:
        """Embeddings of the rewritten questions, through the query adapter if there is one."""
        return self._adapted(self.embed(questions))

    def embed(self, questions: list[str]) -> np.ndarray:
        """The model's vectors of the rewritten questions, before the query adapter: what safety
        triage reads, and what `search` takes to avoid embedding a question twice."""
        return self.embedder.encode([self.rewrite_query(q.strip()) for q in questions])

    def _adapted(self, vecs: np.ndarray) -> np.ndarray:
        return self.adapter.apply(vecs) if self.adapter is not None else vecs

    @classmethod
    def from_settings(cls, settings: Settings | None = None, *, use_adapter: bool = True) -> "Retriever":
        """Open (or rebuild) the index named by the settings and wrap it, with its parameters (and any
        overrides in the settings) and the query adapter saved beside it unless `use_adapter` is false
        (as when fitting a new one)."""
        settings = settings or Settings()
        embedder = get_embedder(settings.model, settings.backend)
        index = open_index(settings.index_dir, settings.corpus_dir, embedder, settings.ann_threshold)
        params = load_params(settings.index_dir).with_(**settings.param_overrides())
        fitted = adapters.load(settings.index_dir, index.manifest, params) if use_adapter else None
        return cls(index, embedder, params, adapter=fitted, profile=load_profile(settings.corpus_dir))

    @property
    def center(self) -> float:
        return self.params.centering

    @property
    def chunks(self):
        return self.index.chunks

    @property
    def centering(self):
        """What the dense score centres each view's cosine on (per-kind means and view statistics),
        or None when centring is off."""
        return self._centering if self.center else None

    def _dense(self, qvec: np.ndarray, candidates: int) -> np.ndarray:
        """Best cosine over each passage's views (0 for passages outside the candidates)."""
        fidx = self.index.faiss_index
        k = min(fidx.ntotal, candidates)
        sims, rows = fidx.search(qvec.reshape(1, -1), k)
        out = np.zeros(self._n, dtype=np.float32)
        valid = rows[0] >= 0
        rows, sims = rows[0][valid], sims[0][valid]
        centering = self.centering
        if centering is not None:
            # m is the mean of the view's own kind (bare passages or passages in context).
            means, mm, slot, view_mean, view_norm = centering
            sims = blend_centred(sims, (means @ qvec)[slot[rows]], mm[slot[rows]], view_mean[rows],
                                 view_norm[rows], self.center)
        owners = self.index.view_chunk[rows]
        np.maximum.at(out, owners, np.clip(sims, 0, 1))
        return out

    def _score(self, question: str, qvec: np.ndarray | None, mode: str, k: int) -> list[Hit]:
        n = self._n
        views = self.index.faiss_index.ntotal  # a passage may have several views
        dense = (self._dense(qvec, max(200, 20 * k) if views > 2000 else views) if mode != "lexical"
                 else np.zeros(n, np.float32))
        if mode != "dense":
            lexical = saturate(self.lexical.scores(question), self.params.lexical_halfpoint)
        else:
            lexical = np.zeros(n, np.float32)
        if mode == "dense":
            base = dense
        elif mode == "lexical":
            base = lexical
        else:
            base = fuse(dense, lexical, self.params.dense_weight)
        remembered = final = base
        if mode == "fused" and self.adapter is not None:
            remembered, final = self.adapter.lifts(base, qvec, self.params)
        k = min(k, n)
        top = np.argpartition(-final, k - 1)[:k] if k < n else np.arange(n)
        # Ties broken by corpus order, so rankings are deterministic.
        top = sorted(top, key=lambda i: (-float(final[i]), int(i)))
        return [
            Hit(chunk=self.index.chunks[i], score=float(final[i]), rank=r, dense=float(dense[i]),
                lexical=float(lexical[i]), fused=float(base[i]), memory=float(remembered[i] - base[i]),
                prototype=float(final[i] - remembered[i]))
            for r, i in enumerate(top, start=1)
        ]

    def search(self, question: str, k: int = 5, mode: str = "fused", vector: np.ndarray | None = None) -> list[Hit]:
        """Top-k passages for a question, best first; `vector` is its `embed` vector if already made."""
        return self.search_batch([question], k=k, mode=mode,
                                 vectors=None if vector is None else np.asarray(vector).reshape(1, -1))[0]

    def search_batch(self, questions: list[str], k: int = 5, mode: str = "fused",
                     vectors: np.ndarray | None = None) -> list[list[Hit]]:
        """Top-k passages for each question; embeds all questions in one call (unless `vectors`,
        their `embed` vectors, are given)."""
        _check(k, mode)
        questions = [q.strip() for q in questions]
        for q in questions:
            if not q:
                raise QueryError("the question is empty; type a question about the article")
        searched = [self.rewrite_query(q) for q in questions]
        if mode == "lexical":
            vecs = [None] * len(questions)
        else:
            vecs = self._adapted(self.embedder.encode(searched) if vectors is None else np.asarray(vectors, np.float32))
        return [self._score(q, v, mode, k) for q, v in zip(searched, vecs)]


def _check(k: int, mode: str) -> None:
    if k < 1:
        raise QueryError(f"k must be at least 1 (got {k})")
    if mode not in MODES:
        raise QueryError(f"unknown retrieval mode {mode!r}; use one of {', '.join(MODES)}")


def _centering(fidx, view_chunk: np.ndarray):
    """Per view kind k (a passage's first, second, ... view): the mean view vector m_k and |m_k|²;
    per view: its kind, v·m_k and |v - m_k| (views are unit vectors).

    Each kind has its own shared direction (every in-context view repeats heading words), so
    each is centred on its own mean.
    """
    if fidx.ntotal < 2:
        return None
    try:
        vecs = fidx.reconstruct_n(0, fidx.ntotal)
    except RuntimeError:  # an index type that cannot give its vectors back: plain cosine
        return None
    # Views are stored passage by passage, so a view's kind is how many views of its passage came before it.
    first = np.r_[True, view_chunk[1:] != view_chunk[:-1]]
    starts = np.flatnonzero(first)
    slot = np.arange(len(view_chunk)) - np.repeat(starts, np.diff(np.r_[starts, len(view_chunk)]))
    means = np.stack([vecs[slot == k].mean(axis=0) for k in range(int(slot.max()) + 1)]).astype(np.float32)
    mm = (means * means).sum(axis=1).astype(np.float32)
    view_mean = (vecs @ means.T)[np.arange(len(slot)), slot].astype(np.float32)
    view_norm = np.sqrt(np.clip(1.0 - 2.0 * view_mean + mm[slot], 1e-12, None)).astype(np.float32)
    return means, mm, slot, view_mean, view_norm
