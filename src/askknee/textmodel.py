"""TF-IDF n-grams and linear classifiers, as triage and the scope judge fit them (scikit-learn),
kept as plain arrays (no pickles) and rebuilt to serve."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path

import numpy as np

# Negation cues that deny what follows ("no swelling", "not hot", "never fainted"). Inability
# ("can't breathe", "unable to stand") is left out: it reports a sign rather than denying one.
_NEGATION = re.compile(r"^(?:no|not|never|without|nor|neither|none|nothing|nobody|dont|doesnt|didnt|isnt|wasnt|"
                       r"arent|werent|havent|hasnt|hadnt|aint|.+n't)$")
_NEGATION_ENDS = re.compile(r"^(?:but|however|though|although|except|yet|apart|only)$")
_WORD_OR_STOP = re.compile(r"[\w']+|[.,;:!?()\n]")


NEGATION_MARKS = (0, 1)  # the versions of `mark_negation` a saved model may ask for (False, True)


def mark_negation(text: str) -> str:
    """Lower-cased text whose words in a negation's scope (from the cue to the next punctuation,
    line break or contrast word: "but", "though", "except", "only"…) carry a NEG_ prefix, so word
    n-grams tell "no chest pain" from "chest pain" (negation marking as in Das and Chen 2001, Pang
    et al. 2002)."""
    out, negated = [], False
    for token in _WORD_OR_STOP.findall(text.lower().replace("’", "'")):
        if not token[0].isalnum() and token[0] != "'":
            negated = False
            continue
        if _NEGATION_ENDS.match(token):
            negated = False
        elif _NEGATION.match(token) and token not in ("can't", "couldn't", "won't"):
            out.append(token)
            negated = True
            continue
        out.append(f"NEG_{token}" if negated else token)
    return " ".join(out)


def make_vectorizers(params: Mapping, vocabularies: Sequence | None = None) -> list:
    """Character n-grams, which survive typos, and word n-grams (sklearn TF-IDF), over negation-marked
    words when `params["negation_marks"]`; with `vocabularies` ((terms, idf) each), as fitted."""
    from sklearn.feature_extraction.text import TfidfVectorizer

    specs = [("char_wb", params.get("char_ngrams", (2, 5))), ("word", params.get("word_ngrams", (1, 2)))]
    out = []
    for n, (analyzer, (lo, hi)) in enumerate(specs):
        vocab = {t: i for i, t in enumerate(vocabularies[n][0])} if vocabularies else None
        marked = analyzer == "word" and params.get("negation_marks", False)
        # mark_negation lower-cases itself; lowercase=False only spares sklearn's warning about the
        # NEG_ prefix in a vocabulary it would otherwise expect in lower case.
        vec = TfidfVectorizer(analyzer=analyzer, ngram_range=(int(lo), int(hi)), lowercase=not marked, sublinear_tf=True,
                              min_df=int(params.get("min_df", 2)), vocabulary=vocab, dtype=np.float32,
                              preprocessor=mark_negation if marked else None)
        if vocabularies:
            vec.idf_ = vocabularies[n][1]
        out.append(vec)
    return out


def vocabularies_of(vectorizers: Sequence) -> tuple:
    """(terms in column order, idf) of fitted vectorizers, for `make_vectorizers` to rebuild them."""
    return tuple((tuple(sorted(v.vocabulary_, key=v.vocabulary_.get)), v.idf_.astype(np.float32)) for v in vectorizers)


def logistic(coef: np.ndarray, intercept: np.ndarray):
    """A fitted LogisticRegression from its coefficients (one row per class, or one for two classes)."""
    from sklearn.linear_model import LogisticRegression

    clf = LogisticRegression()
    # Column-major, so the sparse product with coef_.T reads it in place instead of copying it per call.
    clf.coef_, clf.intercept_ = np.asfortranarray(coef), np.asarray(intercept)
    clf.classes_ = np.arange(max(2, len(clf.coef_)))
    return clf


@contextmanager
def serving(*inputs: np.ndarray) -> Iterator[None]:
    """scikit-learn's settings for serving models we rebuilt ourselves: its per-call checks (about a
    third of a triage call) are skipped, and the one that matters, that the dense `inputs` are
    finite, is made here once, so a broken vector raises instead of giving a silent NaN verdict."""
    import sklearn

    for x in inputs:
        if not np.isfinite(x).all():
            raise ValueError("a model's input is not finite")
    with sklearn.config_context(assume_finite=True, skip_parameter_validation=True):
        yield


def arrays_of(vocabularies: Sequence) -> dict[str, np.ndarray]:
    out = {}
    for n, (terms, idf) in enumerate(vocabularies):
        out[f"terms_{n}"], out[f"idf_{n}"] = np.array(terms, dtype=str), np.asarray(idf, np.float32)
    return out


def vocabularies_from(z) -> tuple:
    """The vocabularies `arrays_of` made, from the arrays read back (an npz or a dict of them)."""
    return tuple((tuple(z[f"terms_{n}"].tolist()), z[f"idf_{n}"])
                 for n in range(sum(k.startswith("terms_") for k in z)))


def first_fitted(folders: Sequence[Path], read: Callable[[Path], object | None],
                 fitted_for: Callable[[dict], bool]) -> tuple[object | None, list[str]]:
    """The first model `read(folder)` finds in `folders` (None: no model there) whose `meta["fitted_for"]`
    passes `fitted_for`, and what was wrong with the folders tried before it."""
    problems = []
    for folder in folders:
        try:
            model = read(Path(folder))
        except (OSError, ValueError, TypeError, KeyError) as e:
            problems.append(f"{folder}: {e}")
            continue
        if model is None:
            continue
        if fitted_for(model.meta.get("fitted_for") or {}):
            return model, problems
        problems.append(f"{folder}: fitted for another embedding model")
    return None, problems
