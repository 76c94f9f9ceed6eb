"""The web chat: a Gradio UI over `Answerer`, a `/chat` API with per-session memory, and the ASGI app.

`make_chat(answerer)` is the plain handler (tests call it without a server); `build_demo` wires it
into Gradio; `build_app` mounts the demo on FastAPI with the frame-ancestors policy; `launch` serves it.
Privacy: analytics off, no share links, run history off, nothing a visitor types is logged or written.
"""

from __future__ import annotations

import json
import logging
import os
import re
import threading
import time
from collections import Counter
from pathlib import Path

from .answering import Answerer, error_answer
from .messages import DISCLAIMER, DISCLAIMER_SHORT, TYPED_LIMIT
from .public import PublicGuard
from .settings import Settings
from .types import Answer

log = logging.getLogger(__name__)

STATIC = Path(__file__).parent / "static"
MAX_API_TURNS = 10  # visitor messages kept per API session: enough for follow-ups, bounded memory
MAX_TYPED = 4000  # characters the page sends at most; the reply reads the first 1,000 and says so
API_SESSION_TTL = 3600  # seconds an idle API conversation is kept in memory
# Every ASCII punctuation character can be backslash-escaped in CommonMark.
_MD_PUNCT = r"""!"#$%&'()*+,\-./:;<=>?@\[\\\]^_`{|}~"""


# --- visitor text -----------------------------------------------------------------------------

def escape_visitor_text(text: str) -> str:
    """Markdown/HTML-inert form of what a visitor typed, so the chat shows it literally."""
    return re.sub(f"([{_MD_PUNCT}])", r"\\\1", text)


def unescape_visitor_text(text: str) -> str:
    return re.sub(f"\\\\([{_MD_PUNCT}])", r"\1", text)


def _content_text(content) -> str:
    """Text of a message's content in any of Gradio's shapes (str, part dict, list of parts)."""
    if isinstance(content, str):
        return content
    if isinstance(content, dict):
        return str(content.get("text") or "") if content.get("type", "text") == "text" else ""
    if isinstance(content, (list, tuple)):
        return "".join(_content_text(c) for c in content)
    return ""


def visitor_messages(history) -> list[str]:
    """The visitor's earlier messages, oldest first, from Gradio's messages-format history."""
    out = []
    for msg in history or []:
        if isinstance(msg, dict) and msg.get("role") == "user":
            text = unescape_visitor_text(_content_text(msg.get("content"))).strip()
            if text:
                out.append(text)
    return out


def bot_messages(history) -> list[str]:
    """The replies shown so far, from Gradio's messages-format history."""
    return [_content_text(m.get("content")) for m in history or []
            if isinstance(m, dict) and m.get("role") == "assistant"]


# --- handlers -----------------------------------------------------------------------------------

def safe_reply(answerer: Answerer, message: str, history: list[str], shown=frozenset()) -> Answer:
    """`answerer.reply`, turning an unexpected failure into an apology (the disclaimer still ends it)."""
    try:
        return answerer.reply(message, history, shown)
    except Exception as e:  # noqa: BLE001 - a visitor must get a reply, whatever broke
        # The type only: an exception's text may quote the visitor's message.
        log.error("reply failed: %s", type(e).__name__)
        return error_answer()


def chat_answer(answerer: Answerer, message: str, history: list | None) -> Answer:
    """The answer to a chat message (as the UI escaped it) given Gradio's messages-format history
    (the passages earlier replies showed are read back from their links, not shown again)."""
    shown = answerer.shown_in(bot_messages(history))
    return safe_reply(answerer, unescape_visitor_text(message or ""), visitor_messages(history), shown)


def make_chat(answerer: Answerer):
    """The chat handler `chat(message, history) -> str`: the reply's markdown (answer, sources, disclaimer)."""

    def chat(message: str, history: list | None = None) -> str:
        return chat_answer(answerer, message, history).text

    return chat


def reply_message(answer: Answer) -> dict:
    """The chatbot message for an answer: markdown text plus its follow-ups as clickable options. The
    disclaimer ends it as one short, muted line (its first sentence); the page's footer has it whole."""
    text = answer.text
    if answer.disclaimer and text.endswith(answer.disclaimer):
        text = text[: -len(answer.disclaimer)] + DISCLAIMER_SHORT
    msg: dict = {"role": "assistant", "content": text}
    if answer.suggestions:
        msg["options"] = [{"value": s, "label": s} for s in answer.suggestions]
    return msg


