"""Logging a failed stream: one line per request, a traceback once per distinct cause.

During an outage every open stream fails the same way; a traceback each would bury the
log. Each failed stream logs one WARNING line with its request id; the traceback of each
distinct cause is logged once (``logs.log_cause_once``), later ones at DEBUG.
"""

import logging

from chatkit_backend.logs import log_cause_once


def log_stream_failure(logger: logging.Logger, exc: BaseException, request_id: str) -> None:
    """Log a stream that ended with ``exc`` (see the module docstring)."""
    logger.warning(
        "stream failed: %s: %s", type(exc).__name__, exc, extra={"request_id": request_id}
    )
    log_cause_once(logger, f"cause of the failed stream: {type(exc).__name__}", exc)
