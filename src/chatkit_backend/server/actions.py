"""Widget actions without subclassing: handlers registered by action type.

A widget's button or form sends an action (``{"type": "vote", "payload": {...}}``): as
``threads.custom_action`` when the widget's action is streamed (the default), as
``threads.sync_custom_action`` when it says ``streaming: false``. Register a handler per
type, with ``create_app(actions={"vote": vote})`` or the decorator of an ``Actions``
registry::

    actions = Actions()

    @actions.action("vote")
    async def vote(action, item, thread, context):  # an async generator: streamed
        yield ThreadItemDoneEvent(item=...)

    @actions.action("toggle")
    async def toggle(action, item, thread, context):  # a coroutine: sync
        return SyncCustomActionResponse(updated_item=...)

    app = create_app(actions=actions)

A handler receives the ``Action`` (``type`` and ``payload``), the widget item it came
from (``None`` when the action names none), the thread's metadata and the request
context. Declare a ``server`` parameter to also get the ``BackendServer`` (its ``store``;
``server.respond(thread, None, context)`` lets the agent answer after the action). An
async generator function is a streamed handler (its events go through the same
pipeline as a reply: items saved, ``thread.updated`` sent when it changes the thread);
anything else is a sync handler returning a ``SyncCustomActionResponse`` (or an
awaitable of one). One type may have one handler of each kind.

An action whose type has no handler of the kind its request needs is answered 501
``not_configured`` before any stream (``chatkit_server.check_action_handler``), for both
requests.
"""

import inspect
from collections.abc import AsyncIterator, Callable, Iterator, Mapping
from typing import Any, TypeVar

from chatkit.actions import Action
from chatkit.types import SyncCustomActionResponse, ThreadMetadata, ThreadStreamEvent, WidgetItem

from chatkit_backend.errors import NotConfiguredError

ActionHandler = Callable[..., Any]
"""``(action, item, thread, context[, server=...])``: an async generator of
``ThreadStreamEvent`` (streamed), or a function returning a ``SyncCustomActionResponse``
or an awaitable of one (sync)."""
H = TypeVar("H", bound=ActionHandler)
STREAMED = "threads.custom_action"
SYNC = "threads.sync_custom_action"


