"""Follow-up questions resolved against the earlier turns, before retrieval.

"how do I treat them?" after "what causes knee spasms?" becomes "how do I treat knee spasms?";
"which muscles?" after "what stretches help knee spasms?" carries that question along. A full
new question is left alone, so old turns never pollute it.
"""

from __future__ import annotations

import re

_PRONOUN = re.compile(r"\b(?:it|its|they|them|their|this|that|these|those|one)\b", re.IGNORECASE)
_LEADING_JOINER = re.compile(r"^(?:and|also|so|but|then|ok(?:ay)?)\b[\s,]*", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9']+")
SHORT_WORDS = 3  # a message this short, with no topic of its own, leans on the conversation


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


class Conversation:
    """Follow-ups for one corpus, whose subject visitors name as `topic` (a regular expression, from
    the corpus profile; "" when unknown: then only short or pronoun-led messages lean on earlier turns)."""

    def __init__(self, topic: str = ""):
        self._topic = re.compile(topic or r"(?!)", re.IGNORECASE)

    def mentions_topic(self, text: str) -> bool:
        """Whether the text names what this corpus is about."""
        return bool(self._topic.search(text))

    def is_follow_up(self, message: str) -> bool:
        """Whether a message needs the earlier turns to make sense."""
        if self._topic.search(message):
            return False
        words = _words(message)
        if len(words) <= SHORT_WORDS:
            return True
        return bool(_PRONOUN.search(message) or _LEADING_JOINER.match(message)
                    or re.match(r"^(?:what|how) (?:if|about)\b", message, re.IGNORECASE))

    def resolve(self, message: str, history: list[str] | None = None) -> str:
        """The question to retrieve for: `message` made self-contained using `history` (oldest first)."""
        message = message.strip()
        if not history or not self.is_follow_up(message):
            return message
        # One pass, oldest first: each earlier turn is resolved against the anchor before it, and the
        # latest turn that has a topic (or stands on its own) becomes the anchor. Linear in the turns,
        # however long the conversation.
        anchor = ""
        for earlier in history:
            earlier = earlier.strip()
            if not _words(earlier):
                continue
            follow_up = self.is_follow_up(earlier)
            resolved = self._attach(earlier, anchor) if follow_up else earlier
            if self._topic.search(resolved) or not follow_up:
                anchor = resolved
        return self._attach(message, anchor)

    def _attach(self, message: str, anchor: str) -> str:
        """A follow-up made self-contained with the anchor question (unchanged without one)."""
        if not anchor:
            return message
        core = _LEADING_JOINER.sub("", message).strip() or message
        topic = self._topic.search(anchor)
        if topic and _PRONOUN.search(core):
            return _PRONOUN.sub(topic.group(0), core, count=1)
        return f"{core} {anchor}"
