"""``CHATKIT_AUTH=api-key``: keys from settings or a file, as Bearer or X-API-Key."""

import json
import os
from pathlib import Path

import pytest
from fastapi import FastAPI

from chatkit_backend.auth import ApiKeyAuth, context_builder
from chatkit_backend.settings import SettingsError
from tests.auth.harness import asgi_client, error_of, settings_for, whoami_app
from tests.auth.keys import API_KEYS, KEY_A, KEY_B, bearer

MISSING = "missing credentials: send Authorization: Bearer <key> or X-API-Key: <key>"


def api_key_app(tmp_path: Path, **overrides: object) -> FastAPI:
    values: dict[str, object] = {"auth": "api-key", "api_keys": API_KEYS, **overrides}
    return whoami_app(settings_for(tmp_path, **values))


async def test_request_without_credentials_is_401_naming_both_headers(tmp_path: Path) -> None:
    async with asgi_client(api_key_app(tmp_path)) as client:
        response = await client.get("/whoami")
    assert response.status_code == 401
    assert error_of(response)["code"] == "unauthorized"
    assert error_of(response)["message"] == MISSING
    assert response.headers["www-authenticate"] == 'Bearer realm="chatkit"'


async def test_bearer_key_and_x_api_key_authenticate_as_their_users(tmp_path: Path) -> None:
    async with asgi_client(api_key_app(tmp_path)) as client:
        as_bearer = await client.get("/whoami", headers=bearer(KEY_A))
        as_header = await client.get("/whoami", headers={"X-API-Key": KEY_B})
    assert (as_bearer.status_code, as_bearer.json()["user_id"]) == (200, "alice")
    assert (as_header.status_code, as_header.json()["user_id"]) == (200, "bob")


@pytest.mark.parametrize(
    "headers",
    [bearer(KEY_A[:-1] + "x"), {"X-API-Key": KEY_A + "x"}, bearer("nope")],
    ids=["last-char-differs", "longer", "unknown"],
)
async def test_wrong_key_is_401_without_echoing_it(tmp_path: Path, headers: dict[str, str]) -> None:
    async with asgi_client(api_key_app(tmp_path)) as client:
        response = await client.post(
            "/chatkit", headers=headers, json={"type": "threads.list", "params": {}}
        )
    assert response.status_code == 401
    assert error_of(response)["message"] == "invalid API key"
    assert response.headers["www-authenticate"] == (
        'Bearer realm="chatkit", error="invalid_token", error_description="invalid API key"'
    )
    sent = next(iter(headers.values())).removeprefix("Bearer ")
    assert sent not in response.text and sent not in response.headers["www-authenticate"]


async def test_other_authorization_scheme_is_401_saying_what_to_send(tmp_path: Path) -> None:
    async with asgi_client(api_key_app(tmp_path)) as client:
        response = await client.get("/whoami", headers={"Authorization": "Basic YWxpY2U6cHc="})
        empty = await client.get("/whoami", headers={"Authorization": "Bearer "})
        behind_proxy = await client.get(
            "/whoami", headers={"Authorization": "Basic cHJveHk6cHc=", "X-API-Key": KEY_B}
        )
    assert response.status_code == 401
    assert error_of(response)["message"] == (
        "unsupported authorization scheme 'Basic': send Authorization: Bearer <key> or X-API-Key: <key>"
    )
    assert 'error="invalid_request"' in response.headers["www-authenticate"]
    assert empty.status_code == 401
    assert error_of(empty)["message"].startswith("empty bearer token")
    assert (behind_proxy.status_code, behind_proxy.json()["user_id"]) == (
        200,
        "bob",
    )  # X-API-Key comes first


async def test_keys_file_is_read_and_reloaded_when_it_changes(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({KEY_A: "alice"}))
    app = whoami_app(settings_for(tmp_path, auth="api-key", api_keys_file=keys_file))
    async with asgi_client(app) as client:
        assert (await client.get("/whoami", headers=bearer(KEY_A))).json()["user_id"] == "alice"
        assert (await client.get("/whoami", headers=bearer(KEY_B))).status_code == 401

        keys_file.write_text(json.dumps({KEY_B: "bob"}))
        stat = keys_file.stat()
        os.utime(keys_file, ns=(stat.st_atime_ns, stat.st_mtime_ns + 1_000_000_000))

        assert (await client.get("/whoami", headers=bearer(KEY_B))).json()["user_id"] == "bob"
        assert (await client.get("/whoami", headers=bearer(KEY_A))).status_code == 401


async def test_keys_file_that_breaks_later_keeps_the_previous_keys(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({KEY_A: "alice"}))
    app = whoami_app(settings_for(tmp_path, auth="api-key", api_keys_file=keys_file))
    async with asgi_client(app) as client:
        keys_file.write_text('{"half-written": ')
        response = await client.get("/whoami", headers=bearer(KEY_A))
    assert (response.status_code, response.json()["user_id"]) == (200, "alice")


async def test_file_keys_join_the_static_keys_and_win_on_conflict(tmp_path: Path) -> None:
    keys_file = tmp_path / "keys.json"
    keys_file.write_text(json.dumps({KEY_A: "alice-from-file"}))
    settings = settings_for(tmp_path, auth="api-key", api_keys=API_KEYS, api_keys_file=keys_file)
    async with asgi_client(whoami_app(settings)) as client:
        from_file = await client.get("/whoami", headers=bearer(KEY_A))
        static = await client.get("/whoami", headers=bearer(KEY_B))
    assert from_file.json()["user_id"] == "alice-from-file"
    assert static.json()["user_id"] == "bob"


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (None, "CHATKIT_API_KEYS_FILE: cannot read"),
        ("not json", "CHATKIT_API_KEYS_FILE: {path}: not valid JSON"),
        ('["a", "b"]', 'must be a JSON object {"key": "user-id"}'),
        ('{"k-0123456789abcdef": ""}', "the user id of key #1 is empty"),
        ('{"has space 0123456789": "alice"}', "key #1 is empty or holds whitespace"),
        ('{"k-0123456789abcdef": 7}', "key #1 maps to int, not a user id string"),
        ("{}", "CHATKIT_AUTH=api-key needs at least one key"),
    ],
    ids=[
        "missing",
        "not-json",
        "not-object",
        "empty-user",
        "space-in-key",
        "non-string-user",
        "no-keys",
    ],
)
def test_bad_keys_file_fails_at_start_naming_the_problem(
    tmp_path: Path, content: str | None, message: str
) -> None:
    keys_file = tmp_path / "keys.json"
    if content is not None:
        keys_file.write_text(content)
    settings = settings_for(tmp_path, auth="api-key", api_keys_file=keys_file)
    with pytest.raises(SettingsError) as caught:
        context_builder(settings)
    assert message.replace("{path}", str(keys_file)) in str(caught.value)
    assert "0123456789abcdef" not in str(caught.value)


def test_every_key_is_compared_whatever_matches() -> None:
    auth = ApiKeyAuth({KEY_A: "alice", KEY_B: "bob"})
    assert auth.user_for(KEY_A) == "alice"
    assert auth.user_for(KEY_B) == "bob"
    assert auth.user_for(KEY_B[:-1]) is None
    assert auth.user_for("") is None
