"""``CHATKIT_AUTH=api-key``: static keys mapped to user ids, compared in constant time."""

import hashlib
import hmac
import json
import logging
from pathlib import Path
from typing import Any

from starlette.requests import Request

from chatkit_backend.auth.credentials import bearer_token, invalid, missing
from chatkit_backend.auth.identity import Identity, id_problem
from chatkit_backend.auth.watched_file import WatchedFile
from chatkit_backend.settings import SettingsError

logger = logging.getLogger("chatkit_backend.auth")

HINT = "send Authorization: Bearer <key> or X-API-Key: <key>"
MISSING_MESSAGE = f"missing credentials: {HINT}"
INVALID_MESSAGE = "invalid API key"
SHORT_KEY_LENGTH = 16

KeyTable = list[tuple[bytes, str]]


def _digest(key: str) -> bytes:
    return hashlib.sha256(key.encode("utf-8")).digest()


def parse_keys(data: Any, variable: str = "CHATKIT_API_KEYS") -> dict[str, str]:
    """Check a ``{"key": "user-id"}`` mapping; ``ValueError`` says what is wrong, never the key."""
    if not isinstance(data, dict):
        raise ValueError('must be a JSON object {"key": "user-id"}')
    for number, (key, user_id) in enumerate(data.items(), start=1):
        if not isinstance(key, str) or not key or any(c.isspace() or ord(c) < 32 for c in key):
            raise ValueError(f"key #{number} is empty or holds whitespace")
        if not isinstance(user_id, str):
            raise ValueError(
                f"key #{number} maps to {type(user_id).__name__}, not a user id string"
            )
        problem = id_problem(user_id)
        if problem:
            raise ValueError(f"the user id of key #{number} {problem}")
        if len(key) < SHORT_KEY_LENGTH:
            logger.warning(
                "%s: key #%d of user %r is shorter than %d characters and easy to guess",
                variable,
                number,
                user_id,
                SHORT_KEY_LENGTH,
            )
    return dict(data)


def _parse_file(text: str) -> KeyTable:
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    return [(_digest(key), user) for key, user in parse_keys(data, "CHATKIT_API_KEYS_FILE").items()]


class ApiKeyAuth:
    """Keys from ``CHATKIT_API_KEYS`` and ``CHATKIT_API_KEYS_FILE`` (the file wins, reloaded on change)."""

    mode = "api-key"

    def __init__(self, keys: dict[str, str], keys_file: Path | None = None) -> None:
        try:
            static = parse_keys(keys)
        except ValueError as exc:
            raise SettingsError(f"CHATKIT_API_KEYS: {exc}") from None
        self._static: KeyTable = [(_digest(key), user) for key, user in static.items()]
        self._file = (
            WatchedFile(keys_file, _parse_file, "CHATKIT_API_KEYS_FILE") if keys_file else None
        )
        if not self._table():
            raise SettingsError(
                "CHATKIT_AUTH=api-key needs at least one key in CHATKIT_API_KEYS(_FILE)"
            )

    def _table(self) -> KeyTable:
        file_table = self._file.current() if self._file else []
        file_digests = {digest for digest, _ in file_table}
        return [*file_table, *(row for row in self._static if row[0] not in file_digests)]

    def user_for(self, key: str) -> str | None:
        """The user a key belongs to. Every key is compared, in constant time, whatever matches."""
        presented = _digest(key)
        found: str | None = None
        for digest, user in self._table():
            if hmac.compare_digest(presented, digest) and found is None:
                found = user
        return found

    async def authenticate(self, request: Request) -> Identity:
        # X-API-Key first: a proxy in front may use Authorization (Basic) for itself.
        key = request.headers.get("x-api-key", "").strip() or bearer_token(request, hint=HINT)
        if key is None:
            raise missing(MISSING_MESSAGE)
        user = self.user_for(key)
        if user is None:
            raise invalid(INVALID_MESSAGE)
        return Identity(user_id=user)
