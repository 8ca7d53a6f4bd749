"""``AgentResponder``: answers a user message by running an Agents SDK ``Agent``.

The history (the newest ``CHATKIT_HISTORY_ITEMS`` items) goes through a
``ThreadItemConverter``; the run streams through ``run_events.stream_run`` (the
events of the SDK's ``stream_agent_response``, for less CPU);
item ids come from the store; failures end the stream with a user-safe ``error`` event;
a client that goes away cancels the run, which closes the request to the model server.

Each turn's set-up (``setup_turn``) picks the model (``CHATKIT_MODELS``, ``catalog.py``),
the agent (``CHATKIT_AGENT``, ``loading.py``) with ``CHATKIT_TOOLS`` merged in
(``tools.py``, ``mcp.py``) and the forced tool of the composer's tool menu, and makes the
tool calls visible (``tool_activity.py``).
"""

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Sequence
from contextvars import ContextVar
from dataclasses import dataclass, replace
from typing import Any, Protocol

from agents import (
    Agent,
    FunctionTool,
    Model,
    ModelSettings,
    RunConfig,
    RunHooks,
    Runner,
    Tool,
)
from agents.agent import MCPConfig
from agents.items import TResponseInputItem
from chatkit.agents import AgentContext, ResponseStreamConverter, ThreadItemConverter
from chatkit.errors import CustomStreamError
from chatkit.store import Store
from chatkit.types import (
    InferenceOptions,
    ThreadItem,
    ThreadItemDoneEvent,
    ThreadMetadata,
    ThreadStreamEvent,
    UserMessageItem,
)

from chatkit_backend.agent_config import McpEntry
from chatkit_backend.observability import agents_tracing_enabled
from chatkit_backend.observability.usage import ReplyUsage, UsageRecorder, model_label
from chatkit_backend.responder.catalog import ModelCatalog, ModelOption
from chatkit_backend.responder.context_items import locale_context
from chatkit_backend.responder.converter import (
    AttachmentReader,
    BackendThreadItemConverter,
    ModelApi,
    current_request_context,
)
from chatkit_backend.responder.failures import INTERNAL, classify, describe_error
from chatkit_backend.responder.ids import ItemIdRewriter
from chatkit_backend.responder.instructions import load_instructions
from chatkit_backend.responder.loading import (
    AgentFactory,
    check_agent_source,
    load_agent,
    resolve_agent,
)
from chatkit_backend.responder.mcp import McpServers
from chatkit_backend.responder.models import (
    BackendModelProvider,
    ModelChoice,
    build_client,
    guarded,
)
from chatkit_backend.responder.run_events import DEFAULT_CONVERTER, stream_run
from chatkit_backend.responder.snapshots import SnapshotAgentContext
from chatkit_backend.responder.titles import TitleWriter, fallback_title
from chatkit_backend.responder.tool_activity import (
    HostedToolTasks,
    ImageSaver,
    StoredImages,
    ToolActivityHooks,
)
from chatkit_backend.responder.tools import (
    MenuTool,
    check_hosted_tools,
    check_menu_functions,
    check_tool_choice,
    hosted_tools,
    tool_menu,
)
from chatkit_backend.settings import Settings

logger = logging.getLogger("chatkit_backend.responder")
DEFAULT_AGENT_NAME = "Assistant"
CONTINUED_TURN_LOOKBACK = 20
"""Items searched for the user message whose model a continued turn keeps."""


_prepared_agent: ContextVar[tuple[Any, Agent[Any]] | None] = ContextVar(
    "chatkit_backend_prepared_agent", default=None
)
"""The agent ``AgentResponder.prepare`` built, with the request context it was built for
(the stream's task inherits it from the request's)."""


@dataclass(frozen=True, slots=True)
class TurnSetup:
    """What one turn runs: the agent (its model, tools and model settings for this turn)
    and the run configuration. ``AgentResponder.setup_turn`` builds it per turn."""

    agent: Agent[Any]
    run_config: RunConfig
    max_turns: int
    hooks: RunHooks[Any] | None = None
    """The run's hooks (tool calls shown as workflow tasks: ``responder/tool_activity.py``)."""
    stream_converter: ResponseStreamConverter | None = None
    """How streamed output becomes thread items (generated images saved as attachments)."""
    hosted_tasks: HostedToolTasks | None = None
    """Workflow tasks for the hosted tool calls of the model's stream."""


class HasStore(Protocol):
    """What ``respond`` needs of the server: its store."""

    @property
    def store(self) -> Store[Any]: ...


