"""Fitting the query adapter (`askknee.adapter`) on labelled questions, and cross-validating it.

The loss is the cross-entropy between the retriever's own fused scores (softmax over all passages,
computed by `askknee.scoring` in torch) and the labelled relevant passages, with an L2 penalty on
the map. Needs torch; serving does not.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import replace
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import numpy as np

from ..adapter import FACTORS, META, QueryAdapter, fingerprint
from ..errors import IndexFileError, QueryError
from ..files import write_arrays
from ..jsonl import parse_jsonl
from ..scoring import blend_centred, fuse, saturate
from .beir import LabelledSet, Query, load_split

# Chosen by 5-fold cross-validation on the dev questions, averaged over three fold draws
# (docs/evaluation.md): ranks 16-64 at this penalty tie; rank 8, or a penalty of 0.03, falls behind.
RANK = 32
L2 = 0.01
STEPS = 300
TEMPERATURE = 0.05
LEARNING_RATE = 0.01


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
    params = base.params
    raw = np.stack([base.lexical.scores(text) for text in searched])
    target = np.zeros((len(rows), len(ids)), dtype=np.float32)
    for i, (_, docs) in enumerate(rows):
        target[i, docs] = 1.0 / len(docs)

    dense = _torch_dense(base, torch)
    q = torch.tensor(np.asarray(qvecs, dtype=np.float32))
    lexical = torch.tensor(saturate(raw, params.lexical_halfpoint).astype(np.float32))
    y = torch.tensor(target)
    gen = torch.Generator().manual_seed(seed)
    a = torch.zeros(q.shape[1], rank, requires_grad=True)
    b = (torch.randn(rank, q.shape[1], generator=gen) * 0.01).requires_grad_()
    opt = torch.optim.Adam([a, b], lr=LEARNING_RATE)
    for _ in range(steps):
        w = a @ b
        adapted = q + q @ w
        adapted = adapted / adapted.norm(dim=1, keepdim=True)
        fused = fuse(dense(adapted), lexical, params.dense_weight)
        loss = -(y * torch.log_softmax(fused / temperature, dim=1)).sum(1).mean() + l2 * (w ** 2).sum()
        opt.zero_grad()
        loss.backward()
        opt.step()
    meta = {"fitted_for": fingerprint(base.index.manifest), "fitted_with": params.fusion(), "fitted_on": source,
            "questions": len(rows), "rank": rank, "l2": l2, "steps": steps, "temperature": temperature, "seed": seed,
            "created": datetime.now(timezone.utc).isoformat(timespec="seconds")}
    fitted = QueryAdapter(a=a.detach().numpy().astype(np.float32), b=b.detach().numpy().astype(np.float32), meta=meta)
    pairs = np.array([(i, d) for i, (_, docs) in enumerate(rows) for d in docs], dtype=np.int32)
    return replace(fitted, memory=fitted.apply(qvecs), pairs=pairs)


def _torch_dense(retriever, torch):
    """The retriever's dense score (best view, centred cosine, clipped) over all views, differentiable."""
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
    memory = {} if adapter.memory is None else {"memory": adapter.memory.astype(np.float32),
                                                "pairs": adapter.pairs.astype(np.int32)}
    arrays = {"a": adapter.a.astype(np.float32), "b": adapter.b.astype(np.float32), **memory}
    try:
        write_arrays(Path(index_dir), FACTORS, arrays, META, adapter.meta, compress=False)
    except OSError as e:
        raise IndexFileError(f"cannot write the query adapter to {index_dir} ({e.strerror or e}); "
                             "give a writable --index folder") from None




def training_set(split: str = "dev") -> LabelledSet:
    """The questions an adapter is fitted on: the labelled retrieval questions of `dev` and the
    answerable questions of the blind scope set's `dev` (their quoted answers' passages), which are
    worded as visitors word them. A scope question's `style` is its writer's group ("scope-s1")."""
    if split != "dev":
        raise QueryError(f"an adapter is fitted on dev, not {split!r}: the test split is kept for reporting")
    labelled = load_split(split)
    name = f"data/scope/{split}.jsonl"
    rows = [r for _, r in parse_jsonl(resources.files("askknee").joinpath(name).read_text(encoding="utf-8"), name)
            if r.get("label") == "in_scope" and r.get("relevant")]
    queries = labelled.queries + tuple(Query(str(r["_id"]), r["text"], split, tuple(r.get("answer", ())),
                                             style=f"scope-{r.get('writer', '')}") for r in rows)
    qrels = {**labelled.qrels, **{str(r["_id"]): {d: 1 for d in r["relevant"]} for r in rows}}
    return LabelledSet(split, queries, qrels)


def group_of(query: Query) -> str:
    """What a question is held out with: its writer for the scope set's questions, else the answers
    it was labelled with (a question's restyled versions share them), else its text."""
    if query.style.startswith("scope-"):
        return query.style
    return "answers:" + "|".join(sorted(query.answers)).lower() if query.answers else "text:" + query.text


def folds_by_group(items: Sequence[tuple[str, str]], folds: int) -> dict[str, int]:
    """A fold per text, from (text, group) pairs: a group's texts share a fold, and groups that share
    a text are merged, so a writer, or a question with its restyled versions, is held out whole."""
    parent: dict[str, str] = {}

    def root(g: str) -> str:
        while parent.setdefault(g, g) != g:
            g = parent[g]
        return g

    first_group: dict[str, str] = {}
    for text, group in items:
        a, b = root(group), root(first_group.setdefault(text, group))
        if a != b:
            parent[max(a, b)] = min(a, b)
    merged = sorted({root(g) for _, g in items})
    fold_of = {g: i % folds for i, g in enumerate(merged)}
    return {text: fold_of[root(group)] for text, group in items}


def fold_retrievers(retriever, labelled, folds: int = 5,
                    fold: dict[str, int] | None = None) -> tuple[dict[str, int], list]:
    """Each question's fold, and per fold the retriever with an adapter fitted on the other folds.

    `fold` gives each question's fold by its text (by default `folds_by_group`: writers and
    restyled versions held out whole). A repeated question stays in one fold, so no question is
    ever answered from its own memory."""
    texts = list(dict.fromkeys(q.text for q in labelled.queries))
    if folds < 2 or folds > len(texts):
        raise QueryError(f"cross-validation needs between 2 and {len(texts)} folds (got {folds}); "
                         "pass a fold count in that range")
    fold = fold if fold is not None else folds_by_group([(q.text, group_of(q)) for q in labelled.queries], folds)
    missing = [t for t in texts if t not in fold]
    if missing:
        raise QueryError(f"no fold given for {len(missing)} question(s), e.g. {missing[0]!r}")
    base = retriever.variant(adapter=None)
    fitted = []
    for f in range(folds):
        train = [q for q in labelled.queries if fold[q.text] != f]
        adapter = fit(base, [q.text for q in train], [relevant(labelled.qrels, q.id) for q in train])
        fitted.append(base.variant(adapter=adapter))
    return fold, fitted


def cross_validate(retriever, labelled, folds: int = 5) -> list:
    """Out-of-fold figures: every question ranked by an adapter fitted on the other folds (writers
    and restyled versions held out whole), beside the retriever without an adapter. Returns two
    `evaluation.ConfigResult`s."""
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
