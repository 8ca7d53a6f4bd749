"""Fixtures for the responder: a fake model server, and the real app on uvicorn in front of it."""

import contextlib
import json
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest

from chatkit_backend.app import create_app
from chatkit_backend.settings import Settings
from chatkit_backend.stores import MemoryStore
from tests.fakes.openai_server import FakeOpenAIServer
from tests.support.live import run_app, sse_events

MODEL_KINDS = ["openai-compatible", "openai"]


@pytest.fixture
def fake() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer() as server:
        yield server


def model_settings(kind: str, fake: FakeOpenAIServer, **overrides: Any) -> Settings:
    """Settings that point a model of ``kind`` at the fake server, failing fast."""
    values: dict[str, Any] = {
        "model": f"{kind}:fake-model",
        "model_base_url": fake.url,
        "model_api_key": "sk-test",
        "model_max_retries": 0,
        "model_first_token_timeout": 5.0,
        "model_idle_timeout": 5.0,
        "title_timeout": 2.0,
        "database_url": "memory://",
        "attachments": False,
    }
    values.update(overrides)
    return Settings(**values)


def offline_settings(**overrides: Any) -> Settings:
    """Settings with no model configured (the offline model), a memory store, no delay."""
    values: dict[str, Any] = {
        "model_api_key": None,
        "model_base_url": None,
        "database_url": "memory://",
        "attachments": False,
        "offline_token_delay": 0.0,
    }
    values.update(overrides)
    return Settings(**values)


def user_input(text: str, **extra: Any) -> dict[str, Any]:
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": {},
        **extra,
    }


@dataclass
class Stream:
    """One streamed ChatKit response: its events, and the request id the server gave it."""

    events: list[dict[str, Any]]
    request_id: str
    status: int

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [event for event in self.events if event["type"] == kind]

    @property
    def thread_id(self) -> str:
        return str(self.of_type("thread.created")[0]["thread"]["id"])

    @property
    def assistant_text(self) -> str:
        done = [
            event["item"]
            for event in self.of_type("thread.item.done")
            if event["item"]["type"] == "assistant_message"
        ]
        return "".join(part["text"] for item in done for part in item["content"])

    @property
    def error(self) -> dict[str, Any]:
        errors = self.of_type("error")
        assert len(errors) == 1, f"expected one error event, got {self.events}"
        return errors[0]


@dataclass
class LiveApp:
    """The app served by uvicorn on 127.0.0.1, with its store."""

    base_url: str
    store: MemoryStore
    app: Any
    headers: dict[str, str] = field(default_factory=dict)

    def post(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> httpx.Response:
        return httpx.post(
            f"{self.base_url}/chatkit",
            json=body,
            headers={**self.headers, **(headers or {})},
            timeout=30,
        )

    def stream(self, body: dict[str, Any], headers: dict[str, str] | None = None) -> Stream:
        response = self.post(body, headers)
        assert response.headers["content-type"].startswith("text/event-stream"), response.text
        return Stream(
            sse_events(response.text),
            response.headers.get("x-request-id", ""),
            response.status_code,
        )

    def create_thread(self, text: str, headers: dict[str, str] | None = None) -> Stream:
        return self.stream(
            {"type": "threads.create", "params": {"input": user_input(text)}}, headers
        )

    def add_message(self, thread_id: str, text: str) -> Stream:
        return self.stream(
            {
                "type": "threads.add_user_message",
                "params": {"thread_id": thread_id, "input": user_input(text)},
            }
        )

    def items(self, thread_id: str) -> list[dict[str, Any]]:
        response = self.post(
            {"type": "items.list", "params": {"thread_id": thread_id, "limit": 100, "order": "asc"}}
        )
        assert response.status_code == 200, response.text
        return list(json.loads(response.content)["data"])


@contextlib.contextmanager
def live_app(settings: Settings, **options: Any) -> Iterator[LiveApp]:
    """``create_app`` with a ``MemoryStore``, served by a real uvicorn in a thread."""
    store = MemoryStore()
    app = create_app(settings, store=store, **options)
    with run_app(app) as base_url:
        yield LiveApp(base_url, store, app)


class RecordingHandler(logging.Handler):
    """Keeps the records of one logger (the app's loggers do not propagate to the root)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


@pytest.fixture
def responder_log() -> Iterator[RecordingHandler]:
    handler = RecordingHandler()
    logger = logging.getLogger("chatkit_backend.responder")
    logger.addHandler(handler)
    try:
        yield handler
    finally:
        logger.removeHandler(handler)
