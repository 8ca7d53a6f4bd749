"""``CHATKIT_AUTH=jwt``: bearer tokens signed with HS256 (a secret) or RS256/ES256 (a public key or JWKS).

The token's ``alg`` header picks the key family: HMAC algorithms only ever verify with the
secret, public-key algorithms only with a public key, so a token cannot swap one for the
other; ``alg: none`` is always refused. ``exp`` is required; ``nbf``, ``iat``, ``aud`` and
``iss`` are checked; the user comes from ``CHATKIT_JWT_USER_CLAIM`` (``sub``).
"""

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from jwt.algorithms import get_default_algorithms
from starlette.requests import Request

from chatkit_backend.auth.credentials import bearer_token, invalid, missing
from chatkit_backend.auth.identity import Identity, id_problem
from chatkit_backend.auth.watched_file import WatchedFile
from chatkit_backend.settings import Settings, SettingsError

HINT = "send Authorization: Bearer <token>"
MISSING_MESSAGE = f"missing credentials: {HINT}"
HMAC_ALGORITHMS = frozenset({"HS256", "HS384", "HS512"})
RSA_ALGORITHMS = frozenset({"RS256", "RS384", "RS512", "PS256", "PS384", "PS512"})
EC_ALGORITHMS = {"secp256r1": "ES256", "secp384r1": "ES384", "secp521r1": "ES512"}
ALGORITHMS = get_default_algorithms()

# pyjwt's errors, most specific first, as messages safe to show the client.
TOKEN_ERRORS: list[tuple[type[Exception], str]] = [
    (jwt.ExpiredSignatureError, "token expired"),
    (jwt.ImmatureSignatureError, "token is not yet valid (nbf or iat is in the future)"),
    (jwt.InvalidAudienceError, "token audience (aud) is not accepted"),
    (jwt.InvalidIssuerError, "token issuer (iss) is not accepted"),
    (jwt.InvalidSignatureError, "token signature is invalid"),
    (jwt.InvalidIssuedAtError, "token issued-at time (iat) is not a number"),
    (jwt.exceptions.InvalidSubjectError, "token subject (sub) must be a string"),
    (jwt.InvalidAlgorithmError, "token algorithm does not match its key"),
    (jwt.DecodeError, "token is malformed"),
    (jwt.InvalidTokenError, "token is invalid"),
]


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """A key and the algorithms it may verify; ``kid`` is set for JWKS keys."""

    key: Any
    algorithms: frozenset[str]
    kid: str | None = None


def algorithms_for(public_key: Any) -> frozenset[str]:
    """The JWT algorithms a public key can verify (by key type and curve)."""
    if isinstance(public_key, rsa.RSAPublicKey):
        return RSA_ALGORITHMS
    if isinstance(public_key, ec.EllipticCurvePublicKey):
        name = EC_ALGORITHMS.get(public_key.curve.name)
        return frozenset({name}) if name else frozenset()
    if isinstance(public_key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return frozenset({"EdDSA"})
    return frozenset()


def _check_length(key: Any, algorithms: frozenset[str], accepted: frozenset[str]) -> None:
    for name in sorted(algorithms & accepted):
        algorithm = ALGORITHMS[name]
        problem = algorithm.check_key_length(algorithm.prepare_key(key))
        if problem:
            raise ValueError(f"too weak for {name}: {problem}")


def load_pem(text: str, accepted: frozenset[str]) -> VerificationKey:
    try:
        public_key = load_pem_public_key(text.encode("utf-8"))
    except ValueError:
        raise ValueError("not a PEM public key (-----BEGIN PUBLIC KEY-----)") from None
    algorithms = algorithms_for(public_key)
    if not algorithms & accepted:
        raise ValueError(
            f"a {type(public_key).__name__.removeprefix('_')} verifies {sorted(algorithms) or 'no JWT algorithm'}, "
            f"none of which CHATKIT_JWT_ALGORITHMS ({sorted(accepted)}) accepts"
        )
    _check_length(public_key, algorithms, accepted)
    return VerificationKey(public_key, algorithms)


def load_jwks(text: str, accepted: frozenset[str]) -> list[VerificationKey]:
    """The signing keys of a JWKS document whose algorithm is accepted; ``ValueError`` if none."""
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} at line {exc.lineno}") from None
    entries = data.get("keys") if isinstance(data, dict) else None
    if not isinstance(entries, list) or not entries:
        raise ValueError('must be a JSON object {"keys": [...]} holding at least one key')
    keys: list[VerificationKey] = []
    for number, entry in enumerate(entries, start=1):
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            jwk = jwt.PyJWK(entry)
        except jwt.PyJWTError as exc:
            reason = str(exc).split(":", 1)[0]  # pyjwt appends the key itself: never show it
            raise ValueError(f"key #{number}: {reason}") from None
        algorithm = jwk.algorithm_name
        if algorithm in accepted:
            _check_length(jwk.key, frozenset({algorithm}), accepted)
            keys.append(VerificationKey(jwk, frozenset({algorithm}), jwk.key_id))
    if not keys:
        raise ValueError(f"holds no signing key for the accepted algorithms {sorted(accepted)}")
    return keys


