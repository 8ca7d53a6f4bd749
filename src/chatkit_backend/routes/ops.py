"""Operations endpoints: liveness, readiness, metrics, and (debug only) the route list."""

import asyncio

from fastapi import APIRouter, FastAPI, Request, Response
from fastapi.routing import APIRoute
from prometheus_client import CONTENT_TYPE_LATEST

from chatkit_backend.deps import StoreDep
from chatkit_backend.errors import ServiceUnavailableError

READY_TIMEOUT = 5.0


def build_ops_router() -> APIRouter:
    router = APIRouter()

    @router.get("/healthz", name="healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get("/readyz", name="readyz")
    async def readyz(store: StoreDep) -> dict[str, str]:
        try:
            await asyncio.wait_for(store.ping(), READY_TIMEOUT)
        except Exception as exc:
            raise ServiceUnavailableError(f"store is not answering: {type(exc).__name__}: {exc}") from None
        return {"status": "ready", "store": store.kind}

    @router.get("/metrics", name="metrics")
    async def metrics(request: Request) -> Response:
        return Response(request.app.state.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    return router


def build_debug_router(app: FastAPI) -> APIRouter:
    router = APIRouter()

    @router.get("/debug/routes", name="debug_routes")
    async def debug_routes() -> dict[str, list[dict[str, object]]]:
        routes: list[dict[str, object]] = []
        for route in app.routes:
            methods = sorted(getattr(route, "methods", None) or [])
            routes.append(
                {
                    "path": getattr(route, "path", str(route)),
                    "methods": methods,
                    "name": getattr(route, "name", ""),
                    "endpoint": f"{route.endpoint.__module__}.{route.endpoint.__qualname__}"
                    if isinstance(route, APIRoute)
                    else "",
                }
            )
        return {"routes": routes}

    return router
