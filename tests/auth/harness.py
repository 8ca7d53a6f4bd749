"""Apps for auth tests: ``create_app`` with a memory store and a ``/whoami`` route showing the context."""

import contextlib
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI

from chatkit_backend.app import create_app
from chatkit_backend.deps import ContextDep
from chatkit_backend.settings import Settings


def settings_for(data_dir: Path, **overrides: Any) -> Settings:
    """Fast settings: memory store, offline model without delay, no attachments unless asked."""
    values: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": "memory://",
        "offline_token_delay": 0,
        "attachments": False,
        "log_level": "WARNING",
    }
    values.update(overrides)
    return Settings(**values)


def add_whoami(app: FastAPI) -> FastAPI:
    """``GET /whoami``: the request context the configured builder produced."""

    @app.get("/whoami")
    async def whoami(context: ContextDep) -> dict[str, Any]:
        return {
            "user_id": context.user_id,
            "tenant_id": context.tenant_id,
            "locale": context.locale,
            "request_id": context.request_id,
            "base_url": context.base_url,
            "claims": context.claims,
            "has_request": context.request is not None,
        }

    return app


def whoami_app(settings: Settings, **options: Any) -> FastAPI:
    return add_whoami(create_app(settings, **options))


@contextlib.asynccontextmanager
async def asgi_client(app: FastAPI, peer: str = "127.0.0.1") -> AsyncIterator[httpx.AsyncClient]:
    """An httpx client calling the app in-process from TCP peer ``peer``, with its lifespan run."""
    transport = httpx.ASGITransport(app, client=(peer, 50123))
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            yield client


def error_of(response: httpx.Response) -> dict[str, Any]:
    body: dict[str, Any] = response.json()["error"]
    return body
