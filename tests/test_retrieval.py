"""Retriever behaviour with the deterministic hashing embedder."""

from __future__ import annotations

import numpy as np
import pytest

from askknee.errors import QueryError


def test_hits_ranked_and_scored(fake_retriever):
    hits = fake_retriever.search("why is my knee twitching", k=5)
    assert [h.rank for h in hits] == [1, 2, 3, 4, 5]
    assert all(hits[i].score >= hits[i + 1].score for i in range(4))
    assert all(0.0 <= h.score <= 1.0 for h in hits)
    assert hits[0].chunk.id == "knee-muscle-spasm:faq:05"


def test_modes_differ_and_fused_combines(fake_retriever):
    q = "what does twitching of the knee indicate"
    fused = fake_retriever.search(q, k=3, mode="fused")[0]
    dense = fake_retriever.search(q, k=3, mode="dense")[0]
    lexical = fake_retriever.search(q, k=3, mode="lexical")[0]
    w = fake_retriever.params.dense_weight
    assert fused.score == pytest.approx(w * fused.dense + (1 - w) * fused.lexical, abs=1e-6)
    assert dense.lexical == 0 and lexical.dense == 0


def test_faq_question_is_evidence_for_its_answer(fake_retriever):
    top = fake_retriever.search("How can I relieve a muscle spasm in my knee?", k=1)[0]
    assert top.chunk.id == "knee-muscle-spasm:faq:02"


def test_unrelated_question_scores_low(fake_retriever):
    on = fake_retriever.search("what causes knee muscle spasms", k=1)[0].score
    off = fake_retriever.search("best pizza toppings in naples", k=1)[0].score
    assert off < on / 2


def test_k_larger_than_corpus_returns_all(fake_retriever):
    n = len(fake_retriever.chunks)
    assert len(fake_retriever.search("knee", k=n + 10)) == n


@pytest.mark.parametrize("bad", ["", "   "])
def test_empty_question_rejected(fake_retriever, bad):
    with pytest.raises(QueryError, match="empty"):
        fake_retriever.search(bad)


def test_k_below_one_rejected(fake_retriever):
    with pytest.raises(QueryError, match="at least 1"):
        fake_retriever.search("knee", k=0)


def test_batch_matches_single(fake_retriever):
    qs = ["knee cramps at night", "physio for spasms"]
    batch = fake_retriever.search_batch(qs, k=3)
    assert [[h.chunk.id for h in hits] for hits in batch] == [[h.chunk.id for h in fake_retriever.search(q, k=3)] for q in qs]


@pytest.mark.parametrize("text", [
    "Why do my KNEES twitch at night?? it's the 2nd time",
    "physio, stretching & hydration: what's best for cramps",
    "a an the of",
])
def test_single_text_tokenizer_matches_bm25s(fake_retriever, text):
    import bm25s

    lex = fake_retriever.lexical
    expected = bm25s.tokenize([text], stopwords="en", stemmer=lex._stemmer, return_ids=False, show_progress=False)
    assert lex.tokenize([text]) == expected


def _brute_force_dense(retriever, question: str) -> dict[str, float]:
    """Every view scored directly: the blended centred cosine, each view kind centred on its own mean."""
    idx = retriever.index
    vecs = idx.faiss_index.reconstruct_n(0, idx.faiss_index.ntotal)
    q = retriever.embedder.encode([retriever.rewrite_query(question)])[0]
    kind, seen = [], {}
    for owner in idx.view_chunk:
        kind.append(seen.get(int(owner), 0))
        seen[int(owner)] = kind[-1] + 1
    kind = np.asarray(kind)
    best: dict[str, float] = {}
    for row, owner in enumerate(idx.view_chunk):
        m = vecs[kind == kind[row]].mean(axis=0)
        v = vecs[row]
        centred = float((q - m) @ (v - m) / (np.linalg.norm(q - m) * np.linalg.norm(v - m)))
        score = float(np.clip((1 - retriever.center) * (q @ v) + retriever.center * centred, 0, 1))
        cid = idx.chunks[int(owner)].id
        best[cid] = max(best.get(cid, 0.0), score)
    return best


@pytest.mark.parametrize("question", ["why is my knee twitching", "what are the symptoms"])
def test_dense_score_is_best_view_of_every_passage(fake_retriever, question):
    # Passages have two views (bare and in context), so the index holds more rows than passages:
    # every passage must still be scored, with its best view.
    assert fake_retriever.index.faiss_index.ntotal > len(fake_retriever.chunks)
    expected = _brute_force_dense(fake_retriever, question)
    hits = fake_retriever.search(question, k=len(fake_retriever.chunks), mode="dense")
    assert {h.chunk.id: h.dense for h in hits} == pytest.approx(expected, abs=1e-5)