class Feedback:
    """Like/dislike tallies in memory, optionally appended to a JSON-lines file (no visitor text)."""

    def __init__(self, path: str | Path | None = None):
        self.path = Path(path) if path else None
        self.counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def record(self, liked: bool, reply: str = "") -> None:
        kind = "like" if liked else "dislike"
        # Only the article links the reply cited: the reply can echo the visitor, the links cannot.
        sources = sorted(set(re.findall(r"\]\((https?://[^)\s]+)\)", reply or "")))
        with self._lock:
            self.counts[kind] += 1
            if self.path:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as f:
                    f.write(json.dumps({"time": int(time.time()), "vote": kind, "sources": sources}) + "\n")


# --- page -----------------------------------------------------------------------------------------

def _article(answerer: Answerer) -> tuple[str, str]:
    chunks = answerer.retriever.chunks
    titles = {(c.article_title, c.url.split("#")[0]) for c in chunks}
    if len(titles) == 1:
        return next(iter(titles))
    return f"{len(titles)} health articles", ""


def page_title(answerer: Answerer) -> str:
    """The page's heading: the corpus profile's title, else "Ask about" the article."""
    return answerer.profile.title or f"Ask about {_article(answerer)[0]}"


def faq_examples(answerer: Answerer, n: int = 4) -> list[str]:
    """The corpus profile's example questions, else the first FAQ questions of the corpus."""
    if answerer.profile.examples:
        return list(answerer.profile.examples[:n])
    seen: list[str] = []
    for c in answerer.retriever.chunks:
        if c.kind == "faq" and c.question and c.question not in seen:
            seen.append(c.question)
    return seen[:n]


# The page's own style and behaviour (scrolling to each new reply, the character count, focus, the
# header on phones), inline in its <head>: the page loads nothing from other hosts, and Gradio's
# `css=` would scope the rules inside its container, out of reach of the page's margins and body.
HEAD = ("<style>" + (STATIC / "askknee.css").read_text(encoding="utf-8") + "</style><script>"
        + (STATIC / "askknee.js").read_text(encoding="utf-8").replace("__LIMIT__", "1000")
        .replace("__NOTICE__", json.dumps(TYPED_LIMIT)) + "</script>")


def _theme():
    import gradio as gr

    # System fonts only: a web font from a CDN would leak visitors' addresses and stall offline.
    system = ["system-ui", "-apple-system", "Segoe UI", "Roboto", "Helvetica Neue", "Arial", "sans-serif"]
    mono = ["ui-monospace", "SFMono-Regular", "Menlo", "Consolas", "monospace"]
    return gr.themes.Default(primary_hue="teal", font=system, font_mono=mono)


def build_demo(answerer: Answerer | None = None, settings: Settings | None = None, feedback: Feedback | None = None):
    """The Gradio Blocks: header, chat (examples, follow-ups, retry/undo, votes), disclaimer, `/chat` API."""
    import gradio as gr

    settings = settings or Settings()
    answerer = answerer or Answerer.from_settings(settings)
    feedback = feedback or Feedback(settings.feedback_file or None)
    title, url = _article(answerer)
    article = f"[{title}]({url})" if url else title

    def respond(message: str, history: list):
        return reply_message(chat_answer(answerer, message, history))

    def api_chat(message: str, state: dict) -> tuple[str, dict]:
        # Over the API the conversation lives in this per-session State (server memory, TTL-bounded):
        # the visitor's messages and the passages shown, never the replies' text.
        message = message or ""
        state = state if isinstance(state, dict) else {}
        turns, shown = list(state.get("turns", [])), set(state.get("shown", []))
        answer = safe_reply(answerer, message, turns, shown)
        if message.strip():
            turns = (turns + [message.strip()])[-MAX_API_TURNS:]
            shown |= {s.id for s in answer.sources}
        return answer.text, {"turns": turns, "shown": sorted(shown)}

    def on_like(data):
        feedback.record(bool(data.liked), _content_text(data.value))

    on_like.__annotations__ = {"data": gr.LikeData}  # resolved here: Gradio injects LikeData by type

    class _ChatInterface(gr.ChatInterface):
        """ChatInterface that shows visitor messages literally (never as live HTML or markdown)."""

        def _append_message_to_history(self, message, history, role="user"):
            if role == "user" and isinstance(message, str):
                message = escape_visitor_text(unescape_visitor_text(message))
            return super()._append_message_to_history(message, history, role)

        def _pop_last_user_message(self, history):
            history, message = super()._pop_last_user_message(history)
            return history, unescape_visitor_text(message) if isinstance(message, str) else message

    title = page_title(answerer)
    with gr.Blocks(title=title, fill_height=True, fill_width=True, analytics_enabled=False) as demo:
        gr.Markdown(
            f"# {title}\nAnswers come only from the article {article}, each with a link to its section.",
            elem_id="askknee-header",
        )
        chatbot = gr.Chatbot(
            label="Conversation", show_label=False, scale=1, height="60vh", min_height=280, autoscroll=False,
            sanitize_html=True, render_markdown=True, latex_delimiters=[], allow_tags=False,
            feedback_options=("Like", "Dislike"), buttons=["copy"], elem_id="askknee-chat",
            placeholder=answerer.profile.placeholder,
        )
        chatbot.like(on_like, None, None, api_visibility="private", queue=False)
        chat_ui = _ChatInterface(
            respond, chatbot=chatbot,
            # The reply reads the first 1,000 characters (and says so); the page counts them as they are typed.
            textbox=gr.Textbox(placeholder="Type your question…", label="Your question about the article",
                               show_label=False, max_length=MAX_TYPED, elem_id="askknee-input",
                               submit_btn=True, stop_btn=False, autofocus=False),
            examples=faq_examples(answerer) or None, run_examples_on_click=True, cache_examples=False,
            api_name="chat_ui", api_visibility="private", fill_height=True, flagging_mode="never",
            analytics_enabled=False,
        )
        gr.Markdown(f"**Disclaimer.** {DISCLAIMER}", elem_id="askknee-disclaimer")
        # The program API: `Client(url).predict(message, api_name="/chat")`.
        api_in = gr.Textbox(visible=False, label="message")
        api_out = gr.Textbox(visible=False, label="reply")
        turns = gr.State({"turns": [], "shown": []}, time_to_live=API_SESSION_TTL)
        api_btn = gr.Button(visible=False)
        api_btn.click(api_chat, [api_in, turns], [api_out, turns], api_name="chat",
                      api_description="Ask a question; successive calls from one client are one conversation.")
    # api_open=False: the chat runs only through the queue, so its limits hold for every caller.
    demo.queue(default_concurrency_limit=settings.concurrency, max_size=settings.max_queue, api_open=False)
    demo.askknee_feedback = feedback  # type: ignore[attr-defined]  # for tests and operators
    demo.askknee_chat = chat_ui  # type: ignore[attr-defined]
    return demo


