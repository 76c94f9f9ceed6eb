"""`askknee eval --safety [--split dev|test]`: safety triage scored on the message bank.

`test` is triaged by the classifier saved beside the index (fitted on `dev` only). `dev` is
triaged out of fold: once per writer, by a classifier refitted without that writer's messages, at
thresholds chosen on those out-of-fold scores, exactly as `askknee fit-triage` chose them.
The visitor questions of the labelled retrieval and scope sets are triaged too, for how often a
question nobody meant as alarming gets a safety reply.
"""

from __future__ import annotations

import json

from ..answering import Answerer
from ..errors import QueryError
from . import triage as T


def run(answerer: Answerer, split: str) -> dict:
    """The report for one split: the bank, and the visitor questions of the labelled sets."""
    messages = T.load_bank(split) + T.load_questions(split)
    model = answerer.triager.model
    if model is None:
        raise QueryError("no triage classifier fitted for this index and model; run `askknee fit-triage`")
    if split == "dev":
        verdicts, _ = T.out_of_fold(messages, T.Encoder(answerer.retriever), {**T.PARAMS, **model.params})
    else:
        verdicts = [answerer.triager.assess(m.text) for m in messages]
    return T.evaluate(messages, verdicts)


def main(settings, split: str, as_json: bool = False) -> int:
    """Print the report for one split (plain text, or JSON)."""
    if split not in T.SPLITS:
        raise QueryError(f"unknown split {split!r}; use dev or test")
    report = run(Answerer.from_settings(settings), split)
    if as_json:
        print(json.dumps(report, indent=2, ensure_ascii=False))
        return 0
    how = "out of fold (one writer held out at a time)" if split == "dev" else "saved classifier, fitted on dev"
    print(T.format_report(report, f"safety triage on the {split} bank and the labelled visitor questions, {how}:"))
    if report["failed"]:
        print(f"failed ({len(report['failed'])}):")
        for f in report["failed"]:
            print(f"  {f['id']} [{f['label']}{':' + f['kind'] if f['kind'] else ''} -> {f['routed']}] {f['text']}")
    return 0
