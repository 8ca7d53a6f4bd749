"""The console in a real Chromium against a real ``serve``: a streamed reply, history, Stop."""

import re

import pytest
from playwright.sync_api import Page, expect

from tests.console.browser import (
    STREAMING_TEXT,
    ChatKitCalls,
    assistant_text,
    open_console,
    screenshot,
    thread_id_of,
    wait_until_idle,
)
from tests.support.wait import poll

pytestmark = pytest.mark.browser


def milliseconds(label: str) -> float:
    """The inspector's "+12 ms" / "+1.43 s" as milliseconds."""
    value, unit = label.removeprefix("+").split()
    return float(value) * (1000 if unit == "s" else 1)


def test_reply_grows_token_by_token_and_matches_the_stored_message(
    page: Page, console_server: str, calls: ChatKitCalls
) -> None:
    open_console(page, console_server)
    composer = page.locator("#message")
    composer.fill("Hello console")
    composer.press("Shift+Enter")
    composer.press_sequentially("second line")
    composer.press("Enter")

    expect(page.locator("#stop")).to_be_visible()
    page.wait_for_function(f"() => ({STREAMING_TEXT}) > 0")
    first = page.locator(".item.assistant .parts").last.inner_text()
    screenshot(page, "reply-1-growing")
    page.wait_for_function(f"n => ({STREAMING_TEXT}) > n + 20", arg=len(first))
    second = page.locator(".item.assistant .parts").last.inner_text()
    screenshot(page, "reply-2-growing")
    wait_until_idle(page)
    final = page.locator(".item.assistant .parts").last.inner_text()
    screenshot(page, "reply-3-done")

    assert 0 < len(first) < len(second) < len(final)
    assert second.startswith(first) and final.startswith(second)
    thread_id = thread_id_of(page)
    user, assistant = [item for item in calls.items(thread_id) if item["type"] != "end_of_turn"]
    assert user["content"] == [{"type": "input_text", "text": "Hello console\nsecond line"}]
    assert page.locator(".item.user .parts").inner_text() == "Hello console\nsecond line"
    assert assistant_text(assistant).strip() == final.strip()

    entry = page.locator(f"#thread-list li[data-thread-id='{thread_id}'] button")
    expect(entry).to_have_attribute("aria-current", "true")
    stored_title = calls.call({"type": "threads.get_by_id", "params": {"thread_id": thread_id}})[
        "title"
    ]
    expect(entry.locator(".thread-title")).to_have_text(stored_title or "Untitled thread")

    stream = page.locator("#exchanges .exchange[data-label='threads.create']")
    expect(stream.locator(".status")).to_have_text("200")
    expect(stream.locator(".request-id")).to_have_text(re.compile(r"^id [0-9a-f]{32}$"))
    types = stream.locator(".event .event-type").all_text_contents()
    assert types[0] == "thread.created"
    assert types.count("thread.item.updated") > 10
    assert "thread.item.done" in types
    times = [
        milliseconds(text) for text in stream.locator(".event .event-time").all_text_contents()
    ]
    assert len(times) == len(types) and times == sorted(times)
    assert times[-1] - times[0] > 1000  # tokens arrived over time, not in one burst


def test_history_is_shown_again_after_a_reload(
    page: Page, console_server: str, calls: ChatKitCalls
) -> None:
    open_console(page, console_server)
    page.locator("#message").fill("Remember this message")
    page.locator("#message").press("Enter")
    wait_until_idle(page)
    thread_id = thread_id_of(page)
    reply = page.locator(".item.assistant .parts").last.inner_text()

    page.reload()

    expect(page.locator(".item.user .parts")).to_have_text("Remember this message")
    expect(page.locator(".item.assistant .parts")).to_have_text(reply)
    expect(page.locator(f"#thread-list li[data-thread-id='{thread_id}'] button")).to_have_attribute(
        "aria-current", "true"
    )
    labels = page.locator("#exchanges .exchange .label").all_inner_texts()
    assert labels[:2] == ["items.list", "threads.get_by_id"]  # newest first
    screenshot(page, "history-after-reload")
    assert thread_id in {thread["id"] for thread in calls.threads()}


# Last in this module: a hang-up is the riskiest moment for the server.
def test_stop_aborts_the_stream_keeps_the_partial_reply_and_the_thread_goes_on(
    page: Page, console_server: str, calls: ChatKitCalls
) -> None:
    open_console(page, console_server)
    page.locator("#message").fill("Please stop me")
    page.locator("#send").click()
    page.wait_for_function(f"() => ({STREAMING_TEXT}) > 30")
    page.locator("#stop").click()

    expect(page.locator("#send")).to_be_visible()
    expect(page.locator("#stop")).to_be_hidden()
    expect(page.locator(".item.assistant.stopped .stopped-note")).to_have_text("stopped")
    shown = page.locator(".item.assistant .parts").last.inner_text()
    # A fixed wait on purpose: that no token arrives during it is what is tested.
    page.wait_for_timeout(500)
    assert page.locator(".item.assistant .parts").last.inner_text() == shown  # no more tokens
    stream = page.locator("#exchanges .exchange[data-label='threads.create']")
    expect(stream.locator(".status")).to_have_text("200 aborted")
    expect(stream.locator(".note")).to_contain_text("aborted by the Stop button")
    screenshot(page, "stream-stopped")

    thread_id = thread_id_of(page)

    def saved_replies() -> list[str] | None:
        replies = [
            assistant_text(item)
            for item in calls.items(thread_id)
            if item["type"] == "assistant_message"
        ]
        return replies or None

    # The server saves the partial reply once it sees the connection close.
    stored = poll(saved_replies, "the stopped reply is saved", within=10)
    assert len(stored) == 1 and stored[0].startswith(shown.strip())
    assert len(stored[0]) < 200, "the stored reply should be the stopped part, not the whole reply"

    page.locator("#message").fill("Carry on")
    page.locator("#message").press("Enter")
    wait_until_idle(page)
    expect(page.locator("#banner")).to_be_hidden()
    expect(page.locator(".item.assistant")).to_have_count(2)
    stored = [
        assistant_text(item)
        for item in calls.items(thread_id)
        if item["type"] == "assistant_message"
    ]
    assert len(stored) == 2 and len(stored[1]) > 200
