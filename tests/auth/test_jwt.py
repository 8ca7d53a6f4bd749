"""``CHATKIT_AUTH=jwt``: signatures, times, audience, issuer and claims each checked."""

import json
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

from chatkit_backend.auth import context_builder
from chatkit_backend.settings import SettingsError
from tests.auth.harness import asgi_client, error_of, settings_for, whoami_app
from tests.auth.keys import (
    AUDIENCE,
    ISSUER,
    SECRET,
    bearer,
    claims,
    ec_key,
    jwk_of,
    other_rsa_key,
    public_pem,
    rsa_key,
    token,
    unsigned_token,
)

JWT = {"auth": "jwt", "jwt_audience": AUDIENCE, "jwt_issuer": ISSUER}


def hs256_app(tmp_path: Path, **overrides: Any) -> FastAPI:
    return whoami_app(settings_for(tmp_path, jwt_secret=SECRET, **{**JWT, **overrides}))


def rs256_app(tmp_path: Path, **overrides: Any) -> FastAPI:
    return whoami_app(
        settings_for(tmp_path, jwt_public_key=public_pem(rsa_key()), **{**JWT, **overrides})
    )


async def test_valid_hs256_token_authenticates_its_subject_with_its_claims(tmp_path: Path) -> None:
    async with asgi_client(hs256_app(tmp_path)) as client:
        response = await client.get("/whoami", headers=bearer(token(claims("alice", role="admin"))))
    assert response.status_code == 200
    assert response.json()["user_id"] == "alice"
    assert response.json()["claims"]["role"] == "admin"


async def test_request_without_token_is_401_saying_what_to_send(tmp_path: Path) -> None:
    async with asgi_client(hs256_app(tmp_path)) as client:
        response = await client.get("/whoami")
    assert response.status_code == 401
    assert (
        error_of(response)["message"] == "missing credentials: send Authorization: Bearer <token>"
    )
    assert response.headers["www-authenticate"] == 'Bearer realm="chatkit"'


NOW = int(time.time())
BAD_HS256_TOKENS: dict[str, tuple[Callable[[], str], str]] = {
    "expired": (lambda: token(claims(exp=NOW - 60)), "token expired"),
    "not-yet-valid": (
        lambda: token(claims(nbf=int(time.time()) + 600)),
        "token is not yet valid (nbf or iat is in the future)",
    ),
    "issued-in-the-future": (
        lambda: token(claims(iat=int(time.time()) + 600)),
        "token is not yet valid (nbf or iat is in the future)",
    ),
    "wrong-audience": (
        lambda: token(claims(aud="someone-else")),
        "token audience (aud) is not accepted",
    ),
    "no-audience": (
        lambda: token({k: v for k, v in claims().items() if k != "aud"}),
        "token has no 'aud' claim",
    ),
    "wrong-issuer": (
        lambda: token(claims(iss="https://evil.test")),
        "token issuer (iss) is not accepted",
    ),
    "wrongly-signed": (
        lambda: token(claims(), key="another-secret-0123456789abcdef-xyz"),
        "token signature is invalid",
    ),
    "alg-none": (lambda: unsigned_token(claims()), "unsigned tokens (alg: none) are not accepted"),
    "no-expiry": (
        lambda: token({k: v for k, v in claims().items() if k != "exp"}),
        "token has no 'exp' claim",
    ),
    "no-subject": (
        lambda: token({k: v for k, v in claims().items() if k != "sub"}),
        "token has no 'sub' claim",
    ),
    "unaccepted-algorithm": (
        lambda: token(claims(), key=SECRET * 2, algorithm="HS512"),
        "token algorithm 'HS512' is not accepted; expected one of ['ES256', 'HS256', 'RS256']",
    ),
    "malformed": (lambda: "not.a-token", "token is malformed"),
}


@pytest.mark.parametrize("case", list(BAD_HS256_TOKENS))
async def test_bad_token_is_401_naming_the_problem(tmp_path: Path, case: str) -> None:
    make, message = BAD_HS256_TOKENS[case]
    async with asgi_client(hs256_app(tmp_path)) as client:
        response = await client.post(
            "/chatkit", headers=bearer(make()), json={"type": "threads.list", "params": {}}
        )
    assert response.status_code == 401
    assert error_of(response)["message"] == message
    assert response.headers["www-authenticate"] == (
        f'Bearer realm="chatkit", error="invalid_token", error_description="{message}"'
    )


