"""What it does and what it costs: traces, token usage, quotas (docs/observability.md).

- ``usage``: each reply's tokens, recorded in the store and counted in Prometheus
  (``UsageRecorder``, built by ``create_app``).
- ``quotas``: ``CHATKIT_TOKEN_QUOTA_PER_DAY`` (and per tenant), checked before a reply
  starts (``Quotas``, built by ``create_app``).
- ``tracing``: OpenTelemetry, on through the standard ``OTEL_*`` variables.
  ``chatkit-backend serve`` sets it up in each worker; an app of yours calls
  ``configure_tracing()`` once per process, then ``instrument_app(app)``.

Importing this package imports no OpenTelemetry: ``configure_tracing`` and
``instrument_app`` load it when called (a default start pays nothing for tracing).
"""

import hashlib
from collections.abc import Mapping
from importlib import import_module
from typing import TYPE_CHECKING, Any

from chatkit_backend.settings import Settings

if TYPE_CHECKING:
    from chatkit_backend.observability.tracing import configure_tracing, instrument_app

__all__ = [
    "agents_tracing_enabled",
    "configure_tracing",
    "instrument_app",
    "tracing_requested",
    "user_pseudonym",
]

_bridged = False
"""True once ``configure_tracing`` has sent the Agents SDK's spans to OpenTelemetry in
this process (and, unless ``CHATKIT_OPENAI_TRACING``, nowhere else)."""


def tracing_requested(environ: Mapping[str, str]) -> bool:
    """Whether the ``OTEL_*`` variables in ``environ`` ask for traces.

    On with ``OTEL_TRACES_EXPORTER`` (any value but ``none``), or with an OTLP endpoint
    (``OTEL_EXPORTER_OTLP_ENDPOINT`` or ``OTEL_EXPORTER_OTLP_TRACES_ENDPOINT``); always off
    with ``OTEL_SDK_DISABLED=true`` (the OpenTelemetry SDK's own switch).
    """
    if environ.get("OTEL_SDK_DISABLED", "").strip().lower() == "true":
        return False
    exporter = environ.get("OTEL_TRACES_EXPORTER", "").strip().lower()
    if exporter:
        return exporter != "none"
    return bool(
        environ.get("OTEL_EXPORTER_OTLP_ENDPOINT", "").strip()
        or environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "").strip()
    )


def agents_tracing_enabled(settings: Settings) -> bool:
    """Whether the Agents SDK should trace its runs: its spans go somewhere wanted (to
    OpenTelemetry once ``configure_tracing`` ran, to OpenAI with ``CHATKIT_OPENAI_TRACING``).

    Off otherwise, so the SDK's default exporter never sends a run to OpenAI unasked.
    """
    return settings.openai_tracing or _bridged


def mark_agents_bridged() -> None:
    """Called by ``configure_tracing`` once the SDK's spans go to OpenTelemetry."""
    global _bridged
    _bridged = True


def user_pseudonym(owner: str) -> str:
    """The user id as traces carry it: the first 16 hex digits of the SHA-256 of the
    store's owner (``"<tenant>/<user>"`` with a tenant). The same user always gets the
    same pseudonym, so their traces can be found (``chatkit-backend usage`` shows ids)."""
    return hashlib.sha256(owner.encode("utf-8")).hexdigest()[:16]


_LAZY = {
    "configure_tracing": "chatkit_backend.observability.tracing",
    "instrument_app": "chatkit_backend.observability.tracing",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(module), name)
