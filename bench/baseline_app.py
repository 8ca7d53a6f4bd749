"""The baseline for ``http_bench.py``: the seed guide's endpoint around the same server.

Same store type (``MemoryStore``), same server class and responder (``BackendServer`` with
the offline model, no token delay), same CORS middleware as the guide; the only
difference from ``create_app`` is the endpoint: ``await server.process(body, context)``
(a new pydantic ``TypeAdapter`` per call) answered with Starlette's ``StreamingResponse``.

    uvicorn --factory --app-dir bench baseline_app:create_baseline_app
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from chatkit.server import StreamingResult
from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import StreamingResponse

from chatkit_backend.context import RequestContext
from chatkit_backend.responder import AgentResponder
from chatkit_backend.server import BackendServer
from chatkit_backend.settings import Settings
from chatkit_backend.stores import MemoryStore

LOCAL_USER = "local"


def bench_settings() -> Settings:
    """The settings both benchmarked apps share: memory store, instant offline model, quiet logs."""
    return Settings(
        database_url="memory://",
        offline_token_delay=0.0,
        attachments=False,
        log_level="WARNING",
    )


def create_baseline_app() -> FastAPI:
    settings = bench_settings()
    store = MemoryStore()
    responder = AgentResponder(settings)
    server = BackendServer(store, None, responder=responder)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        await store.open()
        yield
        await responder.aclose()
        await store.close()

    app = FastAPI(lifespan=lifespan)
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["http://localhost:3000", "http://127.0.0.1:3000"],
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )

    @app.post("/chatkit")
    async def chatkit_endpoint(req: Request) -> Response:
        body = await req.body()
        if not body:
            return Response(content='{"error": "No request body"}', media_type="application/json", status_code=400)
        result = await server.process(body, context=RequestContext(user_id=LOCAL_USER))
        if isinstance(result, StreamingResult):
            return StreamingResponse(result, media_type="text/event-stream")
        return Response(content=result.json, media_type="application/json")

    @app.get("/healthz")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
