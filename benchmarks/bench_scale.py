"""Scale: synthetic corpora of N passages -> build time, passages/s, peak RSS, index size on disk,
query p50/p95 with exact search and with HNSW, HNSW recall@10 against exact on the same vectors.

One size per process (so peak RSS is that size's): `python benchmarks/bench_scale.py --size 10000`.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import numpy as np  # noqa: E402

from common import (dir_size_mb, emit, peak_rss_mb, questions, rss_mb, summary_ms,  # noqa: E402
                    timed, write_synthetic_corpus)


def _hnsw(vectors: np.ndarray):
    """The same HNSW graph `index.make_faiss_index` builds above the threshold."""
    from askknee import index as ix

    return ix.make_faiss_index(vectors, ann_threshold=-1)


def _flat(vectors: np.ndarray):
    import faiss

    idx = faiss.IndexFlatIP(vectors.shape[1])
    idx.add(vectors)
    return idx


def build(size: int, work: Path, model: str) -> dict:
    from askknee.embedding import get_embedder
    from askknee.index import build_index, save_index
    from askknee.settings import Settings

    settings = Settings.from_env()

    corpus, index_dir = work / "corpus", work / "index"
    t = time.perf_counter()
    files = write_synthetic_corpus(corpus, size)
    gen_s = time.perf_counter() - t
    embedder = get_embedder(model, settings.backend)
    embedder.encode(["warm up"])  # model load is cold start, not build
    rss_before = rss_mb()
    t = time.perf_counter()
    index = build_index(corpus, embedder, progress=False, ann_threshold=settings.ann_threshold)
    build_s = time.perf_counter() - t
    t = time.perf_counter()
    save_index(index, index_dir)
    save_s = time.perf_counter() - t
    n = len(index.chunks)
    return {"size": size, "passages": n, "vectors": int(index.faiss_index.ntotal), "files": files,
            "generate_s": round(gen_s, 2), "build_s": round(build_s, 2), "save_s": round(save_s, 2),
            "passages_per_s": round(n / build_s, 1), "faiss_index": type(index.faiss_index).__name__,
            "ann_threshold": settings.ann_threshold, "index_mb": dir_size_mb(index_dir),
            "rss_before_build_mb": rss_before, "peak_rss_mb": peak_rss_mb()}


def query(size: int, work: Path, model: str, rounds: int, query_model: str | None = None) -> dict:
    import faiss

    from askknee.retrieval import Retriever
    from askknee.settings import Settings

    from common import _seed_sentences

    settings = Settings.from_env().with_(corpus_dir=work / "corpus", index_dir=work / "index", model=model)
    t = time.perf_counter()
    retriever = Retriever.from_settings(settings)
    open_s = time.perf_counter() - t
    qs = questions()
    retriever.search(qs[0])
    serving_rss = rss_mb()
    saved = retriever.index.faiss_index
    ntotal = saved.ntotal
    vectors = saved.reconstruct_n(0, ntotal) if not isinstance(saved, faiss.IndexHNSWFlat) \
        else faiss.downcast_index(saved.storage).reconstruct_n(0, ntotal)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)

    # Query vectors: the visitor questions plus 500 held-out synthetic sentences.
    rng = random.Random(11)
    sentences, words = _seed_sentences()
    held_out = []
    for _ in range(500):
        toks = rng.choice(sentences).split()
        held_out.append(" ".join(rng.choice(words) if rng.random() < 0.33 else w for w in toks))
    qvec = retriever.embedder.encode(qs + held_out)
    if query_model and query_model != model:
        # Latency as served: the question embedded by the real model (its vectors are not compared
        # with the index's for quality here; recall above uses the index's own model).
        from askknee.embedding import get_embedder

        retriever = Retriever(retriever.index, get_embedder(query_model, settings.backend), retriever.params,
                              adapter=retriever.adapter, profile=retriever.profile)
        retriever.search(qs[0])

    t = time.perf_counter()
    if isinstance(saved, faiss.IndexHNSWFlat):
        exact, ann, ann_build_s = _flat(vectors), saved, None
    else:
        exact, ann = saved, _hnsw(vectors)
        ann_build_s = round(time.perf_counter() - t, 2)
    k = 10
    _, truth = exact.search(qvec, k)
    _, got = ann.search(qvec, k)
    recall = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(truth, got)]))
    recall_q = float(np.mean([len(set(a) & set(b)) / k for a, b in zip(truth[:len(qs)], got[:len(qs)])]))

    out = {"size": size, "query_model": query_model or model, "passages": len(retriever.chunks), "vectors": int(ntotal),
           "saved_index": type(saved).__name__, "open_s": round(open_s, 2), "serving_rss_mb": serving_rss,
           "hnsw": {"M": 32, "efConstruction": 80, "efSearch": faiss.downcast_index(ann).hnsw.efSearch},
           "hnsw_build_s": ann_build_s, "recall_at_10": round(recall, 4),
           "recall_at_10_questions": round(recall_q, 4), "recall_queries": len(qvec)}
    one = [v.reshape(1, -1) for v in qvec[:200]]
    for name, fidx in (("exact", exact), ("hnsw", ann)):
        retriever.index.faiss_index = fidx
        out[f"{name}_faiss_k200"] = summary_ms(timed(lambda v: fidx.search(v, 200), one))
        out[f"{name}_search"] = summary_ms(timed(lambda q: retriever.search(q, k=5), qs, repeat=rounds))
    retriever.index.faiss_index = saved
    out["peak_rss_mb"] = peak_rss_mb()
    return out


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--phase", choices=("build", "query", "both"), default="both")
    p.add_argument("--work", help="folder for the generated corpus and index (default: a temp dir)")
    p.add_argument("--model", default=os.environ.get("ASKKNEE_MODEL", "all-MiniLM-L6-v2"))
    p.add_argument("--query-model", help="embed questions with this model when timing searches "
                   "(lets a fast stand-in model build the big corpora while queries cost what they cost)")
    p.add_argument("--rounds", type=int, default=4, help="passes over the question set")
    a = p.parse_args(argv)
    work = Path(a.work) if a.work else Path(tempfile.mkdtemp(prefix=f"askknee-scale-{a.size}-"))
    work.mkdir(parents=True, exist_ok=True)
    if a.phase in ("build", "both"):
        emit({"part": "scale-build", "model": a.model, **build(a.size, work, a.model)})
    if a.phase in ("query", "both"):
        emit({"part": "scale-query", "model": a.model, **query(a.size, work, a.model, a.rounds, a.query_model)})
    return 0


if __name__ == "__main__":
    sys.exit(main())
