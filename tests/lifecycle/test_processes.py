"""Two ``chatkit-backend serve`` processes on one database: one reply at a time per thread
holds across them, a lease whose holder was killed (``kill -9``) expires, and a stop sent
to one process stops a reply running in the other."""

import json
import subprocess
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.lifecycle.harness import STORE_KINDS, message, store_url
from tests.support.bodies import create_body
from tests.support.live import run_serve, sse_events
from tests.support.wait import poll

LEASE_SECONDS = 3
START_TIMEOUT = 90.0


@contextmanager
def two_servers(
    kind: str, folder: Path, request: pytest.FixtureRequest, **env: str
) -> Iterator[list[tuple[str, subprocess.Popen[str]]]]:
    """Two ``serve`` processes on the store of ``kind``, each yielded as (URL, process)."""
    url = store_url(kind, folder, request)
    shared = {
        "CHATKIT_DATABASE_URL": url,
        "CHATKIT_DB_AUTO_UPGRADE": "true",
        "CHATKIT_ATTACHMENTS": "false",
        "CHATKIT_OFFLINE_TOKEN_DELAY": "0.05",  # a reply streams for ~3 s
        "CHATKIT_REPLY_LEASE_SECONDS": str(LEASE_SECONDS),
        **env,
    }
    with ExitStack() as stack:
        servers = [
            stack.enter_context(
                run_serve(
                    {**shared, "CHATKIT_DATA_DIR": str(folder / f"data-{n}")},
                    log=folder / f"serve-{n}.log",
                    timeout=START_TIMEOUT,
                )
            )
            for n in (1, 2)
        ]
        yield servers


def post(base_url: str, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
    return httpx.post(f"{base_url}/chatkit", json=body, timeout=60, **kwargs)


def create_thread(base_url: str) -> str:
    response = post(base_url, create_body("hello"))
    assert response.status_code == 200, response.text
    return str(sse_events(response.text)[0]["thread"]["id"])


class ReplyStreaming:
    """A reply on a thread read in a thread of this process (reading stops on ``close``,
    which closes the connection, or when the server dies)."""

    def __init__(self, base_url: str, thread_id: str, request_id: str | None = None) -> None:
        self.started = threading.Event()
        self._close = threading.Event()
        headers = {"X-Request-ID": request_id} if request_id else None
        body = json.dumps(message(thread_id, "tell me more"))
        self._reader = threading.Thread(
            target=self._read, args=(base_url, body, headers), daemon=True
        )
        self._reader.start()
        assert self.started.wait(30), "the reply did not start"

    def _read(self, base_url: str, body: str, headers: dict[str, str] | None) -> None:
        try:
            with httpx.stream(
                "POST", f"{base_url}/chatkit", content=body, headers=headers, timeout=60
            ) as response:
                assert response.status_code == 200
                for line in response.iter_lines():
                    if '"thread.item.updated"' in line:
                        self.started.set()
                    if self._close.is_set():
                        return
        except httpx.TransportError:
            pass  # the server was killed

    def close(self) -> None:
        """Close the connection (after the next event), as a page that goes away does."""
        self._close.set()
        self._reader.join(timeout=30)


def _status(base_url: str, thread_id: str) -> int:
    return post(base_url, message(thread_id, "from the other one")).status_code


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_a_reply_on_one_server_makes_the_thread_busy_on_the_other_until_its_lease_expires(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with two_servers(kind, tmp_path, request) as [(first, first_process), (second, _)]:
        thread_id = create_thread(first)
        reply = ReplyStreaming(first, thread_id)
        try:
            refused = post(second, message(thread_id, "from the other one"))
            assert refused.status_code == 409, refused.text
            assert refused.json()["error"]["code"] == "thread_busy"
            reads = post(second, {"type": "items.list", "params": {"thread_id": thread_id}})
            assert reads.status_code == 200

            first_process.kill()  # kill -9 mid-reply: the lease is never released
            killed_at = time.monotonic()
            first_process.wait(timeout=10)
            # Busy until the lease, last renewed at most LEASE_SECONDS / 3 ago, expires.
            assert _status(second, thread_id) == 409
            poll(lambda: _status(second, thread_id) == 200, "the thread free again", within=20)
            waited = time.monotonic() - killed_at
        finally:
            reply.close()
        assert LEASE_SECONDS * 2 / 3 - 0.5 < waited < LEASE_SECONDS + 5


@pytest.mark.parametrize("kind", STORE_KINDS)
def test_with_on_disconnect_finish_a_stop_sent_to_either_server_stops_the_reply(
    kind: str, tmp_path: Path, request: pytest.FixtureRequest
) -> None:
    with two_servers(kind, tmp_path, request, CHATKIT_ON_DISCONNECT="finish") as servers:
        (first, _), (second, _) = servers
        thread_id = create_thread(first)
        full = _assistant_texts(second, thread_id)[-1]
        ReplyStreaming(first, thread_id, request_id="stop-me-1").close()
        # The page went away: the reply runs on, on the first server.
        stopped = httpx.post(f"{second}/chatkit/stop", json={"request_id": "stop-me-1"}, timeout=30)
        assert stopped.status_code == 200, stopped.text
        assert stopped.json() == {"stopping": True}
        # The stopped reply keeps what it had generated (a part of the full reply: the
        # whole one takes ~3 s), and the thread takes messages again.

        def saved() -> list[str] | None:
            texts = _assistant_texts(second, thread_id)
            return texts if len(texts) == 2 else None

        texts = poll(saved, "the stopped reply saved", within=10)
        partial = texts[1]
        assert partial.startswith("You wrote: “tell me more”.")
        assert len(partial) < len(full) - 40, texts  # stopped before the end
        assert _status(second, thread_id) == 200


def _assistant_texts(base_url: str, thread_id: str) -> list[str]:
    response = post(
        base_url, {"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}
    )
    assert response.status_code == 200
    return [
        "".join(part["text"] for part in item["content"])
        for item in response.json()["data"]
        if item["type"] == "assistant_message"
    ]
