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
on and for, and under which fusion parameters). Fitting lives in `askknee.tuning.adapter`.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from .files import read_arrays
from .params import Params
from .scoring import lift

log = logging.getLogger("askknee")

FACTORS = "adapter.npz"
META = "adapter.json"


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

    def lifts(self, scores: np.ndarray, qvec: np.ndarray, params: Params) -> tuple[np.ndarray, np.ndarray]:
        """`scores` (in [0, 1], one per passage) raised by the question memory, for an adapted question
        vector: after the nearest-question lift, and after the prototype lift too; still in [0, 1]."""
        if self.memory is None or not len(self.memory):
            return scores, scores
        floor = params.memory_floor
        nearest = np.full(len(scores), floor, dtype=np.float32)  # passages no question was judged for
        np.maximum.at(nearest, self.pairs[:, 1], (self.memory @ qvec)[self.pairs[:, 0]])
        lifted = lift(scores, nearest, floor, params.memory_weight)
        if not self.use_prototypes:
            return lifted, lifted
        passages, prototypes = self.prototypes
        typical = np.full(len(scores), params.prototype_floor, dtype=np.float32)
        typical[passages] = prototypes @ qvec
        return lifted, lift(lifted, typical, params.prototype_floor, params.prototype_weight)

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


def load(index_dir: Path, manifest: dict, params: Params) -> QueryAdapter | None:
    """The adapter fitted for this index and these fusion parameters, or None (with a warning if one
    is there but unusable)."""
    try:
        found = read_arrays(Path(index_dir), FACTORS, META)
        if found is None:
            return None
        meta, z = found
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
    if meta.get("fitted_with") != params.fusion():
        log.warning("askknee: ignoring the query adapter in %s: it was fitted with fusion parameters %s, "
                    "these are %s; unset the ASKKNEE_* overrides or refit it with `askknee fit-adapter`",
                    index_dir, meta.get("fitted_with"), params.fusion())
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
