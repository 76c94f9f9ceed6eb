"""A visitor's message (+ earlier turns) -> `Answer`, in named steps:

1. clean the message (`clean_message`); nothing typed is ever echoed as markup;
2. small talk (`safety.screen`): greetings, thanks, "what can you do?";
3. safety triage (`Triager`): emergency -> call for help, nothing else; dosing and red flags noted;
4. follow-ups resolved against earlier turns (`conversation.resolve`);
5. retrieval (`Retriever`), one embedding shared with triage;
6. scope (`ScopeJudge`): answer, clarify or decline, and the words the article does not cover;
7. compose (`Composer`, `Suggester`): verbatim passages with their section links, the red-flag
   guidance first, no passage the conversation already showed; `compose.finish` is the single exit,
   which ends every reply with the article's disclaimer.
"""

from __future__ import annotations

import logging
import unicodedata
from dataclasses import dataclass, replace
from functools import cached_property

from . import messages as M
from . import safety
from .compose import Composer, error_answer, finish, has_digit, md_escape, sources
from .conversation import Conversation
from .retrieval import Query, Retriever
from .safety import GREETING, HELP, THANKS
from .scope import ANSWER, CLARIFY, DECLINE, Nearness, Scope, ScopeJudge, Terms
from .scope import PACKAGED as SCOPE_PACKAGED
from .scope import load_model as load_scope
from .params import Params
from .profile import Profile
from .settings import Settings
from .suggest import Suggester
from .triage import DOSING, EMERGENCY, NONE, PACKAGED, RED_FLAG, SELF_HARM, Triage, Triager, load_model
from .types import Answer, Chunk, RelatedLink

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000  # what a reply reads of a message; the rest is cut, with a notice
SEARCH_K = 8
CLARIFY_PASSAGES = 2

_CONTROL = {"Cc", "Cs", "Co", "Cn"}  # become spaces
_FORMAT = "Cf"  # zero-width and direction marks, soft hyphens: removed, as they sit inside words


def clean_message(message: object, limit: int) -> tuple[str, bool]:
    """Printable text, cut to `limit` characters; whether it was cut. Never raises."""
    text = message if isinstance(message, str) else ("" if message is None else str(message))
    text = "".join("" if cat == _FORMAT else " " if cat in _CONTROL else ch
                   for ch, cat in ((ch, unicodedata.category(ch)) for ch in text))
    text = " ".join(text.split())
    if len(text) > limit:
        return text[:limit].rstrip(), True
    return text, False


class RelatedArticles:
    """Whether a question is about an article the page links to (a torn meniscus, crunchy knees)."""

    _GENERIC = ("causes care dealing symptoms remedies effective methods explained quick solutions easing "
                "prevention relief naturally look like outside heal guide treatment essentials what how does")

    def __init__(self, links: list[RelatedLink], stem, vocabulary: set[str], expand):
        generic = stem(self._GENERIC)
        self.expand = expand
        self._terms = []
        for link in links:
            stems = stem(link.title) - generic
            self._terms.append((link, stems - vocabulary, stems))
        self.stem = stem

    def about(self, question: str) -> RelatedLink | None:
        q = self.stem(self.expand(question)) | self.stem(question)
        for link, distinctive, stems in self._terms:
            # Prefixes, so "crunch" finds "crunchy" and "menisci" finds "meniscus".
            if any(d[:5] == w[:5] for d in distinctive for w in q if len(w) >= 5) or (stems and stems <= q):
                return link
        return None


@dataclass(frozen=True)
class Decision:
    """Retrieval and scope for one question, before composing."""

    hits: tuple
    scope: Scope
    related: RelatedLink | None  # a related article the question is about
    forced_decline: bool  # about a related article's subject, not this article's topic

    @property
    def outcome(self) -> str:
        return DECLINE if self.forced_decline or not self.hits else self.scope.outcome


