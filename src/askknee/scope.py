"""The scope judge: answer, clarify or decline, and what the article does not cover.

One threshold on the top retrieval score cannot tell "is this leg-locking thing only an older
person problem" (answered by "can affect individuals of any age") from "will my insurance cover
an MRI for knee spasms" (not answered, though the imaging passage scores high). The judge reads
more: the top scores and their parts, the margin to the next passages, whether dense and lexical
retrieval agree, the question's words the article never uses (how rare they are in English,
how near in meaning to any word the article does use) and, for an article with labelled questions,
how near the question is to the nearest one it answers and the nearest one it does not. A
logistic regression fitted on labelled in- and out-of-scope questions (`askknee fit-scope`) turns
them into a probability that the article answers the question; two thresholds split it into
answer, clarify and decline.

A second, word-level model picks the focus the article lacks ("insurance", "statins"), which the
reply names first. The signals are read against the corpus, not against labelled questions for
it, so an article nobody labelled questions for is judged by the same model (its labelled-question
features neutral).
"""

from __future__ import annotations

import logging
import math
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np
from bm25s.stopwords import STOPWORDS_EN_PLUS

from .files import read_arrays, write_arrays
from .textmodel import arrays_of, first_fitted, logistic, make_vectorizers, serving, vocabularies_from
from .types import Hit
from .vocabulary import english_frequency, expand_query, is_contraction

log = logging.getLogger("askknee")

ANSWER, CLARIFY, DECLINE = "answer", "clarify", "decline"
JUDGE_FILE = "scope.json"
WORDING_FILE = "scope.npz"
PACKAGED = Path(__file__).parent / "data" / "scope"

# Words a question uses that say nothing about its subject (compared by stem).
GENERIC = frozenset("""
get got gets getting have has had do does did doing make makes made go goes going gone thing things really very
much many lot lots bit little kind sort type types way ways best good bad better worse normal ok okay happen
happens happened happening mean means meaning tell know explain say says said article page feel feels feeling
felt like need needs should could would can might may want try trying start started starts stop stops stopped
keep keeps often usually sometimes always ever time times day days week weeks long quick quickly fast right
left leg legs body help helps helping work works someone people person anyone anything something also still
just even only again first next after before while during me my myself i you your yes no please hi hello
actually possible possibly likely common commonly okay wondering question questions ask asking answer
happen order orders about main worth reason reasons cause causes caused causing treat treating treatment treatments thank thanks
night nights morning mornings evening evenings afternoon hour hours minute minutes month months year years ago
today tonight yesterday tomorrow weekend lately recently old age aged mum mom dad mother father son daughter
husband wife partner kid kids child children friend friends coach every one two three four five six seven
eight nine ten twice sure maybe probably
""".split())
# NLTK's English function words (as bm25s ships them): BM25 drops only Lucene's 33.
FUNCTION_WORDS = frozenset(STOPWORDS_EN_PLUS)
_WORD = re.compile(r"[A-Za-z][A-Za-z-]+(?:'[A-Za-z]+)?")


class Terms:
    """What the corpus says in words: its stems, and which of a question's words it never uses."""

    def __init__(self, stem: Callable[[str], set[str]], vocabulary: set[str], correct: Callable[[str], str],
                 expand: Callable[[str], str] = expand_query):
        """`stem` gives a text's stems as the lexical index makes them; `vocabulary` is the corpus's
        stems; `correct` repairs a typed word against the corpus (so a typo is not a new subject);
        `expand` adds the clinical wording of lay terms (the retriever's vocabulary)."""
        self.stem = stem
        self.vocabulary = vocabulary
        self.correct = correct
        self.expand = expand

    @cached_property
    def _known(self) -> set[str]:
        return self.vocabulary | self.stem(" ".join(GENERIC))

    @cached_property
    def _known_prefixes(self) -> set[str]:
        # "diagnose" and "diagnostic" stem differently; a shared 6-letter start is the same word family.
        return {s[:6] for s in self._known if len(s) >= 6}

    def is_known(self, word: str) -> bool:
        stems = self.stem(word) - self._known
        return all(len(s) >= 6 and s[:6] in self._known_prefixes for s in stems)

    def unknown(self, question: str) -> list[str]:
        """The question's content words that neither the corpus nor the lay vocabulary knows, as typed
        (lower case): candidates for what the article does not cover."""
        # Contractions carry no subject; a possessive's word does ("Parkinson's").
        words = [w[:-2] if w.lower().endswith("'s") else w for w in _WORD.findall(question.replace("’", "'"))]
        words = [w for w in words if "'" not in w]
        out = []
        for i, w in enumerate(words):
            if _is_function_word(w) or self.is_known(w) or self.is_known(self.correct(w)) or self._is_lay_term(w):
                continue
            # Part of a multi-word lay term ("charley horse"), which the neighbour alone is not.
            pairs = [(words[j], " ".join(words[j:j + 2]) if j < i else f"{w} {words[j]}")
                     for j in (i - 1, i + 1) if 0 <= j < len(words)]
            if any(self._is_lay_term(p) and not self._is_lay_term(n) for n, p in pairs):
                continue
            if w.lower() not in out:
                out.append(w.lower())
        return out

    def _is_lay_term(self, text: str) -> bool:
        return self.expand(text) != text


