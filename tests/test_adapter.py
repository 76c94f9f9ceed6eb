"""The query adapter: fitted on labelled questions, saved beside the index, ignored when it does not fit."""

from __future__ import annotations

import json
import logging
import shutil

import numpy as np
import pytest

from askknee import adapter, files
from askknee.params import Params
from askknee.tuning import adapter as fitting
from askknee.tuning import evaluation as ev
from askknee.cli import main
from askknee.errors import IndexFileError, QueryError
from askknee.retrieval import Retriever

PARAMS = Params()


@pytest.fixture(scope="module")
def dev():
    return ev.load_split("dev")


@pytest.fixture(scope="module")
def fitted(fake_retriever, dev):
    return fitting.fit(fake_retriever, [q.text for q in dev.queries],
                       [fitting.relevant(dev.qrels, q.id) for q in dev.queries], source="dev", steps=150)


def _mrr(retriever, labelled) -> float:
    run = {q.id: {h.chunk.id: -h.rank for h in retriever.search(q.text, k=10)} for q in labelled.queries}
    return ev.rank_metrics(labelled.qrels, run)["RR@10"]


def test_fitting_raises_the_fitted_questions_ranks(fake_retriever, fitted, dev):
    before = _mrr(fake_retriever.variant(adapter=None), dev)
    after = _mrr(fake_retriever.variant(adapter=fitted.without_memory()), dev)  # the map alone
    assert after > before + 0.05, (before, after)
    assert fitted.meta["fitted_on"] == "dev" and fitted.meta["questions"] == len(dev.queries)
    assert fitted.a.shape == (fake_retriever.index.dimension, fitting.RANK)


def test_adapted_vectors_are_unit_length_and_move(fake_retriever, fitted):
    v = fake_retriever.variant(adapter=None).question_vectors(["my knee keeps twitching at night"])
    moved = fitted.apply(v)
    assert np.allclose(np.linalg.norm(moved, axis=1), 1.0, atol=1e-5)
    assert float(moved[0] @ v[0]) < 0.9999


def test_save_and_load_round_trip(fake_retriever, fitted, tmp_path):
    fitting.save(fitted, tmp_path)
    loaded = adapter.load(tmp_path, fake_retriever.index.manifest, PARAMS)
    assert loaded is not None and loaded.meta["fitted_on"] == "dev"
    v = fake_retriever.question_vectors(["charley horse behind the knee"])
    assert np.allclose(loaded.apply(v), fitted.apply(v))
    assert np.array_equal(loaded.pairs, fitted.pairs) and np.allclose(loaded.memory, fitted.memory)


def test_the_memory_holds_every_judgement_of_the_labelled_questions(fitted, dev):
    judged = sum(len(fitting.relevant(dev.qrels, q.id)) for q in dev.queries)
    assert fitted.memory.shape == (len(dev.queries), fitted.a.shape[0]) and len(fitted.pairs) == judged
    assert np.allclose(np.linalg.norm(fitted.memory, axis=1), 1.0, atol=1e-5)


def test_a_remembered_question_lifts_each_passage_judged_for_it(fake_retriever, fitted, dev):
    q = next(q for q in dev.queries if len(fitting.relevant(dev.qrels, q.id)) >= 2)
    ids = [c.id for c in fake_retriever.chunks]
    relevant = [ids.index(d) for d in fitting.relevant(dev.qrels, q.id)]
    qvec = fake_retriever.variant(adapter=fitted).question_vectors([q.text])[0]
    scores = np.linspace(0.0, 0.9, len(ids)).astype(np.float32)
    lifted = fitted.without_prototypes().lifts(scores, qvec, PARAMS)[-1]
    # The question is in the memory (cosine 1 with itself): its passages gain the full share of the gap to 1.
    expected = scores[relevant] + (1 - scores[relevant]) * PARAMS.memory_weight
    assert np.allclose(lifted[relevant], expected, atol=1e-4)
    assert np.all(lifted >= scores) and np.all(lifted <= 1.0)
    assert fitted.without_memory().lifts(scores, qvec, PARAMS)[-1] is scores


def test_a_passage_prototype_is_the_mean_of_its_labelled_questions(fake_retriever, fitted, dev):
    # Computed here from the labels, question by question, not from the adapter's pairs.
    judged = [fitting.relevant(dev.qrels, q.id) for q in dev.queries]
    ids = [c.id for c in fake_retriever.chunks]
    passages, prototypes = fitted.prototypes
    assert sorted(passages.tolist()) == sorted({ids.index(d) for docs in judged for d in docs})
    for target in sorted({d for docs in judged for d in docs})[:5]:
        total = sum(fitted.memory[i] / len(docs) for i, docs in enumerate(judged) if target in docs)
        row = passages.tolist().index(ids.index(target))
        assert np.allclose(prototypes[row], total / np.linalg.norm(total), atol=1e-5), target


