"""A visitor's message (+ earlier turns) -> `Answer`: triage, follow-up, retrieval, grounded reply.

Order of decisions: clean the input; empty -> prompt; emergency -> call for help (no retrieved
text); greeting/thanks/help -> short reply and example questions; follow-ups resolved; dosing ->
no numbers, a digit-free passage at most; retrieval with a calibrated threshold -> decline with
the topics covered (and a related article when the page links one) or answer with verbatim,
de-duplicated passages and their section links; red flags add the article's "When to See a
Doctor" guidance first. `finish` is the single exit: it appends the disclaimer to every reply.
"""

from __future__ import annotations

import logging
import re
import unicodedata
from dataclasses import dataclass, replace
from functools import cached_property

from bm25s.stopwords import STOPWORDS_EN_PLUS

from . import messages as M
from .chunking import split_sentences
from .conversation import mentions_topic, resolve
from .retrieval import Retriever
from . import safety
from .safety import GREETING, HELP, THANKS
from .triage import DOSING, EMERGENCY, NONE, PACKAGED, RED_FLAG, SELF_HARM, Triage, Triager, load_model
from .settings import Settings
from .types import Answer, Chunk, Hit, RelatedLink, Source
from .vocabulary import expand_query, is_contraction

log = logging.getLogger(__name__)

DISCLAIMER = M.DISCLAIMER  # kept importable from here for older callers

MAX_PASSAGES = 3
MAX_ANSWER_CHARS = 650  # "a few sentences": stop adding passages beyond this
# Extra passages must score at least this share of the best one. Chosen on dev, out of fold: the
# best F1 of shown against relevant passages (0.85-0.9 tie), taking the lower so fewer answers lose
# their relevant second passage. Re-choose it when retrieval scores change scale.
PASSAGE_RATIO = 0.85
# A question using words the article never uses ("ankle", "contagious") needs a clearly better
# score to be answered: similar wording about the knee is not an answer about the ankle.
# A factor, not a margin, so it follows the threshold when retrieval scores change scale.
UNKNOWN_WORD_FACTOR = 1.3
# A question naming the article's subject (two of its title words, after lay-term expansion)
# with no unknown words is in scope even when phrased unlike any passage.
ON_TOPIC_FACTOR = 0.8
DUPLICATE_OVERLAP = 0.5  # share of a passage's content words already shown -> "says the same thing"
SEARCH_K = 8

