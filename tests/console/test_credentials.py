"""The credentials field: sent as a bearer token on every request, kept in session storage."""

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console.browser import ConsoleWatch
from tests.support.live import run_serve

pytestmark = pytest.mark.browser

API_KEY = "sk-console-test-9f2c"


@pytest.fixture(scope="module")
def guarded_server(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A ``serve`` that wants an API key (CHATKIT_AUTH=api-key)."""
    env = {
        "CHATKIT_CONSOLE": "true",
        "CHATKIT_DATA_DIR": str(tmp_path_factory.mktemp("console-auth")),
        "CHATKIT_AUTH": "api-key",
        "CHATKIT_API_KEYS": f'{{"{API_KEY}": "alice"}}',
        "CHATKIT_LOG_LEVEL": "WARNING",
    }
    with run_serve(env=env) as (base_url, _process):
        yield base_url


def test_key_is_sent_as_bearer_and_kept_for_the_tab_only(
    page: Page, browser: Browser, guarded_server: str, watch: ConsoleWatch
) -> None:
    watch.expect_http_error(401, f"{guarded_server}/chatkit")
    page.goto(f"{guarded_server}/console")
    expect(page.locator("#auth-mode")).to_have_text("auth: api-key")
    refused = page.locator("#exchanges .exchange.failed")
    expect(refused.locator(".status")).to_have_text("401")
    expect(page.locator("#banner")).to_contain_text("401 unauthorized")
    expect(page.locator("#banner")).to_contain_text("Enter an API key or token above.")

    page.locator("#credentials").fill(API_KEY)
    page.locator("#credentials").press("Enter")

    accepted = page.locator("#exchanges .exchange").first
    expect(accepted.locator(".status")).to_have_text("200")
    expect(page.locator("#banner")).to_be_hidden()
    request_head = accepted.locator("pre").first.text_content() or ""
    assert "authorization: Bearer ••••••••9f2c" in request_head
    assert API_KEY not in request_head  # the inspector masks the key
    stored = page.evaluate(
        "() => [sessionStorage.length, sessionStorage.getItem('chatkit-console.credentials'), localStorage.length]"
    )
    assert stored == [1, API_KEY, 0]

    page.reload()  # same tab: the key is still there and used at once
    expect(page.locator("#credentials")).to_have_value(API_KEY)
    expect(page.locator("#exchanges .exchange .status")).to_have_text(["200"])

    other = browser.new_context().new_page()  # a new session knows nothing of it
    other.goto(f"{guarded_server}/console")
    expect(other.locator("#credentials")).to_have_value("")
    other.context.close()