def test_a_question_at_a_prototype_lifts_its_passage_after_the_nearest_question(fake_retriever, fitted):
    passages, prototypes = fitted.prototypes
    qvec = prototypes[0]
    scores = np.linspace(0.0, 0.9, len(fake_retriever.chunks)).astype(np.float32)
    nearest = fitted.without_prototypes().lifts(scores, qvec, PARAMS)[-1]
    both = fitted.lifts(scores, qvec, PARAMS)[-1]
    p = passages[0]  # cosine 1 with its own prototype: the full share of what is left
    assert np.isclose(both[p], nearest[p] + (1 - nearest[p]) * PARAMS.prototype_weight, atol=1e-4)
    assert np.all(both >= nearest) and np.all(both <= 1.0)


def test_a_question_unlike_every_labelled_one_is_not_lifted(fake_retriever, fitted):
    qvec = fake_retriever.variant(adapter=fitted).question_vectors(["zqxv vorpal jabberwock"])[0]
    assert float((fitted.memory @ qvec).max()) < PARAMS.memory_floor
    assert float((fitted.prototypes[1] @ qvec).max()) < PARAMS.prototype_floor
    scores = np.full(len(fake_retriever.chunks), 0.3, dtype=np.float32)
    assert np.array_equal(fitted.lifts(scores, qvec, PARAMS)[-1], scores)


def test_a_memory_that_names_missing_passages_is_ignored(fake_retriever, fitted, tmp_path, caplog):
    from dataclasses import replace

    broken = replace(fitted, pairs=np.array([[0, len(fake_retriever.chunks)]], dtype=np.int32))
    fitting.save(broken, tmp_path)
    with caplog.at_level(logging.WARNING, logger="askknee"):
        assert adapter.load(tmp_path, fake_retriever.index.manifest, PARAMS) is None
    assert "question memory does not fit" in caplog.text


def test_from_settings_serves_the_adapter_in_the_index_folder(fake_settings, fitted, tmp_path):
    index_dir = tmp_path / "index"
    shutil.copytree(fake_settings.index_dir, index_dir)
    assert Retriever.from_settings(fake_settings.with_(index_dir=index_dir)).adapter is None
    fitting.save(fitted, index_dir)
    r = Retriever.from_settings(fake_settings.with_(index_dir=index_dir))
    assert r.adapter is not None
    q = "cant do my normal day stuff because of these knee cramps"
    assert [h.score for h in r.search(q)] != [h.score for h in r.variant(adapter=None).search(q)]


def test_an_unwritable_folder_is_our_error(fitted, tmp_path, monkeypatch):
    def refuse(path, data):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(files, "atomic_write", refuse)
    with pytest.raises(IndexFileError, match="cannot write the query adapter.*writable --index"):
        fitting.save(fitted, tmp_path)


def test_an_adapter_for_another_index_is_ignored_with_a_warning(fake_retriever, fitted, tmp_path, caplog):
    fitting.save(fitted, tmp_path)
    other = {**fake_retriever.index.manifest, "corpus_sha256": "0" * 64}
    with caplog.at_level(logging.WARNING, logger="askknee"):
        assert adapter.load(tmp_path, other, PARAMS) is None
    assert "fitted for another index" in caplog.text


def test_a_damaged_adapter_is_ignored_with_a_warning(fake_retriever, fitted, tmp_path, caplog):
    fitting.save(fitted, tmp_path)
    path = tmp_path / adapter.FACTORS
    path.write_bytes(path.read_bytes()[:-10])
    with caplog.at_level(logging.WARNING, logger="askknee"):
        assert adapter.load(tmp_path, fake_retriever.index.manifest, PARAMS) is None
    assert "does not match" in caplog.text and "fit-adapter" in caplog.text


def test_no_adapter_no_warning(fake_retriever, tmp_path, caplog):
    with caplog.at_level(logging.WARNING, logger="askknee"):
        assert adapter.load(tmp_path, fake_retriever.index.manifest, PARAMS) is None
    assert not caplog.text


def test_probe_vectors_match_by_cosine_not_digits(fake_retriever):
    manifest = fake_retriever.index.manifest
    fitted_for = adapter.fingerprint(manifest)
    nudged = {**fitted_for, "probe": [x + 1e-4 for x in fitted_for["probe"]]}
    assert adapter.fits(nudged, manifest)
    assert not adapter.fits({**fitted_for, "probe": [-x for x in fitted_for["probe"]]}, manifest)
    assert not adapter.fits({**fitted_for, "chunker_version": "0"}, manifest)


@pytest.mark.slow
def test_fitting_needs_labels_that_name_indexed_passages(fake_retriever):
    with pytest.raises(QueryError, match="no labelled question"):
        fitting.fit(fake_retriever, ["why does my knee twitch"], [{"no-such-passage"}])


