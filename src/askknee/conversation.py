"""Follow-up questions resolved against the earlier turns, before retrieval.

"how do I treat them?" after "what causes knee spasms?" becomes "how do I treat knee spasms?";
"which muscles?" after "what stretches help knee spasms?" carries that question along. A full
new question is left alone, so old turns never pollute it.
"""

from __future__ import annotations

import re

# What this corpus is about, as visitors name it: the phrase a pronoun stands for.
_TOPIC = re.compile(
    r"\b(?:(?:knee|leg|calf|thigh|hamstring)\s+)?(?:muscle\s+)?"
    r"(?:spasms?|cramps?|cramping|twitch(?:es|ing)?|charley\s+horses?|charlie\s+horses?)\b",
    re.IGNORECASE)
_PRONOUN = re.compile(r"\b(?:it|its|they|them|their|this|that|these|those|one)\b", re.IGNORECASE)
_LEADING_JOINER = re.compile(r"^(?:and|also|so|but|then|ok(?:ay)?)\b[\s,]*", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z0-9']+")
SHORT_WORDS = 3  # a message this short, with no topic of its own, leans on the conversation


def _words(text: str) -> list[str]:
    return _WORD.findall(text)


def mentions_topic(text: str) -> bool:
    """Whether the text names what this corpus is about (spasms, cramps, twitching)."""
    return bool(_TOPIC.search(text))


def is_follow_up(message: str) -> bool:
    """Whether a message needs the earlier turns to make sense."""
    if _TOPIC.search(message):
        return False
    words = _words(message)
    if len(words) <= SHORT_WORDS:
        return True
    return bool(_PRONOUN.search(message) or _LEADING_JOINER.match(message)
                or re.match(r"^(?:what|how) (?:if|about)\b", message, re.IGNORECASE))


def resolve(message: str, history: list[str] | None = None) -> str:
    """The question to retrieve for: `message` made self-contained using `history` (oldest first)."""
    message = message.strip()
    if not history or not is_follow_up(message):
        return message
    # One pass, oldest first: each earlier turn is resolved against the anchor before it, and the
    # latest turn that has a topic (or stands on its own) becomes the anchor. Linear in the turns,
    # however long the conversation.
    anchor = ""
    for earlier in history:
        earlier = earlier.strip()
        if not _words(earlier):
            continue
        follow_up = is_follow_up(earlier)
        resolved = _attach(earlier, anchor) if follow_up else earlier
        if _TOPIC.search(resolved) or not follow_up:
            anchor = resolved
    return _attach(message, anchor)


def _attach(message: str, anchor: str) -> str:
    """A follow-up made self-contained with the anchor question (unchanged without one)."""
    if not anchor:
        return message
    core = _LEADING_JOINER.sub("", message).strip() or message
    topic = _TOPIC.search(anchor)
    if topic and _PRONOUN.search(core):
        phrase = topic.group(0)
        return _PRONOUN.sub(phrase, core, count=1)
    return f"{core} {anchor}"
