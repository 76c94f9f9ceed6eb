"""Query adapter: a low-rank linear map on question vectors, fitted on labelled questions.

A visitor writes "cant do my normal day stuff"; the article says "disrupt your daily
activities". The bi-encoder puts such a question nearer passages that share its surface
words than the one that answers it. A map q -> normalise(q + q·W), with W = A·B of low rank,
learned from labelled questions, moves questions toward the passages people meant. The model and
the passage vectors are untouched, so the index stays as built; serving costs one small matrix
product and needs no torch.

The adapter is fitted by minimising the cross-entropy between the retriever's own fused scores
(softmax over all passages) and the labelled relevant passages, with an L2 penalty on W; it is
fitted for one index (model, corpus and chunking) and ignored, with one warning, by any other.

It also keeps a question memory: the labelled questions' (adapted) vectors and the passages judged
relevant to each. A passage whose labelled questions resemble the visitor's question gains part of
the distance between its score and 1, so the section passage and the FAQ answer that repeats it,
judged together, rise together (query-question similarity, as in FAQ retrieval). Each passage also
gets a prototype, the unit mean of its labelled questions (Rocchio's centroid, as in document
expansion with queries): a question near the prototype lifts the passage even when no single
labelled question is close. Only vectors of our own labelled questions are kept, never a visitor's.
Files beside the index: `adapter.npz` (A, B and the memory) and `adapter.json` (what it was fitted
on and for).
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
from collections.abc import Collection, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timezone
from functools import cached_property
from pathlib import Path

import numpy as np

from .errors import IndexFileError, QueryError
from .files import atomic_write, fsync_dir

log = logging.getLogger("askknee")

FACTORS = "adapter.npz"
META = "adapter.json"
# Chosen by 5-fold cross-validation on the dev questions, averaged over three fold draws (README,
# "Query adapter"): with 522 questions, ranks 16-64 at this penalty tie (out of fold MRR
# .843-.846, R@3 .755-.762); rank 8 at 0.1, or a penalty of 0.03, falls behind (R@3 .713, .742).
# Re-checked at 672 questions: 0.01 still ahead of 0.003 and 0.03.
RANK = 32
L2 = 0.01
STEPS = 300
# Question memory, chosen on dev out of fold (README, "Query adapter"): a labelled question counts
# from this cosine up, and at most this share of the gap to 1 is added (522 questions: MRR
# .854 -> .870, R@3 .757 -> .778 out of fold; 672: .854 -> .867, .741 -> .757; flat over
# floors 0.4-0.5 and shares 0.2-0.5).
MEMORY_FLOOR = 0.5
MEMORY_WEIGHT = 0.3
# Passage prototypes, applied after the nearest-question lift, chosen the same way (672 questions,
# three fold draws: R@3 .753 -> .769, MRR .859 -> .868, hit@300 .851 -> .865 out of fold; flat
# over floors 0.2-0.5 and shares 0.3-0.7).
PROTOTYPE_FLOOR = 0.4
PROTOTYPE_WEIGHT = 0.5
TEMPERATURE = 0.05
LEARNING_RATE = 0.01


_FINGERPRINT = ("model", "dimension", "corpus_sha256", "chunker_version", "probe")


def fingerprint(manifest: dict) -> dict:
    """What an adapter is valid for: the index's model (name and probe vector), corpus and chunking."""
    return {k: manifest.get(k) for k in _FINGERPRINT}


def fits(fitted_for: dict, manifest: dict) -> bool:
    """Whether an adapter fitted for `fitted_for` serves this index (probe vectors compared by cosine:
    the ONNX and torch backends differ in the last rounded digit)."""
    ours = fingerprint(manifest)
    if not isinstance(fitted_for, dict) or any(fitted_for.get(k) != ours[k] for k in _FINGERPRINT if k != "probe"):
        return False
    a, b = (np.asarray(x if x else [], dtype=np.float32) for x in (fitted_for.get("probe"), ours["probe"]))
    return a.shape == b.shape and (a.size == 0 or float(a @ b) > 0.99)


