"""Fit, cross-validate and evaluate the safety triage classifier on the message bank.

The bank (`data/triage/{dev,test}.jsonl`) holds visitor messages written blind, each labelled
`emergency` (with its kind), `red_flag` (with the item of "When to See a Doctor"), `dosing` or
`none`. `dev` is fitted on, its thresholds chosen out of fold with one writer held out at a time
(each writer's messages are scored by a model that never saw that writer); `test`, written by
other people, is only reported.
"""

from __future__ import annotations

import json
import logging
from collections import Counter, defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime, timezone
from importlib import resources

import numpy as np

from .. import safety
from ..errors import QueryError
from ..jsonl import parse_jsonl
from ..textmodel import make_vectorizers, vocabularies_of
from ..triage import (
    CLASSES,
    DOSING,
    EMERGENCY,
    EMERGENCY_KINDS,
    NONE,
    RED_FLAG,
    Triage,
    Triager,
    TriageModel,
    features,
    segments,
)

log = logging.getLogger("askknee")

SPLITS = ("dev", "test")
LABELS = (EMERGENCY, RED_FLAG, DOSING, NONE)
# Fitting choices. C, the n-gram ranges and negation marks on the word n-grams were compared with one
# writer held out at a time on dev; the recall targets sit above the (0.98, 0.95, 0.95) to
# leave room for writers not yet seen.
PARAMS = {
    "char_ngrams": [2, 5], "word_ngrams": [1, 2], "min_df": 2, "negation_marks": True, "embedding_weight": 1.0,
    "C": 8.0, "max_iter": 3000,
    "recall_targets": {EMERGENCY: 0.99, RED_FLAG: 0.97, DOSING: 0.97},
}


@dataclass(frozen=True)
class Message:
    id: str
    text: str
    label: str
    kind: str = ""
    also: tuple[str, ...] = ()
    writer: str = ""
    style: tuple[str, ...] = ()
    source: str = "bank"  # or "questions": visitor questions from the labelled sets, none of them alarming

    @property
    def fine(self) -> str:
        """The classifier's class for this message."""
        return f"{self.label}:{self.kind}" if self.label in (EMERGENCY, RED_FLAG) else self.label


def load_bank(split: str) -> list[Message]:
    """The labelled messages of one split of the packaged bank."""
    if split not in SPLITS:
        raise QueryError(f"unknown triage split {split!r}; use one of {', '.join(SPLITS)}")
    text = resources.files("askknee").joinpath(f"data/triage/{split}.jsonl").read_text(encoding="utf-8")
    out = []
    for n, row in parse_jsonl(text, f"data/triage/{split}.jsonl"):
        if row.get("label") not in LABELS:
            raise QueryError(f"data/triage/{split}.jsonl:{n}: label must be one of {', '.join(LABELS)}")
        out.append(Message(str(row["_id"]), str(row["text"]), row["label"], row.get("kind", ""),
                           tuple(row.get("also", ())), row.get("writer", ""), tuple(row.get("style", ()))))
    return out


def load_questions(split: str) -> list[Message]:
    """Visitor questions from the labelled retrieval and scope sets, as ordinary messages: written to
    ask about the article, never to report an emergency or ask for a dose. They teach the classifier
    (and measure) that a visitor describing their cramp is not in danger. Each writer's questions
    form a group, so cross-validation holds them out together; the retrieval questions, written in
    waves, form five groups."""
    from .beir import load_split

    out = [Message(q.id, q.text, NONE, writer=f"retrieval-{_number(q.id) % 5}", source="questions")
           for q in load_split(split).queries]
    scope = resources.files("askknee").joinpath(f"data/scope/{split}.jsonl").read_text(encoding="utf-8")
    out += [Message(str(row["_id"]), row["text"], NONE, writer=f"scope-{row.get('writer', '')}", source="questions")
            for _, row in parse_jsonl(scope, f"data/scope/{split}.jsonl")]
    return out


def _number(qid: str) -> int:
    digits = "".join(ch for ch in qid if ch.isdigit())
    return int(digits) if digits else 0


class Encoder:
    """The vectors the served triage reads (the retriever's rewritten question, before its adapter),
    and those of the text as typed; both cached, as cross-validation reads each text many times."""

    def __init__(self, retriever):
        self.retriever = retriever
        self._cache: dict[tuple[str, bool], np.ndarray] = {}

    def __call__(self, texts: Sequence[str], rewrite: bool = True) -> np.ndarray:
        keys = [(t, rewrite) for t in texts]
        todo = [t for t, _ in dict.fromkeys(keys) if (t, rewrite) not in self._cache]
        if todo:
            r = self.retriever
            vecs = r.embed(todo) if rewrite else r.embedder.encode(todo)
            self._cache.update(zip(((t, rewrite) for t in todo), vecs))
        if not keys:
            return np.zeros((0, self.retriever.embedder.dimension), np.float32)
        return np.stack([self._cache[k] for k in keys])