@pytest.mark.slow
def test_cli_fits_on_dev_only_and_eval_shows_the_ablation(fake_settings, tmp_path, capsys):
    index_dir = tmp_path / "index"
    shutil.copytree(fake_settings.index_dir, index_dir)
    common = ["--corpus", str(fake_settings.corpus_dir), "--index", str(index_dir), "--model", fake_settings.model]
    assert main(["fit-adapter", "--split", "test", *common]) == 2
    assert "test split is kept for reporting" in capsys.readouterr().err
    assert main(["fit-adapter", "--json", "--cv", "2", *common]) == 0
    out, err = capsys.readouterr()
    assert json.loads(out)["fitted_on"] == "dev"
    assert "fused, adapter (2-fold)" in err and "fused-no-adapter" in err
    assert (index_dir / adapter.FACTORS).exists() and (index_dir / adapter.META).exists()
    assert main(["eval", "--split", "dev", "--json", *common]) == 0
    names = {c["name"] for c in json.loads(capsys.readouterr().out)["configurations"]}
    assert {"fused", "fused-no-adapter", "fused-no-question-memory"} <= names


def test_refitting_over_a_stale_adapter_does_not_warn_about_it(fake_settings, fitted, tmp_path, caplog):
    from dataclasses import replace

    index_dir = tmp_path / "index"
    shutil.copytree(fake_settings.index_dir, index_dir)
    stale = replace(fitted, meta={**fitted.meta, "fitted_for": {**fitted.meta["fitted_for"], "corpus_sha256": "0" * 64}})
    fitting.save(stale, index_dir)
    settings = fake_settings.with_(index_dir=index_dir)
    with caplog.at_level(logging.WARNING, logger="askknee"):
        assert Retriever.from_settings(settings).adapter is None
    assert "fitted for another index" in caplog.text  # serving says why it ignores it...
    caplog.clear()
    common = ["--corpus", str(fake_settings.corpus_dir), "--index", str(index_dir), "--model", fake_settings.model]
    with caplog.at_level(logging.WARNING, logger="askknee"):
        assert main(["fit-adapter", "--json", *common]) == 0
    assert "ignoring the query adapter" not in caplog.text  # ...refitting replaces it without a word
    assert Retriever.from_settings(settings).adapter is not None


def test_the_training_set_adds_the_answerable_scope_questions_of_the_same_split():
    import json as _json
    from importlib import resources

    retrieval = ev.load_split("dev")
    training = fitting.training_set("dev")
    rows = [_json.loads(line) for line in
            resources.files("askknee").joinpath("data/scope/dev.jsonl").read_text(encoding="utf-8").splitlines()]
    answerable = {r["_id"]: r for r in rows if r["label"] == "in_scope" and r["relevant"]}
    ids = {q.id for q in training.queries}
    assert ids == {q.id for q in retrieval.queries} | set(answerable)
    assert not ids & {r["_id"] for r in rows if r["label"] == "out_of_scope"}
    some = next(iter(answerable.values()))
    assert fitting.relevant(training.qrels, some["_id"]) == set(some["relevant"])
    assert {q.split for q in training.queries} == {"dev"}


def test_folds_hold_out_a_writer_and_anyone_sharing_a_text_with_them_whole():
    items = [("a", "scope-s1"), ("b", "scope-s1"), ("c", "scope-s2"), ("b", "scope-s3"), ("d", "scope-s3"),
             ("e", "answers:cold"), ("f", "answers:cold"), ("g", "answers:heat")]
    fold = fitting.folds_by_group(items, 2)
    assert set(fold) == set("abcdefg")
    assert fold["a"] == fold["b"] == fold["d"]  # s3 wrote "b" too: held out with s1
    assert fold["e"] == fold["f"]
    assert set(fold.values()) == {0, 1}


def test_a_question_is_grouped_by_writer_then_by_its_answers():
    from askknee.tuning.beir import Query

    assert fitting.group_of(Query("s", "x", "dev", ("a",), style="scope-s4")) == "scope-s4"
    restyled = Query("d1", "x", "dev", ("b", "a")), Query("d2", "y", "dev", ("a", "b"))
    assert fitting.group_of(restyled[0]) == fitting.group_of(restyled[1])
    assert fitting.group_of(Query("d3", "x", "dev")) != fitting.group_of(Query("d4", "y", "dev"))


def test_only_dev_trains_an_adapter():
    with pytest.raises(QueryError, match="test split is kept"):
        fitting.training_set("test")


@pytest.mark.slow
def test_fold_retrievers_never_answer_a_held_out_question_from_memory(fake_retriever, dev):
    queries = tuple(dev.queries[:40])
    labelled = ev.LabelledSet("dev", queries, dev.qrels)
    fold = {q.text: (0 if i < 10 else 1) for i, q in enumerate(queries)}
    given, fitted = fitting.fold_retrievers(fake_retriever, labelled, 2, fold)
    assert given == fold
    for f, retriever in enumerate(fitted):
        memory = retriever.adapter.memory
        for q in queries:
            v = retriever.adapter.apply(fake_retriever.variant(adapter=None).question_vectors([q.text]))[0]
            remembered = bool(np.any(np.abs(memory - v).max(axis=1) < 1e-5))
            assert remembered == (fold[q.text] != f), (f, q.text)
    with pytest.raises(QueryError, match="no fold given"):
        fitting.fold_retrievers(fake_retriever, labelled, 2, {q.text: 0 for q in queries[:5]})
