"""A real server for client tests: ``create_app`` on uvicorn, 127.0.0.1, SQLite in a temp folder."""

import contextlib
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from chatkit_backend.app import create_app
from chatkit_backend.client import ChatKitClient
from chatkit_backend.settings import Settings
from tests.support.live import free_port, run_app


@dataclass
class Live:
    """A running app and the settings it was built with."""

    url: str
    app: FastAPI
    settings: Settings

    def client(self, **options: Any) -> ChatKitClient:
        return ChatKitClient(self.url, **options)


def live_settings(data_dir: Path, **overrides: Any) -> Settings:
    """SQLite in ``data_dir``, the offline model without delays, a free port (upload URLs use it)."""
    values: dict[str, Any] = {"data_dir": data_dir, "offline_token_delay": 0.0, "port": free_port()}
    values.update(overrides)
    return Settings(**values)


@contextlib.contextmanager
def serve(settings: Settings) -> Iterator[Live]:
    app = create_app(settings)
    with run_app(app, port=settings.port) as url:
        yield Live(url, app, settings)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    with serve(live_settings(tmp_path_factory.mktemp("client"))) as running:
        yield running


@pytest.fixture
async def client(live: Live) -> AsyncIterator[ChatKitClient]:
    async with live.client() as opened:
        yield opened
