"""A load balancer for tests: one origin in front of several hosts, the test picks which
host answers next (``balancer.use("b")``), and every request is recorded with its host.

Requests and responses stream through (SSE included); redirects are passed on as they are.
"""

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx
from starlette.applications import Starlette
from starlette.background import BackgroundTask
from starlette.requests import Request
from starlette.responses import StreamingResponse
from starlette.routing import Route

HOP_BY_HOP = frozenset(
    {"connection", "keep-alive", "transfer-encoding", "content-length", "host", "upgrade"}
)


@dataclass
class Balancer:
    hosts: dict[str, str]
    current: str = "a"
    seen: list[tuple[str, str, str]] = field(default_factory=list)
    """(host, method, path) of every request, in order."""

    def use(self, name: str) -> None:
        assert name in self.hosts
        self.current = name

    def app(self) -> Starlette:
        client = httpx.AsyncClient(timeout=60)

        async def forward(request: Request) -> StreamingResponse:
            name = self.current
            self.seen.append((name, request.method, request.url.path))
            url = self.hosts[name] + request.url.path
            if request.url.query:
                url += "?" + request.url.query
            headers = [(k, v) for k, v in request.headers.items() if k.lower() not in HOP_BY_HOP]
            body = await request.body()
            upstream = await client.send(
                client.build_request(request.method, url, headers=headers, content=body),
                stream=True,
            )
            answer = {k: v for k, v in upstream.headers.items() if k.lower() not in HOP_BY_HOP}
            return StreamingResponse(
                upstream.aiter_raw(),
                status_code=upstream.status_code,
                headers=answer,
                background=BackgroundTask(upstream.aclose),
            )

        @asynccontextmanager
        async def lifespan(app: Starlette) -> AsyncIterator[None]:
            yield
            await client.aclose()

        methods = ["GET", "POST", "PUT", "DELETE", "OPTIONS", "HEAD"]
        return Starlette(
            routes=[Route("/{path:path}", forward, methods=methods)], lifespan=lifespan
        )
