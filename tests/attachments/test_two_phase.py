"""Two-phase uploads end to end on a real server: create, upload, send, list, download, delete."""

import hashlib
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest

from tests.attachments.conftest import Live
from tests.attachments.helpers import TEXT_BODY, Client, png_bytes, thread_id_of

STRATEGIES = [
    pytest.param("PUT", False, id="put-raw"),
    pytest.param("PUT", True, id="put-multipart"),
    pytest.param("POST", False, id="post-raw"),
    pytest.param("POST", True, id="post-multipart"),
]


def user_message(client: Client, thread_id: str) -> dict[str, Any]:
    items = client.items(thread_id)
    assert items[0]["type"] == "user_message"
    return items[0]


@pytest.mark.parametrize(("method", "multipart"), STRATEGIES)
def test_image_round_trip(live: Live, alice: Client, method: str, multipart: bool) -> None:
    image = png_bytes()
    created = alice.created("photo.png", image, "image/png")
    assert created["type"] == "image"
    assert "metadata" not in created
    descriptor = created["upload_descriptor"]
    url = urlsplit(descriptor["url"])
    assert f"{url.scheme}://{url.netloc}" == live.base_url
    assert url.path == f"/attachments/{created['id']}/upload"
    assert parse_qs(url.query)["token"]
    assert descriptor["method"] == "PUT"
    assert urlsplit(created["preview_url"]).path == f"/attachments/{created['id']}/preview"

    uploaded = alice.upload(created, image, multipart=multipart, method=method)
    assert uploaded.status_code == 200, uploaded.text
    body = uploaded.json()
    assert body["id"] == created["id"]
    assert "upload_descriptor" not in body and "metadata" not in body

    events = alice.send("what is in this picture?", [created["id"]])
    thread_id = thread_id_of(events)
    sent = user_message(alice, thread_id)["attachments"]
    assert [attachment["id"] for attachment in sent] == [created["id"]]
    assert sent[0]["thread_id"] == thread_id
    assert "metadata" not in sent[0]

    download = alice.content(created["id"])
    assert download.status_code == 200
    assert download.content == image
    assert download.headers["content-type"] == "image/png"
    assert (
        download.headers["content-disposition"]
        == "inline; filename=\"photo.png\"; filename*=UTF-8''photo.png"
    )
    assert download.headers["x-content-type-options"] == "nosniff"
    assert download.headers["cache-control"] == "private, max-age=3600"
    assert download.headers["etag"] == f'"{hashlib.sha256(image).hexdigest()}"'

    preview = httpx.get(created["preview_url"], timeout=10)  # no credentials, as an <img> sends
    assert preview.status_code == 200 and preview.content == image

    deleted = alice.chatkit(
        {"type": "attachments.delete", "params": {"attachment_id": created["id"]}}
    )
    assert deleted.status_code == 200 and deleted.json() == {}
    assert alice.content(created["id"]).status_code == 404
    assert httpx.get(created["preview_url"], timeout=10).status_code == 404
    assert not [path for path in live.stored_files() if path.name == created["id"]]


@pytest.mark.parametrize(("method", "multipart"), STRATEGIES)
def test_text_file_round_trip(live: Live, alice: Client, method: str, multipart: bool) -> None:
    data = TEXT_BODY.encode()
    created = alice.created("notes (final).txt", data, "text/plain")
    assert created["type"] == "file" and "preview_url" not in created
    uploaded = alice.upload(created, data, multipart=multipart, method=method)
    assert uploaded.status_code == 200, uploaded.text

    thread_id = thread_id_of(alice.send("summarise my notes", [created["id"]]))
    assert [a["id"] for a in user_message(alice, thread_id)["attachments"]] == [created["id"]]

    download = alice.content(created["id"])
    assert download.content == data
    assert download.headers["content-type"].startswith("text/plain")
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"notes (final).txt\"; filename*=UTF-8''notes%20%28final%29.txt"
    )
    assert download.headers["content-security-policy"] == "default-src 'none'; sandbox"

    files = [path for path in live.stored_files() if path.name == created["id"]]
    assert len(files) == 1 and files[0].read_bytes() == data
    assert (
        alice.chatkit(
            {"type": "attachments.delete", "params": {"attachment_id": created["id"]}}
        ).status_code
        == 200
    )
    assert not files[0].exists()


def test_an_unchanged_file_answers_304_to_its_etag(alice: Client) -> None:
    attachment = alice.uploaded("notes.txt", b"same bytes", "text/plain")
    first = alice.content(attachment["id"])
    again = alice.content(attachment["id"], headers={"If-None-Match": first.headers["etag"]})
    assert again.status_code == 304
    assert again.content == b""
    assert again.headers["etag"] == first.headers["etag"]
    other = alice.content(attachment["id"], headers={"If-None-Match": '"something-else"'})
    assert other.status_code == 200 and other.content == b"same bytes"


def test_a_message_can_carry_several_attachments_and_a_second_message_more(alice: Client) -> None:
    image = alice.uploaded("a.png", png_bytes(), "image/png")
    notes = alice.uploaded("b.txt", b"notes", "text/plain")
    thread_id = thread_id_of(alice.send("two files", [image["id"], notes["id"]]))
    later = alice.uploaded("c.txt", b"later", "text/plain")
    alice.send("one more", [later["id"]], thread_id=thread_id)
    messages = [item for item in alice.items(thread_id) if item["type"] == "user_message"]
    assert [[a["id"] for a in m["attachments"]] for m in messages] == [
        [image["id"], notes["id"]],
        [later["id"]],
    ]


def test_a_range_request_gets_part_of_the_file(alice: Client) -> None:
    attachment = alice.uploaded("digits.txt", b"0123456789", "text/plain")
    response = alice.content(attachment["id"], headers={"Range": "bytes=2-5"})
    assert response.status_code == 206
    assert response.content == b"2345"
    assert response.headers["content-range"] == "bytes 2-5/10"
    assert response.headers["x-content-type-options"] == "nosniff"