# --- serving ---------------------------------------------------------------------------------------

def build_app(demo=None, settings: Settings | None = None):
    """FastAPI app: the chat at `/`, the example host page, and `/gradio.js` for `<gradio-app>` embedding."""
    import gradio as gr
    from fastapi import FastAPI
    from fastapi.responses import FileResponse

    settings = settings or Settings()
    demo = demo or build_demo(settings=settings)
    app = FastAPI(docs_url=None, redoc_url=None, openapi_url=None)

    @app.get("/embed-example.html", include_in_schema=False)
    def embed_example():
        return FileResponse(STATIC / "embed-example.html")

    @app.get("/gradio.js", include_in_schema=False)
    def web_component():
        # Gradio's `<gradio-app>` loader, served here so host pages need no CDN; it imports ./assets/…
        return FileResponse(Path(gr.__file__).parent / "templates" / "frontend" / "gradio.js",
                            media_type="text/javascript")

    app = gr.mount_gradio_app(
        app, demo, path="/", server_name=settings.host, server_port=settings.port,
        root_path=settings.root_path or None, footer_links=[], run_history=False,
        theme=_theme(), head=HEAD, mcp_server=False, ssr_mode=False, pwa=False,
    )
    queue = getattr(demo, "_queue", None)
    sessions = (lambda: queue.pending_messages_per_session) if queue is not None else None
    return PublicGuard(app, frame_ancestors=settings.frame_ancestors, allowed_origins=settings.allowed_origins,
                       expose_internals=settings.expose_internals, queue_sessions=sessions)


def launch(host: str | None = None, port: int | None = None) -> None:
    """Serve the chat (blocking). Loads the index (rebuilt only when stale) and warms the model first."""
    import uvicorn

    settings = Settings.from_env().with_(host=host, port=port)
    # Libraries Gradio loads while serving keep font lists and such in the visitor-free project cache,
    # not in the home folder.
    os.environ.setdefault("MPLCONFIGDIR", str(settings.cache_dir / "matplotlib"))
    started = time.perf_counter()
    answerer = Answerer.from_settings(settings)
    answerer.warm_up()  # loads the model, the suggestions and the scope judge's words now, not on a visitor's question
    answerer.reply((faq_examples(answerer, 1) or [_article(answerer)[0]])[0])  # and the rest of a reply's path
    app = build_app(build_demo(answerer, settings), settings)
    print(f"askknee: ready in {time.perf_counter() - started:.1f}s on http://{settings.host}:{settings.port}"
          f"{settings.root_path}/", flush=True)
    # No access log: it would record visitors' addresses; request bodies are never logged.
    uvicorn.run(app, host=settings.host, port=settings.port, access_log=False, log_level="warning")
