"""The web chat without a server: the handler, visitor-text escaping, feedback, page assets and headers."""

from __future__ import annotations

import re

import pytest
from hypothesis import given
from hypothesis import strategies as st

from askknee.settings import Settings
from askknee import messages as M
from askknee import web
from askknee.answering import Answerer
from askknee.types import Answer

DOCUS_LINK = re.compile(r"\]\(https://docus\.ai/[^)\s]+\)")

KNEE_TITLE = "Ask about knee muscle spasms"  # corpus/askknee.toml


@pytest.fixture(scope="module")
def answerer(fake_settings):
    return Answerer.from_settings(fake_settings)


@pytest.fixture(scope="module")
def chat(answerer):
    return web.make_chat(answerer)


class Recorder:
    """An answerer that records what it was asked; `retriever` gives the page its article and examples."""

    def __init__(self, retriever, suggestions=("How can I prevent knee spasms?",)):
        self.retriever = retriever
        self.profile = retriever.profile
        self.calls: list[tuple[str, list[str]]] = []
        self.suggestions = tuple(suggestions)

    def reply(self, message, history=None, shown=()):
        self.calls.append((message, list(history or [])))
        return Answer(question=message, status="answered", text=f"Echo.\n\n{web.DISCLAIMER}",
                      suggestions=self.suggestions, disclaimer=web.DISCLAIMER)

    def shown_in(self, replies):
        return set()


# --- the handler, per reply kind ------------------------------------------------------------------

@pytest.mark.parametrize("message, status", [
    ("", "empty"),
    ("   ", "empty"),
    # the article's own FAQ questions: answered whatever the embedder (these tests use the hashing one)
    ("Why do knee spasms happen?", "answered"),
    ("How can I relieve a muscle spasm in my knee?", "answered"),
    ("I have crushing chest pain and can't breathe", "emergency"),
    ("How many mg of ibuprofen should I take for a knee spasm?", "dosing"),
    ("What is the capital of France?", "out_of_scope"),
    ("hello", "greeting"),
])
def test_each_reply_kind_is_markdown_ending_with_the_disclaimer(chat, answerer, message, status):
    text = chat(message, [])
    assert isinstance(text, str) and text.strip()
    assert text.rstrip().endswith(web.DISCLAIMER)
    assert answerer.reply(message).status == status
    if status == "answered":
        assert DOCUS_LINK.search(text), "an answer links to its article section"
    if status == "emergency":
        assert not DOCUS_LINK.search(text), "an emergency reply quotes no passage"


def test_handler_passes_the_visitors_earlier_messages_oldest_first(fake_retriever):
    rec = Recorder(fake_retriever)
    history = [
        {"role": "user", "content": "why do knees spasm?"},
        {"role": "assistant", "content": "Because… [FAQ](https://docus.ai/x#faq)"},
        {"role": "user", "content": [{"type": "text", "text": "and at night\\?"}]},  # Gradio 6 parts, escaped
        {"role": "assistant", "content": [{"type": "text", "text": "At night…"}]},
    ]
    out = web.make_chat(rec)("how do I treat them?", history)
    assert out.endswith(web.DISCLAIMER)
    assert rec.calls == [("how do I treat them?", ["why do knees spasm?", "and at night?"])]


def test_a_failing_answerer_still_gets_an_apology_and_the_disclaimer_without_logging_the_message(
        fake_retriever, caplog):
    class Broken(Recorder):
        def reply(self, message, history=None, shown=()):
            raise RuntimeError(f"boom on {message}")

    out = web.make_chat(Broken(fake_retriever))("my private question", [])
    assert out.endswith(web.DISCLAIMER) and M.ERROR in out
    assert "my private question" not in caplog.text and "RuntimeError" in caplog.text


def test_reply_message_offers_follow_ups_as_clickable_options(fake_retriever):
    msg = web.reply_message(Recorder(fake_retriever).reply("x"))
    assert msg["role"] == "assistant" and msg["content"].endswith(M.DISCLAIMER_SHORT)
    assert msg["options"] == [{"value": "How can I prevent knee spasms?", "label": "How can I prevent knee spasms?"}]
    assert "options" not in web.reply_message(Recorder(fake_retriever, suggestions=()).reply("x"))


# --- visitor text is shown literally ------------------------------------------------------------

@given(st.text(max_size=200))
def test_escaping_round_trips(text):
    assert web.unescape_visitor_text(web.escape_visitor_text(text)) == text


@pytest.mark.parametrize("typed", [
    "<img src=x onerror=alert(1)>", "<script>alert(1)</script>", "[click](javascript:alert(1))",
    "![x](https://evil.example/p.png)", "**bold** `code` &lt;", "<b>hi</b>",
])
def test_escaped_visitor_text_has_no_live_markup(typed):
    out = web.escape_visitor_text(typed)
    assert not re.search(r"(?<!\\)[<>\[\]()!*`&]", out), out


