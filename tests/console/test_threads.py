"""The thread list and thread actions (paging, rename, delete), a 404 in the inspector, and
the page's SSE parser."""

from collections.abc import Callable

import pytest
from playwright.sync_api import Page, expect

from tests.console.browser import ChatKitCalls, ConsoleWatch, open_console, screenshot

pytestmark = pytest.mark.browser

# Replies take no time here: these tests set up threads through the API.
CONSOLE_TOKEN_DELAY = "0"


def test_not_found_answer_is_shown_in_the_inspector_as_sent(
    page: Page, console_server: str, calls: ChatKitCalls, watch: ConsoleWatch
) -> None:
    thread_id = calls.create_thread("soon deleted")
    open_console(page, console_server)
    entry = page.locator(f"#thread-list li[data-thread-id='{thread_id}'] button")
    expect(entry).to_be_visible()
    calls.delete_thread(thread_id)
    watch.expect_http_error(404, f"{console_server}/chatkit")

    entry.click()

    failed = page.locator("#exchanges .exchange.failed")
    expect(failed).to_have_count(1)
    expect(failed.locator(".label")).to_have_text("threads.get_by_id")
    expect(failed.locator(".status")).to_have_text("404")
    request_id = failed.locator(".request-id").inner_text().removeprefix("id ")
    body = failed.locator("[data-role='body']")
    expect(body).to_be_visible()  # a failed exchange opens by itself
    assert body.inner_text() == (
        '{"error":{"code":"not_found","message":"thread \''
        + thread_id
        + '\' not found","request_id":"'
        + request_id
        + '"}}'
    )
    expect(page.locator("#banner")).to_contain_text(
        f"404 not_found: thread '{thread_id}' not found"
    )
    expect(entry).to_have_count(0)  # the stale entry leaves the list
    screenshot(page, "not-found-in-inspector")


def test_rename_and_delete_a_thread(page: Page, console_server: str, calls: ChatKitCalls) -> None:
    thread_id = calls.create_thread("a thread to rename")
    open_console(page, console_server, f"#thread={thread_id}")
    expect(page.locator("#rename-thread")).to_be_enabled()

    page.locator("#rename-thread").click()
    page.locator("#rename-input").fill("Renamed from the console")
    page.locator("#rename-input").press("Enter")

    expect(page.locator("#thread-title")).to_have_text("Renamed from the console")
    expect(
        page.locator(f"#thread-list li[data-thread-id='{thread_id}'] .thread-title")
    ).to_have_text("Renamed from the console")
    assert calls.thread(thread_id).json()["title"] == "Renamed from the console"

    page.locator("#delete-thread").click()
    expect(page.locator("#delete-thread")).to_have_text("Confirm delete")
    assert calls.thread(thread_id).status_code == 200  # one click does not delete
    page.locator("#delete-thread").click()

    expect(page.locator(f"#thread-list li[data-thread-id='{thread_id}']")).to_have_count(0)
    expect(page.locator("#thread-title")).to_have_text("New thread")
    assert calls.thread(thread_id).status_code == 404
    assert "#thread=" not in page.url


def test_thread_list_is_newest_first_and_pages_with_load_more(
    page: Page, console_server: str, calls: ChatKitCalls
) -> None:
    for number in range(22):
        calls.create_thread(f"paging thread {number}")
    expected = [thread["id"] for thread in calls.threads(limit=100)]
    open_console(page, console_server)

    rows = page.locator("#thread-list li")
    expect(rows).to_have_count(20)
    more = page.locator("#threads-more")
    expect(more).to_be_visible()
    while more.is_visible():
        count = rows.count()
        more.click()
        expect(rows).not_to_have_count(count)

    shown = [row.get_attribute("data-thread-id") for row in rows.all()]
    assert shown == expected
    assert len(shown) >= 22


# -- the page's SSE parser (sse.js), on bodies cut at awkward places --------------------

PARSE = """async (chunks) => {
    const { SSEParser } = await import("/console/static/sse.js");
    const parser = new SSEParser();
    const events = [];
    for (const chunk of chunks) events.push(...parser.push(chunk));
    events.push(...parser.end());
    return events.map((event) => [event.event, event.data]);
}"""


Parse = Callable[[list[str]], list[list[str]]]


@pytest.fixture
def parse(page: Page, console_server: str) -> Parse:
    """Feed chunks to the page's own SSEParser; returns [event name, data] pairs."""
    page.goto(f"{console_server}/console")
    return lambda chunks: page.evaluate(PARSE, chunks)


def test_events_split_across_chunks_are_joined(parse: Parse) -> None:
    body = 'data: {"type":"a"}\n\ndata: {"type":"b","delta":"x y"}\n\n'
    chunks = [body[i : i + 3] for i in range(0, len(body), 3)]
    assert parse(chunks) == [["message", '{"type":"a"}'], ["message", '{"type":"b","delta":"x y"}']]


def test_crlf_comments_multiline_data_and_a_missing_last_blank_line(parse: Parse) -> None:
    chunks = [": keep-alive\r\n\r\nevent: note\r", "\ndata: one\r\ndata:two\r\n\r\n", "data: last"]
    assert parse(chunks) == [["note", "one\ntwo"], ["message", "last"]]
