"""Reading credentials from request headers; values are never logged or echoed."""

from starlette.requests import Request

from chatkit_backend.auth.identity import challenge
from chatkit_backend.errors import UnauthorizedError


def bearer_token(request: Request, *, hint: str) -> str | None:
    """The token of ``Authorization: Bearer <token>``; None without the header.

    Another scheme (``Basic ...``) or an empty token is a 401 naming what to send (``hint``).
    """
    header = request.headers.get("authorization")
    if header is None:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer":
        shown = scheme if scheme.isascii() and scheme.isalnum() and len(scheme) <= 20 else "?"
        raise invalid(
            f"unsupported authorization scheme {shown!r}: {hint}", error="invalid_request"
        )
    token = token.strip()
    if not token:
        raise invalid(f"empty bearer token: {hint}", error="invalid_request")
    return token


def missing(message: str, scheme: str = "Bearer") -> UnauthorizedError:
    """401 for a request that sent no credentials (RFC 6750: no error code in the challenge)."""
    return UnauthorizedError(message, scheme=challenge(scheme))


def invalid(
    message: str, *, error: str = "invalid_token", scheme: str = "Bearer"
) -> UnauthorizedError:
    """401 for credentials that were sent but do not hold."""
    return UnauthorizedError(message, scheme=challenge(scheme, error, message))