async def test_leeway_accepts_a_token_expired_within_it(tmp_path: Path) -> None:
    async with asgi_client(hs256_app(tmp_path, jwt_leeway=120)) as client:
        recent = await client.get(
            "/whoami", headers=bearer(token(claims(exp=int(time.time()) - 30)))
        )
        old = await client.get("/whoami", headers=bearer(token(claims(exp=int(time.time()) - 600))))
    assert recent.status_code == 200
    assert (old.status_code, error_of(old)["message"]) == (401, "token expired")


async def test_user_and_tenant_claims_are_configurable(tmp_path: Path) -> None:
    app = hs256_app(tmp_path, jwt_user_claim="email", jwt_tenant_claim="org")
    async with asgi_client(app) as client:
        ok = await client.get(
            "/whoami", headers=bearer(token(claims(email="a@example.com", org="acme")))
        )
        no_tenant = await client.get(
            "/whoami", headers=bearer(token(claims(email="a@example.com")))
        )
        numeric = await client.get("/whoami", headers=bearer(token(claims(email=42, org="acme"))))
        listed = await client.get("/whoami", headers=bearer(token(claims(email=["x"], org="acme"))))
    assert (ok.json()["user_id"], ok.json()["tenant_id"]) == ("a@example.com", "acme")
    assert (no_tenant.status_code, error_of(no_tenant)["message"]) == (
        401,
        "token has no 'org' claim",
    )
    assert numeric.json()["user_id"] == "42"
    assert (listed.status_code, error_of(listed)["message"]) == (401, "token has no 'email' claim")


async def test_rs256_token_verifies_with_the_public_key(tmp_path: Path) -> None:
    async with asgi_client(rs256_app(tmp_path)) as client:
        good = await client.get(
            "/whoami", headers=bearer(token(claims("carol"), key=rsa_key(), algorithm="RS256"))
        )
        forged = await client.get(
            "/whoami",
            headers=bearer(token(claims("carol"), key=other_rsa_key(), algorithm="RS256")),
        )
    assert (good.status_code, good.json()["user_id"]) == (200, "carol")
    assert (forged.status_code, error_of(forged)["message"]) == (401, "token signature is invalid")


