"""Settings from the environment: invalid values stop the start with a message naming the variable.

This is the one test module that sets environment variables (``monkeypatch.setenv``):
reading the environment is what it tests. Everything else passes ``Settings(...)``.
"""

import json
import os
import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_core import InitErrorDetails

from chatkit_backend.settings import (
    Settings,
    SettingsError,
    describe_validation_error,
    hide_url_passwords,
    is_secret_setting,
    load_settings,
)
from tests.support.live import run_cli


@pytest.fixture(autouse=True)
def clean_environment(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """No CHATKIT_* or OPENAI_* variable from the outer shell, and no stray ``.env``."""
    for name in list(os.environ):
        if name.startswith(("CHATKIT_", "OPENAI_")):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)


@pytest.mark.parametrize(
    ("variable", "value", "expected"),
    [
        ("CHATKIT_PORT", "abc", "CHATKIT_PORT: Input should be a valid integer"),
        ("CHATKIT_PORT", "0", "CHATKIT_PORT: Input should be greater than or equal to 1"),
        ("CHATKIT_PORT", "70000", "CHATKIT_PORT: Input should be less than or equal to 65535"),
        ("CHATKIT_WORKERS", "0", "CHATKIT_WORKERS: Input should be greater than or equal to 1"),
        ("CHATKIT_DEBUG", "maybe", "CHATKIT_DEBUG: Input should be a valid boolean"),
        ("CHATKIT_LOG_LEVEL", "LOUD", "CHATKIT_LOG_LEVEL: Input should be 'DEBUG'"),
        ("CHATKIT_LOG_FORMAT", "xml", "CHATKIT_LOG_FORMAT: Input should be 'text' or 'json'"),
        ("CHATKIT_PATH", "chat", "CHATKIT_PATH: must start with '/'"),
        (
            "CHATKIT_CORS_ORIGINS",
            "ftp://example.com",
            "CHATKIT_CORS_ORIGINS: origin 'ftp://example.com' must start with http:// or https://",
        ),
        ("CHATKIT_CORS_ORIGINS", "[not json", "CHATKIT_CORS_ORIGINS:"),
        (
            "CHATKIT_API_KEYS",
            "{oops",
            "CHATKIT_API_KEYS: not valid JSON (Expecting property name enclosed in double quotes "
            'at character 1): use {"key": "user-id"}',
        ),
        (
            "CHATKIT_MODEL",
            "gpt-4",
            "CHATKIT_MODEL: must be 'offline', 'openai:<model>' or 'openai-compatible:<model>'",
        ),
        (
            "CHATKIT_MAX_BODY_BYTES",
            "10",
            "CHATKIT_MAX_BODY_BYTES: Input should be greater than or equal to 1024",
        ),
        (
            "CHATKIT_AUTH",
            "magic",
            "CHATKIT_AUTH: Input should be 'none', 'api-key', 'jwt' or 'header'",
        ),
    ],
)
def test_invalid_value_names_the_variable(
    monkeypatch: pytest.MonkeyPatch, variable: str, value: str, expected: str
) -> None:
    monkeypatch.setenv(variable, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert message.startswith("invalid settings:")
    assert expected in message
    assert "Value error," not in message


def test_invalid_value_message_shows_the_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATKIT_PORT", "abc")
    with pytest.raises(SettingsError, match=r"\(got 'abc'\)"):
        load_settings()


def test_every_invalid_variable_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATKIT_PORT", "abc")
    monkeypatch.setenv("CHATKIT_WORKERS", "-3")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    lines = str(caught.value).splitlines()
    assert len(lines) == 3
    assert lines[1].strip().startswith("CHATKIT_PORT:")
    assert lines[2].strip().startswith("CHATKIT_WORKERS:")


def test_auth_mode_without_its_secret_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATKIT_AUTH", "api-key")
    with pytest.raises(
        SettingsError, match="CHATKIT_AUTH=api-key needs CHATKIT_API_KEYS or CHATKIT_API_KEYS_FILE"
    ):
        load_settings()


def test_environment_values_are_read(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATKIT_PORT", "9123")
    monkeypatch.setenv("CHATKIT_DEBUG", "true")
    monkeypatch.setenv("CHATKIT_CORS_ORIGINS", "https://a.example, https://b.example/")
    monkeypatch.setenv("CHATKIT_API_KEYS", '{"k1": "alice"}')
    monkeypatch.setenv("CHATKIT_AUTH", "api-key")
    settings = load_settings()
    assert settings.port == 9123
    assert settings.debug is True
    assert settings.console_enabled is True
    assert settings.cors_origins == ["https://a.example", "https://b.example"]
    assert settings.api_keys == {"k1": "alice"}


def test_cors_origins_accept_a_json_list(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATKIT_CORS_ORIGINS", '["*"]')
    assert load_settings().cors_origins == ["*"]


def test_openai_api_key_is_the_fallback_model_key(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENAI_API_KEY", "sk-test")
    settings = load_settings()
    assert settings.model_api_key is not None
    assert settings.model_api_key.get_secret_value() == "sk-test"
    assert settings.resolved_model == "openai:gpt-4.1-mini"
    assert "sk-test" not in repr(settings)


def test_dotenv_file_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("CHATKIT_PORT=9555\n")
    assert load_settings().port == 9555


def test_init_arguments_beat_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATKIT_PORT", "9123")
    assert Settings(port=9000).port == 9000


def test_defaults(tmp_path: Path) -> None:
    settings = load_settings()
    assert settings.host == "127.0.0.1"
    assert settings.port == 8000
    assert settings.path == "/chatkit"
    assert settings.cors_origins == ["http://localhost:3000", "http://127.0.0.1:3000"]
    assert settings.resolved_model == "offline"
    assert settings.resolved_database_url == "sqlite+aiosqlite:///data/chatkit.db"
    assert settings.server_origin == "http://127.0.0.1:8000"


def test_serve_with_invalid_port_exits_2_naming_the_variable(tmp_path: Path) -> None:
    done = run_cli(["serve"], {"CHATKIT_PORT": "abc", "COLUMNS": "200"}, cwd=tmp_path)
    assert done.returncode == 2
    assert "CHATKIT_PORT: Input should be a valid integer" in done.stderr
    assert "Traceback" not in done.stderr
    assert done.stdout == ""


# -- any case ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("value", "expected"),
    [("info", "INFO"), ("Debug", "DEBUG"), (" warning ", "WARNING"), ("CRITICAL", "CRITICAL")],
)
def test_log_level_takes_any_case_as_uvicorn_does(
    monkeypatch: pytest.MonkeyPatch, value: str, expected: str
) -> None:
    monkeypatch.setenv("CHATKIT_LOG_LEVEL", value)
    assert load_settings().log_level == expected


def test_log_format_and_auth_take_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATKIT_LOG_FORMAT", "JSON")
    monkeypatch.setenv("CHATKIT_AUTH", "API-Key")
    monkeypatch.setenv("CHATKIT_API_KEYS", '{"k1": "alice"}')
    settings = load_settings()
    assert (settings.log_format, settings.auth) == ("json", "api-key")


def test_on_disconnect_and_titles_take_any_case(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATKIT_ON_DISCONNECT", "Finish")
    monkeypatch.setenv("CHATKIT_TITLES", "First-Words")
    settings = load_settings()
    assert (settings.on_disconnect, settings.titles) == ("finish", "first-words")


def test_a_bad_log_level_is_shown_as_written(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATKIT_LOG_LEVEL", "loud")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        "invalid settings:\n  CHATKIT_LOG_LEVEL: Input should be 'DEBUG', 'INFO', 'WARNING', "
        "'ERROR' or 'CRITICAL' (got 'loud')"
    )


# -- secrets are never shown -----------------------------------------------------------------
SECRET = "sk-live-0123456789abcdef"

SECRET_LIKE = re.compile(r"(^|_)(keys?|secret|password|token|url)$")
# Settings whose name sounds secret but whose value is not, with the reason.
PUBLIC_SETTINGS = {
    "jwt_public_key": "a public key",
    "public_url": "the server's public address (a password in it is still hidden)",
    "model_base_url": "an endpoint; its key is CHATKIT_MODEL_API_KEY (a password is hidden)",
    "attachments_url": "a folder or bucket; S3 credentials come from the AWS variables",
    "s3_endpoint_url": "an endpoint; credentials come from the AWS variables",
}


def test_every_secret_like_setting_is_secret_or_said_public() -> None:
    """A new setting named like a secret must be marked SECRET (or listed here, with why)."""
    for name in Settings.model_fields:
        if SECRET_LIKE.search(name) and name not in PUBLIC_SETTINGS:
            assert is_secret_setting(name), f"CHATKIT_{name.upper()} may hold a secret"
    for name in PUBLIC_SETTINGS:  # the list stays true: real settings that sound secret
        assert name in Settings.model_fields and SECRET_LIKE.search(name), name
    for name in (
        "api_keys",
        "jwt_secret",
        "secret_key",
        "model_api_key",
        "database_url",
        "redis_url",
    ):
        assert is_secret_setting(name)


@pytest.mark.parametrize("name", [n for n in Settings.model_fields if is_secret_setting(n)])
def test_an_invalid_secret_setting_never_shows_its_value(name: str) -> None:
    error = ValidationError.from_exception_data(
        "Settings", [InitErrorDetails(type="string_type", loc=(name,), input=SECRET)]
    )
    message = describe_validation_error(error)
    assert message == (
        f"invalid settings:\n  CHATKIT_{name.upper()}: Input should be a valid string"
    )


@pytest.mark.parametrize(
    "value",
    [
        f'{{"{SECRET}": "alice",}}',  # trailing comma
        f"{{{SECRET}: alice}}",  # not JSON
        f'["{SECRET}"]',  # not an object
        f'{{"{SECRET}": 5}}',  # not a user id
    ],
)
def test_malformed_api_keys_are_named_but_not_shown(
    monkeypatch: pytest.MonkeyPatch, value: str
) -> None:
    monkeypatch.setenv("CHATKIT_API_KEYS", value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value).startswith("invalid settings:\n  CHATKIT_API_KEYS: ")
    assert SECRET not in str(caught.value)


def test_a_password_in_a_shown_url_is_hidden(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CHATKIT_ATTACHMENTS_URL", "ftp://deploy:hunter2@files.example/x")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    assert str(caught.value) == (
        "invalid settings:\n  CHATKIT_ATTACHMENTS_URL: must be file:///path or "
        "s3://bucket/prefix (got 'ftp://deploy:***@files.example/x')"
    )
    assert hide_url_passwords("postgresql://app:p@ss@db/chat") == "postgresql://app:***@db/chat"


def test_the_openai_variable_is_named_as_the_user_set_it() -> None:
    error = ValidationError.from_exception_data(
        "Settings", [InitErrorDetails(type="string_type", loc=("OPENAI_API_KEY",), input=SECRET)]
    )
    assert describe_validation_error(error) == (
        "invalid settings:\n  OPENAI_API_KEY: Input should be a valid string"
    )


# -- lists -----------------------------------------------------------------------------------
WORD_LISTS = [
    name for name, setting in Settings.model_fields.items() if setting.annotation == list[str]
]


def test_the_word_lists_are_known() -> None:
    assert {"cors_origins", "allowed_mime_types", "jwt_algorithms", "trusted_proxies"} <= set(
        WORD_LISTS
    )


@pytest.mark.parametrize("name", WORD_LISTS)
def test_a_word_list_takes_json_or_commas_and_says_so(
    monkeypatch: pytest.MonkeyPatch, name: str
) -> None:
    default = Settings.model_fields[name].get_default(call_default_factory=True)
    assert len(default) >= 2
    variable = f"CHATKIT_{name.upper()}"
    monkeypatch.setenv(variable, " , ".join(default))
    assert getattr(load_settings(), name) == default
    monkeypatch.setenv(variable, json.dumps(default))
    assert getattr(load_settings(), name) == default
    description = Settings.model_fields[name].description or ""
    assert "a JSON list or comma-separated" in description
