"""Fit, cross-validate and evaluate the scope judge (`askknee fit-scope`, `askknee eval --scope`).

Fitted on `dev`: the labelled retrieval questions and the blind scope set (answerable questions
with quoted answers; out-of-scope ones naming what is missing), each ranked by a query adapter
fitted without its fold (a scope writer, or a question's restyled versions), so the adapter's
memory does not flatter it; the out-of-scope retrieval queries and the answer set's dev rows.
Thresholds are chosen on out-of-fold probabilities, one writer or source held out at a time. The
blind scope `test` set and the second article's questions are only reported.
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from importlib import resources
from pathlib import Path

import numpy as np

from . import adapter as adapters
from ..errors import QueryError
from .beir import DATA_DIR, read_queries
from ..jsonl import parse_jsonl, read_text
from ..scope import (
    ANSWER,
    CLARIFY,
    DECLINE,
    FOCUS_FEATURES,
    NEIGHBOUR_FEATURES,
    WORDING,
    Neighbours,
    ScopeModel,
    focus_features,
    masked,
    question_features,
)
from ..answering import CLARIFY_PASSAGES
from ..compose import MAX_PASSAGES, Composer
from ..textmodel import make_vectorizers, vocabularies_of

log = logging.getLogger("askknee")

JUDGE_FEATURES = ("top", "fused", "lift", "dense", "max_dense", "lexical", "margin_mean", "unknown_share",
                  "unknown_rarity", "unknown_nearness", "words", "wording", *NEIGHBOUR_FEATURES)
TARGETS = {"declined_answerable": 0.03, "confident_right": 0.95, "named_answerable": 0.10}
SHOWN = MAX_PASSAGES  # passages an answer may show; a right one among them counts


@dataclass(frozen=True)
class Case:
    """A labelled question and what the served retrieval made of it."""

    id: str
    text: str
    answerable: bool
    relevant: frozenset[str]
    missing: str
    group: str
    features: dict
    hits: tuple[str, ...]
    candidates: tuple[str, ...]
    nearness: tuple[float, ...]
    masked: str = ""
    centrality: tuple[float, ...] = ()
    plain: bool = False  # ranked without the query adapter, as an article without labelled questions is
    vector: np.ndarray | None = None  # the question's sentence vector (as the judge reads it)
    article: str = ""  # the article the question was asked about
    need: str = ""  # what it asks, shared by restyled versions of one question (their quoted answers)
    scores: tuple[float, ...] = ()  # the hits' scores
    answer_shown: tuple[str, ...] | None = None  # the passages an answer would show (None: the top SHOWN)
    closest: tuple[str, ...] | None = None  # those a clarify reply would show (None: the top two)

    def shown(self, outcome: str) -> tuple[str, ...]:
        """The passages a reply with this outcome shows."""
        if outcome == DECLINE:
            return ()
        picked = self.answer_shown if outcome == ANSWER else self.closest
        return picked if picked is not None else self.hits[:SHOWN if outcome == ANSWER else CLARIFY_PASSAGES]

    def right(self, outcome: str = "answer") -> bool:
        """Whether a reply with this outcome shows a right passage."""
        return bool(self.relevant & set(self.shown(outcome)))

    def is_focus(self, word: str) -> bool:
        """Whether a candidate word is (part of) what the writer said the article does not cover."""
        words = re.findall(r"[a-z]+", self.missing.lower())
        return bool(words) and any(w[:5] == word[:5] for w in words)


def numbers(pipeline, features: Sequence[str]) -> dict:
    """What `estimator` rebuilds a fitted StandardScaler + LogisticRegression pipeline from."""
    scaler, clf = pipeline[0], pipeline[-1]
    return {"features": list(features), "mean": scaler.mean_.tolist(), "scale": scaler.scale_.tolist(),
            "coef": clf.coef_[0].tolist(), "intercept": float(clf.intercept_[0])}


def labelled_questions(split: str) -> list[dict]:
    """The scope set of a split, the out-of-scope retrieval queries and the answer set's rows
    (dev only for the last two: their test halves were seen by earlier sessions)."""
    text = resources.files("askknee").joinpath(f"data/scope/{split}.jsonl").read_text(encoding="utf-8")
    rows = [{"id": r["_id"], "text": r["text"], "answerable": r["label"] == "in_scope",
             "relevant": r.get("relevant", []), "missing": r.get("missing", ""), "group": f"scope-{r['writer']}"}
            for _, r in parse_jsonl(text, f"data/scope/{split}.jsonl")]
    if split == "dev":
        rows += [{"id": q.id, "text": q.text, "answerable": False, "relevant": [], "missing": "", "group": "oos"}
                 for q in read_queries(DATA_DIR / "queries-out-of-scope.jsonl")]
        answers = resources.files("askknee").joinpath("data/answers.jsonl").read_text(encoding="utf-8")
        rows += [{"id": r["_id"], "text": r["text"], "answerable": r["kind"] == "in_scope",
                  "relevant": r.get("relevant", []), "missing": "", "group": "answers"}
                 for _, r in parse_jsonl(answers, "data/answers.jsonl")
                 if r.get("split") == "dev" and r["kind"] in ("in_scope", "out_of_scope") and "text" in r]
    return rows


def questions_file(path: str | Path) -> list[dict]:
    """Labelled questions from a file in the scope set's format (e.g. another article's)."""
    return [{"id": r["_id"], "text": r["text"], "answerable": r["label"] == "in_scope",
             "relevant": r.get("relevant", []), "missing": r.get("missing", ""), "group": "file"}
            for _, r in parse_jsonl(read_text(path), str(path))]


def make_cases(answerer, rows: Sequence[dict], retriever=None) -> list[Case]:
    """Each labelled question ranked and described as the served judge would see it."""
    judge = answerer.scope
    retriever = retriever or answerer.retriever
    plain = retriever.adapter is None
    by_id = {c.id: c.article_id for c in retriever.chunks}
    out = []
    for row in rows:
        query = retriever.query(row["text"])
        vector, hits = query.vector, retriever.rank(query, k=8)
        candidates = tuple(judge.terms.unknown(row["text"]))
        near = tuple(judge.nearness(list(candidates))) if candidates else ()
        central = tuple(judge.nearness.centrality(list(candidates), vector)) if candidates else ()
        features = question_features(row["text"], hits, judge.terms, judge.nearness)
        article = next((by_id[r] for r in row["relevant"] if r in by_id), hits[0].chunk.article_id if hits else "")
        out.append(with_selection(Case(
            row["id"], row["text"], row["answerable"], frozenset(row["relevant"]), row["missing"], row["group"],
            features, tuple(h.chunk.id for h in hits), candidates, near, masked(row["text"], judge.terms), central,
            plain, vector, article, row.get("need") or row["text"].lower(), tuple(h.score for h in hits)),
            answerer.composer, hits))
    return out


def with_selection(case: Case, composer, hits: Sequence) -> Case:
    """The case with the passages the served composer picks from its hits: for an answer, and for a
    clarify reply (the closest ones, whatever their scores)."""
    return replace(case, answer_shown=tuple(c.id for c in composer.select(hits, case.text)),
                   closest=tuple(c.id for c in composer.select(hits, case.text, max_passages=CLARIFY_PASSAGES,
                                                                ratio=0.0)))


def neighbours_of(cases: Sequence[Case]) -> Neighbours | None:
    """The labelled questions (one per text, as ranked with the adapter) the served judge compares
    with; None when none was ranked with one (a corpus without labelled questions)."""
    pool = list({c.text: c for c in cases if not c.plain}.values())
    if not pool:
        return None
    return Neighbours(np.stack([c.vector for c in pool]).astype(np.float32),
                      np.array([c.answerable for c in pool]), tuple(c.article for c in pool))


def with_neighbours(cases: Sequence[Case]) -> list[Case]:
    """Each case with its labelled-question features as a visitor's question would get them: from
    the labelled questions of other writers or sources, never itself or a restyled version of it
    (the same need); neutral for the cases ranked without the adapter, as an article nobody
    labelled questions for is judged."""
    pool = list({c.text: c for c in cases if not c.plain}.values())
    groups, needs, texts = (np.array([getattr(c, f) for c in pool]) for f in ("group", "need", "text"))
    out = []
    for c in cases:
        near = dict(Neighbours.NEUTRAL)
        if not c.plain and pool:
            keep = (groups != c.group) & (needs != c.need) & (texts != c.text)
            nb = neighbours_of([p for p, k in zip(pool, keep) if k])
            near = nb.features(c.vector, c.article) if nb is not None else near
        out.append(replace(c, features={**c.features, **near}))
    return out


def dev_cases(answerer, folds: int = 5) -> list[Case]:
    """The dev questions as the judge would see them: those the query adapter learnt (the retrieval
    questions, the scope set's answerable ones), and every scope writer's others, by adapters fitted
    without them; the rest as served; and all of them once more without the adapter, as an article
    nobody labelled questions for is ranked, so the judge learns both."""
    questions = labelled_questions("dev")
    training = adapters.training_set("dev")  # the retrieval questions, then the scope set's answerable ones
    base = answerer.retriever
    retrieval = [{"id": q.id, "text": q.text, "answerable": True, "relevant": adapters.relevant(training.qrels, q.id),
                  "missing": "", "group": f"retrieval-{i % folds}", "need": "|".join(sorted(q.answers)).lower()}
                 for i, q in enumerate(q for q in training.queries if not q.style.startswith("scope-"))]
    if base.adapter is None:
        return _labelled_article(make_cases(answerer, questions + retrieval))
    # The adapter learnt the retrieval questions and the scope set's answerable ones: a question it
    # learnt, and every question of a scope writer, is ranked by an adapter fitted without it (its
    # writer, or its restyled versions); the rest as served.
    fold = adapters.folds_by_group([(q.text, adapters.group_of(q)) for q in training.queries]
                                   + [(r["text"], r["group"]) for r in questions if r["group"].startswith("scope-")],
                                   folds)
    _, fitted = adapters.fold_retrievers(base, training, folds, fold)
    cases = make_cases(answerer, [r for r in questions if r["text"] not in fold])
    held = [r for r in questions + retrieval if r["text"] in fold]
    for f, retriever in enumerate(fitted):
        cases += make_cases(answerer, [r for r in held if fold[r["text"]] == f], retriever)
    cases += make_cases(answerer, questions + retrieval, base.variant(adapter=None))
    return _labelled_article(cases)


def _labelled_article(cases: list[Case]) -> list[Case]:
    # The labelled sets are about one article: an unanswerable question belongs to it, wherever it ranks.
    labelled = Counter(c.article for c in cases if c.relevant).most_common(1)
    if labelled:
        cases = [c if c.relevant else replace(c, article=labelled[0][0]) for c in cases]
    return with_neighbours(cases)


def _fit_lr(x, y):
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    return make_pipeline(StandardScaler(), LogisticRegression(class_weight="balanced", max_iter=2000)).fit(x, y)


def _fit_wording(texts, y):
    """The masked-wording classifier: n-gram TF-IDF and a logistic regression."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    vectorizers = [v.fit(texts) for v in make_vectorizers(WORDING)]
    x = sparse.hstack([v.transform(texts) for v in vectorizers], format="csr")
    clf = LogisticRegression(C=4.0, class_weight="balanced", max_iter=3000).fit(x, y)
    return vocabularies_of(vectorizers), clf.coef_.astype(np.float32), clf.intercept_.astype(np.float32)


def _wording_out_of_fold(cases) -> np.ndarray:
    """Each case's wording probability from a model fitted without its group (stacking)."""
    groups = np.array([c.group for c in cases])
    y = np.array([c.answerable for c in cases])
    out = np.zeros(len(cases))
    for g in sorted(set(groups)):
        held = groups == g
        model = ScopeModel({}, {}, {}, wording=_fit_wording([c.masked for c, h in zip(cases, ~held) if h], y[~held]))
        out[held] = model.wording_probability([c.masked for c, h in zip(cases, held) if h])
    return out


def _judge_rows(cases, wording):
    return np.array([[w if f == "wording" else c.features[f] for f in JUDGE_FEATURES]
                     for c, w in zip(cases, wording)])


def _focus_rows(cases, judged):
    rows, labels, owners = [], [], []
    for i, (c, p) in enumerate(zip(cases, judged)):
        for word, row in zip(c.candidates, focus_features(c.text, c.candidates, c.nearness, p, c.centrality)):
            rows.append(row)
            labels.append((not c.answerable) and c.is_focus(word))
            owners.append(i)
    return np.array(rows).reshape(-1, len(FOCUS_FEATURES)), np.array(labels), np.array(owners, dtype=int)


def out_of_fold(cases: Sequence[Case], wording: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per case the judge's probability, and per candidate word the focus probability and its case,
    each from models fitted without the case's group."""
    groups = np.array([c.group for c in cases])
    y = np.array([c.answerable for c in cases])
    x = _judge_rows(cases, _wording_out_of_fold(cases) if wording is None else wording)
    judged = np.zeros(len(cases))
    for g in sorted(set(groups)):
        held = groups == g
        judged[held] = _fit_lr(x[~held], y[~held]).predict_proba(x[held])[:, 1]
    fx, fy, owner = _focus_rows(cases, judged)
    focus = np.zeros(len(fy))
    for g in sorted(set(groups)):
        held = groups[owner] == g
        if held.any() and fy[~held].any():
            focus[held] = _fit_lr(fx[~held], fy[~held]).predict_proba(fx[held])[:, 1]
    return judged, focus, owner


def outcomes(cases, judged, focus, owner, thresholds) -> list[tuple[str, bool]]:
    """Per case, the outcome and whether a missing word is named, at these thresholds."""
    named = np.zeros(len(cases), dtype=bool)
    for p, i in zip(focus, owner):
        named[i] |= p >= thresholds["focus"]
    out = []
    for p, n in zip(judged, named):
        outcome = "answer" if p >= thresholds["answer"] else CLARIFY if p >= thresholds["clarify"] else DECLINE
        if n and outcome == "answer":
            outcome = CLARIFY  # the article's nearest passage, never passed off as the answer
        out.append((outcome, bool(n)))
    return out


def choose_thresholds(cases, judged, focus, owner, targets=TARGETS) -> dict[str, float]:
    """Clarify: the highest threshold declining at most `declined_answerable` of the answerable
    questions. Focus: the lowest threshold naming a missing word for at most `named_answerable` of
    them. Answer: the lowest threshold at which answered questions are right (a right passage among
    those shown) at least `confident_right` of the time (the highest probability if none is)."""
    answerable = np.array([c.answerable for c in cases])
    ps = np.sort(judged[answerable])
    clarify = float(ps[int(np.floor(targets["declined_answerable"] * len(ps)))])
    per_case = np.zeros(len(cases))
    for p, i in zip(focus, owner):
        per_case[i] = max(per_case[i], p)
    named = np.sort(per_case[answerable])[::-1]
    k = int(np.floor(targets["named_answerable"] * len(named)))
    focus_t = float(named[k]) + 1e-9 if k < len(named) else 0.0
    right = np.array([c.answerable and c.right(ANSWER) for c in cases])
    answer = float(judged.max())
    for t in np.unique(np.round(judged, 4)):
        sel = judged >= t
        if sel.sum() >= 20 and right[sel].mean() >= targets["confident_right"]:
            answer = float(t)
            break
    return {"clarify": clarify, "answer": max(answer, clarify), "focus": focus_t}


def fit(answerer) -> tuple[ScopeModel, dict]:
    """The judge and focus finder fitted on all dev cases, thresholds chosen out of fold; and the
    out-of-fold report they were chosen on."""
    from ..index import probe_vector

    cases = dev_cases(answerer)
    wording = _wording_out_of_fold(cases)
    judged, focus, owner = out_of_fold(cases, wording)
    served = _served(cases, answerer)
    thresholds = choose_thresholds(*_subset(served, cases, judged, focus, owner))
    report = report_from([c for c, k in zip(cases, served) if k],
                         outcomes(*_subset(served, cases, judged, focus, owner), thresholds))
    y = np.array([c.answerable for c in cases])
    judge = _fit_lr(_judge_rows(cases, wording), y)
    fitted_judged = judge.predict_proba(_judge_rows(cases, wording))[:, 1]
    fx, fy, _ = _focus_rows(cases, fitted_judged)
    finder = _fit_lr(fx, fy)
    embedder = answerer.retriever.embedder
    model = ScopeModel(numbers(judge, JUDGE_FEATURES), numbers(finder, FOCUS_FEATURES), thresholds, meta={
        "fitted_for": {"model": embedder.name, "probe": probe_vector(embedder)},
        # The answer threshold is chosen on what replies show, which this ratio decides.
        "fitted_with": {"passage_ratio": answerer.composer.passage_ratio},
        "fitted_on": {"questions": len(cases), "answerable": int(y.sum()),
                      "groups": dict(Counter(c.group.split("-")[0] for c in cases))},
        "targets": TARGETS, "created": datetime.now(timezone.utc).isoformat(timespec="seconds")},
        wording=_fit_wording([c.masked for c in cases], y), neighbours=neighbours_of(cases))
    return model, report


def passage_ratio_sweep(answerer, cases: Sequence[Case], ratios: Sequence[float]) -> list[dict]:
    """Dev figures, out of fold, as the composer's `passage_ratio` moves: at each ratio the passages
    an answer shows are picked again from each case's hits and the thresholds chosen again."""
    from ..types import Hit

    chunks = {c.id: c for c in answerer.retriever.chunks}
    judged, focus, owner = out_of_fold(cases)
    served = _served(cases, answerer)
    out = []
    for ratio in ratios:
        composer = Composer(answerer.composer.chunks, answerer.composer.stem, ratio)
        again = [with_selection(c, composer, [Hit(chunks[i], s, r) for r, (i, s) in enumerate(zip(c.hits, c.scores))])
                 for c in cases]
        kept = _subset(served, again, judged, focus, owner)
        thresholds = choose_thresholds(*kept)
        decided = outcomes(*kept, thresholds)
        report = report_from(kept[0], decided)
        shown = [len(c.shown(o)) for c, (o, _) in zip(kept[0], decided) if o == ANSWER]
        out.append({"passage_ratio": ratio, "answer": thresholds["answer"], "answers":
                    report["confident_answers_right"]["n"], "confident_right": report["confident_answers_right"]["rate"],
                    "right_shown": report["answerable_right_shown"]["rate"],
                    "passages_per_answer": round(float(np.mean(shown)), 2) if shown else 0.0})
    return out


def _served(cases: Sequence[Case], answerer) -> np.ndarray:
    """Which cases were ranked as this corpus is served (with its adapter, when it has one)."""
    return np.array([c.plain == (answerer.retriever.adapter is None) for c in cases])


def _subset(keep: np.ndarray, cases, judged, focus, owner):
    """The cases to keep, with their probabilities and their candidate words renumbered."""
    index = {old: new for new, old in enumerate(np.flatnonzero(keep))}
    words = np.array([i in index for i in owner], dtype=bool)
    return ([c for c, k in zip(cases, keep) if k], judged[keep], focus[words],
            np.array([index[i] for i in owner[words]], dtype=int))


def report_from(cases: Sequence[Case], decided: Sequence[tuple[str, bool]], shown=None) -> dict:
    """The issue's figures from outcomes (`shown`: the passage ids each reply showed, else those each
    case records for its outcome, `Case.shown`)."""
    rows = []
    for i, (c, (outcome, named)) in enumerate(zip(cases, decided)):
        ids = set(shown[i]) if shown is not None else set(c.shown(outcome))
        rows.append((c, outcome, named, bool(c.relevant & ids) and outcome != DECLINE))
    ans = [r for r in rows if r[0].answerable]
    oos = [r for r in rows if not r[0].answerable]
    answered = [r for r in rows if r[1] == "answer"]

    def rate(sel, pred):
        return {"rate": round(sum(map(pred, sel)) / len(sel), 4) if sel else None, "n": len(sel),
                "hits": sum(map(pred, sel))}

    return {
        "answerable_right_shown": rate(ans, lambda r: r[3]),
        "answerable_declined": rate(ans, lambda r: r[1] == DECLINE),
        "answerable_named_missing": rate(ans, lambda r: r[2]),
        "out_of_scope_declined_or_named": rate(oos, lambda r: r[1] == DECLINE or r[2]),
        "out_of_scope_declined": rate(oos, lambda r: r[1] == DECLINE),
        "confident_answers_right": rate(answered, lambda r: r[0].answerable and r[3]),
        "outcomes": {k: dict(Counter(r[1] for r in rows if r[0].answerable == k)) for k in (True, False)},
        "failed": [{"id": r[0].id, "answerable": r[0].answerable, "outcome": r[1], "named": r[2], "text": r[0].text}
                   for r in rows if (r[0].answerable and not r[3]) or (not r[0].answerable and r[1] != DECLINE
                                                                          and not r[2])],
    }


def format_report(report: dict, title: str) -> str:
    labels = {"answerable_right_shown": "answerable: a right passage shown", "answerable_declined":
              "answerable: flatly declined", "answerable_named_missing": "answerable: a missing word named",
              "out_of_scope_declined_or_named": "out of scope: declined or missing named",
              "out_of_scope_declined": "out of scope: declined", "confident_answers_right": "confident answers right"}
    lines = [title]
    for key, label in labels.items():
        r = report[key]
        lines.append(f"  {label:42s} {r['rate'] if r['rate'] is not None else float('nan'):.3f}  ({r['hits']}/{r['n']})")
    lines.append(f"  outcomes, answerable: {report['outcomes'][True]}; out of scope: {report['outcomes'][False]}")
    return "\n".join(lines)


def json_report(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)


_OUTCOME = {"answered": "answer", "clarify": CLARIFY, "out_of_scope": DECLINE}


def evaluate_replies(answerer, rows: Sequence[dict]) -> dict:
    """The figures from the replies themselves (`Answerer.reply`): what each shows, and whether it
    declines or names what the article does not cover."""
    from .. import messages as M

    missing_lead = M.MISSING.split("{")[0]
    cases, decided, shown = [], [], []
    for row in rows:
        answer = answerer.reply(row["text"])
        cases.append(Case(row["id"], row["text"], row["answerable"], frozenset(row["relevant"]), row["missing"],
                          row["group"], {}, (), (), ()))
        named = any(n.startswith(missing_lead) for n in answer.notices)
        decided.append((_OUTCOME.get(answer.status, answer.status), named))
        shown.append([s.id for s in answer.sources])
    return report_from(cases, decided, shown)


def served_curves(answerer, rows: Sequence[dict]) -> list[dict]:
    """The threshold curves of labelled questions as the served judge sees them (its probability
    and whether it names a missing word), triage and the composer aside: an answer counts its top
    three passages, a clarification its top two."""
    judge, retriever = answerer.scope, answerer.retriever
    cases, judged, named = [], [], []
    for row in rows:
        query = retriever.query(row["text"])
        hits = retriever.rank(query, k=8)
        verdict = judge.judge(row["text"], hits, query.vector)
        cases.append(Case(row["id"], row["text"], row["answerable"], frozenset(row["relevant"]), row["missing"],
                          row["group"], {}, tuple(h.chunk.id for h in hits), (), ()))
        judged.append(verdict.confidence)
        named.append(1.0 if verdict.missing else 0.0)
    thresholds = {**judge.model.thresholds, "focus": 0.5}
    return curves(cases, np.array(judged), np.array(named), np.arange(len(cases)), thresholds)


def curves(cases: Sequence[Case], judged, focus, owner, thresholds: dict, grid=None) -> list[dict]:
    """The figures as the decline/clarify threshold moves (the answer threshold no lower than it,
    the focus threshold as chosen)."""
    grid = grid if grid is not None else [round(0.05 * i, 2) for i in range(1, 20)]
    out = []
    for t in grid:
        th = {**thresholds, "clarify": t, "answer": max(thresholds["answer"], t)}
        r = report_from(cases, outcomes(cases, judged, focus, owner, th))
        out.append({"clarify": t, "answer": th["answer"], **{k: r[k]["rate"] for k in (
            "answerable_right_shown", "answerable_declined", "out_of_scope_declined_or_named",
            "confident_answers_right")}})
    return out


def format_curves(points: Sequence[dict]) -> str:
    lines = ["clarify  answer | answerable: right shown  declined | out of scope: declined or named | confident right"]
    for p in points:
        lines.append(f"  {p['clarify']:.2f}    {p['answer']:.2f} |            {p['answerable_right_shown']:.3f}"
                     f"     {p['answerable_declined']:.3f} |                          "
                     f"{p['out_of_scope_declined_or_named']:.3f} |           {p['confident_answers_right'] or 0:.3f}")
    return "\n".join(lines)


def main(settings, split: str, questions: str | None = None, as_json: bool = False) -> int:
    """`askknee eval --scope`: dev out of fold (with the threshold curves), test or a questions file
    from the replies."""
    from ..answering import Answerer

    answerer = Answerer.from_settings(settings)
    if questions:
        report, title = evaluate_replies(answerer, questions_file(questions)), f"scope on {questions}, from the replies:"
        points = None
    elif split == "dev":
        if answerer.scope.model is None:
            raise QueryError("no scope judge fitted for this model; run `askknee fit-scope`")
        every = dev_cases(answerer)
        cases, judged, focus, owner = _subset(_served(every, answerer), every, *out_of_fold(every))
        thresholds = answerer.scope.model.thresholds
        report = report_from(cases, outcomes(cases, judged, focus, owner, thresholds))
        points = curves(cases, judged, focus, owner, thresholds)
        title = "scope on dev, out of fold (one writer or source held out at a time), at the saved thresholds:"
    elif split == "test":
        if answerer.scope.model is None:
            raise QueryError("no scope judge fitted for this model; run `askknee fit-scope`")
        rows = labelled_questions("test")
        report, title = evaluate_replies(answerer, rows), "scope on the blind test set, from the replies:"
        points = served_curves(answerer, rows)
    else:
        raise QueryError(f"unknown split {split!r}; use dev or test (or --questions FILE)")
    if as_json:
        print(json_report({**report, "curves": points}))
        return 0
    print(format_report(report, title))
    if points:
        print(f"\nthreshold curves ({'dev, out of fold' if split == 'dev' else split + ', the judge alone'}):")
        print(format_curves(points))
    for f in report["failed"]:
        print(f"  FAILED {f['id']} [{'answerable' if f['answerable'] else 'out of scope'} -> {f['outcome']}"
              f"{', named' if f['named'] else ''}] {f['text']}")
    return 0