def fit_model(messages: Sequence[Message], encode: Encoder, params: dict = PARAMS) -> TriageModel:
    """A classifier for `messages` (no thresholds yet). Each message is learnt from twice, by the
    vector of its rewritten text (as served) and of its text as typed, so a different corpus's
    rewriting barely moves it; the parts of ordinary messages are learnt as ordinary too, since
    serving reads long messages part by part."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    texts = [m.text for m in messages]
    labels = [CLASSES.index(m.fine) for m in messages]
    parts = [p for m in messages if m.label == NONE for p in segments(m.text)[1:]]
    vectorizers = [v.fit([t.lower() for t in texts]) for v in make_vectorizers(params)]
    weight = params["embedding_weight"]
    groups = [(texts, True, labels), (texts, False, labels), (parts, True, [CLASSES.index(NONE)] * len(parts))]
    x = sparse.vstack([features(vectorizers, t, encode(t, rewrite=rw), weight) for t, rw, _ in groups if t])
    y = np.concatenate([np.asarray(lab, dtype=int) for t, _, lab in groups if t])
    clf = LogisticRegression(C=params["C"], max_iter=params["max_iter"], class_weight="balanced")
    clf.fit(x, y)
    coef = np.zeros((len(CLASSES), x.shape[1]), np.float32)
    intercept = np.full(len(CLASSES), -1e4, np.float32)  # a class absent from training is never predicted
    coef[clf.classes_], intercept[clf.classes_] = clf.coef_, clf.intercept_
    return TriageModel(CLASSES, coef, intercept, vocabularies_of(vectorizers), {"params": dict(params)})


def with_thresholds(model: TriageModel, thresholds: dict[str, float], **meta) -> TriageModel:
    return replace(model, meta={**model.meta, **meta, "thresholds": dict(thresholds)})


def out_of_fold(messages: Sequence[Message], encode: Encoder,
                params: dict = PARAMS) -> tuple[list[Triage], dict[str, float]]:
    """Every message triaged (rules and classifier, as served) by a model fitted without its writer's
    messages, at the thresholds chosen on those out-of-fold scores (`choose_thresholds`); and the
    thresholds."""
    writers = sorted({m.writer for m in messages})
    if len(writers) < 2:
        raise QueryError("cross-validation by writer needs messages from at least two writers")
    folds = []
    scores: list[dict[str, float]] = [{} for _ in messages]
    for w in writers:
        log.info("askknee: triage fold without writer %s", w)
        model = fit_model([m for m in messages if m.writer != w], encode, params)
        held = [i for i, m in enumerate(messages) if m.writer == w]
        triager = Triager(model, encode)
        for i in held:
            scores[i] = triager.scores(messages[i].text)
        folds.append((model, held))
    thresholds = choose_thresholds(messages, scores, params["recall_targets"])
    verdicts: list[Triage] = [Triage()] * len(messages)
    for model, held in folds:
        triager = Triager(with_thresholds(model, thresholds), encode)
        for i in held:
            verdicts[i] = triager.assess(messages[i].text)
    return verdicts, thresholds


def choose_thresholds(messages: Sequence[Message], scores: Sequence[dict[str, float]],
                      targets: dict[str, float]) -> dict[str, float]:
    """Per category, the highest threshold at which the out-of-fold recall, as served (the rules'
    floor and the classifier together), reaches its target."""
    screens = [safety.screen(m.text) for m in messages]
    floor = {EMERGENCY: (safety.EMERGENCY,), DOSING: (safety.DOSING, safety.EMERGENCY), RED_FLAG: ()}
    out = {}
    for cat, target in targets.items():
        positives = [(s[cat], sc.category in floor[cat]) for m, s, sc in zip(messages, scores, screens)
                     if m.label == cat]
        if not positives:
            raise QueryError(f"the bank has no {cat} messages to choose a threshold on")
        may_miss = int(np.floor((1 - target) * len(positives)))
        left = np.sort([p for p, by_rule in positives if not by_rule])  # what the classifier must catch
        out[cat] = float(left[may_miss]) if may_miss < len(left) else 1.0
    return out


def fit(retriever, *, params: dict = PARAMS) -> tuple[TriageModel, dict]:
    """The classifier fitted on the dev bank, with thresholds chosen out of fold (one writer held out
    at a time), and the out-of-fold report of rules and classifier together at those thresholds."""
    from ..index import probe_vector

    messages = load_bank("dev") + load_questions("dev")
    encode = Encoder(retriever)
    verdicts, thresholds = out_of_fold(messages, encode, params)
    model = fit_model(messages, encode, params)
    model = with_thresholds(
        model, thresholds,
        fitted_for={"model": retriever.embedder.name, "probe": probe_vector(retriever.embedder)},
        fitted_on={"bank": "dev", "messages": len(messages), "writers": sorted({m.writer for m in messages}),
                   "labels": dict(Counter(m.label for m in messages)),
                   "questions": sum(m.source == "questions" for m in messages)},
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"))
    return model, evaluate(messages, verdicts)


# ---- evaluation ----------------------------------------------------------------------------------

def evaluate(messages: Sequence[Message], verdicts: Sequence[Triage]) -> dict:
    """Recall per class and per emergency kind, false alarms on ordinary messages, the confusion
    matrix and the messages that failed. A red-flag or dose message routed to the emergency reply
    counts as caught (no dose is given there and help is urged); an emergency must be an emergency."""
    def caught(m: Message, v: Triage) -> bool:
        if m.label == EMERGENCY:
            return v.category == EMERGENCY
        if m.label == RED_FLAG:
            return v.red_flag or v.category == EMERGENCY
        if m.label == DOSING:
            return v.dosing or v.category == EMERGENCY
        return v.category == NONE and not v.red_flag and not v.dosing

    by_label: dict[str, list[bool]] = defaultdict(list)
    by_kind: dict[str, list[bool]] = defaultdict(list)
    confusion: dict[str, Counter] = {lab: Counter() for lab in LABELS}
    failed = []
    for m, v in zip(messages, verdicts):
        if m.source != "bank":
            continue
        ok = caught(m, v)
        by_label[m.label].append(ok)
        if m.label == EMERGENCY:
            by_kind[m.kind].append(ok)
        confusion[m.label][v.category] += 1
        if not ok and m.source == "bank":
            failed.append({"id": m.id, "label": m.label, "kind": m.kind, "routed": v.category, "text": m.text})
    ordinary = [v for m, v in zip(messages, verdicts) if m.label == NONE and m.source == "bank"]
    questions = [v for m, v in zip(messages, verdicts) if m.source == "questions"]
    return {
        "messages": len(messages),
        "recall": {lab: _rate(by_label[lab]) for lab in (EMERGENCY, RED_FLAG, DOSING)},
        "emergency_recall_by_kind": {k: _rate(by_kind[k]) for k in EMERGENCY_KINDS if by_kind[k]},
        "ordinary": _routing(ordinary),
        "questions": _routing(questions),
        "confusion": {lab: dict(confusion[lab]) for lab in LABELS},
        "failed": failed,
    }


def _routing(verdicts: Sequence[Triage]) -> dict:
    """How often messages meant as ordinary got each safety reply."""
    return {"n": len(verdicts),
            "flagged_emergency": _rate([v.category == EMERGENCY for v in verdicts]),
            "any_safety_reply": _rate([v.is_safety for v in verdicts]),
            "red_flag": _rate([v.red_flag for v in verdicts]),
            "dosing": _rate([v.dosing for v in verdicts])}


def _rate(flags: Sequence[bool]) -> dict:
    return {"rate": round(sum(flags) / len(flags), 4) if flags else None, "n": len(flags), "hits": int(sum(flags))}


def format_report(report: dict, title: str) -> str:
    """A short plain-text table of an evaluation report."""
    lines = [title]
    for lab, r in report["recall"].items():
        lines.append(f"  {lab + ' recall':28s} {r['rate']:.3f}  ({r['hits']}/{r['n']})")
    for kind, r in report["emergency_recall_by_kind"].items():
        lines.append(f"    {kind:26s} {r['rate']:.3f}  ({r['hits']}/{r['n']})")
    for name, key in (("ordinary", "ordinary"), ("questions", "questions")):
        o = report[key]
        if not o["n"]:
            continue
        for what in ("flagged_emergency", "any_safety_reply"):
            label = f"{name}: {what.replace('_', ' ')}"
            lines.append(f"  {label:28s} {o[what]['rate']:.3f}  ({o[what]['hits']}/{o['n']})")
    cols = (EMERGENCY, DOSING, RED_FLAG, NONE)
    lines.append("  confusion (rows: label; columns: reply) " + " ".join(f"{c:>10s}" for c in cols))
    for lab in LABELS:
        lines.append(f"  {lab:40s}" + " ".join(f"{report['confusion'][lab].get(c, 0):>10d}" for c in cols))
    return "\n".join(lines)


def json_report(report: dict) -> str:
    return json.dumps(report, indent=2, ensure_ascii=False)