def _is_function_word(word: str) -> bool:
    # Visitors drop apostrophes: "im", "dont" and "theyre" are function words too.
    return word.lower() in FUNCTION_WORDS or is_contraction(word)


def rarity(word: str) -> float:
    """How rare a word is in English: -log10 of its share in SymSpell's frequency list (unlisted
    words, names and typos alike, count as the rarest)."""
    counts, total = english_frequency()
    n = counts.get(word.lower(), 0)
    return -math.log10((n + 1) / total) if total else 0.0


NEIGHBOUR_FEATURES = ("near_in", "near_out", "labelled")
FEATURES = ("top", "fused", "lift", "margin", "margin_mean", "dense", "lexical", "max_dense", "max_lexical",
            "agree", "unknown", "unknown_share", "unknown_rarity", "unknown_nearness", "words", "wording",
            *NEIGHBOUR_FEATURES)
# The wording model reads the question with every word the corpus uses masked: "how much does KNOWN
# KNOWN cost" or "will insurance cover KNOWN" reads the same over any article.
WORDING = {"char_ngrams": (2, 5), "word_ngrams": (1, 2), "min_df": 2}
_TOKEN = re.compile(r"[A-Za-z][A-Za-z'-]*|\d+")


def masked(question: str, terms: Terms) -> str:
    """The question with the corpus's words (and numbers) replaced by placeholders."""
    out = []
    for w in _TOKEN.findall(question.lower()):
        if w in FUNCTION_WORDS:
            out.append(w)
        elif w.isdigit():
            out.append("num")
        elif terms.is_known(w) or terms.is_known(terms.correct(w)):
            out.append("known")
        else:
            out.append(w)
    return " ".join(out)


def question_features(question: str, hits: Sequence[Hit], terms: Terms,
                      nearness: Callable[[list[str]], list[float]] | None = None) -> dict[str, float]:
    """The judge's evidence for one question and its ranked passages (best first)."""
    words = [w for w in _WORD.findall(question) if not _is_function_word(w)]
    unknown = terms.unknown(question)
    top = hits[0] if hits else None
    scores = [h.score for h in hits]
    rest = scores[1:5]
    near = nearness(unknown) if (nearness is not None and unknown) else []
    return {
        "top": scores[0] if scores else 0.0,
        "fused": top.fused if top else 0.0,
        "lift": (top.score - top.fused) if top else 0.0,
        "margin": (scores[0] - scores[1]) if len(scores) > 1 else (scores[0] if scores else 0.0),
        "margin_mean": (scores[0] - float(np.mean(rest))) if rest else 0.0,
        "dense": top.dense if top else 0.0,
        "lexical": top.lexical if top else 0.0,
        "max_dense": max((h.dense for h in hits), default=0.0),
        "max_lexical": max((h.lexical for h in hits), default=0.0),
        "agree": float(bool(hits) and top.dense >= max(h.dense for h in hits) - 1e-9
                       and top.lexical >= max(h.lexical for h in hits) - 1e-9),
        "unknown": float(len(unknown)),
        "unknown_share": len(unknown) / max(1, len(words)),
        "unknown_rarity": max((rarity(w) for w in unknown), default=0.0),
        # The unknown word least like anything the corpus says (1: like nothing, 0: a synonym).
        "unknown_nearness": min(near, default=1.0),
        "words": math.log1p(len(words)),
        "wording": 0.5,  # filled in by the judge's wording model
        **Neighbours.NEUTRAL,  # filled in from the judge's labelled questions
    }


