"""Settings: one object, read from ``CHATKIT_*`` environment variables and ``.env``.

Init arguments beat the environment (pydantic-settings' priority), so tests pass
``Settings(...)`` and never touch ``os.environ``. Nothing below ``app.py`` reads the
environment: the settings object is passed down.
"""

import json
import re
from pathlib import Path
from typing import Annotated, Any, Literal, get_args
from urllib.parse import unquote, urlsplit

from pydantic import (
    AliasChoices,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from chatkit_backend.agent_config import (
    ModelEntry,
    ToolEntry,
    check_model_string,
    parse_models,
    parse_tools,
)

LOOPBACK_HOSTS = frozenset({"127.0.0.1", "localhost", "::1"})
AuthMode = Literal["none", "api-key", "jwt", "header"]
SECRET: dict[str, Any] = {"secret": True}
"""``json_schema_extra`` of a setting whose value may hold a secret: errors never show it."""
NOT_SHOWN: dict[str, Any] = {"shown": False}
"""``json_schema_extra`` of a JSON setting whose errors name the entry at fault instead of
repeating the whole value."""
_URL_PASSWORD = re.compile(r"(?P<head>[A-Za-z][A-Za-z0-9+.\-]*://[^:/@\s]*:)[^\s/?#]*@")


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
        json_schema_extra=SECRET,
    )
    cors_origins: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["http://localhost:3000", "http://127.0.0.1:3000"],
        description="Allowed browser origins, a JSON list or comma-separated. `*` allows any "
        "origin without credentials. The server's own origin is always added.",
    )
    debug: bool = Field(
        False,
        description="Debug mode: `/debug/routes`, `/docs` and `/openapi.json`, request logging, "
        "the console.",
    )
    max_body_bytes: int = Field(
        1_048_576,
        ge=1024,
        description="Largest accepted body on the ChatKit endpoint (413 past it).",
    )
    on_disconnect: Literal["cancel", "finish"] = Field(
        "cancel",
        description="When a client goes away mid-reply: `cancel` stops the reply and saves "
        "what was generated; `finish` lets it run to the end and saves it whole (a stop sent "
        "to `POST <path>/stop` still cancels it; docs/frontend.md).",
    )
    reply_lease_seconds: float = Field(
        30.0,
        ge=2,
        le=3600,
        description="Seconds a reply's hold on its thread (one reply at a time) outlives its "
        "holder: a process killed mid-reply frees the thread after this long.",
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"] = Field(
        "INFO",
        description="Log level of `chatkit-backend serve`: `debug`, `info`, `warning`, `error` "
        "or `critical`, any case.",
    )
    log_format: Literal["text", "json"] = Field(
        "text", description="Log lines of `chatkit-backend serve` as `text` or `json`."
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
    db_pool_size: int = Field(
        5, ge=1, description="Connection pool size per process (SQLite and PostgreSQL)."
    )
    db_max_overflow: int = Field(
        10, ge=0, description="Connections beyond the pool size (SQLite and PostgreSQL)."
    )
    db_pool_timeout: float = Field(
        10.0, gt=0, description="Seconds to wait for a pooled connection."
    )
    db_connect_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds to wait when connecting to PostgreSQL (SQLite waits "
        "`CHATKIT_DB_BUSY_TIMEOUT_MS`).",
    )
    db_busy_timeout_ms: int = Field(5000, ge=0, description="SQLite busy timeout in milliseconds.")
    db_statement_timeout: float = Field(
        10.0,
        gt=0,
        description="Seconds PostgreSQL may take to answer a statement; past it (a stuck "
        "network, a lock held) the request gets 503 `store_unavailable` and the connection "
        "is dropped.",
    )

    # -- model --------------------------------------------------------------------------
    model: str | None = Field(
        None,
        description="`openai:<model>`, `openai-compatible:<model>` or `offline`. Default: "
        "`offline` without a key or base URL; `openai-compatible:default` with "
        "`CHATKIT_MODEL_BASE_URL`; else `openai:gpt-4.1-mini`.",
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
    titles: Literal["model", "first-words"] = Field(
        "model",
        description="How a new thread gets its title: `model` (the model writes it: one more "
        "model call per new thread) or `first-words` (the first words of the message: no "
        "call, no cost).",
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
    models: Annotated[list[ModelEntry], NoDecode] = Field(
        default_factory=list,
        description="Models users may pick in the composer, a JSON list: "
        '`[{"id": "fast", "model": "openai:gpt-4.1-mini", "default": true}, {"id": "deep", '
        '"model": "openai:o4-mini", "reasoning_effort": "high"}]`; optional per entry: '
        "`label`, `description`, `reasoning_effort`, `reasoning_summary`, `temperature`, "
        "`max_output_tokens`. Replaces `CHATKIT_MODEL`. Unset: `inference_options.model` is "
        "ignored. See docs/extending.md.",
        json_schema_extra=NOT_SHOWN,
    )
    tools: Annotated[list[ToolEntry], NoDecode] = Field(
        default_factory=list,
        description="The agent's tools, a JSON list: `web_search`, `file_search`, "
        "`code_interpreter`, `image_generation` (hosted: `openai:` models only), `mcp` "
        "(`url` or `command`), `function` (one of your agent's tools); an entry's `id` lets "
        "the composer's tool menu force it. See docs/extending.md.",
        json_schema_extra=SECRET,
    )
    agent: str | None = Field(
        None,
        description="Your Agents SDK agent as `module:attribute`: an `Agent`, or a function "
        "`(RequestContext) -> Agent` (sync or async) called per reply. The working folder is "
        "importable. See docs/agent-builder.md.",
    )

    # -- attachments --------------------------------------------------------------------
    attachments: bool = Field(True, description="Enable attachments (off answers 501).")
    attachments_url: str | None = Field(
        None,
        description="Where attachment bytes live: `file:///path` (a folder) or `s3://bucket/prefix` "
        "(any S3-compatible storage; credentials from the standard AWS variables, profiles or "
        "instance roles). Default: `file://<data_dir>/attachments`.",
    )
    attachments_dir: Path | None = Field(
        None,
        description="Deprecated: use `CHATKIT_ATTACHMENTS_URL=file:///path`. Folder for uploads, "
        "when `CHATKIT_ATTACHMENTS_URL` is unset.",
    )
    s3_endpoint_url: str | None = Field(
        None,
        description="Endpoint of an S3-compatible service (MinIO, Cloudflare R2, Google Cloud "
        "Storage), e.g. `https://<account>.r2.cloudflarestorage.com`. Default: AWS S3.",
    )
    s3_region: str | None = Field(
        None, description="Region of the S3 bucket. Default: from the AWS configuration."
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
        description="Accepted MIME types, a JSON list or comma-separated; `type/*` wildcards "
        "allowed (415 otherwise).",
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
    document_max_chars: int = Field(
        50_000,
        ge=0,
        description="Characters of a PDF's extracted text given to a Chat Completions model "
        "(Responses models get the file itself).",
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
        default_factory=dict,
        description='API keys, a JSON object `{"key": "user-id"}`.',
        json_schema_extra=SECRET,
    )
    api_keys_file: Path | None = Field(None, description="JSON file of API keys, same shape.")
    jwt_secret: SecretStr | None = Field(None, description="HS256 secret.")
    jwt_public_key: str | None = Field(None, description="PEM public key (RS256/ES256).")
    jwt_public_key_file: Path | None = Field(None, description="File holding the PEM public key.")
    jwt_jwks_file: Path | None = Field(None, description="JWKS file (RS256/ES256).")
    jwt_algorithms: Annotated[list[str], NoDecode] = Field(
        default_factory=lambda: ["HS256", "RS256", "ES256"],
        description="Accepted JWT algorithms, a JSON list or comma-separated.",
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
        description="Addresses (or CIDR) allowed to set the user header, a JSON list or "
        "comma-separated.",
    )
    rate_limit_per_minute: int = Field(
        0, ge=0, description="Requests per user per minute; 0: no limit."
    )
    max_concurrent_streams: int = Field(0, ge=0, description="Open streams per user; 0: no limit.")
    redis_url: str | None = Field(
        None, description="Redis URL for limits shared across processes.", json_schema_extra=SECRET
    )
    redis_prefix: str = Field(
        "chatkit:",
        description="Prefix of every Redis key, so several deployments can share one Redis.",
    )

    # -- observability ------------------------------------------------------------------
    token_quota_per_day: int = Field(
        0,
        ge=0,
        description="Model tokens (input + output, as the model server counts them) each user "
        "may use per UTC day; past it a new reply is refused (429 `quota_exceeded`, "
        "`Retry-After` at midnight UTC). Counted across processes through "
        "`CHATKIT_REDIS_URL`, else per process. 0: no quota. See docs/observability.md.",
    )
    tenant_token_quota_per_day: int = Field(
        0,
        ge=0,
        description="Model tokens all the users of one tenant may use together per UTC day "
        "(requests with a tenant only), counted like `CHATKIT_TOKEN_QUOTA_PER_DAY`. "
        "0: no quota.",
    )
    openai_tracing: bool = Field(
        False,
        description="Let the Agents SDK send its traces to OpenAI's dashboard (with "
        "`OPENAI_API_KEY`). Off: they stay here (see `OTEL_*` in docs/observability.md).",
    )
    trace_content: bool = Field(
        False,
        description="Put prompts, replies and tool arguments in the traces' model and tool "
        "spans (OpenTelemetry and `CHATKIT_OPENAI_TRACING`). Off: timings, models and token "
        "counts only.",
    )

    # -- validators ---------------------------------------------------------------------
    @field_validator("log_level", "log_format", "auth", "on_disconnect", "titles", mode="before")
    @classmethod
    def _any_case(cls, value: Any, info: ValidationInfo) -> Any:
        """``info`` is ``INFO`` (as uvicorn's ``--log-level info`` and ``logging`` take it);
        ``JSON`` is ``json``. A value that is no choice in any case is left as written."""
        if not isinstance(value, str) or info.field_name is None:
            return value
        choices = get_args(cls.model_fields[info.field_name].annotation)
        folded = {str(choice).casefold(): choice for choice in choices}
        return folded.get(value.strip().casefold(), value)

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
            if not value.strip():
                return {}
            try:
                return json.loads(value)
            except json.JSONDecodeError as exc:  # its message holds no part of the value
                raise ValueError(
                    f'not valid JSON ({exc.msg} at character {exc.pos}): use {{"key": "user-id"}}'
                ) from None
        return value

    @field_validator("attachments_url")
    @classmethod
    def _attachments_url(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        parts = urlsplit(value.strip())
        if parts.scheme == "s3":
            if not parts.netloc:
                raise ValueError("s3:// needs a bucket: s3://bucket or s3://bucket/prefix")
        elif parts.scheme == "file":
            if not (parts.path or parts.netloc):
                raise ValueError("file:// needs a folder: file:///var/lib/chatkit/attachments")
        else:
            raise ValueError("must be file:///path or s3://bucket/prefix")
        return value.strip()

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
        return None if value is None else check_model_string(value)

    @field_validator("models", mode="before")
    @classmethod
    def _model_entries(cls, value: Any) -> Any:
        return parse_models(value)

    @field_validator("tools", mode="before")
    @classmethod
    def _tool_entries(cls, value: Any) -> Any:
        return parse_tools(value)

    @field_validator("agent")
    @classmethod
    def _agent_reference(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        module, _, attribute = value.strip().partition(":")
        if not module or not attribute:
            raise ValueError("must be module:attribute, e.g. workflow:agent")
        return value.strip()

    @model_validator(mode="after")
    def _one_model_setting(self) -> "Settings":
        if self.models and self.model:
            raise ValueError(
                "set CHATKIT_MODEL or CHATKIT_MODELS, not both (the default entry of "
                "CHATKIT_MODELS is the model used when a message names none)"
            )
        return self

    @model_validator(mode="after")
    def _one_attachments_location(self) -> "Settings":
        if self.attachments_url and self.attachments_dir is not None:
            raise ValueError(
                "set CHATKIT_ATTACHMENTS_URL or the deprecated CHATKIT_ATTACHMENTS_DIR, not both"
            )
        return self

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
        """The attachments folder: ``CHATKIT_ATTACHMENTS_DIR``, the path of a ``file://``
        ``CHATKIT_ATTACHMENTS_URL``, else ``<data_dir>/attachments``."""
        if self.attachments_dir is not None:
            return self.attachments_dir
        if self.attachments_url and self.attachments_url.startswith("file:"):
            parts = urlsplit(self.attachments_url)
            host = parts.netloc if parts.netloc not in ("", "localhost") else ""
            return Path(unquote(host + parts.path))
        return self.data_dir / "attachments"

    @property
    def resolved_attachments_url(self) -> str:
        """``CHATKIT_ATTACHMENTS_URL``, else the ``file://`` URL of the attachments folder."""
        if self.attachments_url and self.attachments_dir is None:
            return self.attachments_url
        return f"file://{self.resolved_attachments_dir.resolve().as_posix()}"

    @property
    def resolved_model(self) -> str:
        """`CHATKIT_MODEL` (or the default entry of `CHATKIT_MODELS`), or `offline` when no
        key and no base URL are configured."""
        if self.model:
            return self.model
        if self.models:
            return next((entry for entry in self.models if entry.default), self.models[0]).model
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
    """One line per problem, naming the environment variable.

    The offending value is shown (``(got 'abc')``) only for settings that hold no secret:
    never for ``SecretStr`` settings nor those marked ``SECRET`` (API keys, store and Redis
    URLs), and a password inside any URL shown is replaced by ``***``.
    """
    lines = []
    for error in exc.errors():
        loc = [str(part) for part in error.get("loc", ()) if part != "__root__"]
        if loc:
            name = _field_name(loc[0])
            variable = loc[0] if loc[0].isupper() else f"CHATKIT_{name.upper()}"
            message = str(error["msg"]).removeprefix("Value error, ")
            lines.append(f"{variable}: {message}{_shown_value(name, error.get('input'))}")
        else:
            lines.append(str(error["msg"]).removeprefix("Value error, "))
    return "invalid settings:\n  " + "\n  ".join(lines)


def is_secret_setting(name: str) -> bool:
    """True when the setting's value may hold a secret (``SecretStr``, or marked ``SECRET``)."""
    field = Settings.model_fields.get(name)
    if field is None:
        return True  # not a known setting: show nothing
    extra = field.json_schema_extra
    return "SecretStr" in str(field.annotation) or (
        isinstance(extra, dict) and bool(extra.get("secret"))
    )


def hide_url_passwords(text: str) -> str:
    """``postgresql://app:***@db/chat`` for ``postgresql://app:pw@db/chat``, anywhere in ``text``."""
    return _URL_PASSWORD.sub(r"\g<head>***@", text)


def _field_name(loc: str) -> str:
    """The field an error location names: the field itself, or one of its aliases."""
    if loc in Settings.model_fields:
        return loc
    for name, field in Settings.model_fields.items():
        alias = field.validation_alias
        choices = alias.choices if isinstance(alias, AliasChoices) else [alias]
        if any(str(choice).lower() == loc.lower() for choice in choices if choice is not None):
            return name
    return loc.lower().removeprefix("chatkit_")


def _shown_value(name: str, value: Any) -> str:
    if value is None or isinstance(value, dict | list) or is_secret_setting(name):
        return ""
    extra = Settings.model_fields[name].json_schema_extra
    if isinstance(extra, dict) and extra.get("shown") is False:
        return ""
    return f" (got {hide_url_passwords(repr(value))})"
