"""Hits + safety verdict -> `Answer` (placeholder: issue 3 replaces the internals, keeps the interface)."""

from __future__ import annotations

from .retrieval import Retriever
from .settings import Settings
from .types import Answer, Source

DISCLAIMER = (
    "This tool is not intended to be a substitute for professional medical advice, diagnosis, "
    "or treatment. Always consult a professional before taking any actions."
)


class Answerer:
    """Answers a visitor's message, given the earlier turns of the conversation."""

    def __init__(self, retriever: Retriever, settings: Settings | None = None):
        self.retriever = retriever
        self.settings = settings or retriever.settings

    @classmethod
    def from_settings(cls, settings: Settings | None = None) -> "Answerer":
        return cls(Retriever.from_settings(settings))

    def reply(self, message: str, history: list[str] | None = None) -> Answer:
        """`history` is the visitor's earlier messages, oldest first."""
        message = (message or "").strip()
        if not message:
            return Answer(question=message, status="empty",
                          text=f"Please type a question about the article.\n\n{DISCLAIMER}", disclaimer=DISCLAIMER)
        hit = self.retriever.search(message, k=1)[0]
        src = Source(id=hit.chunk.id, section=hit.chunk.section, url=hit.chunk.url, score=hit.score)
        text = f"{hit.chunk.text}\n\nSource: [{hit.chunk.section}]({hit.chunk.url})\n\n{DISCLAIMER}"
        return Answer(question=message, status="answered", text=text, sources=(src,), disclaimer=DISCLAIMER)
