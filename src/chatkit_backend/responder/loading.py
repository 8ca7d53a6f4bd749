"""``CHATKIT_AGENT=module:attribute``: your Agents SDK agent, from your own code.

The attribute is an ``agents.Agent``, or a factory called for every reply with the
request context (``RequestContext``: user, tenant, locale...) that returns one; the
factory may be ``async``. ``create_app(agent=...)`` takes the same things (and the
``module:attribute`` string).

A reference that cannot be used stops the start with one line saying which part failed
(``AgentLoadError``, a ``SettingsError``): the module is not found, importing it raised,
the attribute is missing, or it is not an agent.
"""

import importlib
import inspect
import sys
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeAlias

from agents import Agent
from pydantic import BaseModel

from chatkit_backend.settings import SettingsError

AgentFactory: TypeAlias = Callable[[Any], "Agent[Any] | Awaitable[Agent[Any]]"]
"""``(context) -> Agent``, sync or async, called once per reply."""
AgentSource: TypeAlias = "Agent[Any] | AgentFactory"


class AgentLoadError(SettingsError):
    """``CHATKIT_AGENT`` (or ``create_app(agent=...)``) names nothing usable; one line."""


def load_agent(reference: str, *, setting: str = "CHATKIT_AGENT") -> AgentSource:
    """Import ``module:attribute`` (dots allowed after the colon) and check that it is an
    ``Agent`` or an agent factory. Raises ``AgentLoadError``."""
    named = f"{setting}={reference}"
    module_name, _, attribute = reference.partition(":")
    if not module_name or not attribute:
        raise AgentLoadError(f"{named}: must be module:attribute, e.g. workflow:agent")
    try:
        module = importlib.import_module(module_name)
    except ModuleNotFoundError as exc:
        if exc.name is not None and (
            exc.name == module_name or module_name.startswith(exc.name + ".")
        ):
            where = Path.cwd()
            raise AgentLoadError(
                f"{named}: module {module_name!r} not found (looked in {where} and the "
                "installed packages)"
            ) from None
        raise AgentLoadError(
            f"{named}: importing {module_name!r} failed: {_one_line(exc)} (install what it needs)"
        ) from None
    except Exception as exc:
        raise AgentLoadError(
            f"{named}: importing {module_name!r} failed: {type(exc).__name__}: {_one_line(exc)}"
        ) from None
    value: Any = module
    for part in attribute.split("."):
        if not hasattr(value, part):
            agents = _agents_in(module)
            hint = f" (its agents: {', '.join(agents)})" if agents else ""
            raise AgentLoadError(
                f"{named}: module {module_name!r} has no attribute {attribute!r}{hint}"
            )
        value = getattr(value, part)
    return check_agent_source(value, named)


def check_agent_source(value: Any, named: str) -> AgentSource:
    """``value`` if it is an ``Agent`` or a callable taking the request context; else raise
    ``AgentLoadError`` explaining what it is."""
    if isinstance(value, Agent):
        return value
    if callable(value) and not inspect.isclass(value):
        workflow_input = _workflow_input_parameter(value)
        if workflow_input is not None:
            raise AgentLoadError(
                f"{named}: is an Agent Builder workflow entry point (it takes a "
                f"{workflow_input}), not an agent: name the agent it runs first, or a function "
                "(context) -> Agent (see docs/agent-builder.md)"
            )
        if _takes_one_argument(value):
            return value  # type: ignore[no-any-return]
        raise AgentLoadError(
            f"{named}: is a function that cannot be called with one argument (the request "
            "context): an agent factory is (context) -> Agent"
        )
    raise AgentLoadError(
        f"{named}: is a {type(value).__name__}, not an Agent nor a function (context) -> Agent"
    )


async def resolve_agent(source: AgentSource, context: Any) -> Agent[Any]:
    """The agent for one reply: ``source`` itself, or what the factory returns for ``context``.

    Raises ``TypeError`` when a factory returns something else.
    """
    if isinstance(source, Agent):
        return source
    built = source(context)
    if inspect.isawaitable(built):
        built = await built
    if not isinstance(built, Agent):
        name = getattr(source, "__qualname__", repr(source))
        raise TypeError(f"agent factory {name} returned {type(built).__name__}, not an Agent")
    return built


def ensure_importable(folder: Path) -> None:
    """Put ``folder`` first on the import path, as ``uvicorn`` does with the working folder."""
    entry = str(folder.resolve())
    if entry not in sys.path:
        sys.path.insert(0, entry)


def _takes_one_argument(function: Callable[..., Any]) -> bool:
    try:
        inspect.signature(function).bind(None)
    except TypeError:
        return False
    except ValueError:
        return True  # no signature to read (a builtin): let the call decide
    return True


def _workflow_input_parameter(function: Callable[..., Any]) -> str | None:
    """The name of the ``WorkflowInput`` an Agent Builder ``run_workflow(workflow_input)``
    takes (a pydantic model with ``input_as_text``), if it takes one."""
    try:
        parameters = list(inspect.signature(function).parameters.values())
    except (TypeError, ValueError):
        return None
    if not parameters:
        return None
    annotation = parameters[0].annotation
    if isinstance(annotation, str):
        annotation = getattr(sys.modules.get(function.__module__), annotation, annotation)
    if (
        inspect.isclass(annotation)
        and issubclass(annotation, BaseModel)
        and ("input_as_text" in annotation.model_fields or annotation.__name__ == "WorkflowInput")
    ):
        return annotation.__name__
    return None


def _agents_in(module: Any) -> list[str]:
    return sorted(name for name, value in vars(module).items() if isinstance(value, Agent))[:8]


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text[:300] + ("…" if len(text) > 300 else "")
