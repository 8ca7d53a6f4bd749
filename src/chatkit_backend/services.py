"""``Services``: everything ``create_app`` builds for one app, in one typed object.

It lives on ``app.state.services``; routes and dependencies read it there and nowhere
else (``deps.services_of``). The app's lifespan opens it (connect the store, the
responder's MCP servers, start the background prune) and closes it (stop pruning, close
the responder's MCP servers and model client, the transcriber, wait for the usage still
being written, close the limiter, the quotas and the store), in that order.
"""

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

from chatkit.server import ChatKitServer
from chatkit.store import AttachmentStore, Store
from starlette.requests import Request

from chatkit_backend.auth.limits import Limiter
from chatkit_backend.metrics import Metrics
from chatkit_backend.observability.quotas import Quotas
from chatkit_backend.observability.usage import UsageRecorder
from chatkit_backend.server.chatkit_server import Responder, Transcriber
from chatkit_backend.server.dispatch import Dispatcher
from chatkit_backend.settings import Settings
from chatkit_backend.stores.base import BackendStore

ContextBuilder = Callable[[Request], Awaitable[Any]]
"""``async def build(request) -> context``: called directly for every request."""
Stopper = Callable[[], Awaitable[None]]


async def _nothing_to_stop() -> None:
    return None


@dataclass(slots=True)
class Services:
    """What one app runs on; see the module docstring."""

    settings: Settings
    server: ChatKitServer[Any]
    dispatcher: Dispatcher
    limiter: Limiter
    metrics: Metrics
    attachment_store: AttachmentStore[Any] | None = None
    responder: Responder | None = None
    transcriber: Transcriber | None = None
    context_builder: ContextBuilder | None = None
    """The request-only context builder; None when the builder is a FastAPI dependency."""
    builtin_auth: bool = True
    """True when the context comes from ``CHATKIT_AUTH`` (not a builder of the user's)."""
    start_background: Callable[[], Stopper] | None = None
    quotas: Quotas | None = None
    """The daily token quotas (None: ``CHATKIT_TOKEN_QUOTA_PER_DAY`` and the tenant's are 0)."""
    usage: UsageRecorder | None = None
    """Where the responder reports each reply's token usage (``observability/usage.py``)."""
    _stop_background: Stopper = field(default=_nothing_to_stop)

    @property
    def store(self) -> Store[Any]:
        """The server's store (a ``BackendStore`` unless the user's server brought another)."""
        return self.server.store

    async def open(self) -> None:
        """Connect the store (migrating when configured), start the responder (its MCP
        servers) and background work."""
        if isinstance(self.store, BackendStore):
            await self.store.open()
        if self.responder is not None:
            await self.responder.start()  # MCP servers: connected once per process
        if self.start_background is not None:
            self._stop_background = self.start_background()

    async def close(self) -> None:
        """Stop background work and release every connection, in reverse order of use."""
        await self._stop_background()
        self._stop_background = _nothing_to_stop
        if self.responder is not None:
            await self.responder.aclose()
        if self.transcriber is not None:
            await self.transcriber.aclose()
        if self.usage is not None:
            await self.usage.aclose()  # the last replies' usage, before the store closes
        await self.limiter.aclose()
        if self.quotas is not None:
            await self.quotas.aclose()
        if isinstance(self.store, BackendStore):
            await self.store.close()
