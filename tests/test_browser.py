"""Browser tests: Playwright + Debian's chromium against `python app.py`, alone and inside an iframe.

Screenshots go to `$ASKKNEE_ARTIFACTS/screenshots/` (default `artifacts/screenshots/`).
Without /usr/bin/chromium these tests are skipped, unless ASKKNEE_REQUIRE_BROWSER=1 (CI), then they fail.
"""

from __future__ import annotations

import functools
import http.server
import os
import threading
from pathlib import Path
from urllib.parse import urlparse

import pytest
from playwright.sync_api import expect

from askknee import messages, web
from webserver import ROOT, free_port, shared_app

CHROMIUM = Path("/usr/bin/chromium")
SHOTS = Path(os.environ.get("ASKKNEE_ARTIFACTS", ROOT / "artifacts")) / "screenshots"
QUESTION = "How can I relieve a knee muscle spasm at home?"
ANSWER_TIMEOUT = 60_000  # ms

pytestmark = [pytest.mark.browser, pytest.mark.integration]

if not CHROMIUM.exists():
    if os.environ.get("ASKKNEE_REQUIRE_BROWSER") == "1":
        raise RuntimeError(f"{CHROMIUM} is missing but ASKKNEE_REQUIRE_BROWSER=1: apt-get install chromium")
    pytest.skip(f"{CHROMIUM} not installed (apt-get install chromium); set ASKKNEE_REQUIRE_BROWSER=1 to fail instead",
                allow_module_level=True)


@pytest.fixture(scope="module")
def app_url(request):
    return shared_app(request.config).url


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=[
            "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
            "--disable-component-update"])
        yield b
        b.close()


class QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@pytest.fixture(scope="module")
def host_page_url(app_url, tmp_path_factory):
    """The example host page, pointed at the app, served by another server on another port (another origin)."""
    site = tmp_path_factory.mktemp("host-site")
    page = (web.STATIC / "embed-example.html").read_text(encoding="utf-8")
    assert 'src="http://127.0.0.1:7860/"' in page
    (site / "embed-example.html").write_text(page.replace("http://127.0.0.1:7860/", app_url), encoding="utf-8")
    (site / "web-component.html").write_text(
        '<!doctype html><html><head><link rel="icon" href="data:,"><title>host</title>'
        f'<script type="module" src="{app_url}gradio.js"></script></head>'
        f'<body><h1>Host page</h1><gradio-app src="{app_url}"></gradio-app></body></html>', encoding="utf-8")
    handler = functools.partial(QuietHandler, directory=str(site))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_port}/embed-example.html"
    server.shutdown()
    server.server_close()


class Watch:
    """Console errors, page errors and every URL the page requested."""

    def __init__(self, page):
        self.errors: list[str] = []
        self.urls: list[str] = []
        page.on("console", lambda m: m.type == "error" and self.errors.append(m.text))
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("request", lambda r: self.urls.append(r.url))

    def off_host(self) -> list[str]:
        return [u for u in self.urls if urlparse(u).scheme in ("http", "https", "ws", "wss")
                and urlparse(u).hostname != "127.0.0.1"]


def new_page(browser, **kwargs):
    context = browser.new_context(**kwargs)
    page = context.new_page()
    return context, page, Watch(page)


def ask(scope, question: str):
    """Type a question, send it, and return the locator of the last bot message once it has a source link."""
    box = scope.locator("textarea").first
    box.fill(question)
    box.press("Enter")
    reply = scope.locator(".message.bot, [data-testid='bot']").last
    reply.locator("a[href*='docus.ai']").first.wait_for(timeout=ANSWER_TIMEOUT)
    return reply


def check_answer(reply):
    link = reply.locator("a[href*='docus.ai']").first
    assert link.get_attribute("target") == "_blank", "source links open the article in a new tab"
    assert messages.DISCLAIMER[:60] in reply.inner_text()


def shot(page, name: str):
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / name), full_page=False)


