"""Replies from passages: verbatim and de-duplicated, grouped by section, each group followed by a
link to its section that also highlights the quoted text (a text fragment); the red-flag guidance;
the topics of a decline; and `finish`, the single exit that ends every reply with the disclaimer."""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from urllib.parse import quote

from . import messages as M
from .chunking import split_sentences
from .types import Answer, Chunk, Hit, Source

MAX_PASSAGES = 3
MAX_ANSWER_CHARS = 650  # "a few sentences": stop adding passages beyond this
DUPLICATE_OVERLAP = 0.5  # share of a passage's content words already shown -> "says the same thing"
FRAGMENT_WORDS = 5  # words quoted at each end of a text fragment
_LABEL = re.compile(r"^([A-Z][\w ,'’/-]{1,40}): (?=\S)")
_DIGIT = re.compile(r"\d")
# A passage opening like this leans on the one before it ("These signs might indicate…").
_LEANS_BACK = re.compile(r"^(?:These|This|Such|Those|They|It)\b")
_WHY = re.compile(r"\b(?:why|cause[sd]?|causing|reason|reasons|trigger(?:s|ed)?)\b", re.IGNORECASE)
_CAUSES = re.compile(r"\bcause", re.IGNORECASE)
_LINK = re.compile(r"\]\((https?://[^)\s]+)\)")


def md_escape(text: str) -> str:
    """Headings go inside link text; brackets and emphasis marks must not change the markup."""
    return re.sub(r"([\\\[\]*_`<>])", r"\\\1", text)


def heading_label(chunk: Chunk) -> str:
    return " › ".join(chunk.heading_path[1:]) or chunk.article_title


def passage_text(chunk: Chunk) -> str:
    """What is quoted from a passage: an FAQ's answer without its question."""
    if chunk.kind == "faq" and chunk.question and chunk.text.startswith(chunk.question):
        return chunk.text[len(chunk.question):].strip()
    return chunk.text


def _fragment_part(words: Sequence[str]) -> str:
    # Text directives reserve "-", "," and "&"; quote() leaves "-" alone.
    return quote(" ".join(words), safe="").replace("-", "%2D")


def fragment_link(chunks: Sequence[Chunk]) -> str:
    """The section's address, with a text fragment (`#anchor:~:text=start,end`) that scrolls the
    published page to the quoted passages and highlights them."""
    first, last = passage_text(chunks[0]).split(), passage_text(chunks[-1]).split()
    if not first or not last:
        return chunks[0].url
    start = first[:FRAGMENT_WORDS]
    directive = _fragment_part(start)
    if len(chunks) > 1 or len(first) > FRAGMENT_WORDS:
        directive += "," + _fragment_part(last[-FRAGMENT_WORDS:])
    url = chunks[0].url
    return f"{url}:~:text={directive}" if "#" in url else f"{url}#:~:text={directive}"


