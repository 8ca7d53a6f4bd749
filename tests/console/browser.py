"""Helpers for the console's browser tests: Debian's Chromium under Playwright, a watch on
the page's console, screenshots, and a few ChatKit calls made straight to the server."""

import os
import re
import struct
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import ConsoleMessage, Error, Page, expect

from tests.support.bodies import create_body
from tests.support.live import REPO, sse_event, sse_events

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ARTIFACTS = REPO / "test-artifacts" / "console"
# How Chromium reports a failed response in the console; the page's own code never logs it.
NETWORK_ERROR = re.compile(
    r"^Failed to load resource: the server responded with a status of (\d{3})\b"
)


def chromium_or_skip() -> Path:
    """Debian's Chromium; without it skip (or fail under CI, where it must be installed)."""
    if CHROMIUM.exists():
        return CHROMIUM
    message = f"Chromium is not installed at {CHROMIUM}: run scripts/install-browser"
    if os.environ.get("CI", "").lower() in ("1", "true", "yes"):
        pytest.fail(f"{message} (CI must run the browser tests)")
    pytest.skip(f"{message} to run the console's browser tests")


@dataclass
class ConsoleWatch:
    """Collects console errors and page errors; only declared HTTP failures are allowed."""

    errors: list[str] = field(default_factory=list)
    expected: list[tuple[int, str]] = field(default_factory=list)
    seen_expected: list[tuple[int, str]] = field(default_factory=list)

    def expect_http_error(self, status: int, url: str) -> None:
        """The test makes a request fail on purpose: Chromium logs it; that line is allowed."""
        self.expected.append((status, url))

    def on_console(self, message: ConsoleMessage) -> None:
        if message.type != "error":
            return
        failed = NETWORK_ERROR.match(message.text)
        where = message.location.get("url", "")
        if failed and (int(failed[1]), where) in self.expected:
            self.seen_expected.append((int(failed[1]), where))
            return
        self.errors.append(f"console.error: {message.text} at {where}")

    def on_page_error(self, error: Error) -> None:
        self.errors.append(f"page error: {error}")

    def check(self) -> None:
        assert self.errors == [], "the page reported errors:\n" + "\n".join(self.errors)
        missing = [pair for pair in self.expected if pair not in self.seen_expected]
        assert missing == [], f"expected failed requests were not seen: {missing}"


def screenshot(page: Page, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / f"{name}.png"
    page.screenshot(path=str(path))
    return path


def png_image(width: int, height: int) -> bytes:
    """A real PNG: a diagonal gradient, so a preview that renders has visible pixels."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    rows = b"".join(
        b"\x00" + b"".join(bytes((x * 255 // width, y * 255 // height, 160)) for x in range(width))
        for y in range(height)
    )
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(rows))
        + chunk(b"IEND", b"")
    )


class ChatKitCalls:
    """Direct calls to the server's ChatKit endpoint, to set up and check what the page shows."""

    def __init__(self, base_url: str, path: str = "/chatkit") -> None:
        self.url = f"{base_url}{path}"

    def post(self, body: dict[str, Any]) -> httpx.Response:
        return httpx.post(self.url, json=body, timeout=30)

    def call(self, body: dict[str, Any]) -> Any:
        response = self.post(body)
        response.raise_for_status()
        return response.json()

    def items(self, thread_id: str) -> list[dict[str, Any]]:
        page = self.call(
            {"type": "items.list", "params": {"thread_id": thread_id, "limit": 100, "order": "asc"}}
        )
        return list(page["data"])

    def thread(self, thread_id: str) -> httpx.Response:
        return self.post({"type": "threads.get_by_id", "params": {"thread_id": thread_id}})

    def threads(self, limit: int = 100) -> list[dict[str, Any]]:
        return list(
            self.call({"type": "threads.list", "params": {"limit": limit, "order": "desc"}})["data"]
        )

    def create_thread(self, text: str, *, wait: bool = True) -> str:
        """Start a thread; with ``wait=False`` hang up after ``thread.created`` (no reply)."""
        body = create_body(text)
        with httpx.stream("POST", self.url, json=body, timeout=30) as response:
            response.raise_for_status()
            if wait:
                events = sse_events(response.read().decode())
                return str(next(e["thread"]["id"] for e in events if e["type"] == "thread.created"))
            for line in response.iter_lines():
                event = sse_event(line)
                if event is not None and event["type"] == "thread.created":
                    return str(event["thread"]["id"])
        raise AssertionError("the stream had no thread.created event")

    def delete_thread(self, thread_id: str) -> None:
        self.call({"type": "threads.delete", "params": {"thread_id": thread_id}})


def assistant_text(item: dict[str, Any]) -> str:
    return "".join(part.get("text", "") for part in item["content"])


# -- driving the page ------------------------------------------------------------------

STREAMING_TEXT = (
    "document.querySelector('.item.assistant.streaming .parts')?.textContent.length ?? 0"
)


def open_console(page: Page, base_url: str, fragment: str = "") -> None:
    page.goto(f"{base_url}/console{fragment}")
    expect(page.locator("#exchanges .exchange[data-label='threads.list'] .status")).to_have_text(
        "200"
    )


def wait_until_idle(page: Page) -> None:
    expect(page.locator("#send")).to_be_visible(timeout=30_000)
    expect(page.locator(".item.assistant.streaming")).to_have_count(0)


def thread_id_of(page: Page) -> str:
    match = re.search(r"#thread=(.+)$", page.url)
    assert match, f"no thread in the page's URL: {page.url}"
    return match[1]
