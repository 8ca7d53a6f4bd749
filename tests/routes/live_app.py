"""Helpers for tests that run ``create_app`` under a real uvicorn on 127.0.0.1."""

import contextlib
import io
import json
import logging
import logging.config
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from chatkit_backend.app import create_app
from chatkit_backend.logs import PACKAGE_LOGGERS, logging_config
from chatkit_backend.settings import Settings
from tests.support.bodies import create_body as create_body  # re-exported for the tests
from tests.support.live import free_port, run_app, sse_events

HINT = "hi"


def make_settings(data_dir: Path, **overrides: Any) -> Settings:
    """Settings for a test server: SQLite in ``data_dir``, instant offline model, a known port."""
    values: dict[str, Any] = {"data_dir": data_dir, "offline_token_delay": 0.0, "port": free_port()}
    values.update(overrides)
    return Settings(**values)


@contextlib.contextmanager
def serve(settings: Settings, **kwargs: Any) -> Iterator[tuple[str, FastAPI]]:
    """``create_app(settings, **kwargs)`` on a real uvicorn, on ``settings.port``; yields (URL, app)."""
    app = create_app(settings, **kwargs)
    with run_app(app, port=settings.port) as base_url:
        yield base_url, app


def add_message_body(thread_id: str, text: str = HINT) -> dict[str, Any]:
    body = create_body(text)
    return {
        "type": "threads.add_user_message",
        "params": {"thread_id": thread_id, **body["params"]},
    }


def post(
    base_url: str, body: dict[str, Any] | bytes | str, path: str = "/chatkit", **kwargs: Any
) -> httpx.Response:
    """POST a ChatKit request (a dict is sent as JSON bytes, without a content type, like curl -d)."""
    content = json.dumps(body).encode() if isinstance(body, dict) else body
    return httpx.post(base_url + path, content=content, timeout=30, **kwargs)


def error_of(response: httpx.Response, status: int) -> dict[str, str]:
    """Assert the status and the one error shape; return the inner ``error`` object."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert list(body) == ["error"]
    error = body["error"]
    assert set(error) == {"code", "message", "request_id"}
    assert error["request_id"] == response.headers["x-request-id"]
    assert "Traceback" not in response.text
    return error  # type: ignore[no-any-return]


def events_of(response: httpx.Response) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/event-stream")
    return sse_events(response.text)


def create_thread(base_url: str, text: str = HINT) -> tuple[str, list[dict[str, Any]]]:
    """Run a ``threads.create`` stream to its end; return the thread id and the events."""
    events = events_of(post(base_url, create_body(text)))
    assert events[0]["type"] == "thread.created"
    return events[0]["thread"]["id"], events


def assistant_text(events: list[dict[str, Any]]) -> str:
    """The assistant message text of a finished stream (its ``thread.item.done``)."""
    for event in events:
        if event["type"] == "thread.item.done" and event["item"]["type"] == "assistant_message":
            return "".join(part["text"] for part in event["item"]["content"])
    raise AssertionError(f"no assistant message in {[event['type'] for event in events]}")


@contextlib.contextmanager
def captured_log(log_format: str = "text", level: str = "INFO") -> Iterator[io.StringIO]:
    """The package's log set-up (as ``serve`` installs it), writing into a buffer.

    ``create_app`` leaves logging alone, so tests install the set-up themselves and put
    the loggers back as they were afterwards.
    """
    names = [*PACKAGE_LOGGERS, "openai.agents", "uvicorn.access"]
    saved = {
        name: (logger.handlers[:], logger.level, logger.propagate, logger.disabled)
        for name in names
        for logger in [logging.getLogger(name)]
    }
    buffer = io.StringIO()
    logging.config.dictConfig(logging_config(level, log_format))
    handler = logging.getLogger("chatkit_backend").handlers[0]
    assert isinstance(handler, logging.StreamHandler)
    handler.setStream(buffer)
    try:
        yield buffer
    finally:
        for name, (handlers, old_level, propagate, disabled) in saved.items():
            logger = logging.getLogger(name)
            logger.handlers = handlers
            logger.setLevel(old_level)
            logger.propagate = propagate
            logger.disabled = disabled


def wait_for_log(log: io.StringIO, needle: str, within: float = 5.0) -> str:
    """The captured log once it holds ``needle``: the access line is written after the answer."""
    deadline = time.monotonic() + within
    while needle not in log.getvalue():
        if time.monotonic() > deadline:
            raise AssertionError(f"{needle!r} not logged:\n{log.getvalue()[-3000:]}")
        time.sleep(0.02)
    return log.getvalue()
