"""Fixtures for the console's browser tests: one Chromium and one ``serve`` process per test
module, one fresh browser context per test.

Chromium is module-scoped on purpose: Playwright's sync API keeps its event loop marked as
running while it is open, so async tests elsewhere must not run while it is.
"""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, sync_playwright

from tests.console.browser import CHROMIUM_ARGS, ChatKitCalls, ConsoleWatch, chromium_or_skip
from tests.support.live import run_serve

# Slow enough that a reply visibly grows between two screenshots and can be stopped midway.
# A test module may set CONSOLE_TOKEN_DELAY to change it for its server.
TOKEN_DELAY = "0.05"


@pytest.fixture(scope="module")
def chromium() -> Path:
    return chromium_or_skip()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield browser
        finally:
            browser.close()


@pytest.fixture(scope="module")
def console_server(
    chromium: Path, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[str]:
    """A real ``chatkit-backend serve`` (one per test module) with the console on and the
    offline model."""
    data_dir = tmp_path_factory.mktemp("console-data")
    env = {
        "CHATKIT_CONSOLE": "true",
        "CHATKIT_DATA_DIR": str(data_dir),
        "CHATKIT_OFFLINE_TOKEN_DELAY": getattr(request.module, "CONSOLE_TOKEN_DELAY", TOKEN_DELAY),
        "CHATKIT_LOG_LEVEL": "WARNING",
    }
    with run_serve(env=env) as (base_url, _process):
        yield base_url


@pytest.fixture
def calls(console_server: str) -> ChatKitCalls:
    return ChatKitCalls(console_server)


@pytest.fixture
def watch() -> ConsoleWatch:
    return ConsoleWatch()


@pytest.fixture
def page(browser: Browser, watch: ConsoleWatch) -> Iterator[Page]:
    """A fresh tab (own session storage) whose console errors fail the test."""
    context = browser.new_context(viewport={"width": 1400, "height": 860})
    page = context.new_page()
    page.set_default_timeout(15_000)
    page.on("console", watch.on_console)
    page.on("pageerror", watch.on_page_error)
    try:
        yield page
    finally:
        context.close()
    watch.check()
