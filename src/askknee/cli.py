"""`askknee` command line: build · search · export-corpus · ask · eval · fit-adapter · serve.

Library errors (`AskKneeError`) and bad arguments become a one-line message and exit code 2.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from .errors import AskKneeError, QueryError
from .settings import Settings, prepare_process

EXAMPLES = """examples:
  askknee build
  askknee search "why does my knee twitch" -k 3
  askknee search "charley horse behind knee" --json
  askknee search --queries queries.jsonl -k 10 --run run.trec
  askknee export-corpus corpus.jsonl
  askknee ask "how do I stop knee spasms?" --json
  askknee fit-adapter --cv 5
  askknee fit-triage
  askknee fit-scope
  askknee eval --safety --split test
  askknee eval --scope --split test
"""


class _Parser(argparse.ArgumentParser):
    def error(self, message):  # argparse's default prints usage; one line is enough for scripts
        raise QueryError(f"{message} (see `askknee --help`)")


def _settings(args) -> Settings:
    return Settings.from_env().with_(
        corpus_dir=Path(args.corpus) if getattr(args, "corpus", None) else None,
        index_dir=Path(args.index) if getattr(args, "index", None) else None,
        model=getattr(args, "model", None),
    )


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--corpus", help="folder of .md articles (default: ./corpus or $ASKKNEE_CORPUS)")
    p.add_argument("--index", help="index folder (default: ./index or $ASKKNEE_INDEX)")
    p.add_argument("--model", help="sentence-transformers model name or path (default: all-MiniLM-L6-v2 bundled)")


def _positive_int(value: str) -> int:
    try:
        k = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {value!r}") from None
    if k < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, got {k}")
    return k


def _read_jsonl(path: str) -> list[dict]:
    from .jsonl import read_jsonl

    return [row for _n, row in read_jsonl(path)]


def cmd_build(args) -> int:
    from .chunking import size_report
    from .embedding import get_embedder
    from .index import build_index, save_index
    from .params import PARAMS_FILE, Params, save_params

    s = _settings(args)
    index = build_index(s.corpus_dir, get_embedder(s.model, s.backend), ann_threshold=s.ann_threshold)
    save_index(index, s.index_dir)
    if not (s.index_dir / PARAMS_FILE).exists():
        save_params(Params(), s.index_dir)
    report = size_report(index.chunks)
    print(json.dumps({"index": str(s.index_dir), "model": s.model, **report}, indent=None if args.json else 2))
    return 0


def _hit_dict(hit) -> dict:
    c = hit.chunk
    return {"rank": hit.rank, "id": c.id, "score": round(hit.score, 6),
            "parts": {k: round(v, 6) for k, v in hit.parts().items()}, "section": c.title, "url": c.url, "text": c.text}


def cmd_search(args) -> int:
    from .retrieval import Retriever

    if args.queries is None and args.question is None:
        raise QueryError("give a QUESTION or --queries FILE")
    if args.queries is not None and not args.run:
        raise QueryError("--queries needs --run RUN.trec (where to write the TREC run)")
    if args.question is not None and not args.question.strip():
        raise QueryError("the question is empty; type a question about the article")
    queries = _read_jsonl(args.queries) if args.queries else None
    if queries is not None:
        for n, q in enumerate(queries, start=1):
            if "_id" not in q or not str(q.get("text", "")).strip():
                raise QueryError(f"{args.queries}: query {n} needs \"_id\" and a non-empty \"text\"")
    retriever = Retriever.from_settings(_settings(args))
    if queries is None:
        hits = retriever.search(args.question, k=args.k, mode=args.mode)
        if args.json:
            print(json.dumps([_hit_dict(h) for h in hits], ensure_ascii=False, indent=2))
        else:
            for h in hits:
                print(f"{h.rank:>2}. {h.score:.3f}  [{h.chunk.title}]  {h.chunk.url}\n    {h.chunk.text}")
        return 0
    results = retriever.search_batch([str(q["text"]) for q in queries], k=args.k, mode=args.mode)
    tag = args.tag or f"askknee-{args.mode}"
    out = Path(args.run)
    with open(out, "w", encoding="utf-8") as f:
        for q, hits in zip(queries, results):
            for h in hits:
                f.write(f"{q['_id']} Q0 {h.chunk.id} {h.rank} {h.score:.6f} {tag}\n")
    print(f"wrote {sum(len(r) for r in results)} lines for {len(queries)} queries to {out}", file=sys.stderr)
    return 0


def cmd_export_corpus(args) -> int:
    from .chunking import chunk_corpus, search_text
    from .ingest import load_corpus

    s = _settings(args)
    chunks = chunk_corpus(load_corpus(s.corpus_dir))
    with open(args.out, "w", encoding="utf-8") as f:
        for c in chunks:
            row = {"_id": c.id, "title": c.title, "text": c.text,
                   "metadata": {"url": c.url, "section": c.section, "kind": c.kind,
                                "article": c.article_id, "indexed_text": search_text(c)}}
            f.write(json.dumps(row, ensure_ascii=False) + "\n")
    print(f"wrote {len(chunks)} passages to {args.out}", file=sys.stderr)
    return 0


def cmd_ask(args) -> int:
    """Answer one question, or a JSONL file of questions/conversations in one process."""
    from . import messages as M
    from .answering import Answerer

    def as_dict(answer, _id=None) -> dict:
        d = {"status": answer.status, "answer": answer.text,
             "sources": [{"id": s.id, "section": s.section, "url": s.url, "score": round(s.score, 6)}
                         for s in answer.sources],
             "notices": list(answer.notices), "suggestions": list(answer.suggestions),
             "disclaimer": answer.disclaimer,
             "retrieved": [{"id": h.chunk.id, "score": round(h.score, 6),
                            "parts": {k: round(v, 6) for k, v in h.parts().items()}} for h in answer.hits[:5]],
             "scope": None if answer.scope is None else {
                 "outcome": answer.scope.outcome, "confidence": round(answer.scope.confidence, 4),
                 "missing": list(answer.scope.missing),
                 "evidence": {k: round(v, 4) for k, v in answer.scope.features.items()}},
             "triage": None if answer.triage is None else {
                 "category": answer.triage.category, "kind": answer.triage.kind, "red_flag": answer.triage.red_flag,
                 "dosing": answer.triage.dosing, "confidence": round(answer.triage.confidence, 4),
                 "by": answer.triage.by}}
        return d if _id is None else {"_id": _id, **d}

    if args.questions is None and args.question is None:
        raise QueryError("give a QUESTION or --questions FILE")
    if args.questions is not None and not args.out:
        raise QueryError("--questions needs --out OUT.jsonl (where to write the replies)")
    rows = _read_jsonl(args.questions) if args.questions else None
    if rows is not None:
        for n, row in enumerate(rows, start=1):
            turns = row.get("turns")
            ok_turns = isinstance(turns, list) and turns and all(isinstance(t, str) for t in turns)
            if "_id" not in row or not (isinstance(row.get("text"), str) or ok_turns):
                raise QueryError(f"{args.questions}: line {n} needs \"_id\" and \"text\" or \"turns\" (a list of strings)")
    answerer = Answerer.from_settings(_settings(args))
    if rows is None:
        answer = answerer.reply(args.question)
        if args.json:
            print(json.dumps(as_dict(answer), ensure_ascii=False, indent=2))
        else:
            print(answer.text)
            if answer.suggestions:  # like the chat's buttons, after the reply and its disclaimer
                lead = M.DID_YOU_MEAN if answer.status == "clarify" else M.SUGGESTIONS_LEAD
                print(f"\n{lead}\n" + "\n".join(f"- {q}" for q in answer.suggestions))
        return 0
    with open(args.out, "w", encoding="utf-8") as f:
        for row in rows:
            answer = answerer.converse(list(row.get("turns") or [row["text"]]))[-1]
            f.write(json.dumps(as_dict(answer, row["_id"]), ensure_ascii=False) + "\n")
    print(f"wrote {len(rows)} replies to {args.out}", file=sys.stderr)
    return 0


def cmd_eval(args) -> int:
    """`--safety` scores triage, `--scope` the answer/decline decision, `--answers [FILE]` replies,
    `--run` a TREC run; otherwise every retrieval configuration (all in `askknee.tuning`)."""
    if args.safety:
        from .tuning.safety_eval import main

        return main(_settings(args), args.split, args.json)
    if args.scope:
        from .tuning.scope import main

        return main(_settings(args), args.split, args.questions, args.json)
    if args.answers:
        from .tuning.answers import main

        return main(_settings(args), args.answers, args.json)
    if args.run:
        from .tuning.evaluation import score_run_file

        return score_run_file(Path(args.run), Path(args.qrels) if args.qrels else None, _settings(args).corpus_dir,
                              args.json)
    from .tuning.evaluation import main

    return main(_settings(args), args.split, args.json, Path(args.report) if args.report else None)


def cmd_fit_adapter(args) -> int:
    """Fit the query adapter on labelled questions and save it beside the index."""
    from .retrieval import Retriever
    from .tuning import adapter
    from .tuning.beir import LabelledSet, read_qrels, read_queries
    from .tuning.evaluation import format_table

    s = _settings(args)
    if args.queries or args.qrels:
        if not (args.queries and args.qrels):
            raise QueryError("--queries and --qrels go together")
        qrels = read_qrels(Path(args.qrels))
        labelled = LabelledSet("custom", tuple(q for q in read_queries(Path(args.queries)) if q.id in qrels), qrels)
        source = f"{Path(args.queries).name} + {Path(args.qrels).name}"
    elif args.split != "dev":
        raise QueryError(f"fit on dev, not {args.split!r}: the test split is kept for reporting "
                         "(or give your own --queries and --qrels)")
    else:
        labelled, source = adapter.training_set("dev"), "dev"
    retriever = Retriever.from_settings(s, use_adapter=False)  # the one we replace may not fit
    if args.cv:
        results = adapter.cross_validate(retriever, labelled, args.cv)
        print(f"{len(labelled.queries)} questions from {source}, {args.cv}-fold cross-validation\n", file=sys.stderr)
        print(format_table(results), file=sys.stderr)
    fitted = adapter.fit(retriever, [q.text for q in labelled.queries],
                         [adapter.relevant(labelled.qrels, q.id) for q in labelled.queries], source=source)
    adapter.save(fitted, s.index_dir)
    print(json.dumps({"index": str(s.index_dir), **{k: v for k, v in fitted.meta.items() if k != "fitted_for"}},
                     indent=None if args.json else 2))
    return 0


def cmd_fit_triage(args) -> int:
    """Fit the safety triage classifier on the dev message bank and save it beside the index."""
    from .retrieval import Retriever
    from .triage import PACKAGED, save_model
    from .tuning import triage

    s = _settings(args)
    model, report = triage.fit(Retriever.from_settings(s))
    out = Path(args.out) if args.out else PACKAGED
    save_model(model, out)
    print(triage.format_report(report, "dev bank, out of fold (one writer held out at a time), rules and classifier:"),
          file=sys.stderr)
    print(json.dumps({"saved": str(out), "thresholds": model.thresholds, **model.meta["fitted_on"]},
                     indent=None if args.json else 2))
    return 0


def cmd_fit_scope(args) -> int:
    """Fit the scope judge on the dev questions and save it (the package's folder by default)."""
    from .answering import Answerer
    from .scope import PACKAGED, save_model
    from .tuning import scope

    s = _settings(args)
    model, report = scope.fit(Answerer.from_settings(s))
    out = Path(args.out) if args.out else PACKAGED
    save_model(model, out)
    print(scope.format_report(report, "dev, out of fold (one writer or source held out at a time):"), file=sys.stderr)
    print(json.dumps({"saved": str(out), "thresholds": model.thresholds, **model.meta["fitted_on"]},
                     indent=None if args.json else 2))
    return 0


def cmd_serve(args) -> int:
    from .web import launch

    launch(host=args.host, port=args.port)
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = _Parser(prog="askknee", description="Grounded Q&A over health articles, offline.",
                epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-v", "--verbose", action="store_true", help="log progress to stderr")
    sub = p.add_subparsers(dest="command", required=True, parser_class=_Parser)

    b = sub.add_parser("build", help="ingest the corpus and (re)build the index")
    _common(b)
    b.add_argument("--json", action="store_true", help="one-line JSON report")
    b.set_defaults(func=cmd_build)

    s = sub.add_parser("search", help="rank passages for a question or a BEIR queries file")
    _common(s)
    s.add_argument("question", nargs="?", help="the question")
    s.add_argument("-k", type=_positive_int, default=5, help="passages to return (default 5)")
    s.add_argument("--json", action="store_true", help="JSON list: rank, id, score, section, url, text")
    s.add_argument("--queries", help="BEIR queries.jsonl ({\"_id\",\"text\"} per line)")
    s.add_argument("--run", help="write a TREC run here (with --queries)")
    s.add_argument("--tag", help="run tag in the TREC file")
    s.add_argument("--mode", choices=["fused", "dense", "lexical"], default="fused")
    s.set_defaults(func=cmd_search)

    e = sub.add_parser("export-corpus", help="write the passages as a BEIR corpus.jsonl")
    _common(e)
    e.add_argument("out", help="output path")
    e.set_defaults(func=cmd_export_corpus)

    a = sub.add_parser("ask", help="answer a question (or a JSONL file of them) like the chat does")
    _common(a)
    a.add_argument("question", nargs="?", help="the question")
    a.add_argument("--json", action="store_true",
                   help="JSON: status, answer, sources, notices, suggestions, disclaimer, scope, triage")
    a.add_argument("--questions", help="JSONL: {\"_id\",\"text\"} or {\"_id\",\"turns\":[...]} per line")
    a.add_argument("--out", help="write JSONL replies here (with --questions)")
    a.set_defaults(func=cmd_ask)

    v = sub.add_parser("eval", help="score retrieval (or answers, with --answers) on the labelled sets")
    _common(v)
    v.add_argument("--split", default="dev", help="labelled split: dev or test (default dev)")
    v.add_argument("--json", action="store_true", help="machine-readable output")
    v.add_argument("--report", help="write a markdown report with PNG charts into this folder")
    v.add_argument("--run", help="score this TREC run (with --qrels)")
    v.add_argument("--qrels", help="TREC/BEIR qrels to score --run against")
    v.add_argument("--answers", nargs="?", const="default", help="score replies on the labelled answer set")
    v.add_argument("--safety", action="store_true",
                   help="score safety triage on the message bank: --split test with the saved classifier, "
                        "--split dev out of fold (refits it once per writer: about two minutes)")
    v.add_argument("--scope", action="store_true",
                   help="score answer/clarify/decline: --split dev out of fold with the threshold curves (about "
                        "two minutes), --split test (the blind set), or --questions FILE (e.g. another article's)")
    v.add_argument("--questions", help="with --scope: labelled questions in the scope set's format")
    v.set_defaults(func=cmd_eval)

    f = sub.add_parser("fit-adapter", help="fit the query adapter on labelled questions (dev by default)")
    _common(f)
    f.add_argument("--split", default="dev", help="labelled split to fit on (only dev: test is for reporting)")
    f.add_argument("--queries", help="your own BEIR queries.jsonl (with --qrels)")
    f.add_argument("--qrels", help="your own qrels (with --queries)")
    f.add_argument("--cv", type=_positive_int, help="first print K-fold cross-validated figures (to stderr)")
    f.add_argument("--json", action="store_true", help="one-line JSON report")
    f.set_defaults(func=cmd_fit_adapter)

    t = sub.add_parser("fit-triage", help="fit the safety triage classifier on the dev message bank")
    _common(t)
    t.add_argument("--out", help="folder to save it in (default: the package's, which serves the default model; "
                                 "for another --model, give its index folder)")
    t.add_argument("--json", action="store_true", help="one-line JSON report")
    t.set_defaults(func=cmd_fit_triage)

    c = sub.add_parser("fit-scope", help="fit the scope judge (answer, clarify or decline) on the dev questions")
    _common(c)
    c.add_argument("--out", help="folder to save it in (default: the package's; for another --model, its index folder)")
    c.add_argument("--json", action="store_true", help="one-line JSON report")
    c.set_defaults(func=cmd_fit_scope)

    sv = sub.add_parser("serve", help="start the web chat (same as `python app.py`)")
    sv.add_argument("--host", default=None, help="interface (default $GRADIO_SERVER_NAME or 127.0.0.1)")
    sv.add_argument("--port", type=int, default=None, help="port (default $GRADIO_SERVER_PORT or 7860)")
    sv.set_defaults(func=cmd_serve)
    return p


def main(argv: list[str] | None = None) -> int:
    prepare_process()
    try:
        args = build_parser().parse_args(argv)
        logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                            format="%(message)s", stream=sys.stderr)
        return args.func(args)
    except AskKneeError as e:
        print(f"askknee: error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
