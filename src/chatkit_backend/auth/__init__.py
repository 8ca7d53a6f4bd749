"""Authentication and rate limits: build the per-request ``RequestContext``.

``context_builder(settings)`` is the default FastAPI dependency; the auth modes of
``CHATKIT_AUTH`` are ``LocalAuth`` (none), ``ApiKeyAuth``, ``JwtAuth`` and
``TrustedHeaderAuth``, each turning a request into an ``Identity`` or a 401.
"""

from typing import TYPE_CHECKING, Any

from chatkit_backend.auth.api_keys import ApiKeyAuth
from chatkit_backend.auth.builder import base_url_of, check_rate_limit, context_builder, locale_of
from chatkit_backend.auth.identity import Authenticator, Identity
from chatkit_backend.auth.limits import Limiter, NoLimiter, Release, limiter_from_settings
from chatkit_backend.auth.local import LOCAL_USER, LocalAuth
from chatkit_backend.auth.memory_limiter import InProcessLimiter
from chatkit_backend.auth.modes import authenticator_from_settings, check_auth_settings
from chatkit_backend.auth.proxy_header import TrustedHeaderAuth

if TYPE_CHECKING:
    from chatkit_backend.auth.jwt_tokens import JwtAuth

__all__ = [
    "LOCAL_USER",
    "ApiKeyAuth",
    "Authenticator",
    "Identity",
    "InProcessLimiter",
    "JwtAuth",
    "Limiter",
    "LocalAuth",
    "NoLimiter",
    "Release",
    "TrustedHeaderAuth",
    "authenticator_from_settings",
    "base_url_of",
    "check_auth_settings",
    "check_rate_limit",
    "context_builder",
    "limiter_from_settings",
    "locale_of",
]


def __getattr__(name: str) -> Any:
    """``JwtAuth`` is imported on first use: pyjwt and cryptography only load in jwt mode."""
    if name == "JwtAuth":
        from chatkit_backend.auth.jwt_tokens import JwtAuth

        return JwtAuth
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
