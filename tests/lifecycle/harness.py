"""A real app on uvicorn over a real store (SQLite file or PostgreSQL), and what the thread
lifecycle tests send it.

``served(kind, folder, ...)`` runs ``create_app`` on 127.0.0.1 with the store of ``kind``
(``sqlite``: a file in ``folder``; ``postgresql``: the session's database, migrated on
open) and yields a ``Live``: the base URL, the store's URL (tests open a store of their
own on it: the app's store belongs to the server's event loop) and the request helpers.
"""

import contextlib
import json
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from chatkit_backend.app import create_app
from chatkit_backend.auth.local import LOCAL_USER
from chatkit_backend.context import RequestContext
from chatkit_backend.settings import Settings
from chatkit_backend.stores import open_store
from tests.support.bodies import create_body, user_input
from tests.support.live import free_port, run_app, sse_events
from tests.support.wait import poll

STORE_KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
USER = RequestContext(user_id=LOCAL_USER)
"""Who every request is (``CHATKIT_AUTH=none``)."""


def store_url(kind: str, folder: Path, request: pytest.FixtureRequest) -> str:
    if kind == "sqlite":
        return f"sqlite:///{folder}/chat.db"
    url: str = request.getfixturevalue("postgres_url")
    return url


@dataclass
class Live:
    """A running app: where it listens, its store's URL, and helpers to talk to it."""

    base_url: str
    database_url: str
    app: FastAPI

    def post(self, body: dict[str, Any], **kwargs: Any) -> httpx.Response:
        return httpx.post(f"{self.base_url}/chatkit", json=body, timeout=60, **kwargs)

    def events(self, body: dict[str, Any], **kwargs: Any) -> list[dict[str, Any]]:
        """The events of a streaming request that must answer 200."""
        response = self.post(body, **kwargs)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"].startswith("text/event-stream")
        return sse_events(response.text)

    def create_thread(self, text: str = "hello there") -> tuple[str, list[dict[str, Any]]]:
        events = self.events(create_body(text))
        assert events[0]["type"] == "thread.created", events[0]
        return str(events[0]["thread"]["id"]), events

    def items(self, thread_id: str) -> list[dict[str, Any]]:
        response = self.post(
            {"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}
        )
        assert response.status_code == 200, response.text
        data: list[dict[str, Any]] = response.json()["data"]
        return data

    def thread(self, thread_id: str) -> dict[str, Any]:
        response = self.post({"type": "threads.get_by_id", "params": {"thread_id": thread_id}})
        assert response.status_code == 200, response.text
        thread: dict[str, Any] = response.json()
        return thread

    def run_store(self, call: Any) -> Any:
        """``await call(store)`` on a store of the test's own, in a fresh event loop."""
        import asyncio

        async def work() -> Any:
            store = open_store(self.database_url)
            await store.open()
            try:
                return await call(store)
            finally:
                await store.close()

        return asyncio.run(work())


def message(thread_id: str, text: str = "and then?") -> dict[str, Any]:
    return {
        "type": "threads.add_user_message",
        "params": {"thread_id": thread_id, "input": user_input(text)},
    }


def action(
    thread_id: str, action_type: str, item_id: str | None = None, **payload: Any
) -> dict[str, Any]:
    params: dict[str, Any] = {
        "thread_id": thread_id,
        "action": {"type": action_type, "payload": payload},
    }
    if item_id is not None:
        params["item_id"] = item_id
    return {"type": "threads.custom_action", "params": params}


def sync_action(
    thread_id: str, action_type: str, item_id: str | None = None, **payload: Any
) -> dict[str, Any]:
    body = action(thread_id, action_type, item_id, **payload)
    body["type"] = "threads.sync_custom_action"
    return body


def error_of(response: httpx.Response, status: int, code: str) -> str:
    """Assert a JSON error answer (not a stream) of ``status`` and ``code``; its message."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json", response.headers
    error = response.json()["error"]
    assert error["code"] == code, error
    message: str = error["message"]
    return message


@dataclass
class Streaming:
    """A streaming request read in a thread of its own: its events as they arrive."""

    live: Live
    body: dict[str, Any]
    headers: dict[str, str] | None = None

    def __post_init__(self) -> None:
        self.lines: list[dict[str, Any]] = []
        self.status: int | None = None
        self.error: BaseException | None = None
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            with httpx.stream(
                "POST",
                f"{self.live.base_url}/chatkit",
                content=json.dumps(self.body),
                headers=self.headers,
                timeout=60,
            ) as response:
                self.status = response.status_code
                for line in response.iter_lines():
                    if line.startswith("data: "):
                        self.lines.append(json.loads(line[6:]))
                    if self._stop.is_set():
                        return  # leaving the block closes the connection mid-stream
        except BaseException as exc:
            self.error = exc

    def wait_for(self, event_type: str, within: float = 20.0) -> dict[str, Any]:
        """The first event of ``event_type`` (waiting for it)."""

        def found() -> dict[str, Any] | None:
            return next((e for e in self.lines if e["type"] == event_type), None)

        return poll(found, f"a {event_type} event", within)

    def thread_id(self) -> str:
        created = self.wait_for("thread.created")
        return str(created["thread"]["id"])

    def disconnect(self) -> None:
        """Close the connection (after the next line arrives)."""
        self._stop.set()
        self._thread.join(timeout=30)

    def finish(self, within: float = 60.0) -> list[dict[str, Any]]:
        """Every event, once the stream ended."""
        self._thread.join(timeout=within)
        assert not self._thread.is_alive(), "the stream did not end"
        assert self.error is None, self.error
        return self.lines


@contextlib.contextmanager
def served(
    kind: str,
    folder: Path,
    request: pytest.FixtureRequest,
    settings: dict[str, Any] | None = None,
    **create: Any,
) -> Iterator[Live]:
    """``create_app(Settings(...), **create)`` on a real uvicorn over the store of ``kind``."""
    url = store_url(kind, folder, request)
    values: dict[str, Any] = {
        "data_dir": folder,
        "database_url": url,
        "db_auto_upgrade": True,
        "offline_token_delay": 0.0,
        "attachments": False,
        "port": free_port(),
        **(settings or {}),
    }
    app = create_app(Settings(**values), **create)
    with run_app(app, port=values["port"]) as base_url:
        yield Live(base_url, url, app)
