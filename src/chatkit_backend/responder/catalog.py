"""The models a reply may run on: ``CHATKIT_MODELS`` (the composer's model picker) or the
one ``CHATKIT_MODEL``.

A user message's ``inference_options.model`` picks an entry by its ``id``; a message that
names none gets the default entry (``"default": true``, else the first). An id that is
not in the list is refused before any stream (``check``: 422 ``invalid_request`` naming
the allowed ids). Without ``CHATKIT_MODELS`` there is one model and
``inference_options.model`` is ignored, as the SDK's own examples do.

Each entry is built once: its ``ModelChoice``, the Agents SDK ``Model`` (with the
first-token and idle bounds) and its ``ModelSettings`` (reasoning effort and summary,
temperature, ``max_output_tokens`` as ``max_tokens``).
"""

from dataclasses import dataclass

from agents import Model, ModelSettings
from openai import AsyncOpenAI
from openai.types.shared import Reasoning

from chatkit_backend.agent_config import ModelEntry
from chatkit_backend.errors import InvalidRequestError
from chatkit_backend.responder.models import (
    ModelChoice,
    choice_for,
    guarded,
    model_choice,
    raw_model,
)
from chatkit_backend.settings import Settings


@dataclass(frozen=True, slots=True)
class ModelOption:
    """One model a reply may run on, ready to use."""

    id: str | None
    """The ``CHATKIT_MODELS`` id (None: the single ``CHATKIT_MODEL``)."""
    choice: ModelChoice
    model: Model
    settings: ModelSettings
    entry: ModelEntry | None = None

    def describe(self) -> str:
        """``deep=openai:o4-mini (Responses API, reasoning high)`` for the start line."""
        text = self.choice.describe()
        details = [part for part in _settings_words(self.settings) if part]
        if details:
            text = text[:-1] + ", " + ", ".join(details) + ")" if text.endswith(")") else text
        return f"{self.id}={text}" if self.id is not None else text


class ModelCatalog:
    """The settings' models (see the module docstring), built once per responder."""

    def __init__(self, settings: Settings, client: AsyncOpenAI | None) -> None:
        """Raises ``SettingsError`` for an entry that cannot run (e.g. ``openai:`` without a key)."""
        self.offered = bool(settings.models)
        """True with ``CHATKIT_MODELS``: ``inference_options.model`` picks among them."""
        self.options: dict[str | None, ModelOption] = {}
        if not self.offered:
            choice = model_choice(settings)
            self.default = ModelOption(
                None,
                choice,
                guarded(raw_model(choice, client, settings), settings),
                ModelSettings(),
            )
            self.options[None] = self.default
            return
        for entry in settings.models:
            choice = choice_for(
                entry.model, settings, f"CHATKIT_MODELS entry {entry.id!r} ({entry.model})"
            )
            model = guarded(raw_model(choice, client, settings), settings)
            self.options[entry.id] = ModelOption(
                entry.id, choice, model, entry_model_settings(entry), entry
            )
        default = next((entry for entry in settings.models if entry.default), settings.models[0])
        self.default = self.options[default.id]

    @property
    def ids(self) -> list[str]:
        """The ids users may pick, in the settings' order (empty without ``CHATKIT_MODELS``)."""
        return [key for key in self.options if key is not None]

    @property
    def choices(self) -> list[ModelChoice]:
        return [option.choice for option in self.options.values()]

    def pick(self, model_id: str | None) -> ModelOption:
        """The option for ``inference_options.model`` (the default for None, or for any id
        without ``CHATKIT_MODELS``). Raises ``InvalidRequestError`` for an unknown id."""
        if not self.offered or model_id is None:
            return self.default
        option = self.options.get(model_id)
        if option is None:
            raise InvalidRequestError(self.unknown(model_id, "inference_options.model"))
        return option

    def check(self, model_id: str | None, field: str) -> None:
        """Raise ``InvalidRequestError`` (422) when ``model_id`` is not offered; ``field`` is
        the request path named in the message."""
        if self.offered and model_id is not None and model_id not in self.options:
            raise InvalidRequestError(self.unknown(model_id, field))

    def unknown(self, model_id: str, field: str) -> str:
        return f"{field}: unknown model {model_id!r}; expected one of: {', '.join(self.ids)}"

    def describe(self) -> str:
        """The models in one line, for the ``serve`` start message."""
        if not self.offered:
            return self.default.describe()
        parts = []
        for option in self.options.values():
            text = option.describe()
            parts.append(text + " [default]" if option is self.default else text)
        return ", ".join(parts)


def entry_model_settings(entry: ModelEntry) -> ModelSettings:
    """The ``ModelSettings`` of one ``CHATKIT_MODELS`` entry (unset fields stay None, so an
    agent's own settings show through)."""
    reasoning = None
    if entry.reasoning_effort is not None or entry.reasoning_summary is not None:
        # Only what the entry sets: an unset field is left out of the request, not sent as null.
        reasoning = Reasoning.model_validate(
            {
                name: value
                for name, value in (
                    ("effort", entry.reasoning_effort),
                    ("summary", entry.reasoning_summary),
                )
                if value is not None
            }
        )
    return ModelSettings(
        reasoning=reasoning, temperature=entry.temperature, max_tokens=entry.max_output_tokens
    )


def _settings_words(settings: ModelSettings) -> list[str]:
    words = []
    if settings.reasoning is not None and settings.reasoning.effort:
        words.append(f"reasoning {settings.reasoning.effort}")
    if settings.temperature is not None:
        words.append(f"temperature {settings.temperature:g}")
    if settings.max_tokens is not None:
        words.append(f"max {settings.max_tokens} tokens")
    return words


def describe_responder(settings: Settings, *, check_functions: bool = False) -> str:
    """Check what ``AgentResponder(settings)`` would refuse (models, hosted tools, the
    ``CHATKIT_AGENT`` reference, which is imported) without opening any connection, and
    describe it in one line for the ``serve`` start message. Raises ``SettingsError``.

    ``check_functions``: also check that the ``function`` entries of ``CHATKIT_TOOLS``
    name function tools of the agent (``CHATKIT_AGENT``, else the built-in one, which has
    none); only for ``create_app()`` as ``serve`` runs it by default, since an app of
    yours may give the agent more tools (``create_app(tools=...)``). An agent factory is
    checked per reply instead.
    """
    from agents import Agent

    from chatkit_backend.agent_config import McpEntry
    from chatkit_backend.responder.loading import load_agent
    from chatkit_backend.responder.mcp import describe_entry
    from chatkit_backend.responder.tools import (
        check_hosted_tools,
        check_menu_functions,
        tool_menu,
    )

    catalog = ModelCatalog(settings, None)
    check_hosted_tools(settings.tools, catalog.choices, attachments=settings.attachments)
    line = catalog.describe()
    source = load_agent(settings.agent) if settings.agent else None
    if settings.agent:
        line += f" | agent: {settings.agent}"
    menu = tool_menu(settings.tools)
    functions = any(item.kind == "function" for item in menu.values())
    if check_functions and functions and (source is None or isinstance(source, Agent)):
        from chatkit_backend.responder.agent import DEFAULT_AGENT_NAME

        check_menu_functions(menu, source or Agent(name=DEFAULT_AGENT_NAME))
    if settings.tools:
        names = [
            f"mcp {describe_entry(entry)}" if isinstance(entry, McpEntry) else entry.type
            for entry in settings.tools
        ]
        line += f" | tools: {', '.join(names)}"
    return line
