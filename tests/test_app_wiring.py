"""``create_app`` changes nothing outside its app; ``serve`` tunes its own processes."""

import gc
import json
import logging
import time
from pathlib import Path
from typing import Any

import httpx
from fastapi.testclient import TestClient

from chatkit_backend.app import create_app
from chatkit_backend.auth.limits import NoLimiter
from chatkit_backend.metrics import Metrics
from chatkit_backend.server import BackendServer, Dispatcher
from chatkit_backend.services import Services
from chatkit_backend.serving import FreezeAfterStartup
from chatkit_backend.settings import Settings
from chatkit_backend.stores import MemoryStore
from tests.support.live import run_serve

WATCHED_LOGGERS = [
    "",
    "chatkit_backend",
    "chatkit",
    "uvicorn",
    "uvicorn.error",
    "uvicorn.access",
    "openai.agents",
]


def _logging_state() -> dict[str, Any]:
    return {
        name: (
            list(logger.handlers),
            logger.level,
            logger.propagate,
            logger.disabled,
        )
        for name in WATCHED_LOGGERS
        for logger in [logging.getLogger(name)]
    }


def _settings(tmp_path: Path, **overrides: Any) -> Settings:
    return Settings(
        data_dir=tmp_path,
        database_url="memory://",
        attachments=False,
        offline_token_delay=0,
        **overrides,
    )


def test_create_app_leaves_logging_and_the_collector_alone(tmp_path: Path) -> None:
    before = _logging_state()
    frozen = gc.get_freeze_count()
    app = create_app(_settings(tmp_path, log_level="DEBUG", log_format="json"))
    with TestClient(app) as client:
        assert client.get("/healthz").status_code == 200
    assert _logging_state() == before
    assert gc.get_freeze_count() == frozen


def test_what_the_app_runs_on_is_one_typed_object(tmp_path: Path) -> None:
    store = MemoryStore()
    app = create_app(_settings(tmp_path), store=store)
    services = app.state.services
    assert isinstance(services, Services)
    assert services.store is store
    assert isinstance(services.server, BackendServer) and services.server.store is store
    assert (
        isinstance(services.dispatcher, Dispatcher)
        and services.dispatcher.server is services.server
    )
    assert isinstance(services.limiter, NoLimiter)
    assert isinstance(services.metrics, Metrics)
    assert services.responder is not None and services.attachment_store is None
    assert services.builtin_auth and services.context_builder is not None


def test_the_lifespan_opens_and_closes_the_services(tmp_path: Path) -> None:
    app = create_app(_settings(tmp_path))
    services: Services = app.state.services
    closed: list[str] = []
    original_close = services.limiter.aclose

    async def recording_close() -> None:
        closed.append("limiter")
        await original_close()

    services.limiter.aclose = recording_close  # type: ignore[method-assign]
    with TestClient(app):
        assert closed == []
    assert closed == ["limiter"]


def test_serve_freezes_the_collector_once_started(tmp_path: Path) -> None:
    app = FreezeAfterStartup(create_app(_settings(tmp_path)))
    before = gc.get_freeze_count()
    try:
        with TestClient(app) as client:
            assert gc.get_freeze_count() > before
            assert client.get("/healthz").status_code == 200
    finally:
        gc.unfreeze()


def test_serve_sets_up_logging_in_every_worker(tmp_path: Path) -> None:
    log = tmp_path / "serve.log"
    env = {
        "CHATKIT_DATABASE_URL": "memory://",
        "CHATKIT_DATA_DIR": str(tmp_path),
        "CHATKIT_LOG_FORMAT": "json",
        "CHATKIT_WORKERS": "2",
    }
    with run_serve(env, log=log) as (base_url, _):
        for number in range(8):
            httpx.get(f"{base_url}/healthz", headers={"X-Request-ID": f"w-{number}"})
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and log.read_text().count('"chatkit_backend.access"') < 8:
            time.sleep(0.05)
    lines = [json.loads(line) for line in log.read_text().splitlines() if line.startswith("{")]
    access = [line for line in lines if line["logger"] == "chatkit_backend.access"]
    assert {line["request_id"] for line in access} >= {f"w-{number}" for number in range(8)}
    assert all(line["level"] == "INFO" and "duration_ms" in line for line in access)
