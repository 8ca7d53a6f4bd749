"""An attachment belongs to the thread it was first sent in.

Sending it again in another thread is refused (409 ``attachment_in_use``): otherwise its
row would move to the second thread, and deleting that thread would remove a file the
first thread's message still shows. In its own thread it can be sent again.
"""

from tests.attachments.conftest import Live
from tests.attachments.helpers import Client, error_of, thread_id_of
from tests.support.bodies import create_body, user_input


def in_use(attachment_id: str) -> str:
    return (
        f"attachment {attachment_id!r} was already sent in another thread: "
        "attach the file again to send it here"
    )


def test_an_attachment_sent_in_one_thread_is_refused_in_another(live: Live, alice: Client) -> None:
    notes = alice.uploaded("notes.txt", b"first thread's notes", "text/plain")
    first = thread_id_of(alice.send("here are my notes", [notes["id"]]))
    second = thread_id_of(alice.send("a new topic", []))

    created = error_of(alice.chatkit(create_body("again", [notes["id"]])), 409)
    assert created == {**created, "code": "attachment_in_use", "message": in_use(notes["id"])}
    added = alice.chatkit(
        {
            "type": "threads.add_user_message",
            "params": {"thread_id": second, "input": user_input("again", [notes["id"]])},
        }
    )
    assert error_of(added, 409)["message"] == in_use(notes["id"])

    alice.send("and once more here", [notes["id"]], thread_id=first)  # its own thread: fine
    messages = [item for item in alice.items(first) if item["type"] == "user_message"]
    assert [[a["id"] for a in m["attachments"]] for m in messages] == [[notes["id"]]] * 2
    assert all(m["attachments"][0]["thread_id"] == first for m in messages)


def test_deleting_another_thread_keeps_the_first_threads_file(live: Live, alice: Client) -> None:
    notes = alice.uploaded("notes.txt", b"keep me", "text/plain")
    first = thread_id_of(alice.send("notes", [notes["id"]]))
    second = thread_id_of(alice.send("other", []))
    assert alice.chatkit(create_body("steal", [notes["id"]])).status_code == 409

    deleted = alice.chatkit({"type": "threads.delete", "params": {"thread_id": second}})
    assert deleted.status_code == 200
    assert live.stored(alice, notes)
    assert alice.content(notes["id"]).content == b"keep me"

    alice.chatkit({"type": "threads.delete", "params": {"thread_id": first}})
    assert not live.stored(alice, notes)
    assert alice.content(notes["id"]).status_code == 404
