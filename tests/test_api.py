"""The `/chat` API over HTTP with `gradio_client`: one Client = one conversation."""

from __future__ import annotations

import re
import statistics
import time

import pytest

from askknee.settings import Settings
from askknee import messages, web
from askknee.types import Answer

from webserver import free_port, shared_app

DOCUS_LINK = re.compile(r"\]\(https://docus\.ai/[^)\s]+\)")


class Recorder:
    def __init__(self, retriever):
        self.retriever = retriever
        self.profile = retriever.profile
        self.calls: list[tuple[str, list[str]]] = []

    def reply(self, message, history=None, shown=()):
        self.calls.append((message, list(history or [])))
        self.shown = set(shown)
        return Answer(question=message, status="answered", text=f"Reply {len(self.calls)}.\n\n{web.DISCLAIMER}")


@pytest.fixture()
def recorder_server(fake_retriever):
    """The demo in-process over a recording answerer (no model): shows what the API hands the answerer."""
    rec = Recorder(fake_retriever)
    demo = web.build_demo(rec, Settings())
    port = free_port()
    demo.launch(server_name="127.0.0.1", server_port=port, prevent_thread_lock=True, quiet=True, share=False)
    try:
        yield rec, f"http://127.0.0.1:{port}/"
    finally:
        demo.close()


def test_successive_calls_of_one_client_are_one_conversation(recorder_server):
    from gradio_client import Client

    rec, url = recorder_server
    first, second = Client(url, verbose=False), Client(url, verbose=False)
    assert first.predict("why do knees spasm?", api_name="/chat").endswith(web.DISCLAIMER)
    first.predict("how do I treat them?", api_name="/chat")
    second.predict("hello", api_name="/chat")
    for i in range(web.MAX_API_TURNS + 2):
        first.predict(f"question {i}", api_name="/chat")
    assert rec.calls[0] == ("why do knees spasm?", [])
    assert rec.calls[1] == ("how do I treat them?", ["why do knees spasm?"])
    assert rec.calls[2] == ("hello", [])  # another client, another conversation
    assert len(rec.calls[-1][1]) == web.MAX_API_TURNS  # per-session memory is bounded


@pytest.fixture(scope="module")
def app_url(request):
    return shared_app(request.config).url


@pytest.mark.integration
def test_app_answers_over_the_api_with_follow_ups(app_url):
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    first = client.predict("what causes knee spasms?", api_name="/chat")
    second = client.predict("how do I treat them?", api_name="/chat")
    alone = Client(app_url, verbose=False).predict("how do I treat them?", api_name="/chat")
    for reply in (first, second):
        assert reply.rstrip().endswith(messages.DISCLAIMER)
        assert DOCUS_LINK.search(reply)
    assert messages.NOT_FOUND not in second, "the follow-up was resolved against the first question"
    assert second != alone


@pytest.mark.integration
def test_api_latency_is_reported(app_url, fake_retriever):
    """Prints p50/p95 over the FAQ questions (a figure, not a gate); every reply carries the disclaimer."""
    from gradio_client import Client

    client = Client(app_url, verbose=False)
    questions = [c.question for c in fake_retriever.chunks if c.kind == "faq"][:20]
    times = []
    for q in questions:
        t = time.perf_counter()
        reply = Client.predict(client, q, api_name="/chat")
        times.append(time.perf_counter() - t)
        assert reply.rstrip().endswith(messages.DISCLAIMER)
    times.sort()
    print(f"\nAPI reply latency over {len(times)} questions: p50 {statistics.median(times) * 1000:.0f} ms, "
          f"p95 {times[int(0.95 * (len(times) - 1))] * 1000:.0f} ms")
