"""`Article` -> `[Chunk]`: pure, deterministic, stable ids, never across sections."""

from __future__ import annotations

import re
import statistics

from .types import Article, Chunk

# Bump when ingestion or chunking output changes: the index manifest records it.
CHUNKER_VERSION = "3"
MAX_CHARS = 500  # longer paragraphs are split at sentence ends, to stay readable at a glance

_SENTENCE_END = re.compile(r"(?<=[.!?])\s+(?=[A-Z0-9\"“(])")


def split_sentences(text: str) -> list[str]:
    """Sentences of a passage, split at . ! ? followed by a capital."""
    return [s.strip() for s in _SENTENCE_END.split(text) if s.strip()]


def _pieces(text: str) -> list[str]:
    if len(text) <= MAX_CHARS:
        return [text]
    out, cur = [], ""
    for sent in split_sentences(text):
        if cur and len(cur) + 1 + len(sent) > MAX_CHARS:
            out.append(cur)
            cur = sent
        else:
            cur = f"{cur} {sent}".strip()
    if cur:
        out.append(cur)
    return out


def _url(base: str, anchor: str) -> str:
    return f"{base}#{anchor}" if anchor else base


def chunk_article(article: Article) -> list[Chunk]:
    """Passages of one article: a paragraph, a bullet or an FAQ pair each."""
    chunks: list[Chunk] = []
    for section in article.sections:
        top = section.heading_path[1] if len(section.heading_path) > 1 else ""
        kind_default = "intro" if len(section.heading_path) == 1 else "paragraph"
        n = 0
        for block in section.blocks:
            for piece in _pieces(block.text):
                n += 1
                chunks.append(Chunk(
                    id=f"{article.id}:{section.slug}:{n:02d}",
                    article_id=article.id,
                    article_title=article.title,
                    section=top or "Introduction",
                    heading_path=section.heading_path,
                    anchor=section.anchor,
                    text=piece,
                    url=_url(article.url, section.anchor),
                    kind="bullet" if block.kind == "bullet" else kind_default,
                    lead=block.lead,
                ))
    for n, faq in enumerate(article.faqs, start=1):
        chunks.append(Chunk(
            id=f"{article.id}:faq:{n:02d}",
            article_id=article.id,
            article_title=article.title,
            section="Frequently Asked Questions",
            heading_path=(article.title, "Frequently Asked Questions", faq.question),
            anchor=article.faq_anchor,
            text=f"{faq.question} {faq.answer}",
            url=_url(article.url, article.faq_anchor),
            kind="faq",
            question=faq.question,
        ))
    return chunks


def chunk_corpus(articles: list[Article]) -> list[Chunk]:
    """Passages of every article, in corpus order; ids are unique across the corpus."""
    chunks = [c for a in articles for c in chunk_article(a)]
    seen = set()
    for c in chunks:
        if c.id in seen:
            raise ValueError(f"duplicate chunk id {c.id}; two corpus files share an article id")
        seen.add(c.id)
    return chunks


def search_text(chunk: Chunk) -> str:
    """What the retriever indexes: heading context, the list lead-in, then the passage."""
    context = " > ".join(chunk.heading_path[1:])
    return " ".join(p for p in (context + ":" if context else "", chunk.lead, chunk.text) if p)


def size_report(chunks: list[Chunk]) -> dict:
    """Chunk count and character-length distribution."""
    sizes = sorted(len(c.text) for c in chunks)
    if not sizes:
        return {"chunks": 0}
    q = statistics.quantiles(sizes, n=10) if len(sizes) > 1 else [sizes[0]] * 9
    return {
        "chunks": len(sizes),
        "chars_min": sizes[0],
        "chars_p10": round(q[0]),
        "chars_median": round(statistics.median(sizes)),
        "chars_p90": round(q[-1]),
        "chars_max": sizes[-1],
        "by_kind": dict(sorted({k: sum(1 for c in chunks if c.kind == k) for k in {c.kind for c in chunks}}.items())),
    }


def passage_views(chunk: Chunk) -> list[str]:
    """Texts embedded for a passage; its dense score is the best of them.

    The passage alone, and the passage in context (`search_text`: headings and list lead-in).
    The context view lets "what are the symptoms" reach a bullet whose own words never say
    "symptom"; the bare view keeps a specific question from being drowned by the heading.
    Compared on dev (then confirmed on test) against the bare passage alone and against a
    weighted blend of the two views, the best-of-two was as good or better on every metric.
    FAQ questions as a view of their own were tried too and lowered ranking on both splits:
    a short question matches any question on its topic.
    """
    in_context = search_text(chunk)
    return [chunk.text] if in_context == chunk.text else [chunk.text, in_context]