async def test_hs256_token_signed_with_the_public_key_is_refused(tmp_path: Path) -> None:
    """The algorithm-confusion attack: the public key is public, so it must never act as an HMAC secret."""
    import hashlib
    import hmac

    import jwt

    pem = public_pem(rsa_key())
    header = jwt.utils.base64url_encode(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    body = jwt.utils.base64url_encode(json.dumps(claims("mallory")).encode())
    signature = hmac.new(pem.encode(), header + b"." + body, hashlib.sha256).digest()
    forged = (header + b"." + body + b"." + jwt.utils.base64url_encode(signature)).decode()
    async with asgi_client(rs256_app(tmp_path)) as client:
        response = await client.get("/whoami", headers=bearer(forged))
    assert response.status_code == 401
    assert (
        error_of(response)["message"]
        == "no key on this server verifies this token (unknown kid or algorithm)"
    )


async def test_es256_public_key_file_verifies_es256_tokens(tmp_path: Path) -> None:
    key_file = tmp_path / "ec.pem"
    key_file.write_text(public_pem(ec_key()))
    app = whoami_app(settings_for(tmp_path, jwt_public_key_file=key_file, **JWT))
    async with asgi_client(app) as client:
        response = await client.get(
            "/whoami", headers=bearer(token(claims("dan"), key=ec_key(), algorithm="ES256"))
        )
    assert (response.status_code, response.json()["user_id"]) == (200, "dan")


async def test_jwks_file_picks_the_key_named_by_kid(tmp_path: Path) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text(
        json.dumps(
            {"keys": [jwk_of(rsa_key(), "rsa-1", "RS256"), jwk_of(ec_key(), "ec-1", "ES256")]}
        )
    )
    app = whoami_app(settings_for(tmp_path, jwt_jwks_file=jwks, **JWT))
    async with asgi_client(app) as client:
        by_rsa = await client.get(
            "/whoami", headers=bearer(token(claims("erin"), rsa_key(), "RS256", kid="rsa-1"))
        )
        by_ec = await client.get(
            "/whoami", headers=bearer(token(claims("fay"), ec_key(), "ES256", kid="ec-1"))
        )
        unknown = await client.get(
            "/whoami", headers=bearer(token(claims("gus"), other_rsa_key(), "RS256", kid="rsa-9"))
        )
        wrong_key = await client.get(
            "/whoami", headers=bearer(token(claims("gus"), other_rsa_key(), "RS256", kid="rsa-1"))
        )
        no_kid = await client.get(
            "/whoami", headers=bearer(token(claims("hal"), rsa_key(), "RS256"))
        )
    assert by_rsa.json()["user_id"] == "erin"
    assert by_ec.json()["user_id"] == "fay"
    assert (unknown.status_code, error_of(unknown)["message"]) == (
        401,
        "no key on this server verifies this token (unknown kid or algorithm)",
    )
    assert (wrong_key.status_code, error_of(wrong_key)["message"]) == (
        401,
        "token signature is invalid",
    )
    assert no_kid.json()["user_id"] == "hal"


async def test_jwks_file_is_reloaded_when_keys_rotate(tmp_path: Path) -> None:
    import os

    jwks = tmp_path / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk_of(rsa_key(), "old", "RS256")]}))
    app = whoami_app(settings_for(tmp_path, jwt_jwks_file=jwks, **JWT))
    new_token = token(claims("ivy"), other_rsa_key(), "RS256", kid="new")
    async with asgi_client(app) as client:
        before = await client.get("/whoami", headers=bearer(new_token))
        jwks.write_text(json.dumps({"keys": [jwk_of(other_rsa_key(), "new", "RS256")]}))
        stat = jwks.stat()
        os.utime(jwks, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))
        after = await client.get("/whoami", headers=bearer(new_token))
    assert before.status_code == 401
    assert (after.status_code, after.json()["user_id"]) == (200, "ivy")


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        (
            {"jwt_secret": "short"},
            "CHATKIT_JWT_SECRET: too weak for HS256: The HMAC key is 5 bytes long",
        ),
        ({"jwt_secret": SECRET, "jwt_algorithms": ["none"]}, "'none' is never accepted"),
        ({"jwt_secret": SECRET, "jwt_algorithms": ["HS999"]}, "unknown algorithm(s) ['HS999']"),
        ({"jwt_secret": SECRET, "jwt_algorithms": ["RS256"]}, "accepts no HMAC algorithm"),
        ({"jwt_public_key": "not a key"}, "CHATKIT_JWT_PUBLIC_KEY: not a PEM public key"),
        (
            {"jwt_public_key_file": Path("/nonexistent/key.pem")},
            "CHATKIT_JWT_PUBLIC_KEY_FILE: cannot read",
        ),
        (
            {"jwt_public_key": "EC", "jwt_algorithms": ["RS256"]},
            "verifies ['ES256'], none of which CHATKIT_JWT_ALGORITHMS (['RS256']) accepts",
        ),
        (
            {"jwt_jwks_file": "EMPTY"},
            'CHATKIT_JWT_JWKS_FILE: {jwks}: must be a JSON object {"keys": [...]}',
        ),
    ],
    ids=[
        "short-secret",
        "alg-none",
        "unknown-alg",
        "secret-without-hmac",
        "bad-pem",
        "missing-file",
        "key-mismatch",
        "empty-jwks",
    ],
)
def test_bad_jwt_settings_fail_at_start_naming_the_variable(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    jwks = tmp_path / "jwks.json"
    jwks.write_text('{"keys": []}')
    if overrides.get("jwt_public_key") == "EC":
        overrides["jwt_public_key"] = public_pem(ec_key())
    if overrides.get("jwt_jwks_file") == "EMPTY":
        overrides["jwt_jwks_file"] = jwks
    with pytest.raises(SettingsError) as caught:
        context_builder(settings_for(tmp_path, auth="jwt", **overrides))
    assert message.replace("{jwks}", str(jwks)) in str(caught.value)
