"""Operations endpoints: liveness, readiness, metrics, and (debug only) the route list."""

import asyncio
from collections.abc import Iterable
from typing import Any

from fastapi import APIRouter, FastAPI, Response, routing
from prometheus_client import CONTENT_TYPE_LATEST

from chatkit_backend.attachments.errors import StorageUnavailableError
from chatkit_backend.attachments.store import BackendAttachmentStore
from chatkit_backend.deps import ServicesDep
from chatkit_backend.errors import ServiceUnavailableError
from chatkit_backend.stores.base import BackendStore

READY_TIMEOUT = 5.0


def build_ops_router() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", name="healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", name="readyz")
    async def readyz(services: ServicesDep) -> dict[str, str]:
        """Ready when the store answers, the attachment storage can take objects (when
        attachments are on), and the shared limits and quotas store (Redis) when there is
        one; else 503 naming what is not."""
        store = services.store
        ready = {"status": "ready"}
        if isinstance(store, BackendStore):
            try:
                await asyncio.wait_for(store.ping(), READY_TIMEOUT)
            except Exception as exc:
                raise ServiceUnavailableError(
                    f"store is not answering: {type(exc).__name__}: {exc}"
                ) from None
            ready["store"] = store.kind
        attachments = services.attachment_store
        if isinstance(attachments, BackendAttachmentStore):
            storage = attachments.storage
            try:
                await asyncio.wait_for(storage.check(), READY_TIMEOUT)
            except ServiceUnavailableError:
                raise  # StorageUnavailableError names the bucket or folder and what is wrong
            except TimeoutError:  # e.g. the S3 client still retrying a refused connection
                raise StorageUnavailableError(
                    f"attachment storage {storage.location} did not answer within "
                    f"{READY_TIMEOUT:g} s"
                ) from None
            except Exception as exc:
                raise StorageUnavailableError(
                    f"attachment storage {storage.location} is unavailable: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            ready["attachments"] = attachments.storage.kind
        try:
            shared = await asyncio.wait_for(services.limiter.ping(), READY_TIMEOUT)
        except Exception as exc:
            raise ServiceUnavailableError(
                f"rate-limit store (CHATKIT_REDIS_URL) is not answering: {type(exc).__name__}: {exc}"
            ) from None
        if shared is not None:
            ready["limits"] = shared
        if services.quotas is not None:
            try:
                counted = await asyncio.wait_for(services.quotas.ping(), READY_TIMEOUT)
            except Exception as exc:
                raise ServiceUnavailableError(
                    f"token quotas' store (CHATKIT_REDIS_URL) is not answering: "
                    f"{type(exc).__name__}: {exc}"
                ) from None
            if counted is not None:
                ready["quotas"] = counted
        return ready

    @router.get("/metrics", name="metrics")
    async def metrics(services: ServicesDep) -> Response:
        return Response(services.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router


def route_list(app: FastAPI) -> list[dict[str, object]]:
    """Every route as path, methods, name and endpoint, through included routers.

    FastAPI 0.16x keeps an included router as one lazy entry in ``app.routes``;
    ``routing.iter_route_contexts`` flattens them (older versions list routes directly).
    """
    iterate = getattr(routing, "iter_route_contexts", None)
    routes: Iterable[Any] = iterate(app.routes) if iterate is not None else app.routes
    listed: list[dict[str, object]] = []
    for route in routes:
        endpoint = getattr(route, "endpoint", None)
        listed.append(
            {
                "path": getattr(route, "path", None) or str(route),
                "methods": sorted(getattr(route, "methods", None) or []),
                "name": getattr(route, "name", None) or "",
                "endpoint": f"{endpoint.__module__}.{endpoint.__qualname__}"
                if callable(endpoint) and hasattr(endpoint, "__qualname__")
                else "",
            }
        )
    return listed


def build_debug_router(app: FastAPI) -> APIRouter:
    router = APIRouter()

    @router.get("/debug/routes", name="debug_routes")
    async def debug_routes() -> dict[str, list[dict[str, object]]]:
        return {"routes": route_list(app)}

    return router