class Answerer:
    """Answers a visitor's message, given the earlier turns of the conversation."""

    def __init__(self, retriever: Retriever, params: Params | None = None, triager: Triager | None = None,
                 scope: ScopeJudge | None = None, profile: Profile | None = None):
        """`params` default to the retriever's. Without a `triager` safety triage uses its rules only;
        without a `scope` judge the top score against `answer_threshold` decides between answering
        and declining. `profile` defaults to the retriever's (the corpus's)."""
        self.retriever = retriever
        self.profile = profile or retriever.profile
        self.conversation = Conversation(self.profile.topic_pattern())
        self.params = params or retriever.params
        self.triager = triager or Triager()
        self.scope = scope or ScopeJudge(terms_for(retriever), threshold=self.params.answer_threshold)
        self.composer = Composer(retriever.chunks, self._stems, self.params.passage_ratio)
        self.suggester = Suggester(retriever.chunks, lambda qs: retriever.search_batch(qs, k=1), retriever.embed,
                                   self._stems, self.params.answer_threshold)
        self.related = RelatedArticles(retriever.related, self._stems, retriever.corpus_stems, retriever.vocabulary.expand)

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "Answerer":
        settings = settings or Settings()
        retriever = Retriever.from_settings(settings)
        return cls(retriever, None, triager_for(retriever, settings.index_dir), judge_for(retriever, settings.index_dir))

    def warm_up(self) -> None:
        """Load the model and everything built on first use, so no visitor waits for it."""
        self.retriever.embed(["warm up"])
        self.suggester.warm_up()
        if self.scope.nearness is not None:
            self.scope.nearness.warm_up()

    def _stems(self, text: str) -> set[str]:
        return self.retriever.stems(text)

    @cached_property
    def _several_articles(self) -> bool:
        return len({c.article_id for c in self.retriever.chunks}) > 1

    def decide(self, query: Query, k: int = SEARCH_K) -> Decision:
        """Retrieve and judge scope for a resolved question, read by `Retriever.query`."""
        question = query.text
        hits = tuple(self.retriever.rank(query, k=k))
        related = self.related.about(question)
        return Decision(hits, self.scope.judge(question, hits, query.vector), related,
                        forced_decline=bool(related) and not self.conversation.mentions_topic(question))

    def reply(self, message: str, history: list[str] | None = None, shown: set[str] | frozenset = frozenset()) -> Answer:
        """`history` is the visitor's earlier messages, oldest first; `shown` the passages earlier
        replies showed (not shown again unless asked again). Never raises."""
        try:
            return self._reply(message, history or [], set(shown))
        except Exception as e:  # the visitor still gets a reply, with the disclaimer
            # The type only: an exception's text or traceback may quote the visitor's message.
            log.error("reply failed: %s", type(e).__name__)
            return error_answer()

    def shown_in(self, replies: list[str]) -> set[str]:
        """The passages earlier replies (their markdown) showed."""
        return self.composer.shown_in(replies)

    def converse(self, turns: list[str]) -> list[Answer]:
        """Replies to a conversation's messages in turn, each knowing what the earlier replies showed."""
        out, shown = [], set()
        for i, turn in enumerate(turns):
            out.append(self.reply(turn, turns[:i], shown))
            shown |= {s.id for s in out[-1].sources}
        return out

    def _reply(self, message: str, history: list[str], shown: set[str]) -> Answer:
        # 1. clean: printable text, cut to what a reply reads
        question, cut = clean_message(message, MAX_QUESTION_CHARS)
        notices = [M.TOO_LONG] if cut else []
        if not any(ch.isalnum() for ch in question):
            return finish(question, "empty", M.EMPTY, notices=notices, suggestions=self.suggester.examples())
        # 2. screen: greetings and thanks, attempts to instruct the bot
        screen = safety.screen(question)
        if screen.category in (GREETING, THANKS, HELP):  # whole-message phrases: nothing else inside
            return self._small_talk(question, screen.category, notices)
        # 3. read: rewritten and embedded once; 4. triage on the message itself
        query = self.retriever.query(question)
        verdict = self.triager.assess(question, query.vector)
        # 5. resolve a follow-up against the earlier turns (triaged too: the stricter verdict holds)
        earlier = [clean_message(h, MAX_QUESTION_CHARS)[0] for h in history]
        resolved = self.conversation.resolve(question, earlier)
        if resolved != question and verdict.category != EMERGENCY:
            query = self.retriever.query(resolved)
            verdict = _merge(verdict, self.triager.assess(resolved, query.vector))
        if verdict.category == EMERGENCY:  # nothing else, by design: no article text
            return finish(question, "emergency", M.SELF_HARM if verdict.kind == SELF_HARM else M.EMERGENCY,
                          triage=verdict)
        if screen.injection:
            notices.append(M.INJECTION)
        # 6. retrieve and 7. judge scope; 8. compose, 9. suggest and 10. finish (with the disclaimer)
        decision = self.decide(query)
        return self._compose(question, resolved, query.vector, verdict, decision, notices, earlier, shown)

    def _small_talk(self, question: str, category: str, notices: list[str]) -> Answer:
        chunks = self.retriever.chunks
        title = md_escape(chunks[0].article_title if chunks else "")
        examples = self.suggester.examples()
        body = {GREETING: M.GREETING, THANKS: M.THANKS, HELP: M.HELP}[category].format(title=title)
        if examples:
            body += f"\n\n{M.EXAMPLES_LEAD}\n" + "\n".join(f"- {q}" for q in examples)
        return finish(question, "greeting", body, notices=notices, suggestions=examples)

    def _compose(self, question, resolved, vector, verdict: Triage, decision: Decision, notices: list[str],
                 earlier: list[str], shown: set[str]) -> Answer:
        hits, scope, outcome = decision.hits, decision.scope, decision.outcome
        article_id = hits[0].chunk.article_id if hits else None
        asked = earlier + [resolved]
        # Asked again: what was shown may be shown again.
        skip = set() if any(resolved.lower() == e.lower() for e in earlier) else set(shown)
        red_chunks: list[Chunk] = []
        if verdict.red_flag:  # the "When to See a Doctor" guidance leads, whatever retrieval found
            red_text, red_chunks = self.composer.red_flag(article_id)
            notices.append(red_text)
            skip |= {c.id for c in red_chunks}
        missing = scope.missing[:1]
        if missing:
            notices.append(M.MISSING.format(topic=missing[0]))
        common = dict(resolved=resolved, hits=hits, triage=verdict, scope=scope)

        if verdict.dosing:
            chosen = (self.composer.select(hits, resolved, skip=skip, digit_free=True, max_passages=1)
                      if outcome != DECLINE else [])
            suggestions = tuple(q for q in self.suggester.follow_ups(chosen, asked) if not has_digit(q))
            return finish(question, "dosing", self.composer.render(chosen, fragments=False), notices=notices + [M.DOSING],
                          sources=sources(chosen, hits), suggestions=suggestions, **common)
        if outcome == DECLINE and not verdict.red_flag:
            topics = self.composer.topics(article_id if self._several_articles else None)
            body = f"{M.NOT_FOUND}\n\n{M.TOPICS_LEAD}\n{topics}"
            if decision.related:
                link = decision.related
                body += f"\n\n{M.RELATED_LEAD} [{md_escape(link.title)}]({link.url})"
            return finish(question, "out_of_scope", body, notices=notices, suggestions=self.suggester.examples(),
                          **common)
        if outcome == ANSWER and not missing:
            # With a red flag the quoted guidance leads; one passage of answer is enough beside it.
            chosen = self._select(hits, resolved, skip, red_chunks, max_passages=1 if verdict.red_flag else 3)
            body = self.composer.render(chosen)
            return finish(question, "answered", body, notices=notices, sources=sources(chosen, hits) + sources(
                red_chunks, hits), suggestions=self.suggester.follow_ups(chosen or red_chunks, asked), **common)
        # Clarify: the closest passages, introduced as such, and questions the article does answer.
        chosen = [] if outcome == DECLINE else self._select(
            hits, resolved, skip, red_chunks, max_passages=1 if verdict.red_flag else CLARIFY_PASSAGES, ratio=0.0)
        body = f"{M.CLOSEST}\n\n{self.composer.render(chosen)}" if chosen else ""
        status = "answered" if verdict.red_flag and not chosen else CLARIFY
        return finish(question, status, body, notices=notices, sources=sources(chosen, hits) + sources(red_chunks, hits),
                      suggestions=self.suggester.did_you_mean(vector, asked), **common)


    def _select(self, hits, question: str, skip: set[str], red_chunks: list[Chunk], **options) -> list[Chunk]:
        """The passages to show, leaving out those the conversation showed; when only those answer,
        they are shown again rather than nothing."""
        return (self.composer.select(hits, question, skip=skip, **options)
                or self.composer.select(hits, question, skip={c.id for c in red_chunks}, **options))


