"""The Gradio chat app (placeholder until the chat UI lands)."""

from __future__ import annotations

import os


def build_demo():
    import gradio as gr

    from .retrieval import Retriever

    retriever = Retriever.from_settings()

    def chat(message, history):
        hits = retriever.search(message, k=1) if message.strip() else []
        return hits[0].chunk.text if hits else "Please type a question about the article."

    return gr.ChatInterface(chat, title="Ask about knee muscle spasms", api_name="chat")


def launch(host: str | None = None, port: int | None = None) -> None:
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    build_demo().launch(
        server_name=host or os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"),
        server_port=port or int(os.environ.get("GRADIO_SERVER_PORT", "7860")),
    )
