"""The public guard (public.py) in front of a stand-in app: fast, no Gradio."""

from __future__ import annotations

import pytest
from starlette.testclient import TestClient

from askknee import public


async def echo_app(scope, receive, send):
    """Answers every request it is given with the size of the body it received."""
    body = b""
    while True:
        message = await receive()
        body += message.get("body", b"")
        if not message.get("more_body"):
            break
    await send({"type": "http.response.start", "status": 200,
                "headers": [(b"content-type", b"text/plain"), (b"access-control-allow-origin", b"*")]})
    await send({"type": "http.response.body", "body": str(len(body)).encode()})


def client(**options) -> TestClient:
    return TestClient(public.PublicGuard(echo_app, **options), base_url="http://chat.example.org")


def test_only_the_chats_routes_reach_the_app():
    c = client()
    assert c.get("/").status_code == 200
    assert c.get("/assets/index.js").status_code == 200
    assert c.post("/gradio_api/queue/join", json={}).status_code == 200
    assert c.post("/gradio_api/run/predict", json={}).status_code == 200
    for path in ("/gradio_api/run/chat_ui", "/gradio_api/run/anything", "/admin", "/gradio_api/mcp/sse"):
        assert c.post(path, json={}).status_code == 404, path
    assert c.post("/gradio_api/upload", files={"files": ("x.txt", b"x")}).status_code == 403
    assert c.get("/gradio_api/file=/etc/passwd").status_code == 403
    assert c.get("/openapi.json").status_code == 404
    assert client(expose_internals=True).get("/openapi.json").status_code == 200


def test_a_body_over_the_cap_is_refused_with_or_without_a_length():
    c = client()
    big = b"x" * (public.MAX_BODY + 1)
    assert c.post("/gradio_api/queue/join", content=big).status_code == 413

    def chunks():
        for _ in range(public.MAX_BODY // 4096 + 2):
            yield b"y" * 4096
    assert c.post("/gradio_api/queue/join", content=chunks()).status_code == 413
    small = c.post("/gradio_api/queue/join", content=iter([b"a" * 10, b"b" * 10]))
    assert small.status_code == 200 and small.text == "20"  # what was read is what the app gets


def test_every_response_carries_the_headers_and_no_stray_cors():
    r = client(frame_ancestors="'self'").get("/")
    assert r.headers["x-content-type-options"] == "nosniff"
    assert r.headers["referrer-policy"] == "no-referrer"
    assert r.headers["vary"] == "Origin"
    assert r.headers["content-security-policy"].endswith("frame-ancestors 'self'")
    assert "access-control-allow-origin" not in r.headers  # the app's own "*" is dropped


@pytest.mark.parametrize("origin,listed,status", [
    ("https://evil.example", (), 403),
    ("https://docs.example", ("https://docs.example",), 200),
    ("http://chat.example.org", (), 200),  # the page itself
])
def test_other_sites_are_refused_unless_listed(origin, listed, status):
    r = client(allowed_origins=listed).post("/gradio_api/queue/join", json={}, headers={"Origin": origin})
    assert r.status_code == status
    assert (r.headers.get("access-control-allow-origin") == origin) == (bool(listed) and status == 200)


def test_the_root_path_is_stripped_only_at_a_path_boundary():
    app = public.PublicGuard(echo_app)
    c = TestClient(app, base_url="http://chat.example.org", root_path="/a")
    assert c.get("/a/assets/x.js").status_code == 200
    assert c.get("/assets/x.js").status_code == 200  # a proxy that strips the prefix: not read as "ssets/x.js"
    assert c.get("/a/admin").status_code == 404