class AgentResponder:
    """The default responder of ``BackendServer``; see the module docstring."""

    def __init__(
        self,
        settings: Settings,
        *,
        agent: Agent[Any] | AgentFactory | str | None = None,
        tools: Sequence[Tool] | None = None,
        converter: ThreadItemConverter | None = None,
        attachment_reader: AttachmentReader | None = None,
        image_saver: ImageSaver | None = None,
    ) -> None:
        """``agent``: an ``Agent``, a factory ``(context) -> Agent`` (sync or async), or
        ``"module:attribute"``; default ``CHATKIT_AGENT``, else the built-in assistant.
        ``image_saver``: the attachment store's ``save_generated``, where generated images
        are kept (none: they are dropped, never stored as base64).

        Raises ``SettingsError`` for models, tools or an agent that cannot work (a model
        without a key, hosted tools with a Chat Completions model, an agent reference that
        does not load: ``AgentLoadError``).
        """
        self.settings = settings
        self.client = None if _all_offline(settings) else build_client(settings)
        self.catalog = ModelCatalog(settings, self.client)
        """The models a reply may run on (``CHATKIT_MODELS``, else ``CHATKIT_MODEL``)."""
        self.choice: ModelChoice = self.catalog.default.choice
        self.model: Model = self.catalog.default.model
        check_hosted_tools(settings.tools, self.catalog.choices, attachments=settings.attachments)
        self.menu: dict[str, MenuTool] = tool_menu(settings.tools)
        """The tools the composer's tool menu may force, by id."""
        self.mcp = McpServers(entry for entry in settings.tools if isinstance(entry, McpEntry))
        self.image_saver = image_saver
        self.extra_tools: list[Tool] = [*(tools or []), *hosted_tools(settings.tools)]
        source = _agent_source(agent, settings)
        self.agent_factory: AgentFactory | None = None
        """Set when the agent is built per reply (``CHATKIT_AGENT`` naming a function)."""
        self.agent: Agent[Any] | None = None
        """The agent every reply runs (None with an agent factory)."""
        if source is None or isinstance(source, Agent):
            self.agent = self._build_agent(source, self.extra_tools)
            check_menu_functions(self.menu, self.agent)
            self.mcp.adopt(self.agent)
        else:
            self.agent_factory = source
        api: ModelApi = "responses" if self.choice.kind == "openai" else "chat_completions"
        if converter is None:
            converter = BackendThreadItemConverter(
                attachment_reader,
                text_max_chars=settings.text_attachment_max_chars,
                document_max_chars=settings.document_max_chars,
                api=api,
            )
        elif isinstance(converter, BackendThreadItemConverter):
            if converter.attachment_reader is None:
                converter.attachment_reader = attachment_reader
            if converter.api is None:
                converter.api = api
        self.converter = converter
        self.titles = TitleWriter(
            None if self.choice.is_offline or settings.titles == "first-words" else self.model,
            settings.title_timeout,
        )
        self.run_config = RunConfig(
            model_provider=BackendModelProvider(self.choice, self.client, settings),
            # The SDK's traces go only where they are wanted: to OpenTelemetry once
            # configure_tracing() bridged them, to OpenAI with CHATKIT_OPENAI_TRACING.
            tracing_disabled=not agents_tracing_enabled(settings),
            trace_include_sensitive_data=settings.trace_content,
        )
        self.usage: UsageRecorder | None = None
        """Where each reply's token usage goes when it ends (``create_app`` sets it)."""

    def _build_agent(self, agent: Agent[Any] | None, tools: list[Tool]) -> Agent[Any]:
        """The agent a reply starts with: ``agent`` (or the built-in one) with the default
        model and ``CHATKIT_INSTRUCTIONS`` where it has none, ``tools`` (the app's and
        ``CHATKIT_TOOLS``'s hosted ones) and ``CHATKIT_TOOLS``'s MCP servers added."""
        if agent is None:
            return Agent(
                name=DEFAULT_AGENT_NAME,
                instructions=load_instructions(self.settings),
                model=self.model,
                tools=tools,
                mcp_servers=list(self.mcp.servers),
                mcp_config=_mcp_config({}, len(self.mcp.servers)),
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
        if self.mcp.servers:
            servers = [*agent.mcp_servers, *self.mcp.servers]
            changes["mcp_servers"] = servers
            changes["mcp_config"] = _mcp_config(agent.mcp_config, len(servers))
        return agent.clone(**changes) if changes else agent

    def describe(self) -> str:
        """The model (or models) in one line, for the ``serve`` start message."""
        return self.catalog.describe()

    async def start(self) -> None:
        """Connect the MCP servers (once per process; see ``responder/mcp.py``)."""
        await self.mcp.start()

    async def aclose(self) -> None:
        """Close the MCP servers and the HTTP client to the model server."""
        await self.mcp.close()
        if self.client is not None:
            await self.client.close()

    def check_inference_options(self, options: InferenceOptions | None, field: str) -> None:
        """Refuse (``InvalidRequestError``, 422) a model or tool-menu id that is not offered;
        ``field`` is the request path the message names (``params.input.inference_options``)."""
        if options is None:
            return
        self.catalog.check(options.model, f"{field}.model")
        tool_id = options.tool_choice.id if options.tool_choice is not None else None
        check_tool_choice(self.menu, tool_id, f"{field}.tool_choice.id")

    async def history(
        self, store: Store[Any], thread: ThreadMetadata, context: Any
    ) -> list[ThreadItem]:
        """The thread's newest ``CHATKIT_HISTORY_ITEMS`` items, newest first."""
        page = await store.load_thread_items(
            thread.id, None, self.settings.history_items, "desc", context
        )
        return page.data

    async def model_input(
        self,
        store: Store[Any],
        thread: ThreadMetadata,
        context: Any,
        *,
        history: list[ThreadItem] | None = None,
    ) -> list[TResponseInputItem]:
        """The newest history items (``history``, newest first, loaded when None), oldest
        first, converted for the model, with the locale."""
        if history is None:
            history = await self.history(store, thread, context)
        items = list(reversed(history))
        token = current_request_context.set(context)
        try:
            converted = await self.converter.to_agent_input(items)
        finally:
            current_request_context.reset(token)
        locale = locale_context(getattr(context, "locale", None))
        return [locale, *converted] if locale is not None else converted

    async def prepare(self, context: Any) -> None:
        """Before the stream (``PreparesReplies``): with an agent factory, build this
        request's agent now, so what the factory raises is the answer's status (a
        ``BackendError`` its own, e.g. ``ForbiddenError`` for a user it refuses; anything
        else, a factory returning no ``Agent`` included, a 500). The reply runs that agent.
        """
        if self.agent_factory is not None:
            _prepared_agent.set((context, await self._factory_agent(self.agent_factory, context)))

    async def _factory_agent(self, factory: AgentFactory, context: Any) -> Agent[Any]:
        """What ``factory`` builds for ``context``, as a reply starts it (``_build_agent``)."""
        return self._build_agent(await resolve_agent(factory, context), self.extra_tools)

    async def setup_turn(
        self,
        thread: ThreadMetadata,
        item: UserMessageItem | None,
        context: Any,
        *,
        store: Store[Any] | None = None,
    ) -> TurnSetup:
        """The agent and run configuration for a turn answering ``item`` (None: a turn that
        continues the thread, after a client tool's output or a structured input).

        - The model: ``item.inference_options.model``'s ``CHATKIT_MODELS`` entry (a retry
          passes the retried message, so it keeps its model; a continued turn keeps the
          model of the thread's newest user message, found through ``store``), with the
          entry's model settings, for every agent of the run.
        - The agent: ``CHATKIT_AGENT``'s (built for ``context`` when it is a factory),
          with ``CHATKIT_TOOLS`` merged in.
        - ``inference_options.tool_choice.id`` forces its tool on the starting agent for
          this turn (not on a continued turn).
        """
        options = item.inference_options if item is not None else None
        if item is None and store is not None and self.catalog.offered:
            options = await _newest_options(store, thread, context)
        option = self._option(options)
        agent = self.agent
        if agent is None:
            assert self.agent_factory is not None
            prepared = _prepared_agent.get()
            if prepared is not None and prepared[0] is context:
                agent = prepared[1]  # built by ``prepare`` for this request
            else:  # a turn ``prepare`` did not see (a custom action's handler)
                agent = await self._factory_agent(self.agent_factory, context)
        tool_id = (
            options.tool_choice.id if item is not None and options and options.tool_choice else None
        )
        forced = self.menu.get(tool_id) if tool_id is not None else None
        if forced is not None:
            agent = self._forced(agent, forced)
        run_config = self.run_config
        if self.catalog.offered:
            run_config = replace(run_config, model=option.model, model_settings=option.settings)
        return TurnSetup(
            agent,
            run_config,
            self.settings.model_max_turns,
            hooks=ToolActivityHooks(),
            stream_converter=StoredImages(self.image_saver, context, thread.id),
            hosted_tasks=HostedToolTasks(),
        )

    def _option(self, options: InferenceOptions | None) -> ModelOption:
        """The picked model; an id no longer offered (a continued turn) gets the default."""
        model_id = options.model if options is not None else None
        if model_id is not None and model_id not in self.catalog.options:
            return self.catalog.default
        return self.catalog.pick(model_id)

    def _forced(self, agent: Agent[Any], forced: MenuTool) -> Agent[Any]:
        """``agent`` for a turn whose tool-menu choice forces ``forced``."""
        settings = agent.model_settings.resolve(ModelSettings(tool_choice=forced.tool_choice))
        if forced.kind == "mcp":
            # Only that server's tools are offered, and one of them must be called.
            server = self.mcp.by_name[forced.name]
            return agent.clone(tools=[], handoffs=[], mcp_servers=[server], model_settings=settings)
        if forced.kind == "function" and not any(
            isinstance(tool, FunctionTool) and tool.name == forced.name for tool in agent.tools
        ):
            raise LookupError(
                f"tool-menu entry {forced.id!r} forces the function {forced.name!r}, which "
                f"agent {agent.name!r} does not have"
            )
        return agent.clone(model_settings=settings)

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
        # Tools' events are copied as they are streamed (responder/snapshots.py).
        agent_context: AgentContext[Any] = SnapshotAgentContext(
            thread=thread, store=store, request_context=context
        )
        ids = ItemIdRewriter(lambda kind: store.generate_item_id(kind, thread, context))
        setup = await self.setup_turn(thread, item, context, store=store)
        history = await self.history(store, thread, context)
        model_input = await self.model_input(store, thread, context, history=history)
        run = Runner.run_streamed(
            setup.agent,
            model_input,
            context=agent_context,
            max_turns=setup.max_turns,
            run_config=setup.run_config,
            hooks=setup.hooks,
        )
        finished = False
        outcome = "cancelled"
        started = time.perf_counter()
        first_event_at = 0.0  # one timestamp: the time to first token of the usage report
        try:
            # ``stream_run`` yields what ``stream_agent_response`` would, for less CPU; the
            # history's newest items spare it a store read.
            async for event in stream_run(
                agent_context,
                run,
                recent_items=history[:2],
                converter=setup.stream_converter or DEFAULT_CONVERTER,
                hosted_tasks=setup.hosted_tasks,
            ):
                if not first_event_at:
                    first_event_at = time.perf_counter()
                for rewritten in ids.rewrite(event):
                    yield rewritten
            finished = True
            outcome = "completed"
        except (asyncio.CancelledError, GeneratorExit):
            # Stopped: the first message's words title the thread, as when it fails.
            if needs_title and item is not None:
                thread.title = fallback_title(item)
            raise
        except Exception as exc:
            outcome = "failed"
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
            if not finished and not run.is_complete:
                # Cancelled (client gone) or failed: stop the run, which closes the request
                # to the model server.
                run.cancel()
            if self.usage is not None:
                self.usage.reply_ended(
                    context,
                    ReplyUsage.of_run(
                        run.context_wrapper.usage,
                        thread_id=thread.id,
                        item_id=item.id if item is not None else None,
                        model=model_label(setup.run_config.model or setup.agent.model),
                        outcome=outcome,
                        first_token_seconds=first_event_at - started if first_event_at else None,
                    ),
                )
        if needs_title and item is not None:
            try:
                thread.title = await self.titles.title_for(item, request_id)
            except asyncio.CancelledError:  # stopped while the title was being written
                thread.title = fallback_title(item)
                raise


def _mcp_config(config: MCPConfig, servers: int) -> MCPConfig:
    """With several MCP servers, tool names carry their server's (``mcp_docs__search``), so
    two servers' tools of the same name do not collide; an explicit choice is kept."""
    if servers < 2 or "include_server_in_tool_names" in config:
        return config
    return {**config, "include_server_in_tool_names": True}


def _all_offline(settings: Settings) -> bool:
    """True when no model needs the network (no client to build)."""
    if settings.models and not settings.model:
        return all(entry.model == "offline" for entry in settings.models)
    return settings.resolved_model == "offline"


def _agent_source(
    agent: Agent[Any] | AgentFactory | str | None, settings: Settings
) -> Agent[Any] | AgentFactory | None:
    """The agent (or factory) given to ``create_app``, else ``CHATKIT_AGENT``'s."""
    if isinstance(agent, str):
        return load_agent(agent, setting="create_app(agent=...)")
    if agent is not None:
        return check_agent_source(agent, "create_app(agent=...)")
    if settings.agent:
        return load_agent(settings.agent)
    return None


async def _newest_options(
    store: Store[Any], thread: ThreadMetadata, context: Any
) -> InferenceOptions | None:
    """The inference options of the thread's newest user message (a continued turn's)."""
    page = await store.load_thread_items(thread.id, None, CONTINUED_TURN_LOOKBACK, "desc", context)
    for item in page.data:
        if isinstance(item, UserMessageItem):
            return item.inference_options
    return None
