"""Questions to offer a visitor: follow-ups after an answer, "Did you mean…?" when the question is
unclear, and examples to start with. All are questions the article answers (its FAQ, and its
headings put as questions), never one already asked in the conversation."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from functools import cached_property

import numpy as np

from .types import Chunk, Hit

TOO_CLOSE = 0.6  # share of a suggestion's words already asked: it would be asked again


def question_for_heading(heading: str) -> str:
    """A visitor's question for a section heading, in sentence case ("When to See a Doctor" ->
    "When should I see a doctor?"; "Home Remedies" -> "What home remedies are there?")."""
    h = heading.strip()
    if not h or h.lower() in {"frequently asked questions", "introduction", "key takeaways"}:
        return ""
    lower = _sentence_case(h)
    if h.endswith("?"):
        return lower
    if m := re.match(r"(?i)^when to (.+)$", h):
        return f"When should I {_sentence_case(m.group(1)).lower()}?"
    if m := re.match(r"(?i)^symptoms of (.+)$", h):
        return f"What are the symptoms of {_sentence_case(m.group(1)).lower()}?"
    if h.lower().endswith("s") and not h.lower().endswith("ss"):
        return f"What {lower[0].lower() + lower[1:]} are there?"
    return f"What does the article say about {lower[0].lower() + lower[1:]}?"


def _sentence_case(text: str) -> str:
    """"What Causes Knee Muscle Spasms?" -> "What causes knee muscle spasms?" (acronyms kept)."""
    words = text.split()
    return " ".join(w if i == 0 or w.isupper() else w.lower() for i, w in enumerate(words))


class Suggester:
    """Offers questions the article answers, near what was shown or asked."""

    def __init__(self, chunks: Sequence[Chunk], search: Callable[[list[str]], list[list[Hit]]],
                 embed: Callable[[list[str]], np.ndarray], stem: Callable[[str], set[str]], min_score: float):
        """`search` ranks questions (top hit first), `embed` gives their vectors; a question is offered
        only if its top passage scores at least `min_score`."""
        self.chunks = list(chunks)
        self.search = search
        self.embed = embed
        self.stem = stem
        self.min_score = min_score

    @cached_property
    def faq(self) -> set[str]:
        return {c.question for c in self.chunks if c.kind == "faq" and c.question}

    @cached_property
    def pool(self) -> list[tuple[str, Chunk]]:
        """Questions the article answers, each with the passage it retrieves (checked once)."""
        candidates: list[str] = []
        seen: set[str] = set()
        for c in self.chunks:
            if c.kind == "faq" and c.question:
                candidates.append(_sentence_case(c.question))
                continue
            for h in c.heading_path[1:]:
                if h not in seen:
                    seen.add(h)
                    candidates.append(question_for_heading(h))
        candidates = list(dict.fromkeys(q for q in candidates if q))
        if not candidates:
            return []
        return [(q, hits[0].chunk) for q, hits in zip(candidates, self.search(candidates))
                if hits and hits[0].score >= self.min_score]

    @cached_property
    def _vectors(self) -> np.ndarray:
        return self.embed([q for q, _ in self.pool]) if self.pool else np.zeros((0, 1), np.float32)

    def warm_up(self) -> None:
        self._vectors  # noqa: B018 - retrieves and embeds the pool now, not on a visitor's question

    def _asked(self, asked: Sequence[str]) -> Callable[[str], bool]:
        asked_words = [self.stem(a) for a in asked if a]

        def already(q: str) -> bool:
            words = self.stem(q)
            return bool(words) and any(len(words & a) / len(words) >= TOO_CLOSE for a in asked_words)
        return already

    def follow_ups(self, shown: Sequence[Chunk], asked: Sequence[str], n: int = 3) -> tuple[str, ...]:
        """Questions on the sections around what was shown, one per section, one from the FAQ."""
        pool = self.pool
        if not pool:
            return ()
        order = {c.id: i for i, c in enumerate(self.chunks)}
        shown_sections = {c.heading_path for c in shown}
        already = self._asked(asked)
        center = order.get(shown[0].id, 0) if shown else 0
        picks = sorted(((abs(order.get(c.id, 0) - center), q, c) for q, c in pool
                        if c.heading_path not in shown_sections and not already(q)), key=lambda t: t[0])
        out, sections = [], set()
        for _, q, c in picks:  # neighbouring sections first, one question per section
            if c.heading_path not in sections:
                sections.add(c.heading_path)
                out.append(q)
                if len(out) == n:
                    break
        faq = {_sentence_case(q) for q in self.faq}
        first_faq = next((q for _, q, c in picks if q in faq and q not in out), None)
        if first_faq and out and not any(q in faq for q in out):
            out[-1] = first_faq  # and always one from the FAQ, the questions readers actually ask
        return tuple(out)

    def did_you_mean(self, vector: np.ndarray, asked: Sequence[str], n: int = 3) -> tuple[str, ...]:
        """The questions the article answers nearest in meaning to the visitor's, one per section."""
        if not self.pool:
            return ()
        already = self._asked(asked)
        sims = self._vectors @ np.asarray(vector, np.float32)
        out, sections = [], set()
        for i in np.argsort(-sims):
            q, c = self.pool[int(i)]
            if c.heading_path in sections or already(q):
                continue
            sections.add(c.heading_path)
            out.append(q)
            if len(out) == n:
                break
        return tuple(out)

    def examples(self, n: int = 3) -> tuple[str, ...]:
        """One question per section, in article order."""
        seen, out = set(), []
        for q, c in self.pool:
            if c.section not in seen:
                seen.add(c.section)
                out.append(q)
        return tuple(out[:n])
