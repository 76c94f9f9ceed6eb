"""What is particular to a corpus, kept beside it in `askknee.toml`: the chat's title and
placeholder, the words visitors use for its subject (for follow-ups), example questions and lay
vocabulary entries. Without the file, generic defaults apply and the title comes from the article.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path

from .errors import CorpusError

PROFILE_FILE = "askknee.toml"


@dataclass(frozen=True)
class Profile:
    title: str = ""  # the page's heading; "" = "Ask about <the article's title>"
    placeholder: str = "Ask a question about the article, or pick an example below."
    # The subject as visitors name it ("spasms", "charley horse"), and words that may come before
    # it ("knee", "muscle"): the phrase a pronoun in a follow-up stands for.
    topic_words: tuple[str, ...] = ()
    topic_qualifiers: tuple[str, ...] = ()
    examples: tuple[str, ...] = ()  # example questions; () = the article's FAQ questions
    # lay phrase (regular expression, matched on word boundaries) -> the article's wording, tried
    # before the general consumer-health entries of `vocabulary.py`.
    vocabulary: dict[str, str] = field(default_factory=dict)

    def topic_pattern(self) -> str:
        """A regular expression for the subject as visitors name it ("" when the profile names none)."""
        if not self.topic_words:
            return ""
        words = "|".join(_phrase(w) for w in self.topic_words)
        if not self.topic_qualifiers:
            return rf"\b(?:{words})\b"
        qualifiers = "|".join(_phrase(w) for w in self.topic_qualifiers)
        return rf"\b(?:(?:{qualifiers})\s+){{0,2}}(?:{words})\b"


def _phrase(text: str) -> str:
    return r"\s+".join(re.escape(w) for w in text.split())


def load_profile(corpus_dir: Path) -> Profile:
    """The profile beside a corpus, or the defaults when it has none."""
    path = Path(corpus_dir) / PROFILE_FILE
    if not path.is_file():
        return Profile()
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
        known = set(Profile.__dataclass_fields__)
        if set(raw) - known:
            raise ValueError(f"unknown keys {', '.join(sorted(set(raw) - known))}; known: {', '.join(sorted(known))}")
        vocabulary = {str(k): str(v) for k, v in raw.pop("vocabulary", {}).items()}
        for pattern in vocabulary:
            re.compile(pattern)
        lists = {k: tuple(str(x) for x in raw.pop(k)) for k in ("topic_words", "topic_qualifiers", "examples")
                 if k in raw}
        return Profile(**{k: str(v) for k, v in raw.items()}, **lists, vocabulary=vocabulary)
    except (OSError, ValueError, TypeError, re.error) as e:
        raise CorpusError(f"cannot read the corpus profile {path} ({e}); fix it or remove it") from None
