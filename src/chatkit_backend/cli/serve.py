"""``chatkit-backend serve``: uvicorn in factory mode, with a one-line summary at start."""

import asyncio
import os
from pathlib import Path

import typer

from chatkit_backend.cli.output import fail, warn
from chatkit_backend.settings import Settings, SettingsError, load_settings

APP_FACTORY = "chatkit_backend.serving:served_app"


def _fail(message: str, code: int = 2) -> None:
    fail(message, code=code)


def describe_store(settings: Settings) -> str:
    url = settings.resolved_database_url
    if url.startswith("memory"):
        return "memory (threads are lost on restart)"
    if url.startswith("sqlite"):
        return f"sqlite {url.split(':///', 1)[-1]}"
    from sqlalchemy.engine import make_url

    return f"postgresql {make_url(url).render_as_string(hide_password=True)}"


def describe_model(settings: Settings, *, default_app: bool = True) -> str:
    """The model(s), and the agent and tools when configured; checks them as ``create_app``
    would (a model without a key, hosted tools with Chat Completions, a ``CHATKIT_AGENT``
    that does not import raise ``SettingsError``; with ``default_app``, the app ``serve``
    runs without ``--factory``, also a ``function`` entry of ``CHATKIT_TOOLS`` that the
    agent does not have)."""
    from chatkit_backend.responder.catalog import describe_responder

    return describe_responder(settings, check_functions=default_app)


def start_line(settings: Settings, *, default_app: bool = True) -> str:
    """The line ``serve`` prints once every check passed; raises ``SettingsError``."""
    base = settings.server_origin
    where = f"{base}{settings.path}"
    if settings.host in ("0.0.0.0", "::"):
        where += " (all interfaces)"
    model = describe_model(settings, default_app=default_app)
    line = (
        f"chatkit-backend listening on {where} | store: {describe_store(settings)} | model: {model}"
    )
    if settings.console_enabled:
        line += f" | console: {base}/console"
    return line


def per_process_limits_warning(settings: Settings, workers: int) -> str | None:
    """Rate limits without Redis are per process: say so when several workers would share a user."""
    limited = settings.rate_limit_per_minute or settings.max_concurrent_streams
    if workers < 2 or not limited or settings.redis_url:
        return None
    return (
        f"rate limits are counted per process: with {workers} workers a user gets up to {workers} "
        "times the budget. Set CHATKIT_REDIS_URL to share them."
    )


async def _prepare_store(settings: Settings) -> None:
    """Open the store once before workers start: migrate SQLite, check PostgreSQL's schema.

    Raises ``DatabaseURLError`` for a URL no store takes, ``StoreUnavailableError`` or
    ``SchemaOutOfDateError`` (their messages say what to do).
    """
    from chatkit_backend.stores import store_from_settings

    store = store_from_settings(settings)
    try:
        await store.open()
    finally:
        await store.close()


def serve(
    host: str | None = typer.Option(None, help="Address to bind (CHATKIT_HOST)."),
    port: int | None = typer.Option(None, help="Port to listen on (CHATKIT_PORT)."),
    reload: bool = typer.Option(False, "--reload", help="Restart when code changes (development)."),
    workers: int | None = typer.Option(None, help="Worker processes (CHATKIT_WORKERS)."),
    factory: str = typer.Option(APP_FACTORY, help="App factory as module:function."),
) -> None:
    """Run the server with uvicorn."""
    # CHATKIT_AGENT=module:attribute and --factory import from the working folder, as
    # uvicorn does; the workers inherit the import path.
    from chatkit_backend.responder.loading import ensure_importable

    ensure_importable(Path.cwd())
    # The workers build the app from the environment: pass CLI overrides through it.
    if host is not None:
        os.environ["CHATKIT_HOST"] = host
    if port is not None:
        os.environ["CHATKIT_PORT"] = str(port)
    try:
        settings = load_settings()
        from chatkit_backend.auth import check_auth_settings

        check_auth_settings(settings)  # a bad key file or JWKS fails here, not in each worker
    except SettingsError as exc:
        _fail(str(exc))
        return
    count = workers or settings.workers
    if reload and count > 1:
        _fail("--reload and --workers > 1 cannot be combined")
    if settings.auth == "none" and not settings.is_loopback and not settings.allow_insecure_bind:
        _fail(
            f"refusing to listen on {settings.host} with CHATKIT_AUTH=none: anyone who can reach it "
            "would act as the one local user. Set CHATKIT_AUTH (api-key, jwt or header), bind "
            "127.0.0.1, or set CHATKIT_ALLOW_INSECURE_BIND=true."
        )
    try:
        # resolves the model: a missing key fails here
        line = start_line(settings, default_app=factory == APP_FACTORY)
    except SettingsError as exc:
        _fail(str(exc))
        return
    from chatkit_backend.stores.errors import DatabaseURLError

    try:
        asyncio.run(_prepare_store(settings))
    except DatabaseURLError as exc:  # a bad setting, as pydantic's: exit 2, naming it
        _fail(f"invalid settings:\n  CHATKIT_DATABASE_URL: {exc.message}")
    except Exception as exc:  # the store's message says what to do
        _fail(f"store not ready: {exc}", code=1)
    from chatkit_backend.observability.setup import (
        metrics_across_workers,
        per_process_quotas_warning,
        tracing_unavailable,
    )

    missing = tracing_unavailable(os.environ)
    if missing:
        _fail(missing)
    print(line, flush=True)
    for warning in (
        per_process_limits_warning(settings, count),
        per_process_quotas_warning(settings, count),
    ):
        if warning:
            warn(warning)

    import uvicorn

    from chatkit_backend.logs import logging_config

    # Several workers: each writes its metrics to a fresh folder, /metrics adds them up.
    with metrics_across_workers(count if not reload else 1):
        uvicorn.run(
            factory,
            factory=True,
            host=settings.host,
            port=settings.port,
            reload=reload,
            workers=None if reload else count,
            log_level=settings.log_level.lower(),
            log_config=logging_config(settings.log_level, settings.log_format),
            access_log=False,
            # In header mode the TCP peer decides who may set the user header: never let
            # X-Forwarded-For rewrite it (uvicorn trusts that header from 127.0.0.1 by default).
            proxy_headers=settings.auth != "header",
            timeout_graceful_shutdown=10,
        )