# Words a question uses that say nothing about its subject (stemmed forms are compared).
_GENERIC = set("""
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
# Function words (NLTK's English list, as bm25s ships it), which say nothing about a subject either;
# BM25 drops only Lucene's 33, so "all", "so" and "been" would otherwise count as words the article lacks.
_FUNCTION_WORDS = frozenset(STOPWORDS_EN_PLUS)

_CONTROL = {"Cc", "Cs", "Co", "Cn"}  # become spaces
_FORMAT = "Cf"  # zero-width and direction marks, soft hyphens: removed, as they sit inside words
_LABEL = re.compile(r"^([A-Z][\w ,'’/-]{1,40}): (?=\S)")
_DIGIT = re.compile(r"\d")


def clean_message(message: object, limit: int) -> tuple[str, bool]:
    """Printable text, cut to `limit` characters; whether it was cut. Never raises."""
    text = message if isinstance(message, str) else ("" if message is None else str(message))
    text = "".join("" if cat == _FORMAT else " " if cat in _CONTROL else ch
                   for ch, cat in ((ch, unicodedata.category(ch)) for ch in text))
    text = " ".join(text.split())
    if len(text) > limit:
        return text[:limit].rstrip(), True
    return text, False


def _md_escape(text: str) -> str:
    """Headings go inside link text; brackets and emphasis marks must not change the markup."""
    return re.sub(r"([\\\[\]*_`<>])", r"\\\1", text)


def heading_label(chunk: Chunk) -> str:
    return " › ".join(chunk.heading_path[1:]) or chunk.article_title


def passage_text(chunk: Chunk) -> str:
    """What is quoted from a passage: an FAQ's answer without its question."""
    if chunk.kind == "faq" and chunk.question and chunk.text.startswith(chunk.question):
        return chunk.text[len(chunk.question):].strip()
    return chunk.text


@dataclass(frozen=True)
class Decision:
    """Retrieval outcome for one question, before composing (also used by calibration)."""

    hits: tuple[Hit, ...]
    top_score: float
    unknown_words: bool  # the question uses content words the article never uses
    on_topic: bool  # the question names the top article's subject
    related: RelatedLink | None  # a related article the question is about
    forced_decline: bool  # about a related article's subject, not this article's topic

    def answers(self, threshold: float) -> bool:
        if self.forced_decline or not self.hits:
            return False
        factor = UNKNOWN_WORD_FACTOR if self.unknown_words else (ON_TOPIC_FACTOR if self.on_topic else 1.0)
        need = threshold * factor
        return self.top_score >= need


class Answerer:
    """Answers a visitor's message, given the earlier turns of the conversation."""

    def __init__(self, retriever: Retriever, settings: Settings | None = None, triager: Triager | None = None):
        """Without a `triager`, safety triage uses its rules only."""
        self.retriever = retriever
        self.settings = settings or retriever.settings
        self.triager = triager or Triager()

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "Answerer":
        retriever = Retriever.from_settings(settings)
        return cls(retriever, settings, triager_for(retriever))

    # ---- corpus facts, computed once -------------------------------------------------------

    @cached_property
    def _article_ids(self) -> list[str]:
        return list(dict.fromkeys(c.article_id for c in self.retriever.chunks))

    def _stems(self, text: str) -> set[str]:
        return set(self.retriever.lexical.tokenize([text])[0])

    @cached_property
    def _vocab(self) -> set[str]:
        """Stemmed words of the indexed passages (BM25's vocabulary)."""
        return self.retriever.lexical.vocabulary

    @cached_property
    def _known(self) -> set[str]:
        vocab = self._vocab
        return vocab | self._stems(" ".join(_GENERIC))

    @cached_property
    def _known_prefixes(self) -> set[str]:
        # "diagnose" and "diagnostic" stem differently; a shared 6-letter start is the same word family.
        return {s[:6] for s in self._known if len(s) >= 6}

    def _is_known(self, word: str) -> bool:
        stems = self._stems(word) - self._known
        return all(len(s) >= 6 and s[:6] in self._known_prefixes for s in stems)

    def _unknown_words(self, question: str) -> bool:
        """Whether the question has a content word neither the article nor the lay vocabulary knows."""
        words = re.findall(r"[A-Za-z][A-Za-z-]+(?:'[A-Za-z]+)?", question)
        words = [w for w in words if "'" not in w]  # contractions ("don't", "it's") carry no subject
        for i, w in enumerate(words):
            if _is_function_word(w) or self._is_known(w) or _is_lay_term(w):
                continue
            # Part of a multi-word lay term ("charley horse"), which the neighbour alone is not.
            pairs = [(words[j], " ".join(words[j:j + 2]) if j < i else f"{w} {words[j]}")
                     for j in (i - 1, i + 1) if 0 <= j < len(words)]
            if any(_is_lay_term(p) and not _is_lay_term(n) for n, p in pairs):
                continue
            return True
        return False

    def _on_topic(self, question: str, title: str) -> bool:
        title_stems = self._stems(title) - self._stems(" ".join(_GENERIC))
        return len(self._stems(expand_query(self._rewritten(question))) & title_stems) >= 2

    def _rewritten(self, question: str) -> str:
        """The question as the retriever reads it (typos repaired), when it says so."""
        return self.retriever.speller.correct(question)

    @cached_property
    def _related_terms(self) -> list[tuple[RelatedLink, set[str], set[str]]]:
        """Per related link: the distinctive stems (unknown to our articles) and all subject stems."""
        generic = self._stems(
            "causes care dealing symptoms remedies effective methods explained quick solutions easing "
            "prevention relief naturally look like outside heal guide treatment essentials what how does")
        out = []
        for link in self.retriever.index.related:  # the index keeps every article's related links
            stems = self._stems(link.title) - generic
            out.append((link, stems - self._vocab, stems))
        return out

    def _related(self, question: str) -> RelatedLink | None:
        q = self._stems(expand_query(question)) | self._stems(question)
        for link, distinctive, stems in self._related_terms:
            # Prefixes, so "crunch" finds "crunchy" and "menisci" finds "meniscus".
            if any(d[:5] == w[:5] for d in distinctive for w in q if len(w) >= 5) or (stems and stems <= q):
                return link
        return None

    def decide(self, question: str, k: int = SEARCH_K, vector=None) -> Decision:
        """Retrieve and judge scope for a resolved question (the threshold is applied by the caller);
        `vector` is the question's `Retriever.embed` vector when already made."""
        hits = tuple(self.retriever.search(question, k=k, vector=vector))
        related = self._related(question)
        return Decision(
            hits=hits,
            top_score=hits[0].score if hits else 0.0,
            unknown_words=self._unknown_words(self._rewritten(question)),
            on_topic=bool(hits) and self._on_topic(question, hits[0].chunk.article_title),
            related=related,
            forced_decline=bool(related) and not mentions_topic(question),
        )

    # ---- suggestions -----------------------------------------------------------------------

    @cached_property
    def _faq_questions(self) -> set[str]:
        return {c.question for c in self.retriever.chunks if c.kind == "faq" and c.question}

    @cached_property
    def _suggestion_pool(self) -> list[tuple[str, Chunk]]:
        """Questions the article answers, each with the passage it retrieves (checked once)."""
        candidates: list[str] = []
        seen_headings: set[str] = set()
        for c in self.retriever.chunks:
            if c.kind == "faq" and c.question:
                candidates.append(c.question)
                continue
            for h in c.heading_path[1:]:
                if h in seen_headings:
                    continue
                seen_headings.add(h)
                candidates.append(_question_for_heading(h))
        candidates = list(dict.fromkeys(q for q in candidates if q))
        if not candidates:
            return []
        pool = []
        for q, hits in zip(candidates, self.retriever.search_batch(candidates, k=1)):
            if hits and hits[0].score >= self.settings.answer_threshold:
                pool.append((q, hits[0].chunk))
        return pool

    def _suggest(self, shown: list[Chunk], asked: str, n: int = 3) -> tuple[str, ...]:
        pool = self._suggestion_pool
        if not pool:
            return ()
        order = {c.id: i for i, c in enumerate(self.retriever.chunks)}
        shown_sections = {c.heading_path for c in shown}
        asked_stems = self._stems(asked)
        center = order.get(shown[0].id, 0) if shown else 0

        def too_close(q: str) -> bool:
            s = self._stems(q)
            return bool(s) and len(s & asked_stems) / len(s) >= 0.6

        picks = [(abs(order.get(c.id, 0) - center), q, c) for q, c in pool
                 if c.heading_path not in shown_sections and not too_close(q)]
        picks.sort(key=lambda t: t[0])
        out, sections = [], set()
        for _, q, c in picks:  # neighbouring sections first, one question per section
            if c.heading_path in sections:
                continue
            sections.add(c.heading_path)
            out.append(q)
            if len(out) == n:
                break
        faq = next((q for _, q, c in picks if q in self._faq_questions and q not in out), None)
        if faq and out and not any(q in self._faq_questions for q in out):
            out[-1] = faq  # and always one from the FAQ, the questions readers actually ask
        return tuple(out)

    # ---- composing ---------------------------------------------------------------------------

    def _select(self, hits: tuple[Hit, ...], threshold: float, skip: set[str] = frozenset(),
                digit_free: bool = False, max_passages: int = MAX_PASSAGES) -> list[tuple[Chunk, list[str]]]:
        """Top passages (verbatim, as sentences), skipping passages that repeat what is already shown."""
        if not hits:
            return []
        best = hits[0].score
        chosen: list[tuple[Chunk, list[str]]] = []
        shown: set[str] = set()  # content words already on screen
        total = 0
        for hit in hits:
            if len(chosen) == max_passages or total >= MAX_ANSWER_CHARS:
                break
            if chosen and hit.score < max(threshold, best * PASSAGE_RATIO):
                break
            if hit.chunk.id in skip:
                continue
            text = passage_text(hit.chunk)
            if digit_free and _DIGIT.search(text):
                continue
            # Whole passages only: a sentence cut from its passage may lose what "they" refers to.
            stems = self._stems(text)
            if stems and len(stems & shown) / len(stems) >= DUPLICATE_OVERLAP:
                continue
            shown |= stems
            chosen.append((hit.chunk, split_sentences(text)))
            total += len(text)
        return chosen

    @staticmethod
    def _render(chosen: list[tuple[Chunk, list[str]]]) -> str:
        """Passages grouped by section, each group followed by its source link."""
        groups: dict[tuple, list[tuple[Chunk, list[str]]]] = {}
        for chunk, sents in chosen:
            groups.setdefault((chunk.heading_path, chunk.url), []).append((chunk, sents))
        parts = []
        for (_, url), items in groups.items():
            lines, leads = [], set()
            for chunk, sents in items:
                if chunk.kind == "bullet" and chunk.lead.endswith("if:") and chunk.lead not in leads:
                    leads.add(chunk.lead)
                    lines.append(chunk.lead)
                text = " ".join(sents)
                if chunk.kind == "bullet":
                    m = _LABEL.match(text)
                    text = f"**{m.group(1)}:** {text[m.end():]}" if m else text
                    lines.append(f"- {text}")
                else:
                    lines.append(text)
            body = "\n".join(lines) if all(line.startswith("- ") or line.endswith(":") for line in lines) \
                else "\n\n".join(lines)
            label = _md_escape(heading_label(items[0][0]))
            parts.append(f"{body}\n\n{M.SOURCE} [{label}]({url})")
        return "\n\n".join(parts)

    def _red_flag_block(self, article_id: str | None) -> tuple[str, list[Chunk]]:
        chunks = [c for c in self.retriever.chunks
                  if c.heading_path[-1].lower() == "when to see a doctor"
                  and (article_id is None or c.article_id == article_id)]
        if not chunks:
            return f"{M.RED_FLAG_LEAD}\n\n{M.RED_FLAG_FALLBACK}", []
        chunks = [c for c in chunks if c.article_id == chunks[0].article_id]
        bullets = [c for c in chunks if c.kind == "bullet"]
        lead = bullets[0].lead if bullets else ""
        lines = ([f"> {lead}"] if lead else []) + [f"> - {c.text}" for c in bullets]
        lines += [f">\n> {c.text}" for c in chunks if c.kind != "bullet"]
        label = _md_escape(heading_label(chunks[0]))
        return f"{M.RED_FLAG_LEAD}\n\n" + "\n".join(lines) + f"\n\n{M.SOURCE} [{label}]({chunks[0].url})", chunks

    def _topics(self, article_id: str | None) -> str:
        seen: dict[str, str] = {}
        for c in self.retriever.chunks:
            if (article_id is None or c.article_id == article_id) and c.section != "Introduction":
                seen.setdefault(c.section, c.url)
        return "\n".join(f"- [{_md_escape(s)}]({u})" for s, u in seen.items())

    # ---- the single exit -----------------------------------------------------------------------

    def reply(self, message: str, history: list[str] | None = None) -> Answer:
        """`history` is the visitor's earlier messages, oldest first. Never raises."""
        try:
            return self._reply(message, history)
        except Exception as e:  # the visitor still gets a reply, with the disclaimer
            # The type only: an exception's text or traceback may quote the visitor's message.
            log.error("reply failed: %s", type(e).__name__)
            return error_answer()

    def _reply(self, message: str, history: list[str] | None, threshold: float | None = None) -> Answer:
        limit = self.settings.max_question_chars
        question, cut = clean_message(message, limit)
        notices = [M.TOO_LONG] if cut else []
        if not any(ch.isalnum() for ch in question):
            return finish(question, "empty", M.EMPTY, notices=notices,
                                suggestions=self._examples())
        screen = safety.screen(question)
        if screen.category in (GREETING, THANKS, HELP):  # whole-message phrases: nothing else inside
            title = _md_escape(self._title())
            template = {GREETING: M.GREETING, THANKS: M.THANKS, HELP: M.HELP}[screen.category]
            examples = self._examples()
            body = template.format(title=title)
            if examples:
                body += f"\n\n{M.EXAMPLES_LEAD}\n" + "\n".join(f"- {q}" for q in examples)
            return finish(question, "greeting", body, notices=notices, suggestions=examples)
        vector = self.retriever.embed([question])[0]
        verdict = self.triager.assess(question, vector)
        if verdict.category == EMERGENCY:  # nothing else, by design: no article text
            return finish(question, "emergency", M.SELF_HARM if verdict.kind == SELF_HARM else M.EMERGENCY,
                          triage=verdict)
        clean_history = [clean_message(h, limit)[0] for h in (history or [])]
        resolved = resolve(question, clean_history)
        if resolved != question:
            vector = self.retriever.embed([resolved])[0]
            verdict = _merge(verdict, self.triager.assess(resolved, vector))
            if verdict.category == EMERGENCY:
                return finish(question, "emergency", M.SELF_HARM if verdict.kind == SELF_HARM else M.EMERGENCY,
                              triage=verdict)
        if screen.injection:
            notices.append(M.INJECTION)
        threshold = self.settings.answer_threshold if threshold is None else threshold
        decision = self.decide(resolved, vector=vector)
        hits = decision.hits
        article_id = hits[0].chunk.article_id if hits else None
        red_block, red_chunks = self._red_flag_block(article_id) if verdict.red_flag else ("", [])
        if verdict.red_flag:  # the "When to See a Doctor" guidance leads, whatever retrieval found
            notices.append(red_block)

        if verdict.dosing:
            chosen = self._select(hits, threshold, digit_free=True)[:1] if decision.answers(threshold) else []
            body = self._render(chosen)
            return finish(question, "dosing", body, notices=notices + [M.DOSING],
                                sources=_sources(chosen, hits), resolved=resolved, hits=hits, triage=verdict,
                                suggestions=tuple(q for q in self._suggest([c for c, _ in chosen], resolved)
                                                  if not _DIGIT.search(q)))
        if not decision.answers(threshold) and not verdict.red_flag:
            body = f"{M.NOT_FOUND}\n\n{M.TOPICS_LEAD}\n{self._topics(article_id if len(self._article_ids) > 1 else None)}"
            if decision.related:
                link = decision.related
                body += f"\n\n{M.RELATED_LEAD} [{_md_escape(link.title)}]({link.url})"
            return finish(question, "out_of_scope", body, notices=notices, resolved=resolved, hits=hits,
                                suggestions=self._examples(), triage=verdict)
        # With a red flag the quoted guidance leads; one passage of answer is enough beside it.
        chosen = self._select(hits, threshold, skip={c.id for c in red_chunks},
                              max_passages=1 if verdict.red_flag else MAX_PASSAGES) if decision.answers(threshold) else []
        shown = [c for c, _ in chosen] or red_chunks
        sources = _sources(chosen, hits) + tuple(
            Source(id=c.id, section=heading_label(c), url=c.url, score=_score_of(c, hits)) for c in red_chunks)
        return finish(question, "answered", self._render(chosen), notices=notices, sources=sources,
                            suggestions=self._suggest(shown, resolved), resolved=resolved, hits=hits, triage=verdict)

    def _title(self) -> str:
        chunks = self.retriever.chunks
        return chunks[0].article_title if chunks else ""

    def _examples(self) -> tuple[str, ...]:
        try:
            pool = self._suggestion_pool
        except Exception:
            return ()
        seen, out = set(), []
        for q, c in pool:  # one example per section, in article order
            if c.section not in seen:
                seen.add(c.section)
                out.append(q)
        return tuple(out[:3])


def triager_for(retriever: Retriever) -> Triager:
    """Safety triage reading the retriever's question vectors, with the classifier fitted for this
    embedding model: one saved in the index folder, else the packaged one (else the rules alone,
    with a warning)."""
    from .index import same_model

    def fitted_for(fingerprint: dict) -> bool:
        return fingerprint.get("model") == retriever.embedder.name and same_model(fingerprint, retriever.embedder)

    return Triager(load_model([retriever.settings.index_dir, PACKAGED], fitted_for), retriever.embed)


def finish(question: str, status: str, body: str, *, notices=(), sources=(), suggestions=(),
           resolved: str = "", hits=(), triage: Triage | None = None) -> Answer:
    """Every reply, here and in the web app, is built here, so every reply ends with the disclaimer."""
    parts = [n for n in notices if n] + ([body] if body else [])
    text = "\n\n".join(parts + ["---", M.DISCLAIMER])
    return Answer(question=question, status=status, text=text, sources=tuple(sources),
                  notices=tuple(n for n in notices if n), suggestions=tuple(suggestions),
                  disclaimer=M.DISCLAIMER, resolved_question=resolved, hits=tuple(hits), triage=triage)


def error_answer() -> Answer:
    """The apology for a reply that failed; it too ends with the disclaimer."""
    return finish("", "error", M.ERROR)


def _question_for_heading(heading: str) -> str:
    """A visitor's question for a section heading ("When to See a Doctor" -> "When should I see a doctor?")."""
    h = heading.strip()
    if not h or h.lower() in {"frequently asked questions", "introduction"}:
        return ""
    if h.endswith("?"):
        return h
    if m := re.match(r"(?i)^when to (.+)$", h):
        return f"When should I {m.group(1).lower()}?"
    if m := re.match(r"(?i)^symptoms of (.+)$", h):
        return f"What are the symptoms of {m.group(1).lower()}?"
    if h.lower().endswith("s"):
        return f"What are the {h.lower()}?"
    return f"Tell me about {h.lower()}."


def _is_lay_term(text: str) -> bool:
    return expand_query(text) != text


def _is_function_word(word: str) -> bool:
    # Visitors drop apostrophes: "im", "dont" and "theyre" are function words too.
    return word.lower() in _FUNCTION_WORDS or is_contraction(word)


_URGENCY = (NONE, RED_FLAG, DOSING, EMERGENCY)


def _merge(a: Triage, b: Triage) -> Triage:
    """A follow-up keeps the stricter verdict of the message and the resolved question, and both flags."""
    stricter = max((a, b), key=lambda t: _URGENCY.index(t.category))
    return replace(stricter, red_flag=a.red_flag or b.red_flag, dosing=a.dosing or b.dosing)


def _score_of(chunk: Chunk, hits) -> float:
    return next((h.score for h in hits if h.chunk.id == chunk.id), 0.0)


def _sources(chosen, hits) -> tuple[Source, ...]:
    return tuple(Source(id=c.id, section=heading_label(c), url=c.url, score=round(_score_of(c, hits), 6))
                 for c, _ in chosen)