class Actions:
    """Widget action handlers by action type; see the module docstring."""

    def __init__(self, handlers: Mapping[str, ActionHandler] | None = None) -> None:
        """``handlers``: ``{"type": handler}`` to register at once."""
        self._streamed: dict[str, _Handler] = {}
        self._sync: dict[str, _Handler] = {}
        for action_type, handler in (handlers or {}).items():
            self.add(action_type, handler)

    @classmethod
    def of(cls, value: "Actions | Mapping[str, ActionHandler] | None") -> "Actions":
        """``value`` as a registry (a mapping is registered into a new one)."""
        if isinstance(value, Actions):
            return value
        if value is not None and not isinstance(value, Mapping):
            raise TypeError(
                "actions must be an Actions registry or a {'type': handler} mapping, "
                f"not {type(value).__name__}"
            )
        return cls(value)

    def action(self, action_type: str) -> Callable[[H], H]:
        """Decorator registering the function as the handler of ``action_type``."""

        def register(handler: H) -> H:
            self.add(action_type, handler)
            return handler

        return register

    def add(self, action_type: str, handler: ActionHandler) -> None:
        """Register ``handler`` for ``action_type`` (streamed if it is an async generator
        function, else sync). Raises ``TypeError`` for a handler that cannot take
        ``(action, item, thread, context)``, ``ValueError`` for a type that already has
        a handler of that kind."""
        if not isinstance(action_type, str) or not action_type:
            raise ValueError(f"an action type must be a non-empty string, not {action_type!r}")
        entry = _Handler.of(action_type, handler)
        table = self._streamed if entry.streamed else self._sync
        if action_type in table:
            kind = "streamed" if entry.streamed else "sync"
            raise ValueError(f"the widget action {action_type!r} already has a {kind} handler")
        table[action_type] = entry

    def update(self, other: "Actions | Mapping[str, ActionHandler]") -> None:
        """Register every handler of ``other`` here (same errors as ``add``)."""
        if not isinstance(other, Actions):
            other = Actions(other)
        for table in (other._streamed, other._sync):
            for action_type, entry in table.items():
                self.add(action_type, entry.function)

    def types(self) -> list[str]:
        """Every action type with a handler, sorted."""
        return sorted(self._streamed.keys() | self._sync.keys())

    def __contains__(self, action_type: object) -> bool:
        return action_type in self._streamed or action_type in self._sync

    def __iter__(self) -> Iterator[str]:
        return iter(self.types())

    def __len__(self) -> int:
        return len(self.types())

    def check(self, action_type: str, *, streamed: bool) -> None:
        """Raise ``NotConfiguredError`` (501) unless ``action_type`` has a handler of the
        kind its request needs (``streamed``: ``threads.custom_action``)."""
        table, other = (self._streamed, self._sync) if streamed else (self._sync, self._streamed)
        if action_type in table:
            return
        request = STREAMED if streamed else SYNC
        if action_type in other:
            wanted = "an async generator (streamed)" if streamed else "a sync handler"
            fix = "streaming: false" if streamed else "streaming: true (the default)"
            raise NotConfiguredError(
                f"the widget action {action_type!r} was sent as {request}, but its handler is "
                f"{'sync' if streamed else 'streamed'}: register {wanted} for it, or set "
                f"{fix} on the widget's action"
            )
        raise NotConfiguredError(f"{request}: {no_handler_message(action_type)}")

    def stream(
        self,
        action: Action[str, Any],
        item: WidgetItem | None,
        thread: ThreadMetadata,
        context: Any,
        server: Any,
    ) -> AsyncIterator[ThreadStreamEvent]:
        """The events of ``action``'s streamed handler. Raises ``NotConfiguredError``."""
        self.check(action.type, streamed=True)
        result: AsyncIterator[ThreadStreamEvent] = self._streamed[action.type].call(
            action, item, thread, context, server
        )
        return result

    async def sync(
        self,
        action: Action[str, Any],
        item: WidgetItem | None,
        thread: ThreadMetadata,
        context: Any,
        server: Any,
    ) -> SyncCustomActionResponse:
        """The answer of ``action``'s sync handler. Raises ``NotConfiguredError``, and
        ``TypeError`` when the handler returns something else."""
        self.check(action.type, streamed=False)
        result = self._sync[action.type].call(action, item, thread, context, server)
        if inspect.isawaitable(result):
            result = await result
        if not isinstance(result, SyncCustomActionResponse):
            raise TypeError(
                f"the sync handler of the widget action {action.type!r} returned "
                f"{type(result).__name__}, not a SyncCustomActionResponse"
            )
        return result


def no_handler_message(action_type: str) -> str:
    return (
        f"no handler for the widget action {action_type!r}: register one with "
        f"create_app(actions={{{action_type!r}: handler}}) or @actions.action({action_type!r}) "
        "(docs/extending.md)"
    )


class _Handler:
    """A registered handler: its kind, and whether it takes ``server``."""

    def __init__(self, function: ActionHandler, streamed: bool, wants_server: bool) -> None:
        self.function = function
        self.streamed = streamed
        self.wants_server = wants_server

    @classmethod
    def of(cls, action_type: str, handler: ActionHandler) -> "_Handler":
        if not callable(handler):
            raise TypeError(f"the handler of {action_type!r} is not callable: {handler!r}")
        function = handler if inspect.isroutine(handler) else type(handler).__call__
        streamed = inspect.isasyncgenfunction(handler) or inspect.isasyncgenfunction(function)
        try:
            signature = inspect.signature(handler)
        except (TypeError, ValueError):  # a builtin: trust it with the four arguments
            return cls(handler, streamed, False)
        server = signature.parameters.get("server")
        wants_server = server is not None and server.kind in (
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            inspect.Parameter.KEYWORD_ONLY,
        )
        try:
            signature.bind(None, None, None, None, **({"server": None} if wants_server else {}))
        except TypeError:
            raise TypeError(
                f"the handler of the widget action {action_type!r} must take "
                f"(action, item, thread, context) and optionally a `server` parameter; its "
                f"signature is {getattr(handler, '__name__', 'handler')}{signature}"
            ) from None
        return cls(handler, streamed, wants_server)

    def call(
        self,
        action: Action[str, Any],
        item: WidgetItem | None,
        thread: ThreadMetadata,
        context: Any,
        server: Any,
    ) -> Any:
        if self.wants_server:
            return self.function(action, item, thread, context, server=server)
        return self.function(action, item, thread, context)
