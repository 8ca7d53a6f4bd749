"""A file parsed once and parsed again when it changes, so keys rotate without a restart."""

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Generic, TypeVar

from chatkit_backend.settings import SettingsError

T = TypeVar("T")
logger = logging.getLogger("chatkit_backend.auth")


class WatchedFile(Generic[T]):
    """Holds ``parse(text)`` of a file; ``current()`` re-reads it when its mtime or size changes.

    The first read must succeed (a ``SettingsError`` naming ``variable`` otherwise). A later
    change that does not parse is logged and the previous value kept, so a half-written
    file never locks everyone out.
    """

    def __init__(self, path: Path, parse: Callable[[str], T], variable: str) -> None:
        self.path = path
        self.parse = parse
        self.variable = variable
        self._stamp = self._stat()
        try:
            self._value = parse(path.read_text(encoding="utf-8"))
        except OSError as exc:
            raise SettingsError(f"{variable}: cannot read {path}: {exc.strerror or exc}") from None
        except ValueError as exc:
            raise SettingsError(f"{variable}: {path}: {exc}") from None

    def _stat(self) -> tuple[int, int] | None:
        try:
            stat = os.stat(self.path)
        except OSError:
            return None
        return (stat.st_mtime_ns, stat.st_size)

    def current(self) -> T:
        stamp = self._stat()
        if stamp is not None and stamp != self._stamp:
            self._stamp = stamp
            try:
                self._value = self.parse(self.path.read_text(encoding="utf-8"))
                logger.info("reloaded %s (%s)", self.path, self.variable)
            except (OSError, ValueError) as exc:
                logger.error(
                    "kept the previous %s: %s does not load: %s", self.variable, self.path, exc
                )
        return self._value
