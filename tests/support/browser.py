"""The real-browser tests' helpers: serving a WSGI app on loopback, screenshots for people to
look at, the axe-core accessibility check, and the texts the console telephony sent.

The fixtures that use them (the browser, the live app, pages at 360 and 1280 px) are in
tests/browser/conftest.py.
"""

from __future__ import annotations

import io
import os
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from axe_playwright_python.sync_playwright import Axe
from flask import Flask
from playwright.sync_api import Page
from werkzeug.serving import make_server

from crisisline import outbox
from crisisline.clock import FakeClock
from crisisline.demo import DemoSignIn
from crisisline.jobs import Jobs
from crisisline.models import Channel, DeliveryStatus
from tests.support.app import services_of

# Debian's chromium package; Playwright drives it and never downloads a browser of its own.
CHROMIUM_PATH = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
MISSING_CHROMIUM = (
    f"The browser tests need Debian's chromium at {CHROMIUM_PATH} (none is there). Install it "
    "with `sudo apt-get install chromium` (.ci/run does), or point CHROMIUM_PATH at another "
    "Chromium; `make test PYTEST_ARGS=\"-m 'not browser'\"` runs everything else."
)
# A phone held upright, and a laptop.
WIDTHS = (360, 1280)
HEIGHTS = {360: 780, 1280: 800}
# Git-ignored: each run leaves its screenshots here for people to look at.
SCREENSHOTS = Path(__file__).resolve().parents[2] / "screenshots"
# axe-core's impact levels that fail a test; "minor" and "moderate" are left to people.
FAILING_IMPACTS = ("serious", "critical")


@dataclass(frozen=True)
class LiveServer:
    """The crisis line app served on loopback for a real browser.

    `app` is the very app the server runs: tests read and change its database through
    `services_of(app)`. `clock` is its fake clock (set to the real time when it starts, so the
    browser's cookies have true expiry times); `telephony_printed` is what its console
    telephony printed; `administrator` is how the demo administrator the demo data made signs
    in (email, phone, password, TOTP secret)."""

    url: str
    app: Flask
    clock: FakeClock
    telephony_out: io.StringIO
    administrator: DemoSignIn

    @property
    def telephony_printed(self) -> str:
        """Everything the console telephony has printed so far."""
        return self.telephony_out.getvalue()


class _Deferred:
    """A WSGI app that passes each request to `app`, set once the server knows its port (the
    app's PUBLIC_BASE_URL names the port)."""

    app: Any = None

    def __call__(self, environ: dict[str, Any], start_response: Any) -> Any:
        return self.app(environ, start_response)


@contextmanager
def serving(app: Any = None) -> Iterator[tuple[str, _Deferred]]:
    """Serve a WSGI app on 127.0.0.1 on a free port, in a background thread, until the block
    ends. Yields the base URL and a holder whose `.app` may be set (or replaced) later."""
    holder = _Deferred()
    holder.app = app
    server = make_server("127.0.0.1", 0, holder, threaded=True)
    thread = threading.Thread(target=server.serve_forever, name="browser-test-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}", holder
    finally:
        server.shutdown()
        thread.join(timeout=10)
        server.server_close()


# The first few elements reaching past the window's right edge, to say what is too wide.
WIDE_ELEMENTS = """() => [...document.querySelectorAll("body *")]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 2)
  .slice(0, 8)
  .map(e => e.tagName + "." + e.className + " " + Math.round(e.getBoundingClientRect().right))"""


def fits_the_window(page: Page) -> None:
    """Nothing on the page is wider than the window: no sideways scrolling on a phone.

    Measured once the page has loaded with its stylesheets (a click that follows a link
    returns before they have, and the page laid out without them is wider)."""
    page.wait_for_load_state("load")
    viewport = page.viewport_size
    assert viewport is not None
    scroll_width: int = page.evaluate("document.documentElement.scrollWidth")
    wide = page.evaluate(WIDE_ELEMENTS) if scroll_width > viewport["width"] else []
    assert scroll_width <= viewport["width"], f"{page.url} is {scroll_width} px wide: {wide}"


def looked_at(page: Page, name: str) -> None:
    """What each page visited gets: no sideways scrolling, a screenshot for people to look at,
    and axe-core's check."""
    fits_the_window(page)
    save_screenshot(page, name)
    axe_check(page)


def save_screenshot(page: Page, name: str) -> Path:
    """Save the whole page as screenshots/NAME-WIDTHpx.png (git-ignored) and return its path."""
    viewport = page.viewport_size
    width = viewport["width"] if viewport else 0
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-")
    SCREENSHOTS.mkdir(exist_ok=True)
    path = SCREENSHOTS / f"{safe}-{width}px.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def axe_check(page: Page) -> None:
    """Run axe-core on the page as it is now; fail listing every serious or critical violation."""
    results = Axe().run(page)
    violations: list[dict[str, Any]] = results.response["violations"]
    failing = [v for v in violations if v.get("impact") in FAILING_IMPACTS]
    if failing:
        raise AssertionError(
            f"axe-core found {len(failing)} serious or critical violation(s) on {page.url}:\n"
            + "\n".join(_describe(v) for v in failing)
        )


def _describe(violation: dict[str, Any]) -> str:
    """One violation: its rule, impact, what it means and where it is on the page."""
    places = "; ".join(
        " ".join(str(t) for t in node.get("target", [])) for node in violation.get("nodes", [])
    )
    return (
        f"- {violation['id']} ({violation['impact']}): {violation['help']} "
        f"[{violation.get('helpUrl', '')}] at {places}"
    )


def last_text_to(app: Flask, phone: str) -> str:
    """The body of the newest text the console telephony sent to `phone`.

    Runs one pass of the outbox dispatcher first (the live app has no scheduler), so a text the
    app has just queued goes through the console telephony as it would in `make run`."""
    services = services_of(app)
    Jobs(services).dispatch_outbox()
    with services.db.transaction() as session:
        deliveries, _total = outbox.find(
            session, to=phone, statuses=(DeliveryStatus.SENT, DeliveryStatus.DELIVERED)
        )
        for delivery in deliveries:
            if delivery.channel == Channel.SMS:
                return delivery.body
    raise AssertionError(f"no text was sent to {phone}")
