"""Settings: one object, read from ``CHATKIT_*`` environment variables and ``.env``.

Init arguments beat the environment (pydantic-settings' priority), so tests pass
``Settings(...)`` and never touch ``os.environ``. Nothing below ``app.py`` reads the
environment: the settings object is passed down.
"""

import json
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
AuthMode = Literal["none", "api-key", "jwt", "header"]


class SettingsError(Exception):
    """Raised when the environment holds an invalid value; the message names the variable."""


class Settings(BaseSettings):
    """Every setting of chatkit-backend. Each field is ``CHATKIT_<NAME>`` in the environment."""

    model_config = SettingsConfigDict(
        env_prefix="CHATKIT_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        validate_default=True,
        populate_by_name=True,
    )

    # -- server -------------------------------------------------------------------------
    host: str = Field("127.0.0.1", description="Address `serve` binds to.")
    port: int = Field(8000, ge=1, le=65535, description="Port `serve` listens on.")
    path: str = Field("/chatkit", description="Path of the ChatKit endpoint.")
    workers: int = Field(1, ge=1, le=64, description="Worker processes for `serve`.")
    data_dir: Path = Field(
        Path("./data"), description="Folder for the SQLite file and attachments."
    )
    database_url: str | None = Field(
        None,
        description="Store URL: `sqlite:///path.db`, `postgresql://...`, or `memory://`. "
        "Default: `sqlite+aiosqlite:///<data_dir>/chatkit.db`.",
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000", "http://127.0.0.1:3000"],
        description='Allowed browser origins, a JSON list. `["*"]` allows any origin without credentials. '
        "The server's own origin is always added.",
    )
    debug: bool = Field(
        False, description="Debug mode: `/debug/routes`, request logging, the console."
    )
    max_body_bytes: int = Field(
        1_048_576,
        ge=1024,
        description="Largest accepted body on the ChatKit endpoint (413 past it).",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO", description="Log level."
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines as `text` or `json`."
    )
    console: bool | None = Field(
        None,
        description="Serve the web console at `/console`. Default: on when `CHATKIT_DEBUG` is true.",
    )
    public_url: str | None = Field(
        None,
        description="Externally visible base URL (e.g. `https://chat.example.com`), used for upload and "
        "preview URLs. Default: taken from each request.",
    )

    # -- store --------------------------------------------------------------------------
    db_auto_upgrade: bool | None = Field(
        None,
        description="Run migrations on start. Default: on for SQLite, off for PostgreSQL "
        "(which then refuses to start on an old schema).",
    )
    db_pool_size: int = Field(5, ge=1, description="PostgreSQL connection pool size per process.")
    db_max_overflow: int = Field(
        10, ge=0, description="PostgreSQL connections beyond the pool size."
    )
    db_pool_timeout: float = Field(
        10.0, gt=0, description="Seconds to wait for a pooled connection."
    )
    db_connect_timeout: float = Field(10.0, gt=0, description="Seconds to wait when connecting.")
    db_busy_timeout_ms: int = Field(5000, ge=0, description="SQLite busy timeout in milliseconds.")

    # -- model --------------------------------------------------------------------------
    model: str | None = Field(
        None,
        description="`openai:<model>`, `openai-compatible:<model>` or `offline`. Default: "
        "`offline` without a key or base URL, else `openai:gpt-4.1-mini`.",
    )
    model_base_url: str | None = Field(None, description="Base URL of an OpenAI-compatible server.")
    model_api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("CHATKIT_MODEL_API_KEY", "OPENAI_API_KEY"),
        description="API key for the model server; falls back to `OPENAI_API_KEY`.",
    )
    instructions: str | None = Field(None, description="System prompt (static).")
    instructions_file: Path | None = Field(None, description="File holding the system prompt.")
    history_items: int = Field(
        50, ge=1, le=10_000, description="Most recent thread items sent to the model."
    )
    model_first_token_timeout: float = Field(
        60.0, gt=0, description="Seconds to wait for the model's first token."
    )
    model_idle_timeout: float = Field(30.0, gt=0, description="Seconds to wait between tokens.")
    title_timeout: float = Field(
        10.0, gt=0, description="Seconds allowed for generating a thread title."
    )
    transcription_model: str | None = Field(
        None,
        description="OpenAI transcription model (e.g. `gpt-4o-mini-transcribe`); unset answers 501.",
    )
    offline_token_delay: float = Field(
        0.02, ge=0, description="Seconds between tokens of the offline model."
    )
    model_max_retries: int = Field(
        2,
        ge=0,
        le=10,
        description="Retries of a failed model request (connection error, 429, 5xx).",
    )
    model_max_turns: int = Field(
        10, ge=1, le=100, description="Most model calls in one reply (each tool round is one)."
    )

    # -- attachments --------------------------------------------------------------------
    attachments: bool = Field(True, description="Enable attachments (off answers 501).")
    attachments_dir: Path | None = Field(
        None, description="Folder for uploads. Default: `<data_dir>/attachments`."
    )
    max_upload_bytes: int = Field(
        20 * 1024 * 1024, ge=1, description="Largest upload (413 past it)."
    )
    allowed_mime_types: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: [
            "image/png",
            "image/jpeg",
            "image/gif",
            "image/webp",
            "text/*",
            "application/pdf",
            "application/json",
        ],
        description="Accepted MIME types, a JSON list; `type/*` wildcards allowed (415 otherwise).",
    )
    upload_token_ttl: int = Field(900, ge=1, description="Seconds an upload URL stays valid.")
    attachment_ttl: int = Field(
        86_400, ge=60, description="Seconds before an upload never sent in a message is pruned."
    )
    prune_interval: int = Field(
        0, ge=0, description="Seconds between background prunes of stale uploads; 0 turns it off."
    )
    text_attachment_max_chars: int = Field(
        20_000, ge=0, description="Characters of a text file given to the model."
    )
    secret_key: SecretStr | None = Field(
        None,
        description="Key that signs upload URLs. Default: a random key kept in `<data_dir>/secret_key`.",
    )

    # -- auth ---------------------------------------------------------------------------
    auth: AuthMode = Field("none", description="`none`, `api-key`, `jwt` or `header`.")
    allow_insecure_bind: bool = Field(
        False, description="Allow `CHATKIT_AUTH=none` on a non-loopback address."
    )
    api_keys: Annotated[dict[str, str], NoDecode] = Field(
        default_factory=dict, description='API keys, a JSON object `{"key": "user-id"}`.'
    )
    api_keys_file: Path | None = Field(None, description="JSON file of API keys, same shape.")
    jwt_secret: SecretStr | None = Field(None, description="HS256 secret.")
    jwt_public_key: str | None = Field(None, description="PEM public key (RS256/ES256).")
    jwt_public_key_file: Path | None = Field(None, description="File holding the PEM public key.")
    jwt_jwks_file: Path | None = Field(None, description="JWKS file (RS256/ES256).")
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["HS256", "RS256", "ES256"], description="Accepted JWT algorithms."
    )
    jwt_audience: str | None = Field(None, description="Required `aud` claim.")
    jwt_issuer: str | None = Field(None, description="Required `iss` claim.")
    jwt_user_claim: str = Field("sub", description="Claim that holds the user id.")
    jwt_tenant_claim: str | None = Field(
        None, description="Claim that holds the tenant id; when set, tokens without it are refused."
    )
    jwt_leeway: int = Field(0, ge=0, description="Seconds of clock skew allowed on `exp`/`nbf`.")
    user_header: str = Field(
        "X-User-Id", description="Header holding the user id in `header` mode."
    )
    tenant_header: str | None = Field(
        None, description="Header holding the tenant id in `header` mode; when set, it is required."
    )
    trusted_proxies: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["127.0.0.1", "::1"],
        description="Addresses (or CIDR) allowed to set the user header, a JSON list.",
    )
    rate_limit_per_minute: int = Field(
        0, ge=0, description="Requests per user per minute; 0: no limit."
    )
    max_concurrent_streams: int = Field(0, ge=0, description="Open streams per user; 0: no limit.")
    redis_url: str | None = Field(None, description="Redis URL for limits shared across processes.")
    redis_prefix: str = Field(
        "chatkit:",
        description="Prefix of every Redis key, so several deployments can share one Redis.",
    )

    # -- validators ---------------------------------------------------------------------
    @field_validator(
        "cors_origins", "allowed_mime_types", "jwt_algorithms", "trusted_proxies", mode="before"
    )
    @classmethod
    def _json_list(cls, value: Any) -> Any:
        if isinstance(value, str):
            text = value.strip()
            if not text:
                return []
            if text.startswith("["):
                return json.loads(text)
            return [part.strip() for part in text.split(",") if part.strip()]
        return value

    @field_validator("api_keys", mode="before")
    @classmethod
    def _json_object(cls, value: Any) -> Any:
        if isinstance(value, str):
            return json.loads(value) if value.strip() else {}
        return value

    @field_validator("path")
    @classmethod
    def _path_starts_with_slash(cls, value: str) -> str:
        if not value.startswith("/"):
            raise ValueError("must start with '/'")
        return value.rstrip("/") or "/"

    @field_validator("cors_origins")
    @classmethod
    def _origins_have_scheme(cls, value: list[str]) -> list[str]:
        for origin in value:
            if origin != "*" and not origin.startswith(("http://", "https://")):
                raise ValueError(f"origin {origin!r} must start with http:// or https://")
        return [origin.rstrip("/") for origin in value]

    @field_validator("model")
    @classmethod
    def _model_kind(cls, value: str | None) -> str | None:
        if value is None or value == "offline":
            return value
        kind, _, name = value.partition(":")
        if kind not in ("openai", "openai-compatible") or not name:
            raise ValueError("must be 'offline', 'openai:<model>' or 'openai-compatible:<model>'")
        return value

    @model_validator(mode="after")
    def _auth_is_configured(self) -> "Settings":
        if self.auth == "api-key" and not (self.api_keys or self.api_keys_file):
            raise ValueError("CHATKIT_AUTH=api-key needs CHATKIT_API_KEYS or CHATKIT_API_KEYS_FILE")
        if self.auth == "jwt" and not (
            self.jwt_secret or self.jwt_public_key or self.jwt_public_key_file or self.jwt_jwks_file
        ):
            raise ValueError(
                "CHATKIT_AUTH=jwt needs CHATKIT_JWT_SECRET, CHATKIT_JWT_PUBLIC_KEY(_FILE) or CHATKIT_JWT_JWKS_FILE"
            )
        return self

    # -- derived values -----------------------------------------------------------------
    @property
    def resolved_database_url(self) -> str:
        """The store URL, defaulting to a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{(self.data_dir / 'chatkit.db').as_posix()}"

    @property
    def resolved_attachments_dir(self) -> Path:
        return self.attachments_dir or self.data_dir / "attachments"

    @property
    def resolved_model(self) -> str:
        """`CHATKIT_MODEL`, or `offline` when no key and no base URL are configured."""
        if self.model:
            return self.model
        if self.model_api_key is None and self.model_base_url is None:
            return "offline"
        if self.model_base_url:
            return "openai-compatible:default"
        return "openai:gpt-4.1-mini"

    @property
    def console_enabled(self) -> bool:
        return self.debug if self.console is None else self.console

    @property
    def is_loopback(self) -> bool:
        return self.host in LOOPBACK_HOSTS

    @property
    def server_origin(self) -> str:
        host = "localhost" if self.host in ("0.0.0.0", "::") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"


def load_settings(**overrides: Any) -> Settings:
    """Build settings from the environment, turning validation errors into one readable message."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        raise SettingsError(describe_validation_error(exc)) from None
    except json.JSONDecodeError as exc:  # pragma: no cover - pydantic wraps these
        raise SettingsError(f"invalid JSON in a setting: {exc}") from None


def describe_validation_error(exc: ValidationError) -> str:
    """One line per problem, naming the environment variable."""
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ()) if part != "__root__"]
        if loc:
            name = loc[0]
            variable = name if name.isupper() else f"CHATKIT_{name.upper()}"
            value = error.get("input")
            shown = "" if isinstance(value, dict) or value is None else f" (got {value!r})"
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{variable}: {message}{shown}")
        else:
            lines.append(str(error["msg"]).removeprefix("Value error, "))
    return "invalid settings:\n  " + "\n  ".join(lines)
