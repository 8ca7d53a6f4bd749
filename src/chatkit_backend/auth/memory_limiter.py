"""Limits counted inside one process (each worker of ``--workers N`` counts on its own)."""

import math
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from chatkit_backend.auth.limits import (
    WINDOW_SECONDS,
    Release,
    limit_key,
    noop_release,
    release_once,
    too_many_requests,
    too_many_streams,
)


class InProcessLimiter:
    """A sliding window: at most ``per_minute`` accepted requests in any ``window`` seconds.

    Refused requests are not counted, so a client that keeps retrying is let in as soon
    as its oldest request leaves the window. 0 turns a limit off.
    """

    def __init__(
        self,
        per_minute: int,
        max_streams: int,
        *,
        window: float = WINDOW_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.per_minute = per_minute
        self.max_streams = max_streams
        self.window = window
        self.clock = clock
        self._requests: dict[str, deque[float]] = {}
        self._streams: dict[str, int] = {}
        self._swept = clock()

    async def check_request(self, context: Any) -> None:
        if not self.per_minute:
            return
        now = self.clock()
        self._sweep(now)
        key = limit_key(context)
        times = self._requests.setdefault(key, deque())
        while times and times[0] <= now - self.window:
            times.popleft()
        if len(times) >= self.per_minute:
            retry_after = max(1, math.ceil(times[0] + self.window - now))
            raise too_many_requests(self.per_minute, retry_after)
        times.append(now)

    def _sweep(self, now: float) -> None:
        """Forget users idle for a whole window, once per window, so memory follows active users."""
        if now - self._swept < self.window:
            return
        self._swept = now
        for key in [
            key
            for key, times in self._requests.items()
            if not times or times[-1] <= now - self.window
        ]:
            del self._requests[key]

    async def acquire_stream(self, context: Any) -> Release:
        if not self.max_streams:
            return noop_release
        key = limit_key(context)
        if self._streams.get(key, 0) >= self.max_streams:
            raise too_many_streams(self.max_streams)
        self._streams[key] = self._streams.get(key, 0) + 1

        async def free() -> None:
            left = self._streams.get(key, 1) - 1
            if left > 0:
                self._streams[key] = left
            else:
                self._streams.pop(key, None)

        return release_once(free)

    def open_streams(self, context: Any) -> int:
        return self._streams.get(limit_key(context), 0)

    async def ping(self) -> str | None:
        return None  # counts live in this process: nothing to reach

    async def aclose(self) -> None:
        return None
