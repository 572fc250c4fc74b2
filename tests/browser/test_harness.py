"""The browser harness itself: the live app reached by headless chromium at both widths,
screenshots saved, axe-core run (and able to fail), Secure cookies kept on loopback, and the
texts the console telephony sent readable by a test."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from playwright.sync_api import Page

from crisisline import outbox
from tests.support.app import beat_as_leader, services_of
from tests.support.browser import (
    SCREENSHOTS,
    LiveServer,
    axe_check,
    last_text_to,
    save_screenshot,
    serving,
)

# Ofcom's drama range, as every test number.
WORKER_PHONE = "+447700900151"


def test_health_check_and_home_page_render_at_phone_and_laptop_widths(
    page: Page, live_server: LiveServer
) -> None:
    """/healthz answers the browser with the app's JSON; / sends a browser nobody has signed in
    to the sign-in page, which has no serious accessibility violations; both are saved as
    screenshots for people to look at."""
    beat_as_leader(live_server.app)  # the live app has no scheduler; /healthz asks for one
    response = page.goto("/healthz")
    assert response is not None
    assert response.status == 200
    assert json.loads(page.inner_text("body"))["database"] == "ok"
    assert save_screenshot(page, "healthz").is_file()

    response = page.goto("/")
    assert response is not None
    assert response.status == 200
    assert page.url.endswith("/login?next=%2F")
    assert page.locator("h1").inner_text() == "Sign in"
    assert page.title() == "Sign in · Resettle crisis line"
    viewport = page.viewport_size
    assert viewport is not None
    # Nothing is wider than the window: no sideways scrolling on a phone.
    assert page.evaluate("document.documentElement.scrollWidth") <= viewport["width"]
    shot = save_screenshot(page, "home")
    assert shot.parent == SCREENSHOTS
    assert shot.name == f"home-{viewport['width']}px.png"
    axe_check(page)


def test_axe_check_fails_naming_each_serious_violation(
    open_page: Callable[[int], Page],
) -> None:
    """A page with an unlabelled field and an image with no text alternative fails the check,
    and the failure names both rules and where they are."""
    page = open_page(1280)
    page.set_content(
        '<!doctype html><html lang="en"><head><title>Broken</title></head><body><main>'
        '<h1>Broken</h1><img src="data:," id="portrait"><input type="text" id="nameless">'
        "</main></body></html>"
    )
    with pytest.raises(AssertionError) as failure:
        axe_check(page)
    report = str(failure.value)
    assert "image-alt (critical)" in report
    assert "#portrait" in report
    assert "label (critical)" in report
    assert "#nameless" in report


def test_axe_runs_under_a_content_security_policy_with_no_inline_scripts(
    open_page: Callable[[int], Page],
) -> None:
    """The console's pages forbid inline scripts; axe-core, injected by the test driver, still
    runs on them (and finds nothing wrong with a plain page)."""
    page_html = (
        b'<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Strict</title>'
        b"</head><body><main><h1>Strict</h1><p>No scripts here.</p></main></body></html>"
    )

    def strict(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        start_response(
            "200 OK",
            [
                ("Content-Type", "text/html; charset=utf-8"),
                ("Content-Security-Policy", "default-src 'self'; script-src 'self'"),
            ],
        )
        return [page_html]

    page = open_page(360)
    with serving(strict) as (url, _holder):
        page.goto(url)
        assert page.locator("h1").inner_text() == "Strict"
        axe_check(page)


def test_a_secure_httponly_cookie_is_kept_and_sent_back_over_http_on_loopback(
    open_page: Callable[[int], Page],
) -> None:
    """The console's session cookie is Secure; chromium treats http://127.0.0.1 as a secure
    context, so the cookie is kept and sent back without TLS in these tests."""

    def cookie_app(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        if environ["PATH_INFO"] == "/set":
            start_response(
                "200 OK",
                [
                    ("Content-Type", "text/plain"),
                    ("Set-Cookie", "probe=kept; Secure; HttpOnly; SameSite=Lax; Path=/"),
                ],
            )
            return [b"set"]
        start_response("200 OK", [("Content-Type", "text/plain")])
        return [environ.get("HTTP_COOKIE", "").encode()]

    page = open_page(1280)
    with serving(cookie_app) as (url, _holder):
        page.goto(url + "/set")
        page.goto(url + "/echo")
        assert page.inner_text("body") == "probe=kept"
        (cookie,) = page.context.cookies()
        assert cookie["secure"] and cookie["httpOnly"] and cookie["sameSite"] == "Lax"


def test_last_text_to_reads_the_newest_text_the_console_telephony_sent(
    live_server: LiveServer,
) -> None:
    """A text the app queued goes out through the console telephony (one dispatcher pass) and
    the newest one to the phone is the one read."""
    services = services_of(live_server.app)
    now = live_server.clock.now()
    with services.db.transaction() as session:
        for body in ("first text", "second text"):
            outbox.enqueue_sms(
                session,
                to=WORKER_PHONE,
                from_="+447700900000",
                body=body,
                purpose="staff_test",
                now=now,
            )
    assert last_text_to(live_server.app, WORKER_PHONE) == "second text"
    assert f"to {WORKER_PHONE}" in live_server.telephony_printed
    with pytest.raises(AssertionError, match=r"no text was sent to \+447700900152"):
        last_text_to(live_server.app, "+447700900152")


def test_a_page_asking_for_anything_beyond_loopback_is_refused(
    open_page: Callable[[int], Page], refused_requests: list[str]
) -> None:
    """pytest-socket guards only the test process; chromium's requests to other hosts are
    refused by the harness and listed (the fixture then fails the test)."""
    page = open_page(1280)
    # A blank page of the browser's own: the service's pages forbid other origins by their
    # content security policy, so the browser would not even ask.
    page.goto("about:blank")
    page.evaluate("fetch('http://crisis.example.org/font.woff2').catch(() => null)")
    assert refused_requests == ["http://crisis.example.org/font.woff2"]
    refused_requests.clear()  # seen and expected: do not fail this test at teardown
