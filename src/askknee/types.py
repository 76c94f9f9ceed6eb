"""Frozen dataclasses passed between stages."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .scope import Scope
    from .triage import Triage


@dataclass(frozen=True)
class RelatedLink:
    """An article the page recommends; kept as a pointer, never as a passage."""

    title: str
    url: str


@dataclass(frozen=True)
class Block:
    """One readable unit of a section: a paragraph or a list item."""

    kind: str  # "paragraph" | "bullet"
    text: str
    lead: str = ""  # the sentence introducing a list ("…if:"), for bullets


@dataclass(frozen=True)
class Section:
    """A section or subsection with its heading path and the page anchor to link to."""

    heading_path: tuple[str, ...]
    anchor: str
    slug: str
    blocks: tuple[Block, ...]


@dataclass(frozen=True)
class FAQ:
    question: str
    answer: str


@dataclass(frozen=True)
class Article:
    """One ingested article: only its content, site chrome removed."""

    id: str
    title: str
    url: str
    source: str  # file the article came from
    sections: tuple[Section, ...]
    faqs: tuple[FAQ, ...] = ()
    faq_anchor: str = "frequently-asked-questions"
    related: tuple[RelatedLink, ...] = ()


@dataclass(frozen=True)
class Chunk:
    """A passage a visitor can read in one glance, with its heading context."""

    id: str
    article_id: str
    article_title: str
    section: str  # top-level section heading
    heading_path: tuple[str, ...]
    anchor: str
    text: str  # clean prose, exactly what is shown and quoted
    url: str  # published page with the section anchor
    kind: str = "paragraph"  # "paragraph" | "bullet" | "faq" | "intro"
    lead: str = ""
    question: str = ""  # the FAQ question, for kind == "faq"

    @property
    def title(self) -> str:
        """Heading context, as in BEIR's `title` field."""
        return " > ".join(self.heading_path)

    def to_dict(self) -> dict:
        d = {k: getattr(self, k) for k in self.__dataclass_fields__}
        d["heading_path"] = list(self.heading_path)
        return d

    @classmethod
    def from_dict(cls, d: dict) -> "Chunk":
        d = dict(d)
        d["heading_path"] = tuple(d["heading_path"])
        return cls(**{k: d[k] for k in cls.__dataclass_fields__ if k in d})


@dataclass(frozen=True)
class Hit:
    """A ranked passage; `score` is comparable across questions (for thresholds). Its parts: the
    dense and (saturated) lexical scores, their fusion before the query adapter's lifts, and the
    lifts from labelled questions (`memory`: the nearest ones; `prototype`: the passage's typical
    question), so that score = fused + memory + prototype."""

    chunk: Chunk
    score: float
    rank: int
    dense: float = 0.0
    lexical: float = 0.0
    fused: float = 0.0
    memory: float = 0.0
    prototype: float = 0.0

    def parts(self) -> dict[str, float]:
        """The score's breakdown: dense, lexical, fused, and each lift."""
        return {"dense": self.dense, "lexical": self.lexical, "fused": self.fused, "memory": self.memory,
                "prototype": self.prototype}


@dataclass(frozen=True)
class Source:
    id: str
    section: str
    url: str
    score: float


@dataclass(frozen=True)
class Answer:
    """The reply a visitor reads. `text` is markdown and always ends with the disclaimer."""

    question: str
    status: str  # answered | clarify | out_of_scope | emergency | dosing | greeting | empty | error
    text: str
    sources: tuple[Source, ...] = ()
    notices: tuple[str, ...] = ()
    suggestions: tuple[str, ...] = ()
    disclaimer: str = ""
    resolved_question: str = ""
    hits: tuple[Hit, ...] = field(default=(), compare=False, repr=False)
    triage: Triage | None = field(default=None, compare=False)  # what safety triage decided, with its evidence
    scope: Scope | None = field(default=None, compare=False)  # answer, clarify or decline, with its evidence
