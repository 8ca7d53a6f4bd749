"""Signed tokens for upload and preview URLs, and the key that signs them.

A token is ``<payload>.<signature>``, both base64url: the payload is compact JSON
naming its purpose, attachment, owner and (for uploads) expiry; the signature is
HMAC-SHA256 under a key derived from ``CHATKIT_SECRET_KEY`` or, when unset, from a
random key kept in ``<data_dir>/secret_key`` so every worker process shares it.
"""

import base64
import binascii
import contextlib
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from chatkit_backend.settings import Settings

Purpose = Literal["upload", "preview"]
SECRET_FILE_NAME = "secret_key"
KEY_CONTEXT = b"chatkit-backend attachments v1"


class TokenError(Exception):
    """A token that is malformed, forged, for something else, or expired; the message says which."""


@dataclass(frozen=True, slots=True)
class TokenClaims:
    purpose: Purpose
    attachment_id: str
    user_id: str
    expires_at: int | None


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class TokenSigner:
    """Signs and verifies attachment tokens with one key."""

    def __init__(self, secret: bytes) -> None:
        if not secret:
            raise ValueError("the signing secret must not be empty")
        self._key = hmac.new(secret, KEY_CONTEXT, hashlib.sha256).digest()

    def _signature(self, payload: str) -> str:
        return _b64encode(hmac.new(self._key, payload.encode("ascii"), hashlib.sha256).digest())

    def sign(
        self, purpose: Purpose, attachment_id: str, user_id: str, *, ttl: int | None = None
    ) -> str:
        """A token for ``purpose`` on one attachment of one user, valid ``ttl`` seconds (or forever)."""
        claims: dict[str, object] = {"p": purpose, "a": attachment_id, "u": user_id}
        if ttl is not None:
            claims["e"] = int(time.time()) + ttl
        payload = _b64encode(json.dumps(claims, separators=(",", ":")).encode("utf-8"))
        return f"{payload}.{self._signature(payload)}"

    def verify(self, token: str, purpose: Purpose, *, now: float | None = None) -> TokenClaims:
        """The claims of a genuine, unexpired token for ``purpose``; ``TokenError`` otherwise."""
        payload, dot, signature = token.partition(".")
        if not dot or not payload.isascii() or not signature.isascii():
            raise TokenError("malformed token")
        if not hmac.compare_digest(signature, self._signature(payload)):
            raise TokenError("bad signature")
        try:
            claims = json.loads(_b64decode(payload))
        except (binascii.Error, ValueError):
            raise TokenError("malformed token") from None
        if not isinstance(claims, dict) or claims.get("p") != purpose:
            raise TokenError(f"not a token for {purpose!r}")
        attachment_id, user_id, expires_at = claims.get("a"), claims.get("u"), claims.get("e")
        if not isinstance(attachment_id, str) or not isinstance(user_id, str):
            raise TokenError("malformed token")
        if expires_at is not None:
            if not isinstance(expires_at, int):
                raise TokenError("malformed token")
            if (time.time() if now is None else now) >= expires_at:
                raise TokenError("expired")
        return TokenClaims(purpose, attachment_id, user_id, expires_at)


def load_secret(settings: Settings) -> bytes:
    """``CHATKIT_SECRET_KEY``, or the key in ``<data_dir>/secret_key``, created (0600) on first use."""
    if settings.secret_key is not None and settings.secret_key.get_secret_value():
        return settings.secret_key.get_secret_value().encode("utf-8")
    return persistent_secret(settings.data_dir / SECRET_FILE_NAME)


def persistent_secret(path: Path) -> bytes:
    """Read the key at ``path``; create it atomically first when missing (all workers agree)."""
    with contextlib.suppress(FileNotFoundError):
        return _read_key(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{secrets.token_hex(8)}")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(secrets.token_urlsafe(48) + "\n")
        with contextlib.suppress(FileExistsError):
            os.link(temp, path)  # atomic: the first worker's key wins, the others read it
    finally:
        temp.unlink(missing_ok=True)
    return _read_key(path)


def _read_key(path: Path) -> bytes:
    key = path.read_bytes().strip()
    if not key:
        raise ValueError(f"{path} is empty: delete it to have a new key generated")
    return key
