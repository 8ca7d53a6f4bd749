"""chatkit-backend: a production-grade ChatKit backend for Python.

Names are imported on first use, so ``from chatkit_backend.client import ChatKitClient``
or a CLI command does not pay for the server, the stores and the Agents SDK.
"""

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from chatkit_backend.app import create_app
    from chatkit_backend.client import ChatKitClient, ChatKitError
    from chatkit_backend.context import RequestContext
    from chatkit_backend.errors import (
        BackendError,
        BadRequestError,
        ConflictError,
        InvalidRequestError,
        NotConfiguredError,
        NotFoundError,
        PayloadTooLargeError,
        RateLimitedError,
        ThreadBusyError,
        ThreadClosedError,
        ThreadLockedError,
        UnauthorizedError,
        UnsupportedMediaTypeError,
    )
    from chatkit_backend.server import BackendServer
    from chatkit_backend.server.actions import Actions
    from chatkit_backend.settings import Settings, SettingsError, load_settings

__version__ = "0.1.0"

_EXPORTS = {
    "Actions": "chatkit_backend.server.actions",
    "BackendError": "chatkit_backend.errors",
    "BackendServer": "chatkit_backend.server",
    "BadRequestError": "chatkit_backend.errors",
    "ChatKitClient": "chatkit_backend.client",
    "ChatKitError": "chatkit_backend.client",
    "ConflictError": "chatkit_backend.errors",
    "InvalidRequestError": "chatkit_backend.errors",
    "NotConfiguredError": "chatkit_backend.errors",
    "NotFoundError": "chatkit_backend.errors",
    "PayloadTooLargeError": "chatkit_backend.errors",
    "RateLimitedError": "chatkit_backend.errors",
    "RequestContext": "chatkit_backend.context",
    "Settings": "chatkit_backend.settings",
    "SettingsError": "chatkit_backend.settings",
    "ThreadBusyError": "chatkit_backend.errors",
    "ThreadClosedError": "chatkit_backend.errors",
    "ThreadLockedError": "chatkit_backend.errors",
    "UnauthorizedError": "chatkit_backend.errors",
    "UnsupportedMediaTypeError": "chatkit_backend.errors",
    "create_app": "chatkit_backend.app",
    "load_settings": "chatkit_backend.settings",
}

__all__ = [
    "Actions",
    "BackendError",
    "BackendServer",
    "BadRequestError",
    "ChatKitClient",
    "ChatKitError",
    "ConflictError",
    "InvalidRequestError",
    "NotConfiguredError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "RequestContext",
    "Settings",
    "SettingsError",
    "ThreadBusyError",
    "ThreadClosedError",
    "ThreadLockedError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "__version__",
    "create_app",
    "load_settings",
]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'chatkit_backend' has no attribute {name!r}")
    value = getattr(import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return __all__