def terms_for(retriever: Retriever) -> Terms:
    """The corpus's words as the retriever's lexical index and speller know them."""
    return Terms(retriever.stems, retriever.corpus_stems, retriever.fix_word, retriever.vocabulary.expand)


def judge_for(retriever: Retriever, index_dir) -> ScopeJudge:
    """The scope judge fitted for this embedding model: one saved in the index folder, else the
    packaged one (else the top score alone, with a warning)."""
    from .chunking import search_text

    model = load_scope([index_dir, SCOPE_PACKAGED], _fitted_for(retriever))
    fitted_ratio = (model.meta.get("fitted_with") or {}).get("passage_ratio") if model is not None else None
    if fitted_ratio is not None and abs(fitted_ratio - retriever.params.passage_ratio) > 1e-9:
        log.warning("askknee: the scope judge's answer threshold was chosen with passage_ratio %s, this index's "
                    "params.json has %s; set it to %s or refit with `askknee fit-scope --out %s`", fitted_ratio,
                    retriever.params.passage_ratio, fitted_ratio, index_dir)
    nearness = Nearness(retriever.embedder.encode, [search_text(c) for c in retriever.chunks])
    return ScopeJudge(terms_for(retriever), model, nearness, threshold=retriever.params.answer_threshold)


def triager_for(retriever: Retriever, index_dir) -> Triager:
    """Safety triage reading the retriever's question vectors, with the classifier fitted for this
    embedding model: one saved in the index folder, else the packaged one (else the rules alone,
    with a warning)."""
    return Triager(load_model([index_dir, PACKAGED], _fitted_for(retriever)), retriever.embed)


def _fitted_for(retriever: Retriever):
    from .index import same_model

    def check(fingerprint: dict) -> bool:
        return fingerprint.get("model") == retriever.embedder.name and same_model(fingerprint, retriever.embedder)
    return check


_URGENCY = (NONE, RED_FLAG, DOSING, EMERGENCY)


def _merge(a: Triage, b: Triage) -> Triage:
    """A follow-up keeps the stricter verdict of the message and the resolved question, and both flags."""
    stricter = max((a, b), key=lambda t: _URGENCY.index(t.category))
    return replace(stricter, red_flag=a.red_flag or b.red_flag, dosing=a.dosing or b.dosing)

