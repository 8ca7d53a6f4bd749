"""Logging set-up: text or JSON lines, each carrying the request id."""

import contextvars
import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="-")

_STANDARD = set(logging.LogRecord("", 0, "", 0, "", None, None).__dict__) | {"message", "asctime"}


class RequestIdFilter(logging.Filter):
    """Adds ``request_id`` to every record (from the current request, else "-")."""

    def filter(self, record: logging.LogRecord) -> bool:
        if not getattr(record, "request_id", None):
            record.request_id = request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id and extras."""

    def format(self, record: logging.LogRecord) -> str:
        data: dict[str, object] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _STANDARD and not key.startswith("_"):
                data[key] = (
                    value if isinstance(value, str | int | float | bool | None) else str(value)
                )
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return json.dumps(data, ensure_ascii=False)


TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"


PACKAGE_LOGGERS = ("chatkit_backend", "chatkit", "uvicorn", "uvicorn.error")


def logging_config(level: str = "INFO", fmt: str = "text") -> dict[str, Any]:
    """A ``logging.config.dictConfig`` dict: the package's loggers (and uvicorn's) to
    stderr in the chosen format (``text`` or ``json``), each line with its request id.

    ``chatkit-backend serve`` hands it to uvicorn (``log_config``), which applies it in
    every worker process. ``create_app`` never touches logging: an app that embeds ours
    keeps its own set-up.
    """
    level = level.upper()
    handler = ["stderr"]
    loggers: dict[str, Any] = {
        name: {"handlers": handler, "level": level, "propagate": False} for name in PACKAGE_LOGGERS
    }
    # The Agents SDK logs every model failure with a traceback; the responder already logs
    # it once, with the request id and a readable cause. Its own lines show in DEBUG.
    loggers["openai.agents"] = {
        "handlers": handler,
        "level": "DEBUG" if level == "DEBUG" else "CRITICAL",
        "propagate": False,
    }
    # Our access log replaces uvicorn's (it has the request id, operation and duration).
    loggers["uvicorn.access"] = {"handlers": [], "level": "CRITICAL", "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"request_id": {"()": RequestIdFilter}},
        "formatters": {
            "text": {"format": TEXT_FORMAT},
            "json": {"()": JsonFormatter},
        },
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "stream": "ext://sys.stderr",
                "filters": ["request_id"],
                "formatter": "json" if fmt == "json" else "text",
            }
        },
        "loggers": loggers,
    }


_SEEN_CAUSES: dict[tuple[str, str, int, str], None] = {}
_MAX_SEEN_CAUSES = 256


def cause_key(cause: BaseException) -> tuple[str, str, int, str]:
    """What makes two failures "the same cause": the exception type and where it was
    raised (the deepest frame), or its text when it carries no traceback."""
    frame = None
    traceback = cause.__traceback__
    while traceback is not None:
        frame, traceback = traceback.tb_frame, traceback.tb_next
    name = f"{type(cause).__module__}.{type(cause).__qualname__}"
    if frame is None:
        return (name, "", 0, str(cause)[:200])
    return (name, frame.f_code.co_filename, frame.f_lineno, "")


def log_cause_once(logger: logging.Logger, message: str, cause: BaseException | None) -> None:
    """Log a failure's cause: with its traceback at WARNING the first time this cause
    (``cause_key``) is seen in the process, at DEBUG (traceback included) after that.

    A 3-second database cut fails hundreds of requests with the same cause: the log gets
    one traceback, and each request its own one-line WARNING (from the error handler, or
    ``log_failed_stream``) with its request id.
    """
    key = cause_key(cause) if cause is not None else ("", "", 0, message)
    first = key not in _SEEN_CAUSES
    if first:
        if len(_SEEN_CAUSES) >= _MAX_SEEN_CAUSES:
            _SEEN_CAUSES.pop(next(iter(_SEEN_CAUSES)))
        _SEEN_CAUSES[key] = None
    exc_info = (type(cause), cause, cause.__traceback__) if cause is not None else None
    logger.log(logging.WARNING if first else logging.DEBUG, message, exc_info=exc_info)
