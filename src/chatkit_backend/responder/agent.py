"""``AgentResponder``: answers a user message by running an Agents SDK ``Agent``.

The history (the newest ``CHATKIT_HISTORY_ITEMS`` items) goes through a
``ThreadItemConverter``; the run streams through the SDK's ``stream_agent_response``;
item ids come from the store; failures end the stream with a user-safe ``error`` event;
a client that goes away cancels the run, which closes the request to the model server.
"""

import asyncio
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any, Protocol, cast

from agents import Agent, Model, RunConfig, Runner, RunResultStreaming, StreamEvent, Tool
from agents.items import TResponseInputItem
from chatkit.agents import AgentContext, ThreadItemConverter, stream_agent_response
from chatkit.errors import CustomStreamError
from chatkit.store import Store
from chatkit.types import (
    ProgressUpdateEvent,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)

from chatkit_backend.responder.context_items import locale_context
from chatkit_backend.responder.converter import (
    AttachmentReader,
    BackendThreadItemConverter,
    current_request_context,
)
from chatkit_backend.responder.failures import INTERNAL, classify, describe_error
from chatkit_backend.responder.ids import ItemIdRewriter
from chatkit_backend.responder.instructions import load_instructions
from chatkit_backend.responder.models import (
    BackendModelProvider,
    ModelChoice,
    build_client,
    guarded,
    model_choice,
    raw_model,
)
from chatkit_backend.responder.titles import TitleWriter, fallback_title
from chatkit_backend.settings import Settings

logger = logging.getLogger("chatkit_backend.responder")
DEFAULT_AGENT_NAME = "Assistant"


class HasStore(Protocol):
    """What ``respond`` needs of the server: its store."""

    store: Store[Any]


class AgentResponder:
    """The default responder of ``BackendServer``; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        agent: Agent[Any] | None = None,
        tools: Sequence[Tool] | None = None,
        converter: ThreadItemConverter | None = None,
        attachment_reader: AttachmentReader | None = None,
    ) -> None:
        self.settings = settings
        self.choice: ModelChoice = model_choice(settings)
        self.client = None if self.choice.is_offline else build_client(settings)
        self.model: Model = guarded(raw_model(self.choice, self.client, settings), settings)
        self.agent = self._build_agent(agent, list(tools or []))
        if converter is None:
            converter = BackendThreadItemConverter(
                attachment_reader, text_max_chars=settings.text_attachment_max_chars
            )
        elif (
            isinstance(converter, BackendThreadItemConverter)
            and converter.attachment_reader is None
        ):
            converter.attachment_reader = attachment_reader
        self.converter = converter
        self.titles = TitleWriter(
            None if self.choice.is_offline else self.model, settings.title_timeout
        )
        self.run_config = RunConfig(
            model_provider=BackendModelProvider(self.choice, self.client, settings),
            tracing_disabled=True,
        )

    def _build_agent(self, agent: Agent[Any] | None, tools: list[Tool]) -> Agent[Any]:
        if agent is None:
            return Agent(
                name=DEFAULT_AGENT_NAME,
                instructions=load_instructions(self.settings),
                model=self.model,
                tools=tools,
            )
        changes: dict[str, Any] = {}
        if agent.model is None:
            changes["model"] = self.model
        elif isinstance(agent.model, Model):
            changes["model"] = guarded(agent.model, self.settings)
        if agent.instructions is None:
            changes["instructions"] = load_instructions(self.settings)
        if tools:
            changes["tools"] = [*agent.tools, *tools]
        return agent.clone(**changes) if changes else agent

    def describe(self) -> str:
        """The model in one line, for the ``serve`` start message."""
        return self.choice.describe()

    async def aclose(self) -> None:
        """Close the HTTP client to the model server."""
        if self.client is not None:
            await self.client.close()

    async def model_input(
        self, store: Store[Any], thread: ThreadMetadata, context: Any
    ) -> list[TResponseInputItem]:
        """The newest history items, oldest first, converted for the model, with the locale."""
        page = await store.load_thread_items(
            thread.id, None, self.settings.history_items, "desc", context
        )
        items = list(reversed(page.data))
        token = current_request_context.set(context)
        try:
            converted = await self.converter.to_agent_input(items)
        finally:
            current_request_context.reset(token)
        locale = locale_context(getattr(context, "locale", None))
        return [locale, *converted] if locale is not None else converted

    async def respond(
        self,
        server: HasStore,
        thread: ThreadMetadata,
        item: UserMessageItem | None,
        context: Any,
    ) -> AsyncIterator[ThreadStreamEvent]:
        """Stream the agent's answer; set the thread title after the first user message."""
        store = server.store
        request_id = getattr(context, "request_id", "")
        needs_title = item is not None and not thread.title
        agent_context: AgentContext[Any] = AgentContext(
            thread=thread, store=store, request_context=context
        )
        ids = ItemIdRewriter(lambda kind: store.generate_item_id(kind, thread, context))
        model_input = await self.model_input(store, thread, context)
        run = _RunEvents(
            Runner.run_streamed(
                self.agent,
                model_input,
                context=agent_context,
                max_turns=self.settings.model_max_turns,
                run_config=self.run_config,
            )
        )
        finished = False
        try:
            async for event in stream_agent_response(agent_context, cast(RunResultStreaming, run)):
                for rewritten in ids.rewrite(event):
                    yield rewritten
            finished = True
        except Exception as exc:
            failure = classify(exc)
            log_extra = {"request_id": request_id, "failure": failure.code}
            if failure is INTERNAL:
                logger.exception("reply failed", extra=log_extra)
            else:
                logger.warning(
                    "model failed: %s: %s", failure.code, describe_error(exc), extra=log_extra
                )
            for partial in ids.unfinished():  # keep what the user already saw
                yield ThreadItemDoneEvent(item=partial)
            if needs_title and item is not None:
                thread.title = fallback_title(item)
            raise CustomStreamError(failure.message, allow_retry=failure.allow_retry) from exc
        finally:
            if not finished:
                # Cancelled (client gone) or failed: stop the run, which closes the request to
                # the model server, and end the SDK's event queue so no task is left waiting.
                run.cancel()
                _wake_event_reader(agent_context)
        if needs_title and item is not None:
            thread.title = await self.titles.title_for(item, request_id)


class _RunEvents:
    """A streamed run as ``stream_agent_response`` reads it, ending quietly once cancelled.

    ``stream_agent_response`` reads the run's events in a task of its own. When the reply
    is cancelled that task is left behind, and the run's event stream would end it with
    ``StopAsyncIteration``, logged as "Task exception was never retrieved". Ending it as
    cancelled instead keeps the log clean.
    """

    def __init__(self, result: RunResultStreaming) -> None:
        self.result = result
        self.cancelled = False

    def cancel(self) -> None:
        """Stop the run (closing its request to the model server) unless it is over."""
        self.cancelled = True
        if not self.result.is_complete:
            self.result.cancel()

    async def stream_events(self) -> AsyncIterator[StreamEvent]:
        async for event in self.result.stream_events():
            yield event
        if self.cancelled:
            raise asyncio.CancelledError


def _wake_event_reader(agent_context: AgentContext[Any]) -> None:
    """Let the task ``stream_agent_response`` left waiting on the context's queue finish.

    When the run fails or is cancelled, that task would wait forever. A throwaway event
    (nobody reads it any more) ends it without an exception nobody would retrieve.
    """
    agent_context._events.put_nowait(ProgressUpdateEvent(text=""))
