"""chatkit-backend: a production-grade ChatKit backend for Python."""

from chatkit_backend.app import create_app
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
    UnauthorizedError,
    UnsupportedMediaTypeError,
)
from chatkit_backend.server import BackendServer
from chatkit_backend.settings import Settings, SettingsError, load_settings

__version__ = "0.1.0"

__all__ = [
    "BackendError",
    "BackendServer",
    "BadRequestError",
    "ConflictError",
    "InvalidRequestError",
    "NotConfiguredError",
    "NotFoundError",
    "PayloadTooLargeError",
    "RateLimitedError",
    "RequestContext",
    "Settings",
    "SettingsError",
    "UnauthorizedError",
    "UnsupportedMediaTypeError",
    "__version__",
    "create_app",
    "load_settings",
]
