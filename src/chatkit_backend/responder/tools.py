"""``CHATKIT_TOOLS`` as Agents SDK tools, and the composer's tool menu.

Hosted tools (``web_search``, ``file_search``, ``code_interpreter``,
``image_generation``) become the SDK's ``WebSearchTool``, ``FileSearchTool``,
``CodeInterpreterTool`` and ``ImageGenerationTool``. They run on OpenAI's side, through
the Responses API: paired with an ``openai-compatible:`` model they cannot work, and the
start is refused (``check_hosted_tools``). ``mcp`` entries are MCP servers
(``chatkit_backend.responder.mcp``); ``function`` entries name one of the agent's own
function tools for the tool menu.

An entry with an ``id`` is a tool-menu entry: a message whose
``inference_options.tool_choice.id`` names it forces that tool for its turn
(``ModelSettings.tool_choice``: the hosted tool's type, the function's name, or
``required`` with only that MCP server's tools). The SDK resets the choice after the
first tool call (``Agent.reset_tool_choice``), so the model then answers. An id that no
entry carries is refused before any stream (422). With no ids configured,
``tool_choice`` is ignored, as before.
"""

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from agents import (
    Agent,
    CodeInterpreterTool,
    FileSearchTool,
    FunctionTool,
    ImageGenerationTool,
    Tool,
    WebSearchTool,
)

from chatkit_backend.agent_config import (
    HOSTED_TOOL_TYPES,
    CodeInterpreterEntry,
    FileSearchEntry,
    FunctionEntry,
    ImageGenerationEntry,
    McpEntry,
    ToolEntry,
    WebSearchEntry,
)
from chatkit_backend.errors import InvalidRequestError
from chatkit_backend.responder.models import ModelChoice
from chatkit_backend.settings import SettingsError

ForcedKind = Literal["hosted", "function", "mcp"]


@dataclass(frozen=True, slots=True)
class MenuTool:
    """A tool the composer's tool menu can force (an entry with an ``id``)."""

    id: str
    kind: ForcedKind
    name: str
    """The hosted tool's type, the function tool's name, or the MCP server's name."""
    label: str

    @property
    def tool_choice(self) -> str:
        """``ModelSettings.tool_choice`` while it is forced."""
        return "required" if self.kind == "mcp" else self.name


def hosted_tool(entry: ToolEntry) -> Tool | None:
    """The Agents SDK tool for a hosted entry (None for ``mcp`` and ``function`` entries)."""
    match entry:
        case WebSearchEntry():
            options: dict[str, Any] = {}
            if entry.search_context_size is not None:
                options["search_context_size"] = entry.search_context_size
            if entry.allowed_domains:
                options["filters"] = {"allowed_domains": entry.allowed_domains}
            return WebSearchTool(**options)
        case FileSearchEntry():
            return FileSearchTool(
                vector_store_ids=list(entry.vector_store_ids),
                max_num_results=entry.max_num_results,
            )
        case CodeInterpreterEntry():
            container: dict[str, Any] = {"type": "auto"}
            if entry.file_ids:
                container["file_ids"] = list(entry.file_ids)
            return CodeInterpreterTool(
                tool_config={"type": "code_interpreter", "container": container}  # type: ignore[typeddict-item]
            )
        case ImageGenerationEntry():
            config: dict[str, Any] = {"type": "image_generation"}
            for name in ("model", "size", "quality", "output_format", "background"):
                value = getattr(entry, name)
                if value is not None:
                    config[name] = value
            return ImageGenerationTool(tool_config=config)  # type: ignore[arg-type]
        case McpEntry() | FunctionEntry():
            return None


def hosted_tools(entries: Iterable[ToolEntry]) -> list[Tool]:
    """The hosted tools of ``CHATKIT_TOOLS``, in order."""
    return [tool for entry in entries if (tool := hosted_tool(entry)) is not None]


def tool_menu(entries: Iterable[ToolEntry]) -> dict[str, MenuTool]:
    """The entries with an ``id``, by id."""
    menu: dict[str, MenuTool] = {}
    for entry in entries:
        if entry.id is None:
            continue
        kind: ForcedKind
        if isinstance(entry, McpEntry):
            kind, name = "mcp", entry.name
        elif isinstance(entry, FunctionEntry):
            kind, name = "function", entry.name
        else:
            kind, name = "hosted", entry.type
        menu[entry.id] = MenuTool(entry.id, kind, name, entry.label or entry.id)
    return menu


def check_hosted_tools(
    entries: Iterable[ToolEntry], choices: Iterable[ModelChoice], *, attachments: bool = True
) -> None:
    """Refuse hosted tools next to a Chat Completions model: they need the Responses API;
    and ``image_generation`` without attachments (``attachments``: ``CHATKIT_ATTACHMENTS``),
    where its images are kept.

    Raises ``SettingsError`` naming both settings.
    """
    hosted = [entry.type for entry in entries if entry.type in HOSTED_TOOL_TYPES]
    if not hosted:
        return
    if not attachments and "image_generation" in hosted:
        raise SettingsError(
            "CHATKIT_TOOLS has image_generation, which needs CHATKIT_ATTACHMENTS=true: "
            "generated images are kept as attachments of their thread"
        )
    for choice in choices:
        if choice.kind == "openai-compatible":
            raise SettingsError(
                f"CHATKIT_TOOLS has hosted tools ({', '.join(dict.fromkeys(hosted))}) that run on "
                "OpenAI's side through the Responses API, but the model "
                f"openai-compatible:{choice.name} (CHATKIT_MODEL or CHATKIT_MODELS) speaks Chat "
                "Completions: use an openai:<model>, or remove those tools"
            )


def check_menu_functions(menu: dict[str, MenuTool], agent: Agent[Any]) -> None:
    """Every ``function`` entry of ``CHATKIT_TOOLS`` (``menu``, from ``tool_menu``) names a
    function tool of ``agent``. Raises ``SettingsError`` naming the entry, the function
    and the agent's function tools."""
    names = [tool.name for tool in agent.tools if isinstance(tool, FunctionTool)]
    for item in menu.values():
        if item.kind == "function" and item.name not in names:
            raise SettingsError(
                f"CHATKIT_TOOLS entry {item.id!r} names the function {item.name!r}, which "
                f"agent {agent.name!r} does not have (its function tools: "
                f"{', '.join(names) or 'none'})"
            )


def check_tool_choice(menu: dict[str, MenuTool], tool_id: str | None, field: str) -> None:
    """Raise ``InvalidRequestError`` (422) for a ``tool_choice.id`` no entry carries (ignored
    when no entry has an id)."""
    if menu and tool_id is not None and tool_id not in menu:
        raise InvalidRequestError(
            f"{field}: unknown tool {tool_id!r}; expected one of: {', '.join(menu)}"
        )
