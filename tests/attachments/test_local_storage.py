"""Disk storage specifics: uploads through this server in every form, the folder layout,
and downloads served by this process (ETag, ranges, security headers)."""

import hashlib

import pytest

from chatkit_backend.attachments.store import owner_key
from tests.attachments.conftest import Live
from tests.attachments.helpers import Client, error_of, fetch, png_bytes, thread_id_of

STRATEGIES = [
    pytest.param("PUT", False, id="put-raw"),
    pytest.param("PUT", True, id="put-multipart"),
    pytest.param("POST", False, id="post-raw"),
    pytest.param("POST", True, id="post-multipart"),
]


@pytest.fixture(scope="module")
def live(local_live: Live) -> Live:
    return local_live


@pytest.mark.parametrize(("method", "multipart"), STRATEGIES)
def test_every_upload_form_reaches_the_disk(
    live: Live, alice: Client, method: str, multipart: bool
) -> None:
    image = png_bytes()
    created = alice.created("photo.png", image, "image/png")
    uploaded = alice.upload(created, image, multipart=multipart, method=method)
    assert uploaded.status_code == 200, uploaded.text
    body = uploaded.json()
    assert body["id"] == created["id"]
    assert "upload_descriptor" not in body and "metadata" not in body
    path = live.root / owner_key(alice.user) / created["id"]
    assert path.read_bytes() == image
    assert oct(path.stat().st_mode & 0o777) == "0o600"
    assert not list((live.root / ".tmp").glob("*"))
    thread_id_of(alice.send("look", [created["id"]]))
    assert fetch(created["preview_url"]).content == image


def test_downloads_carry_the_security_and_cache_headers(alice: Client) -> None:
    image = alice.uploaded("photo.png", png_bytes(), "image/png")
    download = alice.content(image["id"], follow_redirects=False)
    assert download.status_code == 200
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["cache-control"] == "private, max-age=3600"
    assert download.headers["content-security-policy"] == "default-src 'none'; sandbox"
    assert download.headers["etag"] == f'"{hashlib.sha256(png_bytes()).hexdigest()}"'


def test_an_unchanged_file_answers_304_to_its_etag(alice: Client) -> None:
    attachment = alice.uploaded("notes.txt", b"same bytes", "text/plain")
    first = alice.content(attachment["id"])
    again = alice.content(attachment["id"], headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    other = alice.content(attachment["id"], headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content == b"same bytes"


def test_a_range_request_gets_part_of_the_file(alice: Client) -> None:
    attachment = alice.uploaded("digits.txt", b"0123456789", "text/plain")
    response = alice.content(attachment["id"], headers={"Range": "bytes=2-5"})
    assert response.status_code == 206
    assert response.content == b"2345"
    assert response.headers["content-range"] == "bytes 2-5/10"
    assert response.headers["x-content-type-options"] == "nosniff"


def test_the_file_is_stored_under_its_id_never_under_the_client_name(
    live: Live, alice: Client
) -> None:
    response = alice.direct("../../../escape.txt", b"trying to escape", "text/plain")
    attachment = response.json()
    expected = live.root / owner_key(alice.user) / attachment["id"]
    assert expected.read_bytes() == b"trying to escape"
    assert not (live.root.parent.parent / "escape.txt").exists()


def test_another_user_cannot_upload_with_the_owners_upload_url(
    live: Live, alice: Client, bob: Client
) -> None:
    """Our upload route checks credentials when a request carries them (a presigned bucket
    URL cannot: there the URL alone is the credential, as the token is here without any)."""
    attachment = alice.created("mine.txt", b"alice's words", "text/plain")
    for multipart in (False, True):
        error = error_of(bob.upload(attachment, b"bob's words", multipart=multipart), 404)
        assert error["message"] == f"attachment {attachment['id']!r} not found"
    assert attachment["id"] not in live.stored_ids()
    assert alice.upload(attachment, b"alice's words").status_code == 200
    assert alice.content(attachment["id"]).content == b"alice's words"
