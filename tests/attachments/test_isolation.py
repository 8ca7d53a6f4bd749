"""Only an attachment's owner can upload to, read or delete it: anyone else gets 404, as for
a missing one; over both storage backends (with S3, no presigned URL is made for anyone else)."""

from urllib.parse import urlsplit

import pytest

from tests.attachments.conftest import Live
from tests.attachments.helpers import Client, error_of, fetch, png_bytes, thread_id_of
from tests.support.bodies import create_body

MISSING = "atc_00000000000000000000000000000000"


def not_found_message(attachment_id: str) -> str:
    return f"attachment {attachment_id!r} not found"


@pytest.fixture
def alices_image(alice: Client) -> dict[str, str]:
    return alice.uploaded("private.png", png_bytes(), "image/png")


def test_a_missing_attachment_reads_as_not_found_everywhere(live: Live, bob: Client) -> None:
    """The baseline the other tests compare with."""
    assert error_of(bob.content(MISSING), 404)["message"] == not_found_message(MISSING)
    assert error_of(bob.request("DELETE", f"/attachments/{MISSING}"), 404)[
        "message"
    ] == not_found_message(MISSING)


def test_another_user_cannot_read_the_content(
    alice: Client, bob: Client, alices_image: dict[str, str]
) -> None:
    refused = bob.content(alices_image["id"], follow_redirects=False)
    error = error_of(refused, 404)
    assert error["message"] == not_found_message(alices_image["id"])
    assert "location" not in refused.headers
    assert alice.content(alices_image["id"]).status_code == 200


def test_another_users_preview_signature_does_not_open_the_owners_image(
    live: Live, bob: Client, alices_image: dict[str, str]
) -> None:
    bobs = bob.uploaded("bob.png", png_bytes(), "image/png")
    url = f"{live.base_url}/attachments/{alices_image['id']}/preview?{urlsplit(bobs['preview_url']).query}"
    error = error_of(bob.request("GET", url), 404)
    assert error["message"] == not_found_message(alices_image["id"])
    bare = f"{live.base_url}/attachments/{alices_image['id']}/preview"
    assert error_of(bob.request("GET", bare), 404)["message"] == not_found_message(
        alices_image["id"]
    )


def test_another_user_cannot_delete_it(
    live: Live, alice: Client, bob: Client, alices_image: dict[str, str]
) -> None:
    attachment_id = alices_image["id"]
    rest = error_of(bob.request("DELETE", f"/attachments/{attachment_id}"), 404)
    assert rest["message"] == not_found_message(attachment_id)
    chatkit = error_of(
        bob.chatkit({"type": "attachments.delete", "params": {"attachment_id": attachment_id}}), 404
    )
    assert chatkit["message"] == not_found_message(attachment_id)
    assert alice.content(attachment_id).content == png_bytes()
    assert fetch(alices_image["preview_url"]).status_code == 200


def test_another_user_cannot_send_it_in_a_message(
    alice: Client, bob: Client, alices_image: dict[str, str]
) -> None:
    body = create_body("steal", [alices_image["id"]])
    error = error_of(bob.chatkit(body), 404)
    assert error["message"] == not_found_message(alices_image["id"])
    assert alice.content(alices_image["id"]).status_code == 200


def test_another_user_cannot_list_or_delete_the_owners_thread(
    live: Live, alice: Client, bob: Client, alices_image: dict[str, str]
) -> None:
    thread_id = thread_id_of(alice.send("my picture", [alices_image["id"]]))
    listed = bob.chatkit({"type": "items.list", "params": {"thread_id": thread_id}})
    assert error_of(listed, 404)["message"] == f"thread {thread_id!r} not found"
    deleted = bob.chatkit({"type": "threads.delete", "params": {"thread_id": thread_id}})
    assert error_of(deleted, 404)["message"] == f"thread {thread_id!r} not found"
    assert alice.content(alices_image["id"]).content == png_bytes()
    assert live.stored_ids().count(alices_image["id"]) == 1
