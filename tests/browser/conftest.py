"""Fixtures for the real-browser tests: Debian's headless chromium driven by Playwright against
the crisis line app served on loopback.

- `live_server`: the real app (console telephony, a migrated SQLite file with the demo data)
  served on 127.0.0.1 on a free port, its PUBLIC_BASE_URL the server's own address, with the
  demo administrator's sign-in details;
- `page`: a page in a fresh browser context at 360 px and at 1280 px wide (each test using it
  runs at both widths), its base URL the live server's, so `page.goto("/")` works;
- `open_page(width)`: more pages, each in its own context (its own cookies: a second person);
- `chromium`: the browser itself, started once for each test module.

Every test in this folder carries the `browser` marker. Without chromium they fail, saying how
to install it; they never skip. Helpers: tests/support/browser.py.
"""

from __future__ import annotations

import datetime as dt
import io
import shutil
from collections.abc import Callable, Iterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Route, sync_playwright

from crisisline import demo
from crisisline.app import create_app
from crisisline.clock import FakeClock
from crisisline.telephony import ConsoleTelephony
from tests.support.app import make_settings, services_of
from tests.support.browser import (
    CHROMIUM_PATH,
    HEIGHTS,
    MISSING_CHROMIUM,
    WIDTHS,
    LiveServer,
    serving,
)

HERE = Path(__file__).parent

# Playwright already turns off Chromium's background traffic (updates, sync, field trials),
# which this machine's closed network would only refuse; no GPU and no QUIC on a headless
# server either.
CHROMIUM_ARGS = ["--disable-gpu", "--disable-quic"]
LOOPBACK = ("127.0.0.1", "localhost", "::1")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test in this folder `browser`."""
    for item in items:
        if HERE in item.path.parents:
            item.add_marker(pytest.mark.browser)


# Once per test module, not per session: between its calls Playwright's sync API leaves its own
# event loop marked as running in the main thread, so while it is alive asyncio.run() fails in
# any other test. Stopping it at the end of each browser module leaves the rest of the suite
# as it found it (a "package" fixture would live to the end of the session: this folder has no
# __init__.py).
@pytest.fixture(scope="module")
def chromium() -> Iterator[Browser]:
    """Debian's chromium, headless, driven by Playwright; a clear failure when it is missing."""
    if not Path(CHROMIUM_PATH).is_file():
        pytest.fail(MISSING_CHROMIUM, pytrace=False)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM_PATH, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def live_server(tmp_path: Path, sqlite_template: Path) -> Iterator[LiveServer]:
    """The crisis line app with the demo data, served on loopback for the browser."""
    path = tmp_path / "crisisline.db"
    shutil.copy(sqlite_template, path)  # migrated once per run by `crisisline.migrate.upgrade`
    # The real time, standing still until a test moves it: cookies the browser keeps expire
    # when the app says, and a test can step past a TOTP code's 30 seconds without waiting.
    clock = FakeClock(dt.datetime.now(dt.UTC).replace(microsecond=0))
    printed = io.StringIO()
    with serving() as (url, holder):
        settings = make_settings(tmp_path, f"sqlite:///{path}", PUBLIC_BASE_URL=url)
        app = create_app(settings=settings, clock=clock, telephony=ConsoleTelephony(printed))
        services = services_of(app)
        with services.db.transaction() as session:
            seeded = demo.seed(session, now=clock.now())
        # A fresh database: the demo data always makes its administrator's account here.
        assert seeded.administrator_sign_in is not None
        holder.app = app
        try:
            yield LiveServer(
                url=url,
                app=app,
                clock=clock,
                telephony_out=printed,
                administrator=seeded.administrator_sign_in,
            )
        finally:
            services.db.dispose()


@pytest.fixture
def refused_requests() -> list[str]:
    """The addresses beyond loopback that this test's pages asked for (and were refused)."""
    return []


@pytest.fixture
def open_page(
    chromium: Browser, live_server: LiveServer, refused_requests: list[str]
) -> Iterator[Callable[[int], Page]]:
    """Opens a page `width` px wide in a context of its own (cookies of its own), at the live
    server; every one is closed when the test ends.

    pytest-socket guards only this process, not chromium's: a request a page makes to any host
    but loopback (a font or script from elsewhere) is refused here, and fails the test."""
    contexts: list[BrowserContext] = []

    def refuse(route: Route) -> None:
        refused_requests.append(route.request.url)
        route.abort("blockedbyclient")

    def open_(width: int = 1280) -> Page:
        context = chromium.new_context(
            base_url=live_server.url,
            viewport={"width": width, "height": HEIGHTS.get(width, 800)},
        )
        context.route(_beyond_loopback, refuse)
        contexts.append(context)
        return context.new_page()

    yield open_
    for context in contexts:
        context.close()
    if refused_requests:
        pytest.fail("pages asked for addresses beyond loopback: " + ", ".join(refused_requests))


def _beyond_loopback(url: str) -> bool:
    """True for an http(s) or ws(s) address on any host but this machine."""
    parts = urlsplit(url)
    return parts.scheme in ("http", "https", "ws", "wss") and parts.hostname not in LOOPBACK


@pytest.fixture(params=WIDTHS, ids=[f"{w}px" for w in WIDTHS])
def page(request: pytest.FixtureRequest, open_page: Callable[[int], Page]) -> Page:
    """A page at the live server, 360 px wide (a phone) and 1280 px wide (a laptop)."""
    width: int = request.param
    return open_page(width)
