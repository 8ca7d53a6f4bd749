"""The shapes of ``CHATKIT_MODELS`` and ``CHATKIT_TOOLS`` entries, checked with the settings.

Plain pydantic models, no Agents SDK import (the settings are read by every command);
``chatkit_backend.responder.catalog`` and ``chatkit_backend.responder.tools`` turn them
into models, model settings and tools.

``CHATKIT_MODELS`` (the composer's model picker, ``inference_options.model``)::

    [{"id": "fast", "model": "openai:gpt-4.1-mini", "default": true},
     {"id": "deep", "model": "openai:o4-mini", "reasoning_effort": "high", "reasoning_summary": "auto"}]

``CHATKIT_TOOLS`` (the agent's tools; one with an ``id`` can be forced from the composer's
tool menu, ``inference_options.tool_choice.id``)::

    [{"type": "web_search", "id": "search"},
     {"type": "file_search", "vector_store_ids": ["vs_123"], "max_num_results": 5},
     {"type": "code_interpreter"}, {"type": "image_generation"},
     {"type": "mcp", "name": "docs", "url": "http://127.0.0.1:9000/mcp", "headers": {"Authorization": "Bearer ..."}},
     {"type": "mcp", "name": "fs", "command": ["npx", "-y", "@modelcontextprotocol/server-filesystem", "/srv"]},
     {"type": "function", "name": "lookup_order", "id": "orders"}]
"""

import json
from typing import Annotated, Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter, ValidationError, model_validator

ReasoningEffort = Literal["none", "minimal", "low", "medium", "high", "xhigh", "max"]
"""The Responses API's ``reasoning.effort`` values (``openai.types.shared.ReasoningEffort``)."""
ReasoningSummary = Literal["auto", "concise", "detailed"]
T = TypeVar("T")
MODEL_KINDS = ("openai", "openai-compatible")
HOSTED_TOOL_TYPES = ("web_search", "file_search", "code_interpreter", "image_generation")
"""Tools that run on OpenAI's side: the Responses API (``openai:`` models) only."""


def check_model_string(value: str) -> str:
    """``offline``, ``openai:<model>`` or ``openai-compatible:<model>``; raises ``ValueError``."""
    if value == "offline":
        return value
    kind, _, name = value.partition(":")
    if kind not in MODEL_KINDS or not name:
        raise ValueError("must be 'offline', 'openai:<model>' or 'openai-compatible:<model>'")
    return value


class _Entry(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True, str_strip_whitespace=True)


class ModelEntry(_Entry):
    """One model users may pick (``composer.models`` in ChatKit.js names it by ``id``)."""

    id: str = Field(min_length=1, max_length=200)
    """What ``inference_options.model`` carries."""
    model: str
    """Same strings as ``CHATKIT_MODEL``: ``openai:<model>``, ``openai-compatible:<model>``, ``offline``."""
    default: bool = False
    """The entry used when a message names no model (else the first entry)."""
    label: str | None = None
    """Shown in pickers (the console's); default: the id."""
    description: str | None = None
    reasoning_effort: ReasoningEffort | None = None
    reasoning_summary: ReasoningSummary | None = None
    temperature: float | None = Field(None, ge=0, le=2)
    max_output_tokens: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _model_string(self) -> "ModelEntry":
        try:
            check_model_string(self.model)
        except ValueError as exc:
            raise ValueError(f"model: {exc} (got {self.model!r})") from None
        return self

    @property
    def kind(self) -> str:
        """``openai``, ``openai-compatible`` or ``offline``."""
        return self.model.partition(":")[0]


class _ToolEntry(_Entry):
    id: str | None = Field(None, min_length=1, max_length=200)
    """The composer tool-menu id that forces this tool (``inference_options.tool_choice.id``)."""
    label: str | None = None
    """Shown in the console's tool menu; default: the id."""


class WebSearchEntry(_ToolEntry):
    """OpenAI's hosted web search (``agents.WebSearchTool``)."""

    type: Literal["web_search"]
    search_context_size: Literal["low", "medium", "high"] | None = None
    allowed_domains: list[str] | None = None


class FileSearchEntry(_ToolEntry):
    """OpenAI's hosted search over vector stores (``agents.FileSearchTool``)."""

    type: Literal["file_search"]
    vector_store_ids: list[str] = Field(min_length=1)
    max_num_results: int | None = Field(None, ge=1, le=50)


class CodeInterpreterEntry(_ToolEntry):
    """OpenAI's hosted Python sandbox (``agents.CodeInterpreterTool``, an ``auto`` container)."""

    type: Literal["code_interpreter"]
    file_ids: list[str] | None = None


class ImageGenerationEntry(_ToolEntry):
    """OpenAI's hosted image generation (``agents.ImageGenerationTool``)."""

    type: Literal["image_generation"]
    model: str | None = None
    size: str | None = None
    quality: str | None = None
    output_format: Literal["png", "webp", "jpeg"] | None = None
    background: Literal["transparent", "opaque", "auto"] | None = None


