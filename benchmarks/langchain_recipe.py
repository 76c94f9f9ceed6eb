"""The standard LangChain recipe next to askknee, on the same article, model and questions.

Recipe: the page loaded as text -> RecursiveCharacterTextSplitter(1000, 200) -> FAISS over the
same bundled all-MiniLM-L6-v2 (offline) -> `similarity_search(q, k=4)`. The embeddings are a
four-line LangChain `Embeddings` over sentence-transformers, which is what
`langchain_huggingface.HuggingFaceEmbeddings` does; that package pins huggingface-hub<2, which
would downgrade the one transformers needs here.
Run twice: on the captured page as a user would load it (`corpus/*.md`, markdown and site
chrome included) and on askknee's cleaned article text (title, headings, passages).

Chunk ids differ between systems, so the common yardstick is the text one: hit rate at equal
reading budget (an answer phrase within the first 300 / 600 characters of the ranked
passages). askknee's configurations are scored in the same run, with every metric.

Needs the `[bench]` extra: `pip install -e '.[bench,eval]'`.

    python benchmarks/langchain_recipe.py --split test [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
import warnings
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")  # nothing is downloaded
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
warnings.filterwarnings("ignore", category=DeprecationWarning)

ROOT = Path(__file__).resolve().parents[1]


def cleaned_text(chunks) -> str:
    """The article as askknee reads it: title, headings, list lead-ins and passages, in order."""
    lines, heading, lead = [], (), ""
    for c in chunks:
        if c.kind == "faq":
            lines.append(c.text)
            continue
        if c.heading_path != heading:
            new = [h for i, h in enumerate(c.heading_path) if heading[i:i + 1] != (h,)]
            lines.extend(new)
            heading, lead = c.heading_path, ""
        if c.lead and c.lead != lead:
            lines.append(c.lead)
            lead = c.lead
        lines.append(c.text)
    return "\n\n".join(lines)


def langchain_search(text: str, source: str, model_path: str, k: int):
    """Build the recipe over one text; returns (search function, number of chunks)."""
    from langchain_community.vectorstores import FAISS
    from langchain_core.documents import Document
    from langchain_core.embeddings import Embeddings
    from langchain_text_splitters import RecursiveCharacterTextSplitter
    from sentence_transformers import SentenceTransformer

    class SentenceTransformerEmbeddings(Embeddings):
        def __init__(self, path: str):
            self.model = SentenceTransformer(path, device="cpu")

        def embed_documents(self, texts):
            return self.model.encode(list(texts)).tolist()

        def embed_query(self, text):
            return self.model.encode(text).tolist()

    splitter = RecursiveCharacterTextSplitter(chunk_size=1000, chunk_overlap=200)
    docs = splitter.split_documents([Document(page_content=text, metadata={"source": source})])
    store = FAISS.from_documents(docs, SentenceTransformerEmbeddings(model_path))

    def search(question: str):
        return [(f"lc-{n}", d.page_content, 0.0) for n, d in enumerate(store.similarity_search(question, k=k))]

    return search, len(docs)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--split", default="test", help="labelled split: dev or test (default test)")
    p.add_argument("--model", default="all-MiniLM-L6-v2")
    p.add_argument("--corpus", default=str(ROOT / "corpus"))
    p.add_argument("--index", help="askknee index folder (default: the committed index/, with its query adapter, "
                                   "for the default corpus; a fresh one in a temp folder for another)")
    p.add_argument("-k", type=int, default=4, help="passages the recipe returns (LangChain's default 4)")
    p.add_argument("--json", action="store_true")
    a = p.parse_args(argv)

    from askknee.tuning import evaluation as ev
    from askknee.embedding import resolve_model_path
    from askknee.retrieval import Retriever
    from askknee.settings import Settings

    labelled = ev.load_split(a.split)
    with tempfile.TemporaryDirectory(prefix="askknee-lc-") as tmp:
        default = ROOT / "index" if Path(a.corpus).resolve() == (ROOT / "corpus").resolve() else Path(tmp)
        settings = Settings().with_(corpus_dir=Path(a.corpus), index_dir=Path(a.index) if a.index else default,
                                    model=a.model)
        retriever = Retriever.from_settings(settings)
        ours = ev.evaluate(retriever, a.split)
    model_path = resolve_model_path(a.model)
    page = "\n\n".join(f.read_text(encoding="utf-8") for f in sorted(Path(a.corpus).glob("*.md")))
    peers, sizes = [], {}
    for name, text in (("langchain (raw page)", page), ("langchain (clean text)", cleaned_text(retriever.chunks))):
        t0 = time.perf_counter()
        search, n = langchain_search(text, name, model_path, a.k)
        sizes[name] = {"chunks": n, "build_s": round(time.perf_counter() - t0, 2)}
        result = ev.score_config(name, search, labelled)
        # Rank metrics need shared passage ids; the recipe's chunks are its own, so text hit rates only.
        peers.append(ev.ConfigResult(name, {m: v for m, v in result.metrics.items() if m.startswith("hit@")},
                                     result.run, result.passages, result.top_scores, result.latency_ms))
    if a.json:
        out = ev.results_json(a.split, ours + peers, len(labelled.queries))
        out["langchain"] = {"k": a.k, "chunk_size": 1000, "chunk_overlap": 200, **sizes}
        print(json.dumps(out, indent=2))
    else:
        print(f"split {a.split}: {len(labelled.queries)} questions; model {a.model}; "
              f"LangChain k={a.k}, chunks: " + ", ".join(f"{k} {v['chunks']}" for k, v in sizes.items()) + "\n")
        print(ev.format_table(ours, peers))
    return 0


if __name__ == "__main__":
    sys.exit(main())
