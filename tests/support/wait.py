"""Polls on a deadline, for tests that wait for something to happen (never a fixed sleep)."""

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")

INTERVAL = 0.02
"""Seconds between two checks."""


def poll(check: Callable[[], T | None], what: str, within: float = 10.0) -> T:
    """The first result of ``check()`` that is neither None nor False, checked every 20 ms.

    Raises ``AssertionError`` naming ``what`` once ``within`` seconds pass without one.
    """
    deadline = time.monotonic() + within
    while True:
        result = check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        time.sleep(INTERVAL)


async def apoll(check: Callable[[], Awaitable[T | None]], what: str, within: float = 10.0) -> T:
    """``poll`` for a coroutine function, awaited in the test's event loop."""
    deadline = time.monotonic() + within
    while True:
        result = await check()
        if result is not None and result is not False:
            return result
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within} s")
        await asyncio.sleep(INTERVAL)


async def apoll_until_accepted(
    attempt: Callable[[], Awaitable[T]],
    refused: type[BaseException] | tuple[type[BaseException], ...],
    what: str,
    within: float = 10.0,
) -> T:
    """The result of the first ``attempt()`` that does not raise ``refused``; its last error after ``within`` seconds."""
    deadline = time.monotonic() + within
    while True:
        try:
            return await attempt()
        except refused as exc:
            if time.monotonic() > deadline:
                raise AssertionError(f"{what}: still refused after {within} s: {exc}") from exc
        await asyncio.sleep(INTERVAL)