@dataclass(frozen=True)
class Neighbours:
    """Labelled questions about an article, by meaning: how near a question is to the nearest one
    the article answers and to the nearest one it does not. They speak only for the articles they
    were written about; for any other (an article nobody labelled questions for) the features are
    neutral and the judge reads the rest of the evidence."""

    vectors: np.ndarray  # (n, dimension), unit length
    answerable: np.ndarray  # (n,) bool
    articles: tuple[str, ...]  # the article each question was asked about

    NEUTRAL = {"near_in": 0.0, "near_out": 0.0, "labelled": 0.0}

    @cached_property
    def _by_article(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per article with both kinds of labelled question: their vectors (float32) and which are answerable."""
        out = {}
        articles = np.array(self.articles)
        for article in set(self.articles):
            rows = articles == article
            answerable = np.asarray(self.answerable, bool)[rows]
            if answerable.any() and not answerable.all():
                out[article] = (np.ascontiguousarray(self.vectors[rows], dtype=np.float32), answerable)
        return out

    def features(self, vector: np.ndarray | None, article_id: str | None) -> dict[str, float]:
        """The best cosine with the article's answerable and unanswerable labelled questions."""
        found = self._by_article.get(article_id) if vector is not None else None
        if found is None:
            return dict(self.NEUTRAL)
        vectors, answerable = found
        sims = vectors @ np.asarray(vector, np.float32).reshape(-1)
        return {"near_in": float(sims[answerable].max()), "near_out": float(sims[~answerable].max()), "labelled": 1.0}


@dataclass(frozen=True)
class Scope:
    """The judge's verdict: `outcome` (answer | clarify | decline), the probability that the article
    answers the question, the words it does not cover (the focus first), and the evidence."""

    outcome: str
    confidence: float
    missing: tuple[str, ...] = ()
    features: dict = field(default_factory=dict, compare=False)


class Nearness:
    """How near in meaning a word is to the corpus's words: the best cosine between the model's
    vector of the word alone and those of the corpus's own words (encoded once, on first use)."""

    def __init__(self, encode: Callable[[list[str]], np.ndarray], corpus_texts: Sequence[str], cache_size: int = 4096):
        self.encode = encode
        self._texts = corpus_texts
        self._cache: dict[str, tuple[float, np.ndarray]] = {}
        self._cache_size = cache_size

    @cached_property
    def _vectors(self) -> np.ndarray:
        words = sorted({w.lower() for t in self._texts for w in re.findall(r"[A-Za-z]{3,}", t)})
        return self.encode(words) if words else np.zeros((0, 1), np.float32)

    def _look_up(self, words: list[str]) -> list[tuple[float, np.ndarray]]:
        todo = [w for w in dict.fromkeys(words) if w not in self._cache]
        if todo and len(self._vectors):
            if len(self._cache) + len(todo) > self._cache_size:
                self._cache.clear()  # visitors' words are not kept beyond a bounded working set
            for w, v in zip(todo, self.encode(todo)):
                self._cache[w] = (float((self._vectors @ v).max()), v)
        return [self._cache.get(w, (0.0, None)) for w in words]

    def __call__(self, words: list[str]) -> list[float]:
        return [near for near, _ in self._look_up(words)]

    def centrality(self, words: list[str], question_vector: np.ndarray | None) -> list[float]:
        """How much each word is what the question means: its vector's cosine with the question's."""
        if question_vector is None:
            return [0.0] * len(words)
        q = np.asarray(question_vector, np.float32)
        return [float(v @ q) if v is not None else 0.0 for _, v in self._look_up(words)]

    def warm_up(self) -> None:
        self._vectors  # noqa: B018 - encodes the corpus's words now, not on a visitor's question


FOCUS_FEATURES = ("rarity", "nearness", "position", "capitalised", "length", "candidates", "judge", "centrality")


def focus_features(question: str, candidates: Sequence[str], nearness: Sequence[float],
                   judged: float, centrality: Sequence[float]) -> list[list[float]]:
    """Per unknown word of a question: the evidence that it is what the question is about."""
    words = _WORD.findall(question)
    lower = [w.lower() for w in words]
    out = []
    for word, near, central in zip(candidates, nearness, centrality):
        at = lower.index(word) if word in lower else 0
        capitalised = any(w[:1].isupper() and w.lower() == word and i > 0 for i, w in enumerate(words))
        out.append([rarity(word), near, at / max(1, len(words) - 1), float(capitalised), float(len(word)),
                    float(len(candidates)), judged, central])
    return out


def estimator(part: dict):
    """A standardised logistic regression (sklearn) from the numbers a fit kept: features, mean,
    scale, coef, intercept."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    scaler, clf = StandardScaler(), LogisticRegression()
    scaler.mean_, scaler.scale_ = np.asarray(part["mean"], float), np.asarray(part["scale"], float)
    scaler.var_, scaler.n_features_in_ = scaler.scale_ ** 2, len(part["mean"])
    clf.coef_, clf.intercept_ = np.asarray([part["coef"]], float), np.asarray([part["intercept"]], float)
    clf.classes_ = np.array([0, 1])
    return make_pipeline(scaler, clf)


@dataclass(frozen=True)
class ScopeModel:
    """The fitted judge (question level) and focus finder (word level): standardised logistic
    regressions kept as plain numbers, with the thresholds chosen for them."""

    judge: dict  # features, mean, scale, coef, intercept
    focus: dict  # the same, over FOCUS_FEATURES
    thresholds: dict  # clarify, answer, focus
    meta: dict = field(default_factory=dict)
    wording: tuple | None = None  # (vocabularies, coef, intercept) of the masked-wording classifier
    neighbours: Neighbours | None = None

    def neighbour_features(self, vector: np.ndarray | None, article_id: str | None) -> dict[str, float]:
        return (self.neighbours.features(vector, article_id) if self.neighbours is not None
                else dict(Neighbours.NEUTRAL))

    def wording_probability(self, masked_texts: Sequence[str]) -> np.ndarray:
        """The wording model's probability that questions worded so are answered by their article."""
        if self.wording is None:
            return np.full(len(masked_texts), 0.5)
        fitted = self.__dict__.get("_wording")
        if fitted is None:  # built once; a frozen dataclass keeps it in its __dict__
            vocabularies, coef, intercept = self.wording
            fitted = self.__dict__.setdefault("_wording", (make_vectorizers(WORDING, vocabularies),
                                                           logistic(coef, intercept)))
        vectorizers, clf = fitted
        from scipy import sparse

        with serving():
            x = sparse.hstack([v.transform(masked_texts) for v in vectorizers], format="csr")
            return clf.predict_proba(x)[:, 1]

    @staticmethod
    def _probability(part: dict, rows: Sequence[Sequence[float]]) -> np.ndarray:
        pipeline = part.get("_pipeline")
        if pipeline is None:  # rebuilt once from its numbers (sklearn; no pickles)
            pipeline = part.setdefault("_pipeline", estimator(part))
        rows = np.asarray(rows, dtype=np.float64)
        with serving(rows):
            return pipeline.predict_proba(rows)[:, 1]

    def answerable(self, features: dict[str, float]) -> float:
        return float(self._probability(self.judge, [[features[f] for f in self.judge["features"]]])[0])

    def focus_probabilities(self, rows: Sequence[Sequence[float]]) -> np.ndarray:
        return self._probability(self.focus, rows) if len(rows) else np.zeros(0)

    def to_json(self) -> dict:
        def plain(part):
            return {k: v for k, v in part.items() if not k.startswith("_")}
        return {"judge": plain(self.judge), "focus": plain(self.focus), "thresholds": self.thresholds, **self.meta}

    @classmethod
    def from_json(cls, data: dict) -> "ScopeModel":
        for part, names in (("judge", None), ("focus", FOCUS_FEATURES)):
            p = data[part]
            width = len(p["features"]) if names is None else len(names)
            if names is not None and tuple(p["features"]) != names:
                raise ValueError(f"its {part} features are not {', '.join(names)}")
            if any(f not in FEATURES for f in data["judge"]["features"]):
                raise ValueError("it uses features this version does not compute")
            if not (len(p["mean"]) == len(p["scale"]) == len(p["coef"]) == width):
                raise ValueError(f"its {part} arrays do not fit together")
        if not {"clarify", "answer", "focus"} <= set(data["thresholds"]):
            raise ValueError("it has no thresholds")
        meta = {k: v for k, v in data.items() if k not in ("judge", "focus", "thresholds", "wording_sha256")}
        return cls(data["judge"], data["focus"], data["thresholds"], meta)


def save_model(model: ScopeModel, folder: Path) -> None:
    """The wording model's arrays (`scope.npz`), then the judge's numbers and thresholds (`scope.json`,
    the commit, with the arrays' digest)."""
    from .errors import IndexFileError

    vocabularies, coef, intercept = model.wording
    nb = model.neighbours
    # Our labelled questions' vectors, never a visitor's.
    neighbours = {} if nb is None else {"nb_vectors": nb.vectors.astype(np.float16), "nb_answerable": nb.answerable,
                                        "nb_articles": np.array(nb.articles, dtype=str)}
    arrays = {"coef": np.asarray(coef, np.float32), "intercept": np.asarray(intercept, np.float32),
              **arrays_of(vocabularies), **neighbours}
    try:
        write_arrays(Path(folder), WORDING_FILE, arrays, JUDGE_FILE, model.to_json(), digest_key="wording_sha256")
    except OSError as e:
        raise IndexFileError(f"cannot write the scope judge to {folder} ({e.strerror or e}); "
                             "give a writable --out folder") from None


def load_model(folders: Sequence[Path], fitted_for: Callable[[dict], bool]) -> ScopeModel | None:
    """The first scope judge in `folders` fitted for this embedding model, or None with one warning."""
    model, problems = first_fitted(folders, _read, fitted_for)
    if model is None:
        log.warning("askknee: no usable scope judge (%s); answering on the top score alone; run "
                    "`askknee fit-scope --out DIR`", "; ".join(problems) or "none found")
    return model


def _read(folder: Path) -> ScopeModel | None:
    found = read_arrays(folder, WORDING_FILE, JUDGE_FILE, digest_key="wording_sha256")
    if found is None:
        return None
    data, z = found
    wording = (vocabularies_from(z), z["coef"], z["intercept"])
    neighbours = (Neighbours(z["nb_vectors"], z["nb_answerable"].astype(bool), tuple(z["nb_articles"].tolist()))
                  if "nb_vectors" in z else None)
    if wording[1].shape[-1] != sum(len(t) for t, _ in wording[0]):
        raise ValueError(f"{WORDING_FILE}'s arrays do not fit together")
    if neighbours is not None and not (len(neighbours.vectors) == len(neighbours.answerable) == len(neighbours.articles)):
        raise ValueError(f"{WORDING_FILE}'s labelled questions do not fit together")
    return replace(ScopeModel.from_json(data), wording=wording, neighbours=neighbours)


class ScopeJudge:
    """Answer, clarify or decline, from a question and its ranked passages."""

    def __init__(self, terms: Terms, model: ScopeModel | None = None, nearness: Nearness | None = None,
                 threshold: float = 0.45):
        """Without a `model`, the top score against `threshold` decides between answer and decline."""
        self.terms = terms
        self.model = model
        self.nearness = nearness
        self.threshold = threshold

    def judge(self, question: str, hits: Sequence[Hit], vector: np.ndarray | None = None) -> Scope:
        """`vector` is the question's sentence vector (`Retriever.embed`), for the focus finder and
        the labelled neighbours (both neutral without it)."""
        nearness = self.nearness if self.model is not None else None
        features = question_features(question, hits, self.terms, nearness)
        if self.model is None:
            top = features["top"]
            return Scope(ANSWER if hits and top >= self.threshold else DECLINE, top, features=features)
        features["wording"] = float(self.model.wording_probability([masked(question, self.terms)])[0])
        features.update(self.model.neighbour_features(vector, hits[0].chunk.article_id if hits else None))
        p = self.model.answerable(features)
        t = self.model.thresholds
        outcome = ANSWER if p >= t["answer"] else CLARIFY if p >= t["clarify"] else DECLINE
        return Scope(outcome, p, self.missing(question, p, vector), features)

    def missing(self, question: str, answerable: float, vector: np.ndarray | None = None) -> tuple[str, ...]:
        """The question's words the article does not cover that it is about, most likely first."""
        candidates = self.terms.unknown(question)
        if not candidates or self.model is None or self.nearness is None:
            return ()
        rows = focus_features(question, candidates, self.nearness(candidates), answerable,
                              self.nearness.centrality(candidates, vector))
        probs = self.model.focus_probabilities(rows)
        ranked = sorted(zip(probs, candidates), reverse=True)
        return tuple(w for p, w in ranked if p >= self.model.thresholds["focus"])
