"""What the public server exposes: an ASGI guard in front of the Gradio app.

- Only the routes the chat needs answer (the page, its assets, the queue, the `/chat` API and the
  embedding helpers); everything else is 404. File uploads and file serving are refused before a
  byte is read (403): the chat has no file input, and nothing a visitor sends is written to disk.
- Internal listings (`/openapi.json`, `/monitoring`) answer only when an operator turns them on.
- A poll for a queue session the server does not know gets a short 404, not Gradio's traceback.
- Request bodies are capped (413): a message is at most a few thousand characters.
- Every response carries `X-Content-Type-Options: nosniff`, `Referrer-Policy: no-referrer`, a
  `Permissions-Policy` and a `Content-Security-Policy` whose `frame-ancestors` says who may frame
  the chat.
- Cross-origin requests (the `<gradio-app>` web component on another site) are allowed only from
  the origins an operator lists; Gradio's own CORS headers are dropped for every other origin.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Container, Iterable
from urllib.parse import parse_qs, urlsplit

# (methods, path pattern) of every route the chat, its API client and its embeddings use.
ROUTES = [
    ({"GET", "HEAD"}, r"/"),
    ({"GET"}, r"/(?:config/?|theme\.css|favicon\.ico|robots\.txt|manifest\.json|gradio\.js|embed-example\.html)"),
    ({"GET"}, r"/(?:assets|static|svelte)/.+"),
    ({"GET"}, r"/gradio_api/(?:theme\.css|info/?|startup-events|app_id/?|queue/status|queue/data)"),
    ({"GET"}, r"/gradio_api/heartbeat/[^/]+"),
    ({"POST"}, r"/gradio_api/(?:queue/join|cancel|reset/?)"),
    ({"POST"}, r"/gradio_api/run/predict/?"),  # the page's events outside the queue (votes)
]
INTERNAL = r"/(?:openapi\.json|docs|redoc|monitoring(?:/.*)?|gradio_api/openapi\.json)"
REFUSED = r"/gradio_api/(?:upload(?:_progress)?|file[=/].*|proxy=.*|stream/.*)"
# The headers Gradio's client sends with a cross-origin call (the web component on a listed site).
_REQUEST_HEADERS = b"content-type, x-gradio-user"
# Bytes: the page sends the conversation's history with each message (about 1.5 KB a turn), so this
# holds hundreds of turns, and bounds what one request may make the server hold.
MAX_BODY = 512 * 1024

# Gradio's page runs inline scripts and styles and opens no other host; images are data or blob URLs.
CSP = ("default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
       "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; media-src 'self' blob:; "
       "worker-src 'self' blob:; object-src 'none'; base-uri 'self'; form-action 'self'")


class PublicGuard:
    """ASGI middleware: the allow-list, the caps and the headers described in the module docstring."""

    def __init__(self, app, *, frame_ancestors: str = "", allowed_origins: Iterable[str] = (),
                 expose_internals: bool = False, queue_sessions: Callable[[], Container] | None = None):
        """`frame_ancestors` is a CSP source list (empty: any site may frame the chat);
        `allowed_origins` the sites whose pages may call the server (besides its own);
        `queue_sessions` gives the queue's known session ids."""
        self.app = app
        self.allowed = {o.rstrip("/") for o in allowed_origins if o.strip()}
        self.expose_internals = expose_internals
        self.queue_sessions = queue_sessions
        self.routes = [(methods, re.compile(p)) for methods, p in ROUTES]
        self.internal, self.refused = re.compile(INTERNAL), re.compile(REFUSED)
        # Vary on every response: a shared cache must not give one site's answer to another.
        self.headers = [(b"x-content-type-options", b"nosniff"), (b"referrer-policy", b"no-referrer"), (b"vary", b"Origin"),
                        (b"permissions-policy", b"camera=(), microphone=(), geolocation=(), payment=()"),
                        (b"content-security-policy",
                         f"{CSP}; frame-ancestors {frame_ancestors.strip() or '*'}".encode())]

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        root = scope.get("root_path", "").rstrip("/")
        if root and (path == root or path.startswith(root + "/")):
            path = path[len(root):] or "/"
        method = scope["method"]
        origin = _header(scope, b"origin")
        cross = bool(origin) and not _same_origin(origin, _header(scope, b"host"))
        allowed_origin = cross and origin.rstrip("/") in self.allowed
        if method == "OPTIONS":  # a CORS preflight
            if allowed_origin:
                return await self._respond(send, 204, b"", cors=origin, preflight=True)
            return await self._respond(send, 403, b"")
        if cross and not allowed_origin:
            return await self._respond(send, 403, b'{"error": "this origin may not use the chat"}')
        if self.refused.fullmatch(path):
            return await self._respond(send, 403, b'{"error": "files are not accepted"}')
        if self.internal.fullmatch(path):
            if not self.expose_internals:
                return await self._respond(send, 404, b'{"error": "not found"}')
        elif not any(method in methods and rx.fullmatch(path) for methods, rx in self.routes):
            return await self._respond(send, 404, b'{"error": "not found"}')
        if path == "/gradio_api/queue/data" and self.queue_sessions is not None:
            session = parse_qs(scope.get("query_string", b"").decode("latin-1")).get("session_hash", [""])[0]
            if session not in self.queue_sessions():
                return await self._respond(send, 404, b'{"error": "unknown session"}')
        length = _header(scope, b"content-length")
        if length and (not length.isdigit() or int(length) > MAX_BODY):
            return await self._respond(send, 413, b'{"error": "request too large"}')
        if method == "POST":  # read whole (it is small) so that a body sent without a length is capped too
            body = await _read_capped(receive)
            if body is None:
                return await self._respond(send, 413, b'{"error": "request too large"}')
            receive = _replay(body, receive)
        return await self.app(scope, receive, self._send_with_headers(send, origin if allowed_origin else ""))

    def _send_with_headers(self, send, cors_origin: str):
        async def wrapped(message):
            if message["type"] == "http.response.start":
                message = {**message, "headers": self._headers(message.get("headers", []), cors_origin)}
            await send(message)
        return wrapped

    def _headers(self, headers, cors_origin: str, preflight: bool = False) -> list:
        drop = {b"x-frame-options", b"content-security-policy", b"vary"}
        out = [(k, v) for k, v in headers if k.lower() not in drop and not k.lower().startswith(b"access-control-")]
        out += self.headers
        if cors_origin:
            out += [(b"access-control-allow-origin", cors_origin.encode()),
                    (b"access-control-allow-credentials", b"true")]
            if preflight:
                out += [(b"access-control-allow-methods", b"GET, POST"),
                        (b"access-control-allow-headers", _REQUEST_HEADERS), (b"access-control-max-age", b"600")]
        return out

    async def _respond(self, send, status: int, body: bytes, cors: str = "", preflight: bool = False) -> None:
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status,
                    "headers": self._headers(headers, cors, preflight)})
        await send({"type": "http.response.body", "body": body})


def _header(scope, name: bytes) -> str:
    for key, value in scope.get("headers", []):
        if key.lower() == name:
            return value.decode("latin-1")
    return ""


def _same_origin(origin: str, host: str) -> bool:
    return bool(host) and urlsplit(origin).netloc.lower() == host.lower()


async def _read_capped(receive) -> bytes | None:
    """The request body, or None once it grows past `MAX_BODY` (the rest is not read)."""
    chunks, seen = [], 0
    while True:
        message = await receive()
        if message["type"] != "http.request":  # the client went away
            break
        chunks.append(message.get("body", b""))
        seen += len(chunks[-1])
        if seen > MAX_BODY:
            return None
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive):
    """`receive` that gives the app the body already read, then waits as the original would."""
    sent = False

    async def wrapped():
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()
    return wrapped

