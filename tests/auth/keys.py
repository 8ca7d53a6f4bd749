"""Credentials for auth tests: API keys, a JWT secret, RSA and EC key pairs, token makers."""

import base64
import json
import time
from functools import cache
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

KEY_A = "ka-7f3c1e9a0b5d4e2f8a6c1b3d5e7f9a0b"
KEY_B = "kb-0e2d4c6b8a9f1e3d5c7b9a0f2e4d6c8b"
API_KEYS = {KEY_A: "alice", KEY_B: "bob"}
SECRET = "s3cret-for-tests-0123456789abcdef-0123456789"  # 44 bytes: long enough for HS256
AUDIENCE = "chatkit-tests"
ISSUER = "https://issuer.test"


@cache
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def other_rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@cache
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def public_pem(private_key: Any) -> str:
    pem: bytes = private_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode()


def jwk_of(private_key: Any, kid: str, algorithm: str) -> dict[str, Any]:
    """The public JWK of a key, as an identity provider would publish it."""
    algo = (
        jwt.algorithms.RSAAlgorithm
        if algorithm.startswith(("RS", "PS"))
        else jwt.algorithms.ECAlgorithm
    )
    data: dict[str, Any] = json.loads(algo.to_jwk(private_key.public_key()))
    return {**data, "kid": kid, "alg": algorithm, "use": "sig"}


def claims(sub: str = "alice", **extra: Any) -> dict[str, Any]:
    """Valid claims for ``sub``: audience, issuer, issued now, expiring in an hour."""
    now = int(time.time())
    return {"sub": sub, "aud": AUDIENCE, "iss": ISSUER, "iat": now, "exp": now + 3600, **extra}


def token(
    payload: dict[str, Any], key: Any = SECRET, algorithm: str = "HS256", **headers: Any
) -> str:
    return jwt.encode(payload, key, algorithm=algorithm, headers=headers or None)


def unsigned_token(payload: dict[str, Any]) -> str:
    """A token with ``alg: none`` and no signature."""

    def part(data: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()

    return f"{part({'alg': 'none', 'typ': 'JWT'})}.{part(payload)}."


def bearer(value: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {value}"}