class Composer:
    """Chooses and renders passages for one corpus."""

    def __init__(self, chunks: Sequence[Chunk], stem: Callable[[str], set[str]], passage_ratio: float):
        self.chunks = list(chunks)
        self.stem = stem
        self.passage_ratio = passage_ratio
        self._order = {c.id: i for i, c in enumerate(self.chunks)}
        self._links: dict[str, str] | None = None

    def select(self, hits: Sequence[Hit], question: str = "", *, skip: Iterable[str] = (), digit_free: bool = False,
               max_passages: int = MAX_PASSAGES, ratio: float | None = None) -> list[Chunk]:
        """The top passages worth showing: scoring within `passage_ratio` of the best, not repeating
        what another shows, not already shown (`skip`), not leaning on a passage left out; a "why"
        question leads with the causes. `ratio` overrides `passage_ratio`."""
        if not hits:
            return []
        skip = set(skip)
        best = hits[0].score
        near = [h for h in hits if h.score >= best * (self.passage_ratio if ratio is None else ratio)]
        if _WHY.search(question):  # causes first, among the passages that score as well
            near.sort(key=lambda h: not any(_CAUSES.search(p) for p in h.chunk.heading_path[1:]))
        chosen: list[Chunk] = []
        shown_words: set[str] = set()
        total = 0
        for hit in near:
            chunk = hit.chunk
            if len(chosen) == max_passages or total >= MAX_ANSWER_CHARS:
                break
            text = passage_text(chunk)
            if chunk.id in skip or (digit_free and _DIGIT.search(text)):
                continue
            if _LEANS_BACK.match(text) and chunk.kind == "paragraph" and not self._follows(chunk, chosen):
                continue
            # Whole passages only: a sentence cut from its passage may lose what "they" refers to.
            words = self.stem(text)
            if words and len(words & shown_words) / len(words) >= DUPLICATE_OVERLAP:
                continue
            shown_words |= words
            chosen.append(chunk)
            total += len(text)
        return chosen

    def _follows(self, chunk: Chunk, chosen: Sequence[Chunk]) -> bool:
        i = self._order.get(chunk.id, -1)
        return i > 0 and any(self._order.get(c.id) == i - 1 for c in chosen)

    def render(self, chosen: Sequence[Chunk], fragments: bool = True) -> str:
        """Passages grouped by section, each group followed by its source link (with a text fragment,
        unless `fragments` is false: a dose reply carries no digit, not even "%20"); a red-flag bullet
        keeps its lead-in ("You should consider seeing … if:")."""
        groups: dict[tuple, list[Chunk]] = {}
        for chunk in chosen:
            groups.setdefault((chunk.heading_path, chunk.url), []).append(chunk)
        parts = []
        for items in groups.values():
            lines, leads = [], set()
            for chunk in items:
                if chunk.kind == "bullet" and chunk.lead.endswith("if:") and chunk.lead not in leads:
                    leads.add(chunk.lead)
                    lines.append(chunk.lead)
                text = " ".join(split_sentences(passage_text(chunk)))
                if chunk.kind == "bullet":
                    m = _LABEL.match(text)
                    lines.append(f"- **{m.group(1)}:** {text[m.end():]}" if m else f"- {text}")
                else:
                    lines.append(text)
            body = "\n".join(lines) if all(line.startswith("- ") or line.endswith(":") for line in lines) \
                else "\n\n".join(lines)
            link = fragment_link(items) if fragments else items[0].url
            parts.append(f"{body}\n\n{M.SOURCE} [{md_escape(heading_label(items[0]))}]({link})")
        return "\n\n".join(parts)

    def red_flag(self, article_id: str | None) -> tuple[str, list[Chunk]]:
        """The article's "When to See a Doctor" section, quoted in full, and its passages."""
        chunks = [c for c in self.chunks if c.heading_path[-1].lower() == "when to see a doctor"
                  and (article_id is None or c.article_id == article_id)]
        if not chunks:
            return f"{M.RED_FLAG_LEAD}\n\n{M.RED_FLAG_FALLBACK}", []
        chunks = [c for c in chunks if c.article_id == chunks[0].article_id]
        bullets = [c for c in chunks if c.kind == "bullet"]
        lead = bullets[0].lead if bullets else ""
        lines = ([f"> {lead}"] if lead else []) + [f"> - {c.text}" for c in bullets]
        lines += [f">\n> {c.text}" for c in chunks if c.kind != "bullet"]
        link = f"{M.SOURCE} [{md_escape(heading_label(chunks[0]))}]({chunks[0].url})"
        return f"{M.RED_FLAG_LEAD}\n\n" + "\n".join(lines) + f"\n\n{link}", chunks

    def topics(self, article_id: str | None) -> str:
        """The sections of one article (or all), as links."""
        seen: dict[str, str] = {}
        for c in self.chunks:
            if (article_id is None or c.article_id == article_id) and c.section != "Introduction":
                seen.setdefault(c.section, c.url)
        return "\n".join(f"- [{md_escape(s)}]({u})" for s, u in seen.items())

    def shown_in(self, texts: Iterable[str]) -> set[str]:
        """The passages earlier replies showed, read back from their source links."""
        if self._links is None:
            self._links = {}
            for c in self.chunks:
                self._links.setdefault(fragment_link([c]).split(",")[0].split(":~:text=")[-1], c.id)
        out = set()
        for text in texts:
            for url in _LINK.findall(text or ""):
                if ":~:text=" in url:
                    start = url.split(":~:text=", 1)[1].split(",")[0]
                    if start in self._links:
                        out.add(self._links[start])
        return out


def sources(chosen: Sequence[Chunk], hits: Sequence[Hit]) -> tuple[Source, ...]:
    score = {h.chunk.id: h.score for h in hits}
    return tuple(Source(id=c.id, section=heading_label(c), url=c.url, score=round(score.get(c.id, 0.0), 6))
                 for c in chosen)


def has_digit(text: str) -> bool:
    return bool(_DIGIT.search(text))


def finish(question: str, status: str, body: str, *, notices=(), sources=(), suggestions=(),
           resolved: str = "", hits=(), triage=None, scope=None) -> Answer:
    """Every reply, here and in the web app, is built here, so every reply ends with the disclaimer."""
    parts = [n for n in notices if n] + ([body] if body else [])
    text = "\n\n".join(parts + ["---", M.DISCLAIMER])
    return Answer(question=question, status=status, text=text, sources=tuple(sources),
                  notices=tuple(n for n in notices if n), suggestions=tuple(suggestions),
                  disclaimer=M.DISCLAIMER, resolved_question=resolved, hits=tuple(hits), triage=triage,
                  scope=scope)


def error_answer() -> Answer:
    """The apology for a reply that failed; it too ends with the disclaimer."""
    return finish("", "error", M.ERROR)
