"""``CHATKIT_AUTH=header``: the user header is believed only from a trusted proxy address."""

from pathlib import Path

import pytest
from fastapi import FastAPI

from chatkit_backend.auth import context_builder
from chatkit_backend.settings import SettingsError
from tests.auth.harness import asgi_client, error_of, settings_for, whoami_app

NOT_FROM_PROXY = "the X-User-Id header is accepted only through the trusted proxy; this request did not come from it"


def header_app(tmp_path: Path, **overrides: object) -> FastAPI:
    return whoami_app(settings_for(tmp_path, auth="header", **overrides))


async def test_header_from_a_trusted_proxy_names_the_user(tmp_path: Path) -> None:
    async with asgi_client(header_app(tmp_path), peer="127.0.0.1") as client:
        response = await client.get("/whoami", headers={"X-User-Id": "alice"})
    assert (response.status_code, response.json()["user_id"]) == (200, "alice")


async def test_header_from_an_untrusted_address_is_401(tmp_path: Path) -> None:
    async with asgi_client(header_app(tmp_path), peer="203.0.113.9") as client:
        response = await client.get("/whoami", headers={"X-User-Id": "alice"})
    assert response.status_code == 401
    assert error_of(response)["message"] == NOT_FROM_PROXY
    assert response.headers["www-authenticate"].startswith(
        'TrustedHeader realm="chatkit", error="invalid_request"'
    )


@pytest.mark.parametrize(
    ("peer", "trusted", "allowed"),
    [
        ("10.1.2.3", ["10.0.0.0/8"], True),
        ("11.1.2.3", ["10.0.0.0/8"], False),
        ("::ffff:192.168.1.7", ["192.168.1.7"], True),
        ("fd00::5", ["fd00::/8"], True),
        ("fd00::5", ["10.0.0.0/8", "127.0.0.1"], False),
    ],
    ids=["in-cidr", "outside-cidr", "ipv4-mapped", "ipv6-cidr", "ipv6-untrusted"],
)
async def test_trusted_proxies_take_addresses_and_cidr_ranges(
    tmp_path: Path, peer: str, trusted: list[str], allowed: bool
) -> None:
    async with asgi_client(header_app(tmp_path, trusted_proxies=trusted), peer=peer) as client:
        response = await client.get("/whoami", headers={"X-User-Id": "alice"})
    assert response.status_code == (200 if allowed else 401)


async def test_missing_or_bad_user_header_from_the_proxy_is_401(tmp_path: Path) -> None:
    async with asgi_client(header_app(tmp_path)) as client:
        missing = await client.get("/whoami")
        blank = await client.get("/whoami", headers={"X-User-Id": "  "})
        too_long = await client.get("/whoami", headers={"X-User-Id": "a" * 300})
    assert (
        error_of(missing)["message"]
        == "missing credentials: the X-User-Id header was not set by the proxy"
    )
    assert missing.headers["www-authenticate"] == 'TrustedHeader realm="chatkit"'
    assert (blank.status_code, error_of(blank)["message"]) == (401, "the X-User-Id header is empty")
    assert error_of(too_long)["message"] == "the X-User-Id header is longer than 255 characters"


async def test_custom_user_and_tenant_headers(tmp_path: Path) -> None:
    app = header_app(tmp_path, user_header="X-Forwarded-User", tenant_header="X-Org")
    async with asgi_client(app) as client:
        ok = await client.get("/whoami", headers={"X-Forwarded-User": "alice", "X-Org": "acme"})
        default_header = await client.get(
            "/whoami", headers={"X-User-Id": "alice", "X-Org": "acme"}
        )
        no_tenant = await client.get("/whoami", headers={"X-Forwarded-User": "alice"})
    assert (ok.json()["user_id"], ok.json()["tenant_id"]) == ("alice", "acme")
    assert default_header.status_code == 401
    assert (
        error_of(no_tenant)["message"]
        == "missing credentials: the X-Org header was not set by the proxy"
    )


@pytest.mark.parametrize(
    ("trusted", "message"),
    [
        (["10.0.0.0/33"], "'10.0.0.0/33' is not an IP address or CIDR range"),
        ([], "needs at least one address"),
    ],
    ids=["bad-cidr", "empty"],
)
def test_bad_trusted_proxies_fail_at_start(
    tmp_path: Path, trusted: list[str], message: str
) -> None:
    with pytest.raises(SettingsError) as caught:
        context_builder(settings_for(tmp_path, auth="header", trusted_proxies=trusted))
    assert message in str(caught.value)