@dataclass(frozen=True)
class QueryAdapter:
    """q -> normalise(q + q·A·B), for question vectors only; and a memory of labelled questions."""

    a: np.ndarray  # dimension x rank
    b: np.ndarray  # rank x dimension
    meta: dict = field(default_factory=dict)
    memory: np.ndarray | None = None  # labelled questions, adapted: questions x dimension
    pairs: np.ndarray | None = None   # (memory row, passage index) judged relevant: pairs x 2
    use_prototypes: bool = True

    def apply(self, vectors: np.ndarray) -> np.ndarray:
        v = np.asarray(vectors, dtype=np.float32)
        v = v + (v @ self.a) @ self.b
        return v / np.clip(np.linalg.norm(v, axis=-1, keepdims=True), 1e-12, None)

    def boost(self, scores: np.ndarray, qvec: np.ndarray) -> np.ndarray:
        """`scores` (in [0, 1], one per passage) raised by the question memory, for an adapted question
        vector: first by the nearest labelled questions, then by the passage prototypes; still in [0, 1]."""
        return self.lifts(scores, qvec)[-1]

    def lifts(self, scores: np.ndarray, qvec: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The scores after the nearest-question lift, and after the prototype lift too."""
        if self.memory is None or not len(self.memory):
            return scores, scores
        nearest = np.full(len(scores), MEMORY_FLOOR, dtype=np.float32)  # passages no question was judged for
        np.maximum.at(nearest, self.pairs[:, 1], (self.memory @ qvec)[self.pairs[:, 0]])
        lifted = _lift(scores, nearest, MEMORY_FLOOR, MEMORY_WEIGHT)
        if not self.use_prototypes:
            return lifted, lifted
        passages, prototypes = self.prototypes
        typical = np.full(len(scores), PROTOTYPE_FLOOR, dtype=np.float32)
        typical[passages] = prototypes @ qvec
        return lifted, _lift(lifted, typical, PROTOTYPE_FLOOR, PROTOTYPE_WEIGHT)

    @cached_property
    def prototypes(self) -> tuple[np.ndarray, np.ndarray]:
        """(passage indices, their prototypes): per passage judged relevant to some labelled question,
        the unit mean of those questions' vectors, each question's weight split among its passages
        (so a broad question judged for many passages counts less toward each)."""
        rows, passages = self.pairs[:, 0], self.pairs[:, 1]
        share = 1.0 / np.bincount(rows)[rows]
        owners, slot = np.unique(passages, return_inverse=True)
        sums = np.zeros((len(owners), self.memory.shape[1]), dtype=np.float32)
        np.add.at(sums, slot, share[:, None].astype(np.float32) * self.memory[rows])
        return owners, sums / np.clip(np.linalg.norm(sums, axis=1, keepdims=True), 1e-12, None)

    def without_memory(self) -> QueryAdapter:
        """The same map with no question memory, so neither lift (for ablations)."""
        return replace(self, memory=None, pairs=None)

    def without_prototypes(self) -> QueryAdapter:
        """The same map and memory with only the nearest-question lift (for ablations)."""
        return replace(self, use_prototypes=False)


def _lift(scores: np.ndarray, cosine: np.ndarray, floor: float, weight: float) -> np.ndarray:
    """Each score raised by up to `weight` of its gap to 1, in proportion to how far its `cosine`
    is above `floor` (nothing at or below it)."""
    return scores + (1 - scores) * weight * np.clip((cosine - floor) / (1 - floor), 0.0, None)


def fit(retriever, questions: Sequence[str], relevant: Sequence[Collection[str]], *, source: str = "",
        rank: int = RANK, l2: float = L2, steps: int = STEPS, temperature: float = TEMPERATURE,
        seed: int = 0) -> QueryAdapter:
    """An adapter for `retriever`'s index from questions and their relevant passage ids (needs torch).

    `source` names the questions (e.g. "dev") in the adapter's description."""
    try:
        import torch
    except ImportError:
        raise QueryError("fitting a query adapter needs torch (pip install torch); serving does not") from None
    ids = {c.id: i for i, c in enumerate(retriever.chunks)}
    rows = [(q, [ids[d] for d in rel if d in ids]) for q, rel in zip(questions, relevant)]
    rows = [(q, docs) for q, docs in rows if docs]
    if not rows:
        raise QueryError("no labelled question has a relevant passage in this index; check the qrels' passage ids")
    base = retriever.variant(adapter=None)
    searched = [base.rewrite_query(q) for q, _ in rows]
    qvecs = base.embedder.encode(searched)  # base has no adapter
    h = base.settings.lexical_halfpoint
    raw = np.stack([base.lexical.scores(text) for text in searched])
    target = np.zeros((len(rows), len(ids)), dtype=np.float32)
    for i, (_, docs) in enumerate(rows):
        target[i, docs] = 1.0 / len(docs)

    dense = _torch_dense(base, torch)
    q = torch.tensor(np.asarray(qvecs, dtype=np.float32))
    lexical = torch.tensor((raw / (raw + h)).astype(np.float32))
    y = torch.tensor(target)
    w_dense = base.settings.dense_weight
    gen = torch.Generator().manual_seed(seed)
    a = torch.zeros(q.shape[1], rank, requires_grad=True)
    b = (torch.randn(rank, q.shape[1], generator=gen) * 0.01).requires_grad_()
    opt = torch.optim.Adam([a, b], lr=LEARNING_RATE)
    for _ in range(steps):
        w = a @ b
        adapted = q + q @ w
        adapted = adapted / adapted.norm(dim=1, keepdim=True)
        fused = w_dense * dense(adapted) + (1 - w_dense) * lexical
        loss = -(y * torch.log_softmax(fused / temperature, dim=1)).sum(1).mean() + l2 * (w ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    meta = {"fitted_for": fingerprint(base.index.manifest), "fitted_on": source, "questions": len(rows),
            "rank": rank, "l2": l2, "steps": steps, "temperature": temperature, "seed": seed,
            "memory_floor": MEMORY_FLOOR, "memory_weight": MEMORY_WEIGHT,
            "prototype_floor": PROTOTYPE_FLOOR, "prototype_weight": PROTOTYPE_WEIGHT,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    fitted = QueryAdapter(a=a.detach().numpy().astype(np.float32), b=b.detach().numpy().astype(np.float32), meta=meta)
    pairs = np.array([(i, d) for i, (_, docs) in enumerate(rows) for d in docs], dtype=np.int32)
    return replace(fitted, memory=fitted.apply(qvecs), pairs=pairs)


def _torch_dense(retriever, torch):
    """The retriever's dense score (best view, centred cosine, clipped) over all views, differentiable."""
    from .retrieval import blend_centred  # retrieval imports this module

    fidx = retriever.index.faiss_index
    views = torch.tensor(fidx.reconstruct_n(0, fidx.ntotal))
    owner = torch.tensor(retriever.index.view_chunk, dtype=torch.long)
    n = len(retriever.chunks)
    centering = retriever.centering
    if centering is not None:
        means, mm, slot, view_mean, view_norm = (torch.tensor(x) for x in centering)
        slot = slot.long()

    def dense(q):
        sims = q @ views.T
        if centering is not None:
            sims = blend_centred(sims, (q @ means.T)[:, slot], mm[slot], view_mean, view_norm, retriever.center,
                                 xp=torch)
        out = torch.zeros(q.shape[0], n)
        return out.scatter_reduce(1, owner.expand(q.shape[0], -1), sims.clamp(0, 1), reduce="amax")
    return dense


def save(adapter: QueryAdapter, index_dir: Path) -> None:
    """Write the adapter beside the index: the factors first, then their description (the commit)."""
    buf = io.BytesIO()
    memory = {} if adapter.memory is None else {"memory": adapter.memory.astype(np.float32),
                                                "pairs": adapter.pairs.astype(np.int32)}
    np.savez(buf, a=adapter.a.astype(np.float32), b=adapter.b.astype(np.float32), **memory)
    body = buf.getvalue()
    meta = {**adapter.meta, "sha256": hashlib.sha256(body).hexdigest()}
    try:
        Path(index_dir).mkdir(parents=True, exist_ok=True)
        atomic_write(Path(index_dir) / FACTORS, body)
        atomic_write(Path(index_dir) / META, (json.dumps(meta, indent=2) + "\n").encode())
        fsync_dir(Path(index_dir))
    except OSError as e:
        raise IndexFileError(f"cannot write the query adapter to {index_dir} ({e.strerror or e}); "
                             "give a writable --index folder") from None


def load(index_dir: Path, manifest: dict) -> QueryAdapter | None:
    """The adapter fitted for this index, or None (with a warning if one is there but unusable)."""
    mpath, fpath = Path(index_dir) / META, Path(index_dir) / FACTORS
    if not mpath.exists():
        return None
    try:
        meta = json.loads(mpath.read_text(encoding="utf-8"))
        body = fpath.read_bytes()
        if hashlib.sha256(body).hexdigest() != meta.get("sha256"):
            raise ValueError(f"{FACTORS} does not match {META}")
        with np.load(io.BytesIO(body), allow_pickle=False) as z:
            a, b = z["a"], z["b"]
            memory, pairs = (z["memory"], z["pairs"]) if "memory" in z else (None, None)
        d = manifest.get("dimension")
        if a.ndim != 2 or a.shape != b.T.shape or a.shape[0] != d:
            raise ValueError(f"factors of shape {a.shape} and {b.shape} do not fit dimension {d}")
        if memory is not None and not _memory_fits(memory, pairs, d, manifest.get("chunks")):
            raise ValueError("its question memory does not fit this index")
    except (OSError, ValueError, TypeError, KeyError, AttributeError) as e:
        log.warning("askknee: ignoring the query adapter in %s (%s); refit it with `askknee fit-adapter`", index_dir, e)
        return None
    if not fits(meta.get("fitted_for"), manifest):
        log.warning("askknee: ignoring the query adapter in %s: it was fitted for another index "
                    "(model, corpus or chunking changed); refit it with `askknee fit-adapter`", index_dir)
        return None
    return QueryAdapter(a=a, b=b, meta=meta, memory=memory, pairs=pairs)


def _memory_fits(memory: np.ndarray, pairs: np.ndarray, dimension, passages) -> bool:
    """Whether a saved question memory can serve an index of this dimension and passage count."""
    if memory.ndim != 2 or memory.shape[1] != dimension or pairs.ndim != 2 or pairs.shape[1] != 2:
        return False
    if not len(pairs):
        return True
    return bool(np.issubdtype(pairs.dtype, np.integer) and pairs.min() >= 0 and pairs[:, 0].max() < len(memory)
                and (not isinstance(passages, int) or pairs[:, 1].max() < passages))


def fold_retrievers(retriever, labelled, folds: int = 5) -> tuple[dict[str, int], list]:
    """Each question's fold, and per fold the retriever with an adapter fitted on the other folds.

    A repeated question stays in one fold, so no question is ever answered from its own memory."""
    texts = list(dict.fromkeys(q.text for q in labelled.queries))
    if folds < 2 or folds > len(texts):
        raise QueryError(f"cross-validation needs between 2 and {len(texts)} folds (got {folds}); "
                         "pass a fold count in that range")
    fold = {t: i % folds for i, t in enumerate(texts)}
    base = retriever.variant(adapter=None)
    fitted = []
    for f in range(folds):
        train = [q for q in labelled.queries if fold[q.text] != f]
        adapter = fit(base, [q.text for q in train], [relevant(labelled.qrels, q.id) for q in train])
        fitted.append(base.variant(adapter=adapter))
    return fold, fitted


def cross_validate(retriever, labelled, folds: int = 5) -> list:
    """Out-of-fold figures: every question ranked by an adapter fitted on the other folds, beside
    the retriever without an adapter. Returns two `evaluation.ConfigResult`s."""
    from .evaluation import retriever_search, score_config

    fold, fitted = fold_retrievers(retriever, labelled, folds)
    searchers = [retriever_search(r, "fused") for r in fitted]
    plain = score_config("fused-no-adapter", retriever_search(retriever.variant(adapter=None), "fused"), labelled)
    adapted = score_config(f"fused, adapter ({folds}-fold)", lambda text: searchers[fold[text]](text), labelled,
                           warmup=0)
    return [plain, adapted]


def relevant(qrels: dict, qid: str) -> set[str]:
    """The passages judged relevant (grade > 0) to a question."""
    return {d for d, grade in qrels.get(qid, {}).items() if grade > 0}
