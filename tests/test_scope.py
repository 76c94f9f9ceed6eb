"""The scope judge (answer, clarify or decline; what the article does not cover) and the replies
built on it, with the hashing fake embedder and hand-made models."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from askknee import messages as M
from askknee.answering import Answerer
from askknee.scope import (
    ANSWER,
    CLARIFY,
    DECLINE,
    FOCUS_FEATURES,
    Neighbours,
    Scope,
    ScopeJudge,
    ScopeModel,
    estimator,
    load_model,
    masked,
    save_model,
)
from askknee.suggest import question_for_heading
from askknee.tuning.scope import Case, choose_thresholds, numbers, outcomes

THRESHOLDS = {"clarify": 0.3, "answer": 0.7, "focus": 0.5}


def linear(features, weights, intercept=0.0):
    """A judge part whose probability is the logistic of a weighted sum of raw features."""
    return {"features": list(features), "mean": [0.0] * len(features), "scale": [1.0] * len(features),
            "coef": list(weights), "intercept": intercept}


def model(top_weight=20.0, rarity_weight=0.0):
    # P(answerable) = sigmoid(20 * (top - 0.5)); a word is the focus when rare enough.
    judge = linear(["top"], [top_weight], -top_weight * 0.5)
    focus = linear(FOCUS_FEATURES, [rarity_weight] + [0.0] * (len(FOCUS_FEATURES) - 1), -rarity_weight * 5.0)
    vocab = ((("a",), np.ones(1, np.float32)), (("b",), np.ones(1, np.float32)))
    return ScopeModel(judge, focus, dict(THRESHOLDS), {"fitted_for": {"model": "hashing"}},
                      wording=(vocab, np.zeros((1, 2), np.float32), np.zeros(1, np.float32)))


class FixedScope:
    """A judge that returns one verdict, with the real terms (for the composer's needs)."""

    def __init__(self, verdict, terms):
        self.verdict, self.terms, self.nearness = verdict, terms, None

    def judge(self, question, hits, vector=None):
        return self.verdict


@pytest.fixture(scope="module")
def answerer(fake_retriever, fake_settings):
    return Answerer(fake_retriever, fake_retriever.params.with_(answer_threshold=0.0))


def with_scope(answerer, verdict):
    return Answerer(answerer.retriever, answerer.params, scope=FixedScope(verdict, answerer.scope.terms))


@pytest.mark.parametrize("top, outcome", [(0.9, ANSWER), (0.5, CLARIFY), (0.1, DECLINE)])
def test_three_outcomes_from_the_probability(answerer, fake_retriever, top, outcome):
    judge = ScopeJudge(answerer.scope.terms, model())
    hits = fake_retriever.search("what causes knee spasms", k=3)
    hits = [type(h)(**{**h.__dict__, "score": top if i == 0 else h.score}) for i, h in enumerate(hits)]
    verdict = judge.judge("what causes knee spasms", hits)
    assert verdict.outcome == outcome
    assert verdict.features["top"] == pytest.approx(top)


def test_without_a_model_the_top_score_decides(answerer, fake_retriever):
    hits = fake_retriever.search("what causes knee spasms", k=3)
    assert ScopeJudge(answerer.scope.terms, threshold=0.0).judge("q", hits).outcome == ANSWER
    assert ScopeJudge(answerer.scope.terms, threshold=1.01).judge("q", hits).outcome == DECLINE


def test_masked_wording_reads_the_same_over_any_article(answerer):
    assert masked("Will my insurance cover an MRI for knee spasms?", answerer.scope.terms) == \
        "will my insurance cover an known for known known"


def test_model_numbers_rebuild_the_fitted_pipeline():
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    rng = np.random.default_rng(0)
    x = rng.random((60, 3))
    y = (x[:, 0] > 0.5).astype(int)
    fitted = make_pipeline(StandardScaler(), LogisticRegression()).fit(x, y)
    assert np.allclose(estimator(numbers(fitted, ["a", "b", "c"])).predict_proba(x), fitted.predict_proba(x))


def test_save_and_load(tmp_path):
    save_model(model(), tmp_path)
    loaded = load_model([tmp_path / "absent", tmp_path], lambda f: f.get("model") == "hashing")
    assert loaded is not None and loaded.thresholds == THRESHOLDS
    assert loaded.answerable({"top": 0.9}) > 0.9 > 0.1 > loaded.answerable({"top": 0.1})


def unit(*v):
    v = np.asarray(v, np.float32)
    return v / np.linalg.norm(v)


NEIGHBOURS = Neighbours(np.stack([unit(1, 0, 0), unit(0, 1, 0), unit(0, 0, 1)]), np.array([True, False, True]),
                        ("knee", "knee", "other"))


def test_labelled_neighbours_speak_only_for_their_article():
    near = NEIGHBOURS.features(unit(1, 1, 0), "knee")
    assert near == {"near_in": pytest.approx(0.7071, abs=1e-3), "near_out": pytest.approx(0.7071, abs=1e-3),
                    "labelled": 1.0}
    assert NEIGHBOURS.features(unit(0, 1, 0), "knee")["near_out"] == pytest.approx(1.0)
    # "other" has no unanswerable labelled question, and nobody labelled any for "new" or without a vector.
    for article, vector in (("other", unit(0, 0, 1)), ("new", unit(1, 0, 0)), ("knee", None)):
        assert NEIGHBOURS.features(vector, article) == Neighbours.NEUTRAL


def test_the_nearest_labelled_question_moves_the_judge(answerer, fake_retriever):
    judge_part = linear(["near_in", "near_out"], [10.0, -10.0])
    m = model()
    m = ScopeModel(judge_part, m.focus, dict(THRESHOLDS), m.meta, wording=m.wording, neighbours=Neighbours(
        np.stack([unit(1, 0), unit(0, 1)]), np.array([True, False]), ("knee-muscle-spasm",) * 2))
    hits = fake_retriever.search("what causes knee spasms", k=3)
    judge = ScopeJudge(answerer.scope.terms, m)
    assert judge.judge("q", hits, unit(1, 0.1)).outcome == ANSWER
    assert judge.judge("q", hits, unit(0.1, 1)).outcome == DECLINE
    assert judge.judge("q", hits, None).features["labelled"] == 0.0


def test_labelled_neighbours_are_saved_with_the_judge(tmp_path):
    save_model(ScopeModel(**{**model().__dict__, "neighbours": NEIGHBOURS}), tmp_path)
    loaded = load_model([tmp_path], lambda f: True)
    assert loaded.neighbours.articles == NEIGHBOURS.articles
    assert loaded.neighbours.features(unit(1, 1, 0), "knee") == pytest.approx(NEIGHBOURS.features(unit(1, 1, 0), "knee"),
                                                                              abs=1e-3)


def test_a_judge_for_another_model_or_damaged_is_refused(tmp_path, caplog):
    save_model(model(), tmp_path)
    with caplog.at_level(logging.WARNING, logger="askknee"):
        assert load_model([tmp_path], lambda f: False) is None
        (tmp_path / "scope.npz").write_bytes(b"garbage")
        assert load_model([tmp_path], lambda f: True) is None
    assert "askknee fit-scope" in caplog.text and "does not match" in caplog.text


def test_a_missing_word_is_named_first_and_never_passed_off_as_an_answer(answerer):
    verdict = Scope(ANSWER, 0.9, ("insurance",))
    a = with_scope(answerer, verdict).reply("will my insurance cover knee spasm treatment")
    assert a.status == CLARIFY
    assert a.text.startswith(M.MISSING.format(topic="insurance"))
    assert M.CLOSEST in a.text and len(a.sources) <= 2


def test_clarify_shows_the_closest_passages_and_questions_the_article_answers(answerer):
    asked = "how do I relieve a knee spasm"
    a = with_scope(answerer, Scope(CLARIFY, 0.5)).reply(asked)
    assert a.status == CLARIFY and a.text.startswith(M.CLOSEST)
    assert 1 <= len(a.sources) <= 2 and 2 <= len(a.suggestions) <= 3
    assert asked not in a.suggestions and all(q.endswith("?") for q in a.suggestions)


def test_decline_names_what_is_missing_then_the_topics(answerer):
    a = with_scope(answerer, Scope(DECLINE, 0.1, ("statins",))).reply("do statins cause knee spasms")
    assert a.status == "out_of_scope" and not a.sources
    assert a.text.startswith(M.MISSING.format(topic="statins")) and M.NOT_FOUND in a.text


def test_a_red_flag_with_nothing_close_is_answered_with_the_guidance(answerer):
    from askknee.triage import RED_FLAG, Triage

    class Red:
        def assess(self, text, vector=None):
            return Triage(RED_FLAG, "frequency", red_flag=True)

    a = Answerer(answerer.retriever, answerer.params, Red(), FixedScope(Scope(DECLINE, 0.0), answerer.scope.terms))
    reply = a.reply("they wake me every night")
    assert reply.status == "answered" and reply.text.startswith(M.RED_FLAG_LEAD) and M.NOT_FOUND not in reply.text


@pytest.mark.parametrize("heading, question", [
    ("When to See a Doctor", "When should I see a doctor?"),
    ("What Causes Knee Muscle Spasms?", "What causes knee muscle spasms?"),
    ("Home Remedies", "What home remedies are there?"),
    ("Initial Self-Assessment", "What does the article say about initial self-assessment?"),
])
def test_suggested_questions_read_as_questions(heading, question):
    assert question_for_heading(heading) == question


def test_follow_ups_are_never_a_question_already_asked(answerer):
    first = answerer.reply("what causes knee spasms")
    asked = list(first.suggestions[:1])
    second = answerer.reply(asked[0], ["what causes knee spasms"])
    assert asked[0] not in second.suggestions


def _case(i, answerable, right=True, group="g"):
    return Case(str(i), "q", answerable, frozenset({"p"} if answerable else ()), "", f"{group}{i % 3}", {},
                ("p",) if right else ("x",), (), ())


def test_thresholds_follow_their_targets():
    cases = [_case(i, True) for i in range(40)] + [_case(40 + i, False) for i in range(20)]
    judged = np.array([0.5 + i / 100 for i in range(40)] + [i / 100 for i in range(20)])
    t = choose_thresholds(cases, judged, np.zeros(0), np.zeros(0, dtype=int),
                          {"declined_answerable": 0.05, "confident_right": 0.95, "named_answerable": 0.1})
    assert t["clarify"] == pytest.approx(0.52)  # two answerable questions (5 %) may be declined
    assert t["answer"] == pytest.approx(0.52)  # right from 0.5 up, and never below the clarify threshold
    decided = outcomes(cases, judged, np.zeros(0), np.zeros(0, dtype=int), t)
    assert sum(o == DECLINE for o, _ in decided[:40]) == 2


def test_a_right_passage_counts_only_when_the_reply_would_show_it():
    from dataclasses import replace

    from askknee.tuning.scope import report_from

    # Ranked second, but the composer would leave it out of an answer (it scores too far below the best).
    case = replace(_case(0, True), hits=("x", "p"), answer_shown=("x",), closest=("x", "p"))
    assert not case.right("answer") and case.right(CLARIFY) and not case.right(DECLINE)
    report = report_from([case, case], [("answer", False), (CLARIFY, False)])
    assert report["confident_answers_right"]["hits"] == 0
    assert report["answerable_right_shown"]["hits"] == 1
    # Without a recorded selection, the top three (answer) or two (clarify) count.
    assert replace(case, answer_shown=None).right("answer")


def test_the_answer_threshold_counts_only_the_passages_an_answer_shows():
    from dataclasses import replace

    # Forty answerable cases; those below 0.7 have their right passage ranked but not shown.
    cases = [replace(_case(i, True), hits=("x", "p"), answer_shown=("x",) if i < 20 else ("p",)) for i in range(40)]
    judged = np.array([0.5 + i / 100 for i in range(40)])
    t = choose_thresholds(cases, judged, np.zeros(0), np.zeros(0, dtype=int),
                          {"declined_answerable": 0.0, "confident_right": 0.95, "named_answerable": 0.1})
    assert (judged >= t["answer"]).sum() == 21  # 20 right of 21 answered: the first 95 % from the top
    unseen = [replace(c, answer_shown=None) for c in cases]  # the top three would count it right
    assert choose_thresholds(unseen, judged, np.zeros(0), np.zeros(0, dtype=int),
                             {"declined_answerable": 0.0, "confident_right": 0.95, "named_answerable": 0.1})["answer"] \
        == pytest.approx(0.5)


def test_cases_record_what_the_served_composer_shows(answerer):
    from askknee.tuning.scope import make_cases

    row = {"id": "a", "text": "what causes knee spasms", "answerable": True, "relevant": [], "missing": "",
           "group": "t"}
    case = make_cases(answerer, [row])[0]
    hits = answerer.retriever.rank(answerer.retriever.query(row["text"]), k=8)
    assert case.answer_shown == tuple(c.id for c in answerer.composer.select(hits, row["text"]))
    assert len(case.closest) == 2 and case.closest[0] == case.hits[0]
    assert case.scores == tuple(h.score for h in hits)


def test_a_writer_never_meets_their_own_questions_as_neighbours():
    from dataclasses import replace

    from askknee.tuning.scope import with_neighbours

    def case(i, text, answerable, group, vector, plain=False):
        return Case(str(i), text, answerable, frozenset(), "", group, {}, (), (), (), plain=plain,
                    vector=unit(*vector), article="knee", need=text)

    cases = [case(0, "a", True, "w1", (1, 0)), case(1, "b", False, "w1", (0, 1)),
             case(2, "c", True, "w2", (1, 0.2)), case(3, "d", False, "w2", (0.2, 1)),
             case(4, "a", True, "w1", (1, 0), plain=True),
             case(5, "e", True, "w3", (1, 0.5)), case(6, "f", False, "w3", (0.5, 1))]
    cases[2] = replace(cases[2], need="cramps")
    cases[5] = replace(cases[5], need="cramps")  # a restyled version of case 2's question
    out = with_neighbours(cases)
    assert out[0].features["near_in"] == pytest.approx(float(unit(1, 0.2) @ unit(1, 0)))  # w2's, not its own
    assert out[0].features["labelled"] == 1.0
    assert out[2].features["near_in"] == pytest.approx(float(unit(1, 0) @ unit(1, 0.2)))  # not its twin's
    assert out[4].features == Neighbours.NEUTRAL  # ranked as an article without labelled questions


def test_the_dev_questions_are_ranked_as_served(answerer):
    from askknee.scope import Nearness
    from askknee.tuning.scope import dev_cases

    r = answerer.retriever
    judge = ScopeJudge(answerer.scope.terms, model(), Nearness(r.embedder.encode, [c.text for c in r.chunks]))
    cases = dev_cases(Answerer(r, answerer.params, scope=judge))
    texts = {c.text for c in cases}
    assert len(texts) > 1500 and {c.group.split("-")[0] for c in cases} >= {"scope", "retrieval", "oos", "answers"}
    # Without a query adapter every case is ranked as an article without labelled questions is.
    assert all(c.plain and c.features["labelled"] == 0.0 for c in cases)


def test_threshold_curves_from_the_served_judge(answerer):
    from askknee.tuning.scope import served_curves

    judge = ScopeJudge(answerer.scope.terms, model())
    rows = [{"id": "a", "text": "what causes knee spasms", "answerable": True, "relevant": [], "missing": "",
             "group": "t"},
            {"id": "b", "text": "will my insurance pay", "answerable": False, "relevant": [], "missing": "insurance",
             "group": "t"}]
    points = served_curves(Answerer(answerer.retriever, answerer.params, scope=judge), rows)
    assert [p["clarify"] for p in points] == [round(0.05 * i, 2) for i in range(1, 20)]
    declined = [p["out_of_scope_declined_or_named"] for p in points]
    assert declined == sorted(declined) and all(0.0 <= d <= 1.0 for d in declined)


def test_with_an_adapter_each_scope_writer_is_ranked_by_an_adapter_fitted_without_them(monkeypatch):
    from types import SimpleNamespace

    from askknee.tuning import scope as tuning

    served, plain = SimpleNamespace(adapter=object()), SimpleNamespace(adapter=None)
    served.variant = lambda adapter: plain
    folds_given, ranked = {}, []
    fold_retrievers = [SimpleNamespace(adapter=object(), name=f"fold-{f}") for f in range(5)]

    def fake_folds(base, labelled, folds, fold):
        folds_given.update(fold)
        trained = {q.text for q in labelled.queries}
        assert trained <= set(fold), "every question the adapter learns has a fold"
        return fold, fold_retrievers

    monkeypatch.setattr(tuning.adapters, "fold_retrievers", fake_folds)
    monkeypatch.setattr(tuning, "make_cases", lambda answerer, rows, retriever=None: ranked.append(
        (retriever, list(rows))) or [])
    tuning.dev_cases(SimpleNamespace(retriever=served))

    groups_of: dict[str, set[str]] = {}
    for r in tuning.labelled_questions("dev"):
        groups_of.setdefault(r["text"], set()).add(r["group"])
    folds_of_writer: dict[str, set[int]] = {}
    for retriever, rs in ranked:
        if retriever in fold_retrievers:
            f = fold_retrievers.index(retriever)
            assert all(folds_given[r["text"]] == f for r in rs)  # never ranked by an adapter that learnt it
            for r in rs:
                folds_of_writer.setdefault(r["group"], set()).add(f)
    scope_writers = {g for gs in groups_of.values() for g in gs if g.startswith("scope-")}
    assert scope_writers and scope_writers <= set(folds_of_writer)
    scope_folds = {g: f for g, f in folds_of_writer.items() if g.startswith("scope-")}
    assert all(len(f) == 1 for f in scope_folds.values()), scope_folds  # a writer is held out whole
    # Neither served (it learnt them) nor skipped: the scope set is ranked by fold adapters and plain.
    served_rows = [r for ret, rs in ranked if ret is None for r in rs]
    assert served_rows and not any(r["group"].startswith("scope-") for r in served_rows)
    learnt = {q.text for q in tuning.adapters.training_set("dev").queries}
    assert not any(r["text"] in learnt for r in served_rows)  # e.g. an answer-set row worded as a dev question
    assert any(ret is plain for ret, _ in ranked)


def test_a_judge_given_evidence_that_is_not_finite_refuses_it():
    with pytest.raises(ValueError, match="not finite"):
        model().answerable({"top": float("nan")})


@pytest.mark.parametrize("article", ["tension-headache", "shin-splints"])
def test_the_other_articles_questions_name_their_right_passages(article):
    from pathlib import Path

    from askknee.chunking import chunk_article
    from askknee.ingest import parse_article
    from askknee.tuning.scope import questions_file

    folder = Path(__file__).resolve().parent / "fixtures" / article
    rows = questions_file(folder / "questions.jsonl")
    headings = (folder / f"{article}.md").read_text(encoding="utf-8")
    answerable = [r for r in rows if r["answerable"]]
    assert answerable and len(answerable) < len(rows)
    for r in answerable:
        assert r["relevant"] and all(p.startswith(f"{article}:") for p in r["relevant"]), r["id"]
    assert all(r["missing"] and not r["relevant"] for r in rows if not r["answerable"])
    # Every right passage is one of the article's passages.
    chunks = chunk_article(parse_article(headings, article_id=article))
    ids = {c.id for c in chunks}
    assert all(p in ids for r in answerable for p in r["relevant"])


def test_a_judge_fitted_with_another_passage_ratio_is_flagged(answerer, monkeypatch, caplog):
    from dataclasses import replace

    from askknee import answering

    fitted = replace(model(), meta={"fitted_for": {"model": "hashing"}, "fitted_with": {"passage_ratio": 0.5}})
    monkeypatch.setattr(answering, "load_scope", lambda folders, check: fitted)
    with caplog.at_level(logging.WARNING, logger="askknee"):
        answering.judge_for(answerer.retriever, "INDEX")
    assert "passage_ratio 0.5" in caplog.text
    caplog.clear()
    monkeypatch.setattr(answering, "load_scope", lambda folders, check: replace(
        fitted, meta={"fitted_with": {"passage_ratio": answerer.retriever.params.passage_ratio}}))
    with caplog.at_level(logging.WARNING, logger="askknee"):
        answering.judge_for(answerer.retriever, "INDEX")
    assert "passage_ratio" not in caplog.text


def test_the_passage_ratio_sweep_picks_the_passages_again_at_each_ratio(answerer, monkeypatch):
    from askknee.tuning import scope as tuning

    rows = [{"id": str(i), "text": q, "answerable": True, "relevant": [], "missing": "", "group": "t"}
            for i, q in enumerate(["what causes knee spasms", "how do I relieve a knee spasm", "is heat or ice better"])]
    cases = tuning.make_cases(answerer, rows)
    cases = [tuning.replace(c, relevant=frozenset(c.hits[1:2])) for c in cases]  # right: the second passage
    monkeypatch.setattr(tuning, "out_of_fold", lambda cs: (np.full(len(cs), 0.99), np.zeros(0), np.zeros(0, int)))
    monkeypatch.setattr(tuning, "_served", lambda cs, a: np.ones(len(cs), bool))
    monkeypatch.setattr(tuning, "choose_thresholds", lambda *a: {"clarify": 0.1, "answer": 0.5, "focus": 1.0})
    before = answerer.composer.passage_ratio
    points = tuning.passage_ratio_sweep(answerer, cases, [1.0, 0.0])
    assert answerer.composer.passage_ratio == before  # put back
    assert [p["passage_ratio"] for p in points] == [1.0, 0.0]
    # Only the best passage at ratio 1 (unless tied), every passage the composer keeps at 0.
    assert points[0]["passages_per_answer"] < points[1]["passages_per_answer"]
    assert points[0]["confident_right"] < points[1]["confident_right"]
