"""Safety triage of a visitor's message, decided before any retrieval.

Categories: `emergency` (with its kind), `dosing`, `red_flag` (with the item of "When to See a
Doctor" it matches) or `none`. Two nets:

- the reviewed regular expressions of `safety.py`, a floor: an emergency or a dose question they
  catch is always caught;
- a classifier fitted on a bank of messages written by people who never saw the rules
  (`data/triage/`, fitted by `askknee fit-triage`), reading a message by meaning (the served
  model's sentence vectors, the same vector retrieval uses) and by spelling (character n-grams,
  which survive typos). A long message is read whole and clause by clause, and its most alarming
  part counts: an emergency told in a story that ends "anyway, what stretches help?" is still one.

The classifier (`triage.npz`, `triage.json`) is fitted for one embedding model and ships with the
package for the default one; an index folder may hold one for another model. Without one that
fits, triage falls back to the rules with one warning.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import safety
from .errors import IndexFileError
from .files import read_arrays, write_arrays
from .textmodel import NEGATION_MARKS, arrays_of, first_fitted, logistic, make_vectorizers, serving, vocabularies_from

log = logging.getLogger("askknee")

EMERGENCY, DOSING, RED_FLAG, NONE = "emergency", "dosing", "red_flag", "none"
CATEGORIES = (EMERGENCY, DOSING, RED_FLAG, NONE)
EMERGENCY_KINDS = ("clot", "limb_blood_supply", "heart", "stroke", "collapse", "infection", "injury",
                   "compartment", "self_harm")
RED_FLAG_KINDS = ("persist", "severe_pain", "frequency", "other_symptoms")
SELF_HARM = "self_harm"
# The classifier's classes: "category" or "category:kind".
CLASSES = tuple([f"{EMERGENCY}:{k}" for k in EMERGENCY_KINDS] + [f"{RED_FLAG}:{k}" for k in RED_FLAG_KINDS]
                + [DOSING, NONE])

MODEL_FILE = "triage.npz"
META_FILE = "triage.json"
# The classifier fitted for the default model ships with the package; one saved in an index folder
# (for another model) is read first.
PACKAGED = Path(__file__).parent / "data" / "triage"


@dataclass(frozen=True)
class Triage:
    """What a message calls for. `category` decides the reply; `red_flag` and `dosing` say what else
    it holds (a dose question about worsening pain is both). `scores` are the classifier's
    probabilities per category (its most alarming clause); `by` says which net decided."""

    category: str = NONE
    kind: str = ""
    red_flag: bool = False
    dosing: bool = False
    confidence: float = 0.0
    by: str = ""
    scores: Mapping[str, float] = field(default_factory=dict, compare=False)

    @property
    def is_safety(self) -> bool:
        return self.category != NONE or self.red_flag or self.dosing


# ---- reading a message in parts ---------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?;:])\s+|\s*\n+\s*|\s+(?=(?:but|anyway|also|plus|btw|and then|and now|then)\b)",
                       re.IGNORECASE)
_CLAUSE = re.compile(r",\s+|\s+-+\s+|\s+(?=(?:and|so|because|cause|cos|since|while|when)\b)", re.IGNORECASE)
MIN_WORDS = 3      # a shorter piece says too little on its own
MAX_PARTS = 16     # a 1,000-character message has at most this many pieces worth reading
LONG_CLAUSE = 6    # words: a sentence longer than this is also read clause by clause


def segments(text: str) -> list[str]:
    """The message, then its sentences and, for long sentences, their clauses (each of at least
    `MIN_WORDS` words, in order, without repeats)."""
    text = " ".join(text.split())
    parts = [text]
    sentences = [s.strip(" ,") for s in _SENTENCE.split(text) if s and s.strip(" ,")]
    for sent in sentences:
        parts.append(sent)
        if len(sent.split()) > LONG_CLAUSE:
            parts += [c.strip(" ,") for c in _CLAUSE.split(sent) if c and c.strip(" ,")]
    seen: set[str] = set()
    out = []
    for p in parts:
        if p and p not in seen and (p is text or len(p.split()) >= MIN_WORDS):
            seen.add(p)
            out.append(p)
    return out[:MAX_PARTS]


# ---- the fitted classifier -----------------------------------------------------------------------

def features(vectorizers: Sequence, texts: Sequence[str], vectors: np.ndarray, embedding_weight: float):
    """One row per text: its sentence vector (scaled) beside its n-gram TF-IDF."""
    from scipy import sparse

    lowered = [t.lower() for t in texts]
    dense = sparse.csr_matrix(np.asarray(vectors, dtype=np.float32) * float(embedding_weight))
    return sparse.hstack([dense] + [v.transform(lowered) for v in vectorizers], format="csr")


@dataclass(frozen=True)
class TriageModel:
    """A fitted linear classifier over `features`, with the thresholds chosen for it (in `meta`)."""

    classes: tuple[str, ...]
    coef: np.ndarray
    intercept: np.ndarray
    vocabularies: tuple[tuple[tuple[str, ...], np.ndarray], ...]
    meta: dict

    @property
    def params(self) -> dict:
        return self.meta.get("params", {})

    @property
    def thresholds(self) -> dict[str, float]:
        return self.meta.get("thresholds", {})

    def _estimators(self):
        return make_vectorizers(self.params, self.vocabularies), logistic(self.coef, self.intercept)

    def probabilities(self, texts: Sequence[str], vectors: np.ndarray) -> np.ndarray:
        """Per text, the probability of each class (`classes`)."""
        fitted = self.__dict__.get("_fitted")
        if fitted is None:  # built once; a frozen dataclass keeps it in its __dict__
            fitted = self.__dict__.setdefault("_fitted", self._estimators())
        vectorizers, clf = fitted
        with serving(vectors):
            return clf.predict_proba(features(vectorizers, texts, vectors, self.params.get("embedding_weight", 1.0)))

    def by_category(self, probs: np.ndarray) -> dict[str, np.ndarray]:
        """Per category, the summed probability of its classes, per row."""
        out = {}
        for cat in CATEGORIES:
            cols = [i for i, c in enumerate(self.classes) if c.split(":")[0] == cat]
            out[cat] = probs[:, cols].sum(axis=1) if cols else np.zeros(len(probs))
        return out

    def kind(self, probs_row: np.ndarray, category: str) -> str:
        """The most likely kind within a category for one row of probabilities."""
        cols = [(p, c.split(":", 1)[1]) for p, c in zip(probs_row, self.classes) if c.startswith(category + ":")]
        return max(cols)[1] if cols else ""


def save_model(model: TriageModel, index_dir: Path) -> None:
    """Write the classifier beside the index: the arrays, then their description (the commit)."""
    arrays = {"coef": model.coef.astype(np.float32), "intercept": model.intercept.astype(np.float32),
              **arrays_of(model.vocabularies)}
    try:
        write_arrays(Path(index_dir), MODEL_FILE, arrays, META_FILE, {**model.meta, "classes": list(model.classes)})
    except OSError as e:
        raise IndexFileError(f"cannot write the triage classifier to {index_dir} ({e.strerror or e}); "
                             "give a writable --index folder") from None


def load_model(folders: Sequence[Path], fitted_for: Callable[[dict], bool]) -> TriageModel | None:
    """The first classifier in `folders` fitted for this embedding model (`fitted_for` checks its
    fingerprint), or None with one warning saying what to run."""
    model, problems = first_fitted(folders, _read, fitted_for)
    if model is None:
        log.warning("askknee: no usable triage classifier (%s); safety triage uses its rules only; run "
                    "`askknee fit-triage --out DIR`", "; ".join(problems) or "none found")
    return model


def _read(folder: Path) -> TriageModel | None:
    found = read_arrays(folder, MODEL_FILE, META_FILE)
    if found is None:
        return None
    meta, z = found
    coef, intercept = z["coef"], z["intercept"]
    vocabularies = vocabularies_from(z)
    classes = tuple(meta["classes"])
    width = coef.shape[1] if coef.ndim == 2 else -1
    if meta.get("params", {}).get("negation_marks", 0) not in NEGATION_MARKS:
        raise ValueError("its negation marks are of a version this askknee does not know; refit it")
    if (coef.shape[0] != len(classes) or intercept.shape != (len(classes),) or not meta.get("thresholds")
            or any(len(t) != len(i) for t, i in vocabularies)
            or width != len(meta["fitted_for"]["probe"]) + sum(len(t) for t, _ in vocabularies)):
        raise ValueError("its arrays do not fit together")
    return TriageModel(classes, coef, intercept, vocabularies, meta)


def _scores(best) -> dict[str, float]:
    return {c: float(v.max()) for c, v in best[1].items() if c != NONE}


# ---- the component ------------------------------------------------------------------------------

class Triager:
    """Decides what a message calls for; `assess` never looks at retrieval."""

    def __init__(self, model: TriageModel | None = None, encode: Callable[[list[str]], np.ndarray] | None = None):
        """`encode` gives the sentence vectors the classifier was fitted on (the retriever's, before
        its query adapter) for texts; without a model or an encoder only the rules decide."""
        self.model = model
        self.encode = encode

    def assess(self, text: str, vector: np.ndarray | None = None) -> Triage:
        """The verdict for a cleaned message; `vector` is its sentence vector when already computed."""
        best = self._read(text, vector) if self.model is not None and self.encode is not None else None
        return self._decide(safety.screen(text), best)

    def scores(self, text: str, vector: np.ndarray | None = None) -> dict[str, float]:
        """The classifier's probability per category for the message's most alarming part."""
        return _scores(self._read(text, vector))

    def _read(self, text: str, vector: np.ndarray | None):
        """Class probabilities of each part of the message (whole, sentences, clauses), and per category."""
        parts = segments(text)
        if vector is not None:
            vector = np.asarray(vector, np.float32).reshape(1, -1)
            vectors = np.vstack([vector, self.encode(parts[1:])]) if len(parts) > 1 else vector
        else:
            vectors = self.encode(parts)
        probs = self.model.probabilities(parts, vectors)
        return probs, self.model.by_category(probs)

    def _decide(self, rules: safety.Screen, best) -> Triage:
        t = self.model.thresholds if self.model is not None else {}
        scores = _scores(best) if best is not None else {}

        def model_says(cat: str) -> bool:
            return cat in scores and cat in t and scores[cat] >= t[cat]

        def model_kind(cat: str) -> str:
            if best is None:
                return ""
            probs, cats = best
            return self.model.kind(probs[int(np.argmax(cats[cat]))], cat)

        def by(rule_hit: bool, model_hit: bool) -> str:
            return "+".join(n for n, hit in (("rules", rule_hit), ("model", model_hit)) if hit)

        emergency = (rules.category == safety.EMERGENCY, model_says(EMERGENCY))
        if any(emergency):
            # The rules name a kind only for what they recognise; crisis wording must not be missed.
            kind = model_kind(EMERGENCY) if emergency[1] else rules.kind
            if rules.kind == SELF_HARM:
                kind = SELF_HARM
            return Triage(EMERGENCY, kind or rules.kind, confidence=scores.get(EMERGENCY, 1.0), by=by(*emergency),
                          scores=scores)
        dosing = (rules.category == safety.DOSING, model_says(DOSING))
        # The red-flag rules are no floor: "does ice numb the pain?" is an ordinary question. They
        # stand in only when there is no classifier.
        red = (rules.red_flag and best is None, model_says(RED_FLAG))
        red_kind = (model_kind(RED_FLAG) if red[1] else rules.kind_red_flag) if any(red) else ""
        if any(dosing):
            return Triage(DOSING, red_kind, red_flag=any(red), dosing=True,
                          confidence=scores.get(DOSING, 1.0), by=by(*dosing), scores=scores)
        if any(red):
            return Triage(RED_FLAG, red_kind, red_flag=True, confidence=scores.get(RED_FLAG, 1.0), by=by(*red),
                          scores=scores)
        return Triage(NONE, confidence=1.0 - max(scores.values(), default=0.0), by="model" if scores else "rules",
                      scores=scores)
