"""Captured article pages (markdown) -> `Article`: content kept, site chrome dropped.

The page is parsed with markdown-it, so links, emphasis and images are handled by a real
parser; what counts as chrome is decided by a few rules on whole blocks and headings.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from pathlib import Path
from urllib.parse import urldefrag

import yaml
from markdown_it import MarkdownIt
from markdown_it.token import Token

from .errors import CorpusError
from .types import FAQ, Article, Block, RelatedLink, Section

# Headings of site furniture: promos, doctor cards, sign-up banners, table of contents.
CHROME_HEADINGS = [
    r"^docus\b",
    r"^make informed health decisions",
    r"one click away",
    r"^have (a |more )?questions?\b",
    r"^contents$",
]
RELATED_HEADINGS = [r"^recommended topics$", r"^related (articles|topics)$"]
FAQ_HEADINGS = [r"frequently asked questions", r"^faqs?$"]
# Paragraphs that are calls to action or byline furniture, not article prose.
CHROME_PARAGRAPHS = [
    r"^(author|reviewed by|contents|ask question)$",
    r"\bmin read\b",
    r"\bAI Doctor\b",
    r"\bsymptom checker\b",
    r"^(try|sign up|get started)\b",
    r"^please note!",
]

_md = MarkdownIt("commonmark")


def _matches(patterns: list[str], text: str) -> bool:
    return any(re.search(p, text, re.IGNORECASE) for p in patterns)


def slugify(text: str) -> str:
    """The anchor slug a page derives from a heading ("What Causes X?" -> "what-causes-x")."""
    text = text.lower().replace("’", "").replace("'", "")
    return re.sub(r"[^a-z0-9]+", "-", text).strip("-")


def _inline_text(token: Token) -> str:
    """Plain words of an inline token: links reduced to their words, images dropped."""
    parts: list[str] = []
    for child in token.children or []:
        if child.type in ("text", "code_inline"):
            parts.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            parts.append(" ")
    text = "".join(parts)
    text = text.replace("\\", " ")
    return re.sub(r"\s+", " ", text).strip()


def _is_link_only(token: Token) -> bool:
    """True when every word of the inline token sits inside a link or an image."""
    depth = 0
    for child in token.children or []:
        if child.type == "link_open":
            depth += 1
        elif child.type == "link_close":
            depth -= 1
        elif child.type == "text" and depth == 0 and child.content.strip(" \\"):
            return False
    return True


def _has_image_only(token: Token) -> bool:
    kids = [c for c in token.children or [] if not (c.type == "text" and not c.content.strip())]
    return bool(kids) and all(c.type in ("image", "link_open", "link_close") for c in kids)


def _links(token: Token) -> list[tuple[str, str, str]]:
    """(href, strong text, full text) for each link in an inline token."""
    out = []
    href, strong, full, in_strong = None, [], [], False
    for child in token.children or []:
        if child.type == "link_open":
            href, strong, full = child.attrGet("href"), [], []
        elif child.type == "link_close" and href is not None:
            out.append((href, " ".join(strong).strip(), " ".join(full).strip()))
            href = None
        elif href is not None:
            if child.type == "strong_open":
                in_strong = True
            elif child.type == "strong_close":
                in_strong = False
            elif child.type == "text":
                full.append(child.content)
                if in_strong:
                    strong.append(child.content)
    return out


def _split_front_matter(text: str, source: str) -> tuple[dict, str]:
    m = re.match(r"^---\s*\n(.*?)\n---\s*\n", text, re.DOTALL)
    if not m:
        return {}, text
    try:
        meta = yaml.safe_load(m.group(1)) or {}
    except yaml.YAMLError as e:
        line = getattr(getattr(e, "problem_mark", None), "line", -1) + 2
        raise CorpusError(f"{source}: front matter is not valid YAML (line {line}); use `url: https://…` lines") from None
    if not isinstance(meta, dict):
        raise CorpusError(f"{source}: front matter must be `key: value` lines, e.g. `url: https://…`")
    return meta, text[m.end():]


def read_corpus_file(path: Path) -> str:
    """Read a corpus file as UTF-8, with an error naming the file when it is not."""
    try:
        return path.read_bytes().decode("utf-8-sig")
    except UnicodeDecodeError as e:
        raise CorpusError(
            f"{path}: not UTF-8 text (byte {e.start}); re-save the file as UTF-8"
        ) from None
    except OSError as e:
        raise CorpusError(f"{path}: cannot read ({e.strerror}); check the path and permissions") from None


def parse_article(text: str, *, article_id: str, source: str = "", url: str | None = None) -> Article:
    """Parse one captured page. `url` overrides front matter; else it is inferred from the contents links."""
    meta, body = _split_front_matter(text, source or article_id)
    url = url or meta.get("url")
    tokens = _md.parse(body)

    title = ""
    toc: dict[str, str] = {}  # heading text (lowercased) -> anchor used by the page
    toc_urls: Counter[str] = Counter()
    sections: list[Section] = []
    faqs: list[FAQ] = []
    related: list[RelatedLink] = []
    faq_anchor = ""

    h2: str | None = None
    h2_anchor = ""
    h3: str | None = None
    mode = "pre"  # pre | content | chrome | chrome3 | faq | related
    blocks: list[Block] = []
    lead = ""
    faq_q: str | None = None
    faq_a: list[str] = []
    list_depth = 0

    def flush_section():
        nonlocal blocks, lead
        if blocks and mode in ("content",):
            path = tuple(p for p in (title, h2, h3) if p)
            slug = slugify(h3 or h2 or "intro")
            sections.append(Section(heading_path=path, anchor=h2_anchor, slug=slug, blocks=tuple(blocks)))
        blocks, lead = [], ""

    def flush_faq():
        nonlocal faq_q, faq_a
        if faq_q and faq_a:
            faqs.append(FAQ(question=faq_q, answer=" ".join(faq_a)))
        faq_q, faq_a = None, []

    i = 0
    while i < len(tokens):
        tok = tokens[i]
        if tok.type == "heading_open":
            level = int(tok.tag[1])
            heading = _inline_text(tokens[i + 1])
            heading = re.sub(r"^#+\s*", "", heading).strip()  # repair "\#\#\# Question" artefacts
            i += 3
            if level == 1:
                if not title:
                    title = heading
                    mode = "content"
                    h2 = h3 = None
                    h2_anchor = ""
                continue
            if mode == "pre":
                continue
            if mode == "faq" and level >= 3:
                flush_faq()
                faq_q = heading
                continue
            if level == 2:
                flush_section()
                flush_faq()
                h2, h3 = heading, None
                if _matches(RELATED_HEADINGS, heading):
                    mode = "related"
                elif _matches(CHROME_HEADINGS, heading):
                    mode = "chrome"
                elif _matches(FAQ_HEADINGS, heading):
                    mode = "faq"
                    faq_anchor = toc.get(heading.lower()) or slugify(heading)
                else:
                    mode = "content"
                    h2_anchor = toc.get(heading.lower()) or slugify(heading)
            else:
                if mode in ("chrome", "related"):
                    continue
                if mode == "chrome3":
                    mode = "content"
                flush_section()
                if _matches(CHROME_HEADINGS, heading):
                    mode = "chrome3"
                else:
                    h3 = heading
            continue

        if tok.type == "bullet_list_open" or tok.type == "ordered_list_open":
            list_depth += 1
        elif tok.type in ("bullet_list_close", "ordered_list_close"):
            list_depth -= 1
            if list_depth == 0:
                lead = ""
        elif tok.type == "inline":
            in_list = list_depth > 0
            words = _inline_text(tok)
            links = _links(tok)
            if mode == "pre" or not words and not links:
                pass
            elif in_list and links and _is_link_only(tok):
                # A list of links is navigation (a table of contents), not prose.
                for href, _strong, full in links:
                    base, frag = urldefrag(href)
                    if frag:
                        toc[full.lower()] = frag
                        toc_urls[base] += 1
            elif mode == "related":
                for href, strong, full in links:
                    related.append(RelatedLink(title=strong or full, url=href))
            elif mode in ("chrome", "chrome3"):
                pass
            elif _has_image_only(tok) or _is_link_only(tok) or "[iframe]" in tok.content:
                pass
            elif _matches(CHROME_PARAGRAPHS, words):
                pass
            elif mode == "faq":
                if faq_q:
                    faq_a.append(words)
            elif mode == "content":
                if in_list:
                    blocks.append(Block(kind="bullet", text=words, lead=lead))
                else:
                    blocks.append(Block(kind="paragraph", text=words))
                    lead = words if words.endswith(":") else ""
        i += 1

    flush_section()
    flush_faq()

    if not title:
        raise CorpusError(f"{source or article_id}: no `# Title` heading found; each article needs one")
    if not url and toc_urls:
        url = toc_urls.most_common(1)[0][0]
    if not url:
        raise CorpusError(
            f"{source or article_id}: no canonical URL; add front matter `---\\nurl: https://…\\n---`"
        )
    # A lead-in ending with ":" is kept with the bullets it introduces, not as its own passage.
    sections = [
        Section(s.heading_path, s.anchor, s.slug,
                tuple(b for b in s.blocks if not (b.kind == "paragraph" and b.text.endswith(":")
                                                  and any(x.lead == b.text for x in s.blocks))))
        for s in sections
    ]
    sections = [s for s in sections if s.blocks]
    if not sections and not faqs:
        raise CorpusError(f"{source or article_id}: no article text found under the title; is it the right file?")
    return Article(
        id=article_id,
        title=title,
        url=url,
        source=source,
        sections=tuple(sections),
        faqs=tuple(faqs),
        faq_anchor=faq_anchor or "frequently-asked-questions",
        related=tuple(dict.fromkeys(related)),
    )


def corpus_files(corpus_dir: Path) -> list[Path]:
    """The article files of a corpus folder, sorted; raises when there are none."""
    corpus_dir = Path(corpus_dir)
    if not corpus_dir.is_dir():
        raise CorpusError(f"corpus folder {corpus_dir} does not exist; pass --corpus DIR with .md articles")
    files = sorted(p for p in corpus_dir.glob("*.md") if p.is_file())
    if not files:
        raise CorpusError(f"corpus folder {corpus_dir} holds no .md articles; add at least one")
    return files


def load_corpus(corpus_dir: Path) -> list[Article]:
    """Ingest every article in a corpus folder."""
    return [
        parse_article(read_corpus_file(p), article_id=p.stem, source=str(p))
        for p in corpus_files(corpus_dir)
    ]


def corpus_sha256(corpus_dir: Path) -> str:
    """One digest over the names and bytes of the corpus files (for staleness checks)."""
    h = hashlib.sha256()
    for p in corpus_files(corpus_dir):
        h.update(p.name.encode())
        h.update(b"\0")
        h.update(p.read_bytes())
        h.update(b"\0")
    return h.hexdigest()
