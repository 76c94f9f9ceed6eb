"""Labelled questions and runs in the field's formats: BEIR queries (`queries.jsonl`) and qrels
(`qrels/<split>.tsv`, or TREC qrels), TREC runs; the packaged splits in `askknee/data/eval/`."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..errors import QueryError
from ..jsonl import read_jsonl, read_text

DATA_DIR = Path(__file__).parents[1] / "data" / "eval"
SPLITS = ("dev", "test")
OOS_SPLIT = "oos"

Qrels = dict[str, dict[str, int]]   # query id -> passage id -> relevance grade
Run = dict[str, dict[str, float]]   # query id -> passage id -> score



@dataclass(frozen=True)
class Query:
    id: str
    text: str
    split: str
    answers: tuple[str, ...] = ()   # any one of them, found in the passages, answers the question
    style: str = ""


@dataclass(frozen=True)
class LabelledSet:
    split: str
    queries: tuple[Query, ...]
    qrels: Qrels = field(default_factory=dict)

    @property
    def answers(self) -> dict[str, tuple[str, ...]]:
        return {q.id: q.answers for q in self.queries}


def _read_lines(path: Path) -> list[str]:
    return read_text(path).splitlines()


def read_queries(path: Path) -> list[Query]:
    """BEIR queries.jsonl; `metadata.answer` may be one phrase or a list of alternatives."""
    out = []
    for n, row in read_jsonl(path):
        try:
            meta = row.get("metadata") or {}
            answer = meta.get("answer") or ()
            out.append(Query(id=str(row["_id"]), text=str(row["text"]), split=str(meta.get("split", "")),
                             answers=(answer,) if isinstance(answer, str) else tuple(answer),
                             style=str(meta.get("style", ""))))
        except (KeyError, TypeError, AttributeError):
            raise QueryError(f"{path}:{n}: expected a JSON object with \"_id\" and \"text\"") from None
    return out


def write_queries(queries: Iterable[Query], path: Path) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for q in queries:
            answer = q.answers[0] if len(q.answers) == 1 else list(q.answers)
            meta = {"split": q.split, "answer": answer, "style": q.style}
            f.write(json.dumps({"_id": q.id, "text": q.text, "metadata": meta}, ensure_ascii=False) + "\n")


def read_qrels(path: Path) -> Qrels:
    """BEIR qrels (`query-id corpus-id score`, header optional) or TREC qrels (`qid 0 docid rel`)."""
    qrels: Qrels = {}
    for n, line in enumerate(_read_lines(path), start=1):
        parts = line.split()
        if not parts or (n == 1 and parts[0] == "query-id"):
            continue
        if len(parts) == 3:
            qid, doc, rel = parts
        elif len(parts) == 4:
            qid, _, doc, rel = parts
        else:
            raise QueryError(f"{path}:{n}: expected 3 (BEIR) or 4 (TREC) columns, got {len(parts)}")
        try:
            qrels.setdefault(qid, {})[doc] = int(rel)
        except ValueError:
            raise QueryError(f"{path}:{n}: relevance {rel!r} is not a whole number") from None
    return qrels


def write_qrels(qrels: Qrels, path: Path, *, trec: bool = False) -> None:
    """BEIR tsv with header, or TREC's four columns."""
    with open(path, "w", encoding="utf-8") as f:
        if not trec:
            f.write("query-id\tcorpus-id\tscore\n")
        for qid, docs in qrels.items():
            for doc, rel in docs.items():
                f.write(f"{qid} 0 {doc} {rel}\n" if trec else f"{qid}\t{doc}\t{rel}\n")


def read_run(path: Path) -> Run:
    """TREC run: `qid Q0 docid rank score tag` per line."""
    run: Run = {}
    for n, line in enumerate(_read_lines(path), start=1):
        parts = line.split()
        if not parts:
            continue
        if len(parts) != 6:
            raise QueryError(f"{path}:{n}: a TREC run line has 6 columns (qid Q0 docid rank score tag)")
        try:
            run.setdefault(parts[0], {})[parts[2]] = float(parts[4])
        except ValueError:
            raise QueryError(f"{path}:{n}: score {parts[4]!r} is not a number") from None
    return run


def ranked_ids(scores: Mapping[str, float]) -> list[str]:
    """Passage ids best first; ties by id, as trec_eval breaks them."""
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))]


def write_run(run: Run, path: Path, tag: str = "askknee") -> None:
    with open(path, "w", encoding="utf-8") as f:
        for qid, scores in run.items():
            for rank, doc in enumerate(ranked_ids(scores), start=1):
                f.write(f"{qid} Q0 {doc} {rank} {scores[doc]:.6f} {tag}\n")


def load_split(split: str, data_dir: Path = DATA_DIR) -> LabelledSet:
    """The labelled questions of one split (`dev`, `test`) or the out-of-scope set (`oos`)."""
    data_dir = Path(data_dir)
    if split == OOS_SPLIT:
        return LabelledSet(OOS_SPLIT, tuple(read_queries(data_dir / "queries-out-of-scope.jsonl")))
    if split not in SPLITS:
        raise QueryError(f"unknown split {split!r}; use one of {', '.join(SPLITS)}")
    qrels = read_qrels(data_dir / "qrels" / f"{split}.tsv")
    queries = tuple(q for q in read_queries(data_dir / "queries.jsonl") if q.id in qrels)
    return LabelledSet(split, queries, qrels)
