"""The guide's app done right: a factory, CORS for both loopback names, a real Request."""

from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.middleware.cors import CORSMiddleware


def create_app() -> FastAPI:
    app = FastAPI()
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["http://localhost:3000", "http://127.0.0.1:3000"],
        allow_credentials=True,
        allow_methods=["*"],
        allow_headers=["*"],
    )

    @app.post("/chatkit")
    async def chatkit_endpoint(req: Request) -> Response:
        body: Any = await req.body()
        return Response(content=body or b"{}", media_type="application/json")

    return app
