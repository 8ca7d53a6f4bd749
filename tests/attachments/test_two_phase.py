"""Two-phase uploads end to end on a real server, over both storage backends: create, upload
to the descriptor's URL, send, list, download, preview, delete."""

from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.attachments.conftest import Live
from tests.attachments.helpers import (
    TEXT_BODY,
    Client,
    error_of,
    fetch,
    png_bytes,
    thread_id_of,
)
from tests.support.bodies import create_body


def user_message(client: Client, thread_id: str) -> dict[str, Any]:
    items = client.items(thread_id)
    assert items[0]["type"] == "user_message"
    return items[0]


def assert_descriptor_for(live: Live, created: dict[str, Any]) -> None:
    """The upload goes to our signed route (disk) or straight to the bucket (S3)."""
    descriptor = created["upload_descriptor"]
    url = urlsplit(descriptor["url"])
    assert descriptor["method"] == "PUT"
    if live.s3 is None:
        assert f"{url.scheme}://{url.netloc}" == live.base_url
        assert url.path == f"/attachments/{created['id']}/upload"
        assert parse_qs(url.query)["token"]
        assert descriptor["headers"] == {}
    else:
        assert f"{url.scheme}://{url.netloc}" == live.s3.endpoint
        assert url.path.startswith(f"/{live.bucket}/attachments/")
        assert url.path.endswith(f"/{created['id']}")
        query = parse_qs(url.query)
        assert query["X-Amz-Expires"] == ["900"]  # CHATKIT_UPLOAD_TOKEN_TTL
        assert "content-type" in query["X-Amz-SignedHeaders"][0].split(";")
        assert descriptor["headers"] == {"Content-Type": created["mime_type"]}


def test_image_round_trip(live: Live, alice: Client) -> None:
    image = png_bytes()
    created = alice.created("photo.png", image, "image/png")
    assert created["type"] == "image"
    assert "metadata" not in created
    assert_descriptor_for(live, created)
    assert urlsplit(created["preview_url"]).path == f"/attachments/{created['id']}/preview"
    assert not live.stored(alice, created)

    uploaded = alice.upload(created, image)
    assert uploaded.status_code == 200, uploaded.text
    assert live.stored(alice, created)

    events = alice.send("what is in this picture?", [created["id"]])
    thread_id = thread_id_of(events)
    sent = user_message(alice, thread_id)["attachments"]
    assert [attachment["id"] for attachment in sent] == [created["id"]]
    assert sent[0]["thread_id"] == thread_id
    assert "metadata" not in sent[0] and "upload_descriptor" not in sent[0]

    download = alice.content(created["id"])
    assert download.status_code == 200
    assert download.content == image
    assert download.headers["content-type"] == "image/png"
    assert (
        download.headers["content-disposition"]
        == "inline; filename=\"photo.png\"; filename*=UTF-8''photo.png"
    )

    preview = fetch(created["preview_url"])  # no credentials, as an <img> sends
    assert preview.status_code == 200 and preview.content == image

    deleted = alice.chatkit(
        {"type": "attachments.delete", "params": {"attachment_id": created["id"]}}
    )
    assert deleted.status_code == 200 and deleted.json() == {}
    assert alice.content(created["id"]).status_code == 404
    assert fetch(created["preview_url"]).status_code == 404
    assert created["id"] not in live.stored_ids()


def test_text_file_round_trip(live: Live, alice: Client) -> None:
    data = TEXT_BODY.encode()
    created = alice.created("notes (final).txt", data, "text/plain")
    assert created["type"] == "file" and "preview_url" not in created
    uploaded = alice.upload(created, data)
    assert uploaded.status_code == 200, uploaded.text

    thread_id = thread_id_of(alice.send("summarise my notes", [created["id"]]))
    assert [a["id"] for a in user_message(alice, thread_id)["attachments"]] == [created["id"]]

    download = alice.content(created["id"])
    assert download.content == data
    assert download.headers["content-type"].startswith("text/plain")
    assert download.headers["content-disposition"] == (
        "attachment; filename=\"notes (final).txt\"; filename*=UTF-8''notes%20%28final%29.txt"
    )
    assert live.stored_ids().count(created["id"]) == 1
    assert (
        alice.chatkit(
            {"type": "attachments.delete", "params": {"attachment_id": created["id"]}}
        ).status_code
        == 200
    )
    assert created["id"] not in live.stored_ids()


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


def test_an_empty_file_round_trips(alice: Client) -> None:
    empty = alice.uploaded("empty.txt", b"", "text/plain")
    thread_id_of(alice.send("an empty file", [empty["id"]]))
    download = alice.content(empty["id"])
    assert download.status_code == 200 and download.content == b""


def test_content_of_an_attachment_not_uploaded_yet_is_not_found(live: Live, alice: Client) -> None:
    attachment = alice.created("later.txt", b"abc", "text/plain")
    response = alice.content(attachment["id"])
    assert response.status_code == 404
    assert response.json()["error"]["message"] == (
        f"attachment {attachment['id']!r} has no content yet: upload it first"
    )


def test_a_message_cannot_carry_an_attachment_that_was_never_uploaded(alice: Client) -> None:
    attachment = alice.created("later.txt", b"abc", "text/plain")
    body = create_body("too early", [attachment["id"]])
    error = error_of(alice.chatkit(body), 409)
    assert error["code"] == "conflict"
    assert error["message"] == f"attachment {attachment['id']!r} has not been uploaded yet"
    assert alice.upload(attachment, b"abc").status_code == 200
    assert alice.chatkit(body).status_code == 200