@pytest.mark.slow
def test_ui_shows_escaped_user_messages_and_hands_the_answerer_plain_text(fake_retriever):
    rec = Recorder(fake_retriever)
    demo = web.build_demo(rec, Settings())
    ci = demo.askknee_chat
    history = ci._append_message_to_history("<b>why</b> do knees spasm?", [], "user")
    assert history[-1]["content"] == web.escape_visitor_text("<b>why</b> do knees spasm?")
    # a retry pops the escaped message back to plain text, and re-appending does not double-escape
    _, popped = ci._pop_last_user_message([{"role": "user", "content": [{"type": "text", "text": history[-1]["content"]}]}])
    assert popped == "<b>why</b> do knees spasm?"
    assert ci._append_message_to_history(history[-1]["content"], [], "user") == history


# --- page configuration ------------------------------------------------------------------------------

@pytest.mark.slow
def test_demo_has_examples_from_the_faq_a_chat_api_and_a_sanitizing_chatbot(fake_retriever):
    import gradio as gr

    demo = web.build_demo(Recorder(fake_retriever), Settings())
    cfg = demo.get_config_file()
    names = {d.get("api_name") for d in cfg["dependencies"]}
    assert "chat" in names
    chatbot = next(b for b in demo.blocks.values() if isinstance(b, gr.Chatbot))
    assert chatbot.sanitize_html and chatbot.allow_tags is False and chatbot.feedback_options
    examples = [e["text"] for e in chatbot.examples]
    faq = [c.question for c in fake_retriever.chunks if c.kind == "faq"]
    assert examples and set(examples) <= set(faq)
    texts = " ".join(b.value for b in demo.blocks.values() if isinstance(b, gr.Markdown) and isinstance(b.value, str))
    assert web.DISCLAIMER in texts and KNEE_TITLE in texts
    assert demo.analytics_enabled is False
    assert demo._queue.max_size == Settings().max_queue


def test_feedback_stays_in_memory_by_default(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    fb = web.Feedback()
    fb.record(True, "anything")
    fb.record(False, "anything")
    assert fb.counts == {"like": 1, "dislike": 1}
    assert list(tmp_path.iterdir()) == []


def test_feedback_file_is_opt_in_and_holds_no_visitor_text(tmp_path):
    path = tmp_path / "fb" / "votes.jsonl"
    fb = web.Feedback(path)
    fb.record(True, "You asked: my secret question\n\nSource: [Home Remedies](https://docus.ai/a#home-remedies)")
    line = path.read_text()
    assert "secret" not in line and '"vote": "like"' in line and "https://docus.ai/a#home-remedies" in line


# --- served page: no third-party resources, frame policy ------------------------------------------

@pytest.fixture(scope="module")
def client_factory(fake_retriever):
    from fastapi.testclient import TestClient

    def make(**settings):
        s = Settings().with_(**settings)
        return TestClient(web.build_app(web.build_demo(Recorder(fake_retriever), s), s))

    return make


def test_page_and_theme_load_nothing_off_host(client_factory):
    client = client_factory()
    page = client.get("/")
    assert page.status_code == 200
    # resources the browser would fetch: src/href attributes of scripts, links, images, and CSS url()/@import
    html = page.text
    fetched = re.findall(r"<(?:script|link|img|iframe)[^>]*?(?:src|href)=[\"']([^\"']+)", html)
    css = client.get("/theme.css").text
    fetched += re.findall(r"url\(\s*[\"']?([^\"')]+)", css) + re.findall(r"@import\s+[\"']([^\"']+)", css)
    off_host = [u for u in fetched if re.match(r"(https?:)?//", u) and "://testserver" not in u]
    assert not off_host, off_host
    assert "fonts.googleapis" not in html + css


def test_frames_are_allowed_by_default_and_restricted_when_configured(client_factory):
    open_page = client_factory().get("/")
    assert "x-frame-options" not in open_page.headers
    assert open_page.headers["content-security-policy"].endswith("; frame-ancestors *")
    strict = client_factory(frame_ancestors="'self' https://docus.ai").get("/")
    assert strict.headers["content-security-policy"].endswith("; frame-ancestors 'self' https://docus.ai")
    assert "x-frame-options" not in strict.headers


def test_example_host_page_is_served(client_factory):
    r = client_factory().get("/embed-example.html")
    assert r.status_code == 200 and "<iframe" in r.text and 'title="' in r.text


def test_web_settings_come_from_the_environment(monkeypatch):
    for name in ("GRADIO_SERVER_NAME", "GRADIO_SERVER_PORT", "ASKKNEE_FRAME_ANCESTORS"):
        monkeypatch.delenv(name, raising=False)
    default = Settings()
    assert (default.host, default.port, default.frame_ancestors) == ("127.0.0.1", 7860, "")
    monkeypatch.setenv("GRADIO_SERVER_NAME", "0.0.0.0")
    monkeypatch.setenv("GRADIO_SERVER_PORT", "8123")
    monkeypatch.setenv("ASKKNEE_FRAME_ANCESTORS", "'self'")
    monkeypatch.setenv("ASKKNEE_ROOT_PATH", "/askknee")
    monkeypatch.setenv("ASKKNEE_CONCURRENCY", "2")
    s = Settings()
    assert (s.host, s.port, s.frame_ancestors, s.root_path, s.concurrency) == ("0.0.0.0", 8123, "'self'", "/askknee", 2)


def test_root_path_puts_the_public_sub_path_in_the_page_config(client_factory):
    client = client_factory(root_path="/askknee")
    root = client.get("/config").json()["root"]
    assert root.rstrip("/").endswith("/askknee"), root
