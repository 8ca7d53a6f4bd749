"""The request context: what the default builder fills in, and replacing the builder."""

import re
from pathlib import Path

from fastapi import Request

from chatkit_backend.context import RequestContext
from tests.auth.harness import asgi_client, error_of, settings_for, whoami_app
from tests.auth.keys import API_KEYS, KEY_A, bearer

DOCS = Path(__file__).resolve().parents[2] / "docs" / "auth.md"


async def test_context_carries_locale_request_id_and_base_url(tmp_path: Path) -> None:
    app = whoami_app(settings_for(tmp_path, auth="api-key", api_keys=API_KEYS))
    headers = {
        **bearer(KEY_A),
        "Accept-Language": "fr-CA,fr;q=0.9,en;q=0.5",
        "X-Request-ID": "req-123",
    }
    async with asgi_client(app) as client:
        response = await client.get("/whoami", headers=headers)
        no_language = await client.get("/whoami", headers={**bearer(KEY_A), "Accept-Language": "*"})
    body = response.json()
    assert body["locale"] == "fr-CA"
    assert body["request_id"] == "req-123" == response.headers["x-request-id"]
    assert body["base_url"] == "http://testserver"
    assert body["has_request"] is True
    assert body["tenant_id"] is None
    assert no_language.json()["locale"] is None


async def test_public_url_is_the_base_url_when_set(tmp_path: Path) -> None:
    app = whoami_app(settings_for(tmp_path, public_url="https://chat.example.com/"))
    async with asgi_client(app) as client:
        response = await client.get("/whoami")
    assert response.json()["base_url"] == "https://chat.example.com"


async def test_none_mode_is_the_one_local_user_whatever_is_sent(tmp_path: Path) -> None:
    app = whoami_app(settings_for(tmp_path, auth="none"))
    async with asgi_client(app, peer="127.0.0.1") as client:
        plain = await client.get("/whoami")
        posing = await client.get("/whoami", headers={"X-User-Id": "bob", **bearer("anything")})
    assert plain.json()["user_id"] == "local"
    assert posing.json()["user_id"] == "local"


async def test_custom_context_dependency_replaces_the_builder(tmp_path: Path) -> None:
    async def session_context(request: Request) -> RequestContext:
        return RequestContext(user_id=request.headers.get("x-session", "anonymous"), locale="de")

    app = whoami_app(
        settings_for(tmp_path, auth="api-key", api_keys=API_KEYS), context=session_context
    )
    async with asgi_client(app) as client:
        response = await client.get("/whoami", headers={"X-Session": "sam"})
    assert response.status_code == 200  # no API key needed: the custom dependency decides
    assert (response.json()["user_id"], response.json()["locale"]) == ("sam", "de")


def docs_example() -> str:
    """The first Python block of docs/auth.md's "Your own context" section."""
    section = DOCS.read_text().split("## Your own context", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "docs/auth.md has no Python example under '## Your own context'"
    return match.group(1)


async def test_docs_example_builder_wraps_the_default_one(tmp_path: Path) -> None:
    namespace: dict[str, object] = {}
    source = docs_example().replace("Settings()", "SETTINGS")
    namespace["SETTINGS"] = settings_for(tmp_path, auth="api-key", api_keys=API_KEYS)
    exec(compile(source, str(DOCS), "exec"), namespace)
    app = namespace["app"]
    from tests.auth.harness import add_whoami

    add_whoami(app)  # type: ignore[arg-type]
    async with asgi_client(app) as client:  # type: ignore[arg-type]
        ok = await client.get("/whoami", headers={**bearer(KEY_A), "X-Org": "acme"})
        no_key = await client.get("/whoami", headers={"X-Org": "acme"})
        no_org = await client.get("/whoami", headers=bearer(KEY_A))
    assert (ok.json()["user_id"], ok.json()["tenant_id"]) == ("alice", "acme")
    assert no_key.status_code == 401
    assert (no_org.status_code, error_of(no_org)["message"]) == (400, "send the X-Org header")
