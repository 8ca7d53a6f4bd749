"""CORS and auth together: preflights need no credentials, errors stay readable by the browser app."""

from pathlib import Path

from fastapi import FastAPI

from tests.auth.harness import asgi_client, settings_for, whoami_app
from tests.auth.keys import API_KEYS, KEY_A, bearer

ORIGIN = "http://localhost:3000"
LIST = {"type": "threads.list", "params": {}}


def limited_app(tmp_path: Path) -> FastAPI:
    return whoami_app(
        settings_for(
            tmp_path,
            auth="api-key",
            api_keys=API_KEYS,
            cors_origins=[ORIGIN],
            rate_limit_per_minute=1,
        )
    )


async def test_preflight_from_an_allowed_origin_needs_no_credentials(tmp_path: Path) -> None:
    preflight = {
        "Origin": ORIGIN,
        "Access-Control-Request-Method": "POST",
        "Access-Control-Request-Headers": "authorization, content-type",
    }
    async with asgi_client(limited_app(tmp_path)) as client:
        response = await client.options("/chatkit", headers=preflight)
        other = await client.options(
            "/chatkit", headers={**preflight, "Origin": "http://evil.test"}
        )
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == ORIGIN
    assert "POST" in response.headers["access-control-allow-methods"]
    assert "authorization" in response.headers["access-control-allow-headers"].lower()
    assert other.status_code == 400
    assert "access-control-allow-origin" not in other.headers


async def test_401_and_429_to_an_allowed_origin_are_readable_by_the_browser(tmp_path: Path) -> None:
    async with asgi_client(limited_app(tmp_path)) as client:
        unauthorized = await client.post("/chatkit", json=LIST, headers={"Origin": ORIGIN})
        first = await client.post(
            "/chatkit", json=LIST, headers={"Origin": ORIGIN, **bearer(KEY_A)}
        )
        limited = await client.post(
            "/chatkit", json=LIST, headers={"Origin": ORIGIN, **bearer(KEY_A)}
        )
    assert unauthorized.status_code == 401
    assert unauthorized.headers["access-control-allow-origin"] == ORIGIN
    assert "www-authenticate" in unauthorized.headers
    assert first.status_code == 200
    assert limited.status_code == 429
    assert limited.headers["access-control-allow-origin"] == ORIGIN
    exposed = limited.headers["access-control-expose-headers"].lower()
    assert "retry-after" in exposed and "x-request-id" in exposed
    assert int(limited.headers["retry-after"]) >= 1
