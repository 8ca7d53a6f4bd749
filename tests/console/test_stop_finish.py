"""With ``CHATKIT_ON_DISCONNECT=finish``, in a real Chromium against a real ``serve``: the
console's Stop still stops a reply, and so does the ``api.fetch`` docs/frontend.md gives
ChatKit, which keys on the abort (the stop button) and not on the page going away."""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.console.browser import (
    STREAMING_TEXT,
    ChatKitCalls,
    assistant_text,
    open_console,
    thread_id_of,
)
from tests.support.bodies import create_body
from tests.support.live import run_serve
from tests.support.wait import poll

pytestmark = pytest.mark.browser

DOC = Path(__file__).resolve().parents[2] / "docs" / "frontend.md"
FULL_REPLY_CHARS = 200
"""The offline model's reply is longer than this; a stopped one is shorter."""


@pytest.fixture(scope="module")
def console_server(chromium: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    env = {
        "CHATKIT_CONSOLE": "true",
        "CHATKIT_DATA_DIR": str(tmp_path_factory.mktemp("finish-data")),
        "CHATKIT_OFFLINE_TOKEN_DELAY": "0.05",
        "CHATKIT_ON_DISCONNECT": "finish",
        "CHATKIT_LOG_LEVEL": "WARNING",
    }
    with run_serve(env=env) as (base_url, _process):
        yield base_url


def _stored_replies(calls: ChatKitCalls, thread_id: str, count: int) -> list[str]:
    def saved() -> list[str] | None:
        texts = [
            assistant_text(item)
            for item in calls.items(thread_id)
            if item["type"] == "assistant_message"
        ]
        return texts if len(texts) == count else None

    return poll(saved, f"{count} stored replies", within=20)


def test_the_consoles_stop_stops_a_reply_that_would_otherwise_run_on(
    page: Page, console_server: str, calls: ChatKitCalls
) -> None:
    open_console(page, console_server)
    page.locator("#message").fill("Please stop me")
    page.locator("#send").click()
    page.wait_for_function(f"() => ({STREAMING_TEXT}) > 30")
    page.locator("#stop").click()

    stop = page.locator("#exchanges .exchange[data-label='stop']")
    expect(stop.locator(".status")).to_have_text("200")
    (stored,) = _stored_replies(calls, thread_id_of(page), 1)
    assert 0 < len(stored) < FULL_REPLY_CHARS, stored


def _snippet() -> str:
    text = DOC.read_text(encoding="utf-8")
    block = text.split("<!-- example: stop-fetch -->", 1)[1].split("```js\n", 1)[1]
    return block.split("```", 1)[0]


START_STREAM = """
async ({ url, body, abort }) => {
  const controller = new AbortController();
  const response = await stoppableFetch()(url, {
    method: "POST",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body),
    signal: controller.signal,
  });
  const reader = response.body.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while ((text.match(/text_delta/g) || []).length < 3) {
    const { value, done } = await reader.read();
    if (done) break;
    text += decoder.decode(value, { stream: true });
  }
  window.reader = reader;  // keep reading nothing more: the page decides what happens
  if (abort) controller.abort();  // what ChatKit's stop button does
  return text.match(/"thread":\\{"id":"([^"]+)"/)[1];
}
"""


@pytest.fixture
def page_without_csp(browser: Browser) -> Iterator[Page]:
    """A tab where the test may run the docs' script (the console's CSP forbids inline code)."""
    context = browser.new_context(bypass_csp=True)
    page = context.new_page()
    page.set_default_timeout(15_000)
    try:
        yield page
    finally:
        context.close()


def _start(page: Page, base_url: str, abort: bool) -> str:
    open_console(page, base_url)
    page.evaluate(_snippet() + "\nwindow.stoppableFetch = stoppableFetch;")
    args: dict[str, Any] = {
        "url": f"{base_url}/chatkit",
        "body": create_body("Tell me everything"),
        "abort": abort,
    }
    return str(page.evaluate(START_STREAM, args))


def test_the_documented_fetch_stops_the_reply_when_chatkit_aborts_it(
    page_without_csp: Page, console_server: str, calls: ChatKitCalls
) -> None:
    thread_id = _start(page_without_csp, console_server, abort=True)
    (stored,) = _stored_replies(calls, thread_id, 1)
    assert 0 < len(stored) < FULL_REPLY_CHARS, stored


def test_the_documented_fetch_lets_the_reply_finish_when_the_page_goes_away(
    page_without_csp: Page, console_server: str, calls: ChatKitCalls
) -> None:
    thread_id = _start(page_without_csp, console_server, abort=False)
    page_without_csp.goto("about:blank")  # a reload, a closed tab: no stop is sent
    (stored,) = _stored_replies(calls, thread_id, 1)
    assert len(stored) > FULL_REPLY_CHARS, stored
    assert stored.startswith("You wrote: “Tell me everything”.")
