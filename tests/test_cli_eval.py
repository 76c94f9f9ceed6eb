"""`askknee search --queries … --run` writes a TREC run whose ids are those `export-corpus` exports,
and `askknee eval --run` scores it."""

from __future__ import annotations

import pytest

import json

from askknee.tuning import beir, evaluation as ev
from askknee.cli import main


@pytest.mark.slow
def test_search_run_ids_match_the_exported_corpus(fake_settings, tmp_path, capsys):
    common = ["--index", str(fake_settings.index_dir), "--model", "hashing"]
    corpus = tmp_path / "corpus.jsonl"
    assert main(["export-corpus", str(corpus), *common]) == 0
    ids = [json.loads(line)["_id"] for line in corpus.read_text().splitlines()]
    assert len(ids) == len(set(ids)) > 40

    queries = tmp_path / "queries.jsonl"
    beir.write_queries(ev.load_split("dev").queries, queries)
    run = tmp_path / "run.trec"
    assert main(["search", "--queries", str(queries), "--run", str(run), "-k", "5", *common]) == 0
    lines = [line.split() for line in run.read_text().splitlines()]
    assert len(lines) == len(ev.load_split("dev").queries) * 5
    assert {parts[2] for parts in lines} <= set(ids)
    assert all(parts[1] == "Q0" and parts[5] == "askknee-fused" for parts in lines)
    for qid in {parts[0] for parts in lines}:
        assert [int(p[3]) for p in lines if p[0] == qid] == [1, 2, 3, 4, 5]

    capsys.readouterr()
    qrels = ev.DATA_DIR / "qrels" / "dev.tsv"
    assert main(["eval", "--run", str(run), "--qrels", str(qrels), "--json", *common]) == 0
    metrics = json.loads(capsys.readouterr().out)["configurations"][0]["metrics"]
    # The run's passages are ours and its questions labelled, so text hit rates come too.
    assert {"MRR@10", "R@3", "hit@300", "hit@600"} <= set(metrics)
    assert 0 < metrics["MRR@10"] <= 1


def test_scope_eval_on_a_questions_file(fake_settings, tmp_path, capsys):
    common = ["--corpus", str(fake_settings.corpus_dir), "--index", str(fake_settings.index_dir),
              "--model", fake_settings.model]
    questions = tmp_path / "q.jsonl"
    questions.write_text("\n".join(json.dumps(r) for r in [
        {"_id": "a", "text": "what causes knee muscle spasms", "label": "in_scope",
         "relevant": ["knee-muscle-spasm:faq:01"]},
        {"_id": "b", "text": "what is the capital of france", "label": "out_of_scope", "missing": "geography"},
    ]) + "\n")
    assert main(["eval", "--scope", "--questions", str(questions), "--json", *common]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["answerable_right_shown"]["n"] == 1 and out["out_of_scope_declined_or_named"]["n"] == 1
