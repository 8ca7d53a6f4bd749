"""Direct uploads (``POST /attachments``, multipart ``file``) end to end on a real server,
over both storage backends: the bytes stream through this server to the storage."""

from tests.attachments.conftest import Live
from tests.attachments.helpers import TEXT_BODY, Client, fetch, png_bytes, thread_id_of


def test_direct_image_round_trip(live: Live, alice: Client) -> None:
    image = png_bytes(3, 3)
    response = alice.direct("diagram.png", image, "image/png")
    assert response.status_code == 200, response.text
    attachment = response.json()
    assert attachment["type"] == "image" and attachment["mime_type"] == "image/png"
    assert attachment["name"] == "diagram.png"
    assert "upload_descriptor" not in attachment and "metadata" not in attachment

    thread_id = thread_id_of(alice.send("see the diagram", [attachment["id"]]))
    items = alice.items(thread_id)
    assert [a["id"] for a in items[0]["attachments"]] == [attachment["id"]]

    assert live.stored(alice, attachment)
    download = alice.content(attachment["id"])
    assert download.content == image
    assert download.headers["content-type"] == "image/png"
    assert fetch(attachment["preview_url"]).content == image

    deleted = alice.request("DELETE", f"/attachments/{attachment['id']}")
    assert deleted.status_code == 204
    assert alice.content(attachment["id"]).status_code == 404
    assert alice.request("DELETE", f"/attachments/{attachment['id']}").status_code == 404
    assert not live.stored(alice, attachment)


def test_direct_text_file_round_trip(live: Live, alice: Client) -> None:
    response = alice.direct("notes.txt", TEXT_BODY.encode(), "text/plain")
    attachment = response.json()
    assert attachment["type"] == "file" and attachment["mime_type"] == "text/plain"
    thread_id = thread_id_of(alice.send("read this", [attachment["id"]]))
    assert alice.items(thread_id)[0]["attachments"][0]["id"] == attachment["id"]
    assert alice.content(attachment["id"]).text == TEXT_BODY
    removed = alice.chatkit(
        {"type": "attachments.delete", "params": {"attachment_id": attachment["id"]}}
    )
    assert removed.status_code == 200
    assert alice.content(attachment["id"]).status_code == 404


def test_the_object_is_stored_under_its_id_never_under_the_client_name(
    live: Live, alice: Client
) -> None:
    response = alice.direct("../../../escape.txt", b"trying to escape", "text/plain")
    attachment = response.json()
    assert attachment["name"] == "escape.txt"
    assert live.stored(alice, attachment)
    assert attachment["id"] in live.stored_ids()
    assert not [name for name in live.stored_ids() if "escape" in name]
    assert not list(live.settings.data_dir.rglob("escape.txt"))


def test_a_generic_type_is_refined_from_the_file_name(alice: Client) -> None:
    attachment = alice.direct("readme.txt", b"hello", "application/octet-stream").json()
    assert attachment["mime_type"] == "text/plain"


def test_a_part_without_a_type_is_typed_by_its_image_signature(alice: Client) -> None:
    attachment = alice.direct("blob", png_bytes(), None).json()
    assert (attachment["type"], attachment["mime_type"]) == ("image", "image/png")
