"""Errors the stores raise, each a ``BackendError`` with a code and a status.

``StoreNotFoundError`` is also the SDK's ``chatkit.store.NotFoundError``, so code written
against the SDK catches it, and the app answers 404 either way.
"""

import logging

from chatkit.store import NotFoundError as SDKNotFoundError

from chatkit_backend.errors import (
    BackendError,
    BadRequestError,
    NotFoundError,
    ServiceUnavailableError,
)
from chatkit_backend.logs import log_cause_once

logger = logging.getLogger("chatkit_backend.stores")


class StoreNotFoundError(SDKNotFoundError, NotFoundError):
    """A thread, item or attachment that does not exist for this user (404)."""


class InvalidPageError(BadRequestError):
    """A page request the store cannot answer: bad limit, order or cursor (400)."""

    code = "invalid_page"


class SchemaOutOfDateError(ServiceUnavailableError):
    """The database schema is not the one this version needs; the message names the fix (503)."""

    code = "schema_out_of_date"


class DatabaseURLError(BackendError, ValueError):
    """A store URL this backend cannot use; the message says which URLs it takes."""

    code = "invalid_database_url"


class StoreUnavailableError(ServiceUnavailableError):
    """The database did not answer in time, or refused the connection (503)."""

    code = "store_unavailable"


def report_unavailable(message: str, cause: BaseException | None) -> StoreUnavailableError:
    """The 503 for an outage, its cause logged (traceback once per distinct cause)."""
    log_cause_once(logger, f"store unavailable: {message}", cause)
    return StoreUnavailableError(message)
