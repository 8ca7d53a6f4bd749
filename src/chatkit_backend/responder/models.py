"""Model choice: one ``CHATKIT_MODEL`` string to an Agents SDK ``Model``.

- ``openai:<model>``: the Responses API (OpenAI, or ``CHATKIT_MODEL_BASE_URL``).
- ``openai-compatible:<model>``: Chat Completions, for Ollama, vLLM, llama.cpp, LM Studio.
- ``offline``: the built-in ``OfflineModel``; the default with no key and no base URL.

Each responder builds its own ``AsyncOpenAI`` client (no global SDK state), so two apps
in one process can talk to different servers.
"""

from dataclasses import dataclass
from typing import Literal

from agents import Model, ModelProvider
from openai import AsyncOpenAI

from chatkit_backend.responder.fast_chat import FastChatCompletionsModel
from chatkit_backend.responder.fast_responses import FastResponsesModel
from chatkit_backend.responder.guard import TimeoutModel
from chatkit_backend.responder.http_client import model_http_client
from chatkit_backend.responder.offline import OfflineModel
from chatkit_backend.settings import Settings, SettingsError

ModelKind = Literal["offline", "openai", "openai-compatible"]
NO_KEY_PLACEHOLDER = "not-needed"  # local OpenAI-compatible servers accept any key
CONNECT_TIMEOUT = 10.0


@dataclass(frozen=True, slots=True)
class ModelChoice:
    """What ``CHATKIT_MODEL`` (and the base URL) resolved to."""

    kind: ModelKind
    name: str
    base_url: str | None = None

    @property
    def is_offline(self) -> bool:
        return self.kind == "offline"

    def describe(self) -> str:
        """One line for the ``serve`` start message."""
        if self.kind == "offline":
            return (
                "offline (built-in, no network; set CHATKIT_MODEL_API_KEY or OPENAI_API_KEY, "
                "or CHATKIT_MODEL_BASE_URL, for a real model)"
            )
        api = "Responses API" if self.kind == "openai" else "Chat Completions"
        where = f" at {self.base_url}" if self.base_url else ""
        return f"{self.kind}:{self.name}{where} ({api})"


def model_choice(settings: Settings) -> ModelChoice:
    """Resolve the settings' model string (``offline`` without a key or base URL); with
    ``CHATKIT_MODELS``, the default entry's. Raises ``SettingsError``."""
    if settings.models and not settings.model:
        entry = next((entry for entry in settings.models if entry.default), settings.models[0])
        return choice_for(
            entry.model, settings, f"CHATKIT_MODELS entry {entry.id!r} ({entry.model})"
        )
    return choice_for(settings.resolved_model, settings, f"CHATKIT_MODEL={settings.resolved_model}")


def choice_for(model: str, settings: Settings, named: str) -> ModelChoice:
    """Resolve one model string (``openai:<model>``, ``openai-compatible:<model>``,
    ``offline``) against the settings' server and key; ``named`` is how errors name it.

    Raises ``SettingsError`` for a malformed string, or an ``openai:`` model with no key
    and no base URL.
    """
    if model == "offline":
        return ModelChoice("offline", "offline")
    kind, _, name = model.partition(":")
    if kind not in ("openai", "openai-compatible") or not name:
        raise SettingsError(
            f"CHATKIT_MODEL: must be 'offline', 'openai:<model>' or 'openai-compatible:<model>' (got {model!r})"
        )
    if kind == "openai" and settings.model_api_key is None and settings.model_base_url is None:
        raise SettingsError(
            f"{named} needs an API key: set CHATKIT_MODEL_API_KEY or OPENAI_API_KEY "
            "(or CHATKIT_MODEL_BASE_URL for a server that needs none)"
        )
    return ModelChoice(kind, name, settings.model_base_url)  # type: ignore[arg-type]


def build_client(settings: Settings) -> AsyncOpenAI:
    """An ``AsyncOpenAI`` client for the configured server, with bounded retries and timeouts,
    on aiohttp (``http_client.py``: HTTP parsed in C, a third less CPU per streamed token),
    whose model requests skip the parameter transform (``fast_requests.ModelClient``)."""
    from chatkit_backend.responder.fast_requests import ModelClient

    key = (
        settings.model_api_key.get_secret_value() if settings.model_api_key else NO_KEY_PLACEHOLDER
    )
    read_timeout = settings.model_first_token_timeout + settings.model_idle_timeout
    return ModelClient(
        api_key=key,
        base_url=settings.model_base_url,
        max_retries=settings.model_max_retries,
        timeout=read_timeout,
        http_client=model_http_client(read_timeout),
    )


def raw_model(
    choice: ModelChoice, client: AsyncOpenAI | None, settings: Settings, name: str | None = None
) -> Model:
    """The Agents SDK model for a choice (``name`` overrides the model name): the SDK's
    ``OpenAIResponsesModel``/``OpenAIChatCompletionsModel`` with their streams read
    cheaply (``fast_responses.py``, ``fast_chat.py``: the same events, less CPU)."""
    if choice.kind == "offline" or client is None:
        return OfflineModel(settings.offline_token_delay)
    model_name = name or choice.name
    if choice.kind == "openai":
        return FastResponsesModel(model_name, client)
    return FastChatCompletionsModel(model_name, client)


def guarded(model: Model, settings: Settings) -> Model:
    """The model with the first-token and between-token bounds applied."""
    if isinstance(model, TimeoutModel):
        return model
    return TimeoutModel(
        model,
        first_token_timeout=settings.model_first_token_timeout,
        idle_timeout=settings.model_idle_timeout,
    )


class BackendModelProvider(ModelProvider):
    """Resolves model names set on user agents (``Agent(model="...")``) through our client."""

    def __init__(self, choice: ModelChoice, client: AsyncOpenAI | None, settings: Settings) -> None:
        self.choice = choice
        self.client = client
        self.settings = settings

    def get_model(self, model_name: str | None) -> Model:
        return guarded(
            raw_model(self.choice, self.client, self.settings, model_name), self.settings
        )