def test_page_answers_with_a_source_link_and_the_disclaimer(browser, app_url):
    context, page, watch = new_page(browser, viewport={"width": 1280, "height": 900})
    page.goto(app_url)
    expect(page.get_by_role("heading", name=web.TITLE)).to_be_visible(timeout=30_000)
    expect(page.locator("#askknee-disclaimer")).to_contain_text(messages.DISCLAIMER)
    check_answer(ask(page, QUESTION))
    # a suggested follow-up is a button: clicking it asks it
    links = page.locator("#askknee-chat a[href*='docus.ai']")
    before = links.count()
    option = page.locator("#askknee-chat button.option").first
    asked = option.inner_text().strip()
    option.click()
    expect(page.locator(".message.user, [data-testid='user']").last).to_contain_text(asked)
    page.wait_for_function(f"document.querySelectorAll(\"#askknee-chat a[href*='docus.ai']\").length > {before}",
                           timeout=ANSWER_TIMEOUT)
    expect(page.locator(".message.bot, [data-testid='bot']").last).to_contain_text(messages.DISCLAIMER)
    shot(page, "desktop.png")
    assert not watch.errors, watch.errors
    assert not watch.off_host(), watch.off_host()
    context.close()


def test_visitor_html_is_shown_as_text(browser, app_url):
    context, page, watch = new_page(browser)
    page.goto(app_url)
    page.evaluate("window.__pwned = false")
    box = page.locator("textarea").first
    box.fill('<img src=x onerror="window.__pwned=true"> <b>bold</b> knee spasm?')
    box.press("Enter")
    user = page.locator(".message.user, [data-testid='user']").last
    user.wait_for(timeout=ANSWER_TIMEOUT)
    page.locator(".message.bot, [data-testid='bot']").last.wait_for(timeout=ANSWER_TIMEOUT)
    assert "<b>bold</b>" in user.inner_text()
    assert user.locator("img, b").count() == 0
    assert page.evaluate("window.__pwned") is False
    context.close()


def test_chat_works_inside_an_iframe_on_another_origin(browser, app_url, host_page_url):
    context, page, watch = new_page(browser, viewport={"width": 1024, "height": 900})
    page.goto(host_page_url)
    frame = page.frame_locator("iframe#askknee")
    check_answer(ask(frame, QUESTION))
    shot(page, "iframe.png")
    assert not watch.errors, watch.errors
    assert not watch.off_host(), watch.off_host()
    context.close()


def test_chat_works_as_a_web_component_on_another_origin(browser, app_url, host_page_url):
    context, page, watch = new_page(browser, viewport={"width": 1024, "height": 900})
    page.goto(host_page_url.replace("embed-example.html", "web-component.html"))
    check_answer(ask(page.locator("gradio-app"), QUESTION))
    assert not watch.errors, watch.errors
    assert not watch.off_host(), watch.off_host()
    context.close()


def test_phone_width_375(browser, app_url):
    context, page, watch = new_page(browser, viewport={"width": 375, "height": 812}, is_mobile=True,
                                    has_touch=True, device_scale_factor=2)
    page.goto(app_url)
    check_answer(ask(page, QUESTION))
    assert page.evaluate("document.documentElement.scrollWidth") <= 375, "no sideways scrolling on a phone"
    shot(page, "phone-375.png")
    assert not watch.errors, watch.errors
    context.close()


def test_dark_theme(browser, app_url):
    context, page, watch = new_page(browser, viewport={"width": 1280, "height": 900}, color_scheme="dark")
    page.goto(app_url)
    check_answer(ask(page, QUESTION))
    bg = page.evaluate("getComputedStyle(document.querySelector('gradio-app') || document.body).backgroundColor")
    rgb = [int(x) for x in bg[bg.index("(") + 1:bg.index(")")].split(",")[:3]]
    assert sum(rgb) < 3 * 80, f"dark background expected, got {bg}"
    shot(page, "desktop-dark.png")
    context.close()
