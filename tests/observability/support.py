"""What the observability tests share: an app on the fake model server, metric samples."""

import contextlib
from collections.abc import AsyncIterator
from typing import Any

import httpx
from fastapi import FastAPI
from prometheus_client.parser import text_string_to_metric_families

from chatkit_backend import Settings, create_app
from tests.support.bodies import create_body


def model_settings(fake_url: str, api: str = "openai-compatible", **overrides: Any) -> Settings:
    """An app on the fake model server (``api``: ``openai`` or ``openai-compatible``)."""
    values: dict[str, Any] = {
        "database_url": "memory://",
        "model": f"{api}:fake-model",
        "model_base_url": fake_url,
        "model_api_key": "sk-test",
        "model_max_retries": 0,
        "attachments": False,
        **overrides,
    }
    return Settings(**values)


@contextlib.asynccontextmanager
async def app_client(settings: Settings) -> AsyncIterator[tuple[FastAPI, httpx.AsyncClient]]:
    """The app, started, and a client speaking to it in this process."""
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield app, client


async def reply(client: httpx.AsyncClient, text: str = "hi") -> httpx.Response:
    """Start a thread with ``text`` and read the whole reply stream."""
    response = await client.post("/chatkit", json=create_body(text), timeout=30)
    assert response.status_code == 200, response.text
    return response


def sample(text: str, name: str, **labels: str) -> float | None:
    """The value of sample ``name`` with exactly ``labels`` in an exposition text."""
    for family in text_string_to_metric_families(text):
        for found in family.samples:
            if found.name == name and found.labels == labels:
                return float(found.value)
    return None
