"""Two-phase uploads from a browser: the signed URL is the credential.

Browsers (and ChatKit's own upload code) send the bytes to the descriptor's URL with only
the descriptor's headers, so the upload route must accept the signed token alone, while
a request that does carry credentials must belong to the token's owner.
"""

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.attachments.helpers import png_bytes
from tests.routes.live_app import make_settings, serve
from tests.support.bodies import create_body
from tests.support.live import sse_events

KEYS = {"key-alice": "alice", "key-bob": "bob"}


@pytest.fixture(scope="module")
def base_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    settings = make_settings(tmp_path_factory.mktemp("data"), auth="api-key", api_keys=KEYS)
    with serve(settings) as (url, _app):
        yield url


def _create(base_url: str, key: str) -> dict[str, object]:
    body = {
        "type": "attachments.create",
        "params": {"name": "dot.png", "size": 100, "mime_type": "image/png"},
    }
    response = httpx.post(f"{base_url}/chatkit", json=body, headers={"X-API-Key": key})
    assert response.status_code == 200, response.text
    return response.json()  # type: ignore[no-any-return]


def test_upload_without_credentials_uses_the_token_owner(base_url: str, tmp_path: Path) -> None:
    attachment = _create(base_url, "key-alice")
    descriptor = attachment["upload_descriptor"]
    assert isinstance(descriptor, dict)
    uploaded = httpx.request(
        descriptor["method"], descriptor["url"], content=png_bytes(), headers=descriptor["headers"]
    )
    assert uploaded.status_code == 200, uploaded.text
    assert "upload_descriptor" not in uploaded.json()

    message = create_body("look", [str(attachment["id"])])
    streamed = httpx.post(f"{base_url}/chatkit", json=message, headers={"X-API-Key": "key-alice"})
    assert streamed.status_code == 200
    assert sse_events(streamed.text)[0]["type"] == "thread.created"


def test_upload_with_another_users_credentials_is_not_found(base_url: str) -> None:
    attachment = _create(base_url, "key-alice")
    descriptor = attachment["upload_descriptor"]
    assert isinstance(descriptor, dict)
    response = httpx.put(descriptor["url"], content=png_bytes(), headers={"X-API-Key": "key-bob"})
    assert response.status_code == 404
    assert response.json()["error"]["message"] == f"attachment {attachment['id']!r} not found"


def test_upload_without_credentials_or_token_is_refused(base_url: str) -> None:
    attachment = _create(base_url, "key-alice")
    response = httpx.put(f"{base_url}/attachments/{attachment['id']}/upload", content=png_bytes())
    assert response.status_code == 403
    assert (
        response.json()["error"]["message"]
        == "upload URL has no token: use the URL from attachments.create"
    )


def test_upload_token_for_another_attachment_is_refused(base_url: str) -> None:
    first = _create(base_url, "key-alice")
    second = _create(base_url, "key-alice")
    descriptor = first["upload_descriptor"]
    assert isinstance(descriptor, dict)
    url = str(descriptor["url"]).replace(str(first["id"]), str(second["id"]))
    response = httpx.put(url, content=png_bytes())
    assert response.status_code == 403
    assert response.json()["error"]["message"] == "upload token is for another attachment"


def test_upload_with_invalid_credentials_is_unauthorized(base_url: str) -> None:
    attachment = _create(base_url, "key-alice")
    descriptor = attachment["upload_descriptor"]
    assert isinstance(descriptor, dict)
    response = httpx.put(descriptor["url"], content=png_bytes(), headers={"X-API-Key": "not-a-key"})
    assert response.status_code == 401
    assert "www-authenticate" in response.headers
