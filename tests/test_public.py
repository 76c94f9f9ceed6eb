"""What the public server exposes (`askknee.public.PublicGuard` in front of the Gradio app): only the
chat's routes, no uploads or file serving, no internal listings, quiet unknown polls, capped bodies,
security headers and CORS for the listed origins only. In process, over a recording answerer."""

from __future__ import annotations

from pathlib import Path
import os

import pytest

from askknee.settings import Settings
from askknee import public, web
from askknee.types import Answer

EVIL = "https://evil.example"
HOST = "https://docus.ai"


class Recorder:
    def __init__(self, retriever):
        self.retriever = retriever
        self.profile = retriever.profile

    def reply(self, message, history=None, shown=()):
        return Answer(question=message, status="answered", text=f"Echo.\n\n{web.DISCLAIMER}",
                      disclaimer=web.DISCLAIMER)

    def shown_in(self, replies):
        return set()


@pytest.fixture(scope="module")
def make(fake_retriever):
    from fastapi.testclient import TestClient

    def client(**settings):
        s = Settings().with_(**settings)
        return TestClient(web.build_app(web.build_demo(Recorder(fake_retriever), s), s))
    return client


@pytest.fixture(scope="module")
def client(make):
    return make()


def test_uploads_are_refused_before_anything_is_stored(client, tmp_path, monkeypatch):
    temp = tmp_path / "gradio-tmp"
    monkeypatch.setenv("GRADIO_TEMP_DIR", str(temp))
    r = client.post("/gradio_api/upload", files={"files": ("x.txt", b"hello " * 1000)})
    assert r.status_code == 403
    assert not temp.exists() or not any(temp.rglob("*"))
    assert client.get("/gradio_api/upload_progress?upload_id=1").status_code == 403


@pytest.mark.parametrize("path", ["/gradio_api/file=/etc/passwd", "/gradio_api/file/etc/passwd",
                                  "/gradio_api/proxy=https://evil.example/x"])
def test_no_file_is_served(client, path):
    assert client.get(path).status_code == 403


@pytest.mark.parametrize("path", ["/openapi.json", "/gradio_api/openapi.json", "/docs", "/monitoring",
                                  "/monitoring/summary"])
def test_internal_listings_are_hidden_unless_turned_on(make, client, path):
    assert client.get(path).status_code == 404
    if path in ("/openapi.json", "/monitoring/summary"):
        assert make(expose_internals=True).get(path).status_code != 404


@pytest.mark.parametrize("path", ["/gradio_api/runs", "/gradio_api/vibe-code", "/login", "/gradio_api/dev/reload",
                                  "/anything/else"])
def test_routes_the_chat_does_not_need_are_not_there(client, path):
    assert client.get(path).status_code == 404


@pytest.mark.parametrize("path", ["/", "/config", "/theme.css", "/gradio.js", "/embed-example.html", "/gradio_api/info"])
def test_the_chat_s_own_routes_answer(client, path):
    assert client.get(path).status_code == 200


def test_an_unknown_session_poll_answers_briefly(client):
    r = client.get("/gradio_api/queue/data?session_hash=nobody")
    assert r.status_code == 404 and r.json() == {"error": "unknown session"}


def test_a_large_body_is_refused(client):
    r = client.post("/gradio_api/queue/join", content=b"x" * (public.MAX_BODY + 1), headers={"content-type": "application/json"})
    assert r.status_code == 413


@pytest.mark.parametrize("path", ["/", "/config", "/theme.css", "/nowhere", "/gradio_api/upload"])
def test_every_response_carries_the_security_headers(client, path):
    r = client.get(path) if path != "/gradio_api/upload" else client.post(path)
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    csp = r.headers["content-security-policy"]
    assert "default-src 'self'" in csp and "object-src 'none'" in csp and "frame-ancestors *" in csp
    assert "unsafe-eval" not in csp


def test_other_origins_get_no_cors_and_listed_ones_do(make, client):
    foreign = client.get("/config", headers={"Origin": EVIL})
    assert foreign.status_code == 403 and "access-control-allow-origin" not in foreign.headers
    assert client.options("/gradio_api/upload", headers={
        "Origin": EVIL, "Access-Control-Request-Method": "POST"}).status_code == 403
    listed = make(allowed_origins=(HOST,))
    ok = listed.get("/config", headers={"Origin": HOST})
    assert ok.status_code == 200 and ok.headers["access-control-allow-origin"] == HOST
    pre = listed.options("/gradio_api/queue/join", headers={"Origin": HOST, "Access-Control-Request-Method": "POST"})
    assert pre.status_code == 204 and pre.headers["access-control-allow-origin"] == HOST
    assert listed.get("/config", headers={"Origin": EVIL}).status_code == 403


def test_the_page_s_own_requests_are_same_origin(client):
    r = client.get("/config", headers={"Origin": "http://testserver"})
    assert r.status_code == 200 and "access-control-allow-origin" not in r.headers


def test_web_settings_for_exposure_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("ASKKNEE_ALLOWED_ORIGINS", f"{HOST} https://www.docus.ai")
    monkeypatch.setenv("ASKKNEE_EXPOSE_INTERNALS", "1")
    s = Settings()
    assert s.allowed_origins == (HOST, "https://www.docus.ai") and s.expose_internals
    monkeypatch.delenv("ASKKNEE_EXPOSE_INTERNALS")
    assert not Settings().expose_internals


@pytest.mark.integration
def test_a_start_with_an_empty_home_writes_nothing_outside_the_project_cache(tmp_path):
    """ONNX Runtime's telemetry database (~/.cache/Microsoft/...) and anything else a start might leave."""
    import urllib.request

    from webserver import start_app

    import urllib.error

    home = tmp_path / "home"
    home.mkdir()
    cache = os.environ.get("ASKKNEE_CACHE_DIR") or str(os.path.join(os.path.expanduser("~"), ".cache", "askknee"))
    tmp = tmp_path / "tmp"  # Gradio's default working folder lives under the temp folder
    tmp.mkdir()
    server = start_app({"HOME": str(home), "ASKKNEE_CACHE_DIR": cache, "XDG_CACHE_HOME": str(home / ".cache"),
                        "TMPDIR": str(tmp)})
    try:
        with urllib.request.urlopen(server.url, timeout=30) as r:
            assert r.status == 200
        from gradio_client import Client

        assert Client(server.url, verbose=False).predict("what causes knee spasms?", api_name="/chat")
        # Requests that used to print Gradio's tracebacks into the log: answered briefly, logged not at all.
        for url, data in ((server.url + "gradio_api/queue/data?session_hash=nobody", None),
                          (server.url + "gradio_api/run/chat_ui", b"{}"), (server.url + "gradio_api/run/nope", b"{}")):
            with pytest.raises(urllib.error.HTTPError) as refused:
                urllib.request.urlopen(urllib.request.Request(url, data=data), timeout=30)
            assert refused.value.code == 404
    finally:
        server.stop()
    assert [str(p.relative_to(home)) for p in home.rglob("*")] == []
    assert [str(p.relative_to(tmp)) for p in tmp.rglob("*")] == []
    log = Path(server.log).read_text().splitlines()
    assert len(log) == 1 and log[0].startswith("askknee: ready"), log  # one line per event: the start
