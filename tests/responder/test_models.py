"""Model choice from settings, the responder's description, and the instructions it loads."""

from pathlib import Path

import pytest
from agents import OpenAIChatCompletionsModel, OpenAIResponsesModel
from pydantic import SecretStr

from chatkit_backend.responder import AgentResponder, OfflineModel, TimeoutModel, model_choice
from chatkit_backend.responder.instructions import DEFAULT_INSTRUCTIONS
from chatkit_backend.settings import Settings, SettingsError


def test_no_key_and_no_base_url_means_offline() -> None:
    responder = AgentResponder(Settings(model_api_key=None, model_base_url=None))

    assert responder.choice.kind == "offline"
    assert responder.describe() == (
        "offline (built-in, no network; set CHATKIT_MODEL_API_KEY or OPENAI_API_KEY, "
        "or CHATKIT_MODEL_BASE_URL, for a real model)"
    )
    assert isinstance(responder.model, TimeoutModel)
    assert isinstance(responder.model.inner, OfflineModel)
    assert responder.client is None


async def test_openai_model_uses_the_responses_api() -> None:
    responder = AgentResponder(Settings(model="openai:gpt-4.1", model_api_key=SecretStr("sk-test")))

    assert responder.describe() == "openai:gpt-4.1 (Responses API)"
    assert isinstance(responder.model, TimeoutModel)
    assert isinstance(responder.model.inner, OpenAIResponsesModel)
    assert responder.client is not None and responder.client.api_key == "sk-test"
    await responder.aclose()


async def test_openai_compatible_model_uses_chat_completions_at_the_base_url() -> None:
    settings = Settings(
        model="openai-compatible:llama3.1", model_base_url="http://127.0.0.1:11434/v1"
    )
    responder = AgentResponder(settings)

    assert (
        responder.describe()
        == "openai-compatible:llama3.1 at http://127.0.0.1:11434/v1 (Chat Completions)"
    )
    assert isinstance(responder.model, TimeoutModel)
    assert isinstance(responder.model.inner, OpenAIChatCompletionsModel)
    assert responder.client is not None
    assert str(responder.client.base_url) == "http://127.0.0.1:11434/v1/"
    await responder.aclose()


def test_key_alone_defaults_to_an_openai_model() -> None:
    choice = model_choice(Settings(model_api_key=SecretStr("sk-test")))
    assert (choice.kind, choice.name, choice.base_url) == ("openai", "gpt-4.1-mini", None)


def test_api_key_falls_back_to_openai_api_key() -> None:
    settings = Settings.model_validate({"OPENAI_API_KEY": "sk-from-openai"})
    responder = AgentResponder(settings)
    assert responder.choice.kind == "openai"
    assert responder.client is not None and responder.client.api_key == "sk-from-openai"


def test_openai_model_without_a_key_is_refused_with_the_variables_to_set() -> None:
    with pytest.raises(SettingsError) as caught:
        AgentResponder(Settings(model="openai:gpt-4.1"))
    assert str(caught.value) == (
        "CHATKIT_MODEL=openai:gpt-4.1 needs an API key: set CHATKIT_MODEL_API_KEY or OPENAI_API_KEY "
        "(or CHATKIT_MODEL_BASE_URL for a server that needs none)"
    )


def test_explicit_offline_wins_over_a_key() -> None:
    assert (
        model_choice(Settings(model="offline", model_api_key=SecretStr("sk-test"))).kind
        == "offline"
    )


def test_instructions_come_from_the_setting() -> None:
    agent = AgentResponder(Settings(instructions="  Answer like a pirate.  ")).agent
    assert agent is not None and agent.instructions == "Answer like a pirate."


def test_instructions_come_from_the_file(tmp_path: Path) -> None:
    path = tmp_path / "prompt.md"
    path.write_text("You answer in haiku.\n", encoding="utf-8")
    agent = AgentResponder(Settings(instructions_file=path)).agent
    assert agent is not None and agent.instructions == "You answer in haiku."


def test_default_instructions_without_settings() -> None:
    agent = AgentResponder(Settings()).agent
    assert agent is not None and agent.instructions == DEFAULT_INSTRUCTIONS


def test_missing_instructions_file_is_refused(tmp_path: Path) -> None:
    with pytest.raises(SettingsError) as caught:
        AgentResponder(Settings(instructions_file=tmp_path / "missing.md"))
    assert str(caught.value) == (
        f"CHATKIT_INSTRUCTIONS_FILE: cannot read {tmp_path / 'missing.md'}: No such file or directory"
    )


def test_both_instruction_settings_are_refused(tmp_path: Path) -> None:
    path = tmp_path / "prompt.md"
    path.write_text("x", encoding="utf-8")
    with pytest.raises(SettingsError) as caught:
        AgentResponder(Settings(instructions="y", instructions_file=path))
    assert str(caught.value) == "set CHATKIT_INSTRUCTIONS or CHATKIT_INSTRUCTIONS_FILE, not both"