class JwtAuth:
    """Verifies ``Authorization: Bearer <jwt>`` and takes the user (and tenant) from its claims."""

    mode = "jwt"

    def __init__(self, settings: Settings) -> None:
        accepted = frozenset(settings.jwt_algorithms)
        if not accepted or any(name.lower() == "none" for name in accepted):
            raise SettingsError(
                "CHATKIT_JWT_ALGORITHMS: must list signing algorithms; 'none' is never accepted"
            )
        unknown = sorted(accepted - set(ALGORITHMS))
        if unknown:
            raise SettingsError(
                f"CHATKIT_JWT_ALGORITHMS: unknown algorithm(s) {unknown}; known: {sorted(ALGORITHMS)}"
            )
        self.accepted = accepted
        self.audience = settings.jwt_audience
        self.issuer = settings.jwt_issuer
        self.leeway = settings.jwt_leeway
        self.user_claim = settings.jwt_user_claim
        self.tenant_claim = settings.jwt_tenant_claim
        self._keys = self._static_keys(settings)
        self._jwks: WatchedFile[list[VerificationKey]] | None = None
        if settings.jwt_jwks_file:
            self._jwks = WatchedFile(
                settings.jwt_jwks_file,
                lambda text: load_jwks(text, accepted),
                "CHATKIT_JWT_JWKS_FILE",
            )
        if not self._keys and self._jwks is None:
            raise SettingsError(
                "CHATKIT_AUTH=jwt needs CHATKIT_JWT_SECRET, CHATKIT_JWT_PUBLIC_KEY(_FILE) or CHATKIT_JWT_JWKS_FILE"
            )

    def _static_keys(self, settings: Settings) -> list[VerificationKey]:
        keys: list[VerificationKey] = []
        if settings.jwt_secret is not None:
            secret = settings.jwt_secret.get_secret_value().encode("utf-8")
            hmac = HMAC_ALGORITHMS & self.accepted
            if not hmac:
                raise SettingsError(
                    "CHATKIT_JWT_SECRET is set but CHATKIT_JWT_ALGORITHMS accepts no HMAC algorithm (HS256)"
                )
            try:
                _check_length(secret, hmac, self.accepted)
            except ValueError as exc:
                raise SettingsError(f"CHATKIT_JWT_SECRET: {exc}") from None
            keys.append(VerificationKey(secret, hmac))
        pem, variable = settings.jwt_public_key, "CHATKIT_JWT_PUBLIC_KEY"
        if pem is None and settings.jwt_public_key_file is not None:
            variable = "CHATKIT_JWT_PUBLIC_KEY_FILE"
            try:
                pem = Path(settings.jwt_public_key_file).read_text(encoding="utf-8")
            except OSError as exc:
                raise SettingsError(
                    f"{variable}: cannot read {settings.jwt_public_key_file}: {exc.strerror or exc}"
                ) from None
        if pem is not None:
            try:
                keys.append(load_pem(pem, self.accepted))
            except ValueError as exc:
                raise SettingsError(f"{variable}: {exc}") from None
        return keys

    def _candidates(self, algorithm: str, kid: Any) -> list[VerificationKey]:
        """Keys that may verify this token: its ``kid`` in the JWKS first, then the configured key."""
        jwks = self._jwks.current() if self._jwks else []
        usable = [key for key in [*jwks, *self._keys] if algorithm in key.algorithms]
        if isinstance(kid, str) and kid:
            named = [key for key in usable if key.kid == kid]
            return named or [key for key in usable if key.kid is None]
        return usable

    def _header(self, token: str) -> tuple[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise invalid("token is malformed") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm.lower() == "none":
            raise invalid("unsigned tokens (alg: none) are not accepted")
        if algorithm not in self.accepted:
            shown = (
                algorithm
                if algorithm.isascii() and algorithm.isalnum() and len(algorithm) <= 10
                else "?"
            )
            raise invalid(
                f"token algorithm {shown!r} is not accepted; expected one of {sorted(self.accepted)}"
            )
        return algorithm, header.get("kid")

    def verify(self, token: str) -> dict[str, Any]:
        """The token's claims once its signature and times hold; 401 naming the first problem."""
        algorithm, kid = self._header(token)
        candidates = self._candidates(algorithm, kid)
        if not candidates:
            raise invalid("no key on this server verifies this token (unknown kid or algorithm)")
        failure: Exception | None = None
        for candidate in candidates:
            try:
                return jwt.decode(
                    token,
                    candidate.key,
                    algorithms=[algorithm],
                    audience=self.audience,
                    issuer=self.issuer,
                    leeway=self.leeway,
                    options={"require": ["exp"]},
                )
            except jwt.InvalidSignatureError as exc:
                failure = exc  # maybe another key of the set signed it
            except jwt.MissingRequiredClaimError as exc:
                raise invalid(f"token has no {exc.claim!r} claim") from None
            except jwt.PyJWTError as exc:
                raise invalid(_describe(exc)) from None
        raise invalid(_describe(failure or jwt.InvalidSignatureError()))

    def _claim_id(self, claims: dict[str, Any], name: str) -> str:
        value = claims.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if not isinstance(value, str):
            raise invalid(f"token has no {name!r} claim")
        problem = id_problem(value)
        if problem:
            raise invalid(f"token claim {name!r} {problem}")
        return value

    async def authenticate(self, request: Request) -> Identity:
        token = bearer_token(request, hint=HINT)
        if token is None:
            raise missing(MISSING_MESSAGE)
        claims = self.verify(token)
        user = self._claim_id(claims, self.user_claim)
        tenant = self._claim_id(claims, self.tenant_claim) if self.tenant_claim else None
        return Identity(user_id=user, tenant_id=tenant, claims=claims)


def _describe(exc: Exception) -> str:
    for kind, message in TOKEN_ERRORS:
        if isinstance(exc, kind):
            return message
    return "token is invalid"
