"""Each reply's token usage: counted in Prometheus, kept in the store, added to quotas.

The responder reports a reply once, when it ends (``UsageRecorder.reply_ended``, called
from ``AgentResponder.respond``): the model it ran on, how it ended, the time to its
first streamed event, and the tokens the Agents SDK added up over the run's model calls
(``RunResultStreaming.context_wrapper.usage``: input, output, cached input and reasoning
output tokens, and the number of model requests).

The metrics move at once. The store write and the quota count run in a task of their
own, so a reply's stream never waits for them and a reply cancelled by its client still
counts; ``aclose()`` (the app's shutdown) waits for the ones still running. A failure
there is logged, never raised: the reply is over.
"""

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

from chatkit.store import Store

from chatkit_backend.metrics import Metrics
from chatkit_backend.stores.base import BackendStore, owner_of
from chatkit_backend.stores.usage import UsageRecord

logger = logging.getLogger("chatkit_backend.usage")


class QuotaCounting(Protocol):
    """What the recorder needs of quotas (``observability/quotas.py``)."""

    async def add(self, context: Any, tokens: int) -> None: ...


@dataclass(frozen=True, slots=True)
class ReplyUsage:
    """One reply, as the responder reports it when it ends.

    ``outcome``: ``completed``, ``failed`` or ``cancelled``. ``first_token_seconds``: from
    the start of the model run to its first streamed event (None when nothing streamed).
    Token counts are the model server's (``cached`` part of ``input``, ``reasoning`` part
    of ``output``); a reply cut off mid-stream has only the calls that finished.
    """

    thread_id: str
    model: str
    outcome: str
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    requests: int = 0
    first_token_seconds: float | None = None
    item_id: str | None = None

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens

    @classmethod
    def of_run(
        cls,
        usage: Any,
        *,
        thread_id: str,
        model: str,
        outcome: str,
        first_token_seconds: float | None = None,
        item_id: str | None = None,
    ) -> "ReplyUsage":
        """From the Agents SDK's ``Usage`` of a run (``run.context_wrapper.usage``)."""
        input_details = getattr(usage, "input_tokens_details", None)
        output_details = getattr(usage, "output_tokens_details", None)
        return cls(
            thread_id=thread_id,
            model=model,
            outcome=outcome,
            input_tokens=int(getattr(usage, "input_tokens", 0) or 0),
            output_tokens=int(getattr(usage, "output_tokens", 0) or 0),
            cached_tokens=int(getattr(input_details, "cached_tokens", 0) or 0),
            reasoning_tokens=int(getattr(output_details, "reasoning_tokens", 0) or 0),
            requests=int(getattr(usage, "requests", 0) or 0),
            first_token_seconds=first_token_seconds,
            item_id=item_id,
        )


def model_label(model: Any) -> str:
    """The model's name for labels and records: ``gpt-4.1-mini`` for a model named by a
    string or an OpenAI model object (through any wrappers, ``inner``), ``offline`` for
    the built-in offline model, else the class name."""
    seen = 0
    while model is not None and not isinstance(model, str) and seen < 10:
        name = getattr(model, "model", None)
        if isinstance(name, str) and name:
            return name
        inner = getattr(model, "inner", None)
        if inner is None:
            break
        model, seen = inner, seen + 1
    if isinstance(model, str) and model:
        return model
    if model is None:
        return "default"
    kind = type(model).__name__
    return "offline" if kind == "OfflineModel" else kind


SpanHook = Callable[[ReplyUsage], None]


@dataclass(slots=True)
class UsageRecorder:
    """Takes each reply's usage: metrics now, store and quotas in the background."""

    metrics: Metrics
    store: Store[Any] | None = None
    quotas: QuotaCounting | None = None
    clock: Callable[[], datetime] = field(default=lambda: datetime.now(UTC))
    span_hook: SpanHook | None = None
    """Set by ``instrument_app``: puts the usage on the reply's span."""
    _pending: set[asyncio.Task[None]] = field(default_factory=set)
    _store_refused: bool = False

    def reply_ended(self, context: Any, reply: ReplyUsage) -> None:
        """Count ``reply`` (see the module docstring). Never raises."""
        try:
            self._count(reply)
            if self.span_hook is not None:
                self.span_hook(reply)
        except Exception:  # bookkeeping must never break a reply
            logger.exception("could not count a reply's usage")
        if self.quotas is None and not isinstance(self.store, BackendStore):
            return
        record = self._record(context, reply)
        try:
            task = asyncio.get_running_loop().create_task(self._keep(context, record))
        except RuntimeError:  # no loop (a generator finalised late): nothing to run on
            return
        self._pending.add(task)
        task.add_done_callback(self._pending.discard)

    def _count(self, reply: ReplyUsage) -> None:
        metrics, model = self.metrics, reply.model
        tokens = metrics.model_tokens
        tokens.labels(model, "input").inc(reply.input_tokens)
        tokens.labels(model, "output").inc(reply.output_tokens)
        tokens.labels(model, "cached").inc(reply.cached_tokens)
        tokens.labels(model, "reasoning").inc(reply.reasoning_tokens)
        metrics.replies.labels(model, reply.outcome).inc()
        if reply.first_token_seconds is not None:
            metrics.first_token.labels(model).observe(reply.first_token_seconds)

    def _record(self, context: Any, reply: ReplyUsage) -> UsageRecord:
        tenant = getattr(context, "tenant_id", None)
        return UsageRecord(
            user_id=owner_of(context),
            tenant_id=tenant if isinstance(tenant, str) and tenant else None,
            thread_id=reply.thread_id,
            item_id=reply.item_id,
            request_id=getattr(context, "request_id", None) or None,
            model=reply.model,
            outcome=reply.outcome,
            created_at=self.clock(),
            input_tokens=reply.input_tokens,
            output_tokens=reply.output_tokens,
            cached_tokens=reply.cached_tokens,
            reasoning_tokens=reply.reasoning_tokens,
            requests=reply.requests,
        )

    async def _keep(self, context: Any, record: UsageRecord) -> None:
        if self.quotas is not None and record.total_tokens:
            try:
                await self.quotas.add(context, record.total_tokens)
            except Exception as exc:
                logger.warning(
                    "could not count %d tokens against the quotas: %s: %s",
                    record.total_tokens,
                    type(exc).__name__,
                    exc,
                )
        store = self.store
        if not isinstance(store, BackendStore) or self._store_refused:
            return
        try:
            await store.save_usage(record)
        except NotImplementedError:
            self._store_refused = True
            logger.warning("%s does not record usage: replies are counted in /metrics only", store)
        except Exception as exc:
            logger.warning(
                "could not record a reply's usage (thread %s): %s: %s",
                record.thread_id,
                type(exc).__name__,
                exc,
            )

    async def aclose(self) -> None:
        """Wait for the usage still being written (at most 10 seconds: the app is stopping)."""
        if self._pending:
            await asyncio.wait(set(self._pending), timeout=10)

    async def settled(self) -> None:
        """Wait until every usage reported so far is written (for tests and tools)."""
        while self._pending:
            await asyncio.wait(set(self._pending))