class McpEntry(_ToolEntry):
    """An MCP server the agent calls tools on: ``url`` (streamable HTTP) or ``command`` (stdio)."""

    type: Literal["mcp"]
    name: str = Field(min_length=1, max_length=200)
    url: str | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    command: list[str] | None = Field(None, min_length=1)
    env: dict[str, str] | None = None
    """Environment of a stdio server (default: the MCP SDK's safe subset of ours)."""
    cwd: str | None = None
    allowed_tools: list[str] | None = None
    """Only these of the server's tools reach the model (default: all)."""
    timeout: float = Field(10.0, gt=0, le=600)
    """Seconds allowed for connecting and for each request to the server."""

    @model_validator(mode="after")
    def _one_transport(self) -> "McpEntry":
        if (self.url is None) == (self.command is None):
            raise ValueError(
                f"MCP server {self.name!r}: give either url (streamable HTTP) or command (stdio)"
            )
        if self.url is not None and not self.url.startswith(("http://", "https://")):
            raise ValueError(f"MCP server {self.name!r}: url must start with http:// or https://")
        if self.command is not None and self.headers:
            raise ValueError(f"MCP server {self.name!r}: headers apply to url servers only")
        if self.command is None and (self.env is not None or self.cwd is not None):
            raise ValueError(f"MCP server {self.name!r}: env and cwd apply to command servers only")
        return self


class FunctionEntry(_ToolEntry):
    """One of the agent's own function tools, named so the tool menu can force it."""

    type: Literal["function"]
    name: str = Field(min_length=1)

    @model_validator(mode="after")
    def _has_id(self) -> "FunctionEntry":
        if self.id is None:
            raise ValueError(
                f"function {self.name!r}: needs an id (a function entry only names a tool of "
                "your agent for the composer's tool menu)"
            )
        return self


ToolEntry = Annotated[
    WebSearchEntry
    | FileSearchEntry
    | CodeInterpreterEntry
    | ImageGenerationEntry
    | McpEntry
    | FunctionEntry,
    Field(discriminator="type"),
]
TOOL_TYPES = (
    "web_search",
    "file_search",
    "code_interpreter",
    "image_generation",
    "mcp",
    "function",
)

_MODELS: TypeAdapter[list[ModelEntry]] = TypeAdapter(list[ModelEntry])
_TOOLS: TypeAdapter[list[ToolEntry]] = TypeAdapter(list[ToolEntry])


def parse_models(value: Any) -> list[ModelEntry]:
    """``CHATKIT_MODELS`` (a JSON string or a list) as entries; raises ``ValueError`` naming
    the entry and field at fault."""
    entries = _validated(_MODELS, _json_list(value), "model")
    ids = [entry.id for entry in entries]
    _no_duplicates(ids, "id")
    if sum(entry.default for entry in entries) > 1:
        defaults = [entry.id for entry in entries if entry.default]
        raise ValueError(f"only one entry may be the default (got {', '.join(defaults)})")
    return entries


def parse_tools(value: Any) -> list[ToolEntry]:
    """``CHATKIT_TOOLS`` (a JSON string or a list) as entries; raises ``ValueError`` naming
    the entry and field at fault (never a value: headers may hold secrets)."""
    entries = _validated(_TOOLS, _json_list(value), "tool")
    _no_duplicates([entry.id for entry in entries if entry.id is not None], "id")
    _no_duplicates([entry.name for entry in entries if isinstance(entry, McpEntry)], "MCP name")
    return entries


def _json_list(value: Any) -> Any:
    if isinstance(value, str):
        text = value.strip()
        if not text:
            return []
        try:
            value = json.loads(text)
        except json.JSONDecodeError as exc:
            raise ValueError(f"not valid JSON: {exc.msg} at character {exc.pos}") from None
    if value is None:
        return []
    if not isinstance(value, list):
        raise ValueError("must be a JSON list of objects")
    return value


def _validated(adapter: TypeAdapter[list[T]], value: Any, what: str) -> list[T]:
    try:
        return adapter.validate_python(value)
    except ValidationError as exc:
        raise ValueError(_describe(exc, value, what)) from None


def _describe(exc: ValidationError, value: Any, what: str) -> str:
    """``[1] (deep).reasoning_effort: Input should be 'low', ...`` for the first problem."""
    error = exc.errors(include_url=False)[0]
    loc = list(error["loc"])
    where = ""
    first = loc[0] if loc else None
    if isinstance(first, int):
        index = first
        loc.pop(0)
        where = f"[{index}]"
        entry = value[index] if isinstance(value, list) and index < len(value) else None
        if isinstance(entry, dict):
            name = entry.get("id") or entry.get("name")
            if isinstance(name, str):
                where += f" ({name})"
            if loc and loc[0] == entry.get("type"):
                loc.pop(0)  # the union's tag: not part of the user's path
    message = str(error["msg"]).removeprefix("Value error, ")
    kind = error["type"]
    if kind == "union_tag_invalid" or kind == "union_tag_not_found":
        message = f"type must be one of: {', '.join(TOOL_TYPES)}"
    elif kind == "extra_forbidden":
        message = f"unknown field for a {what} entry"
    elif kind == "model_type" or kind == "dict_type":
        message = f"each {what} entry must be a JSON object"
    path = ".".join(str(part) for part in loc)
    return f"{where}{'.' if where and path else ''}{path}{': ' if where or path else ''}{message}"


def _no_duplicates(values: list[str], what: str) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)
