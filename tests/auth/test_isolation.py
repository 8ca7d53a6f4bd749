"""User A / user B over every operation, in every auth mode, on a real uvicorn.

A owns a thread (a user message and an answer), an uploaded attachment and one still
waiting for its upload. B tries every operation on them: each answers exactly as for an
id that does not exist, and afterwards A's data is unchanged.
"""

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import Request

from chatkit_backend.app import create_app
from chatkit_backend.context import RequestContext
from chatkit_backend.errors import UnauthorizedError
from tests.auth.harness import settings_for
from tests.auth.keys import AUDIENCE, ISSUER, SECRET, bearer, claims, jwk_of, rsa_key, token
from tests.support.bodies import user_input
from tests.support.live import run_app, sse_events

MISSING_THREAD = "thr_" + "0" * 32
MISSING_ITEM = "msg_" + "0" * 32
MISSING_ATTACHMENT = "atc_" + "0" * 32
FILE_BYTES = b"alice's private notes\n"
USER_KEYS = {"alice": "ka-" + "a1" * 16, "bob": "kb-" + "b2" * 16}
SESSIONS = {"sess-alice-0123456789": "alice", "sess-bob-0123456789": "bob"}


async def session_context(request: Request) -> RequestContext:
    """A user's own context dependency: a session header looked up in a table."""
    user = SESSIONS.get(request.headers.get("x-session", ""))
    if user is None:
        raise UnauthorizedError("missing or unknown session", scheme='Session realm="chatkit"')
    return RequestContext(user_id=user, request=request)


@dataclass
class Mode:
    """An auth mode: its settings, how a user authenticates, and an optional own dependency."""

    name: str
    settings: Callable[[Path], dict[str, Any]]
    headers: Callable[[str], dict[str, str]]
    options: dict[str, Any] = field(default_factory=dict)


def jwks_settings(tmp: Path) -> dict[str, Any]:
    jwks = tmp / "jwks.json"
    jwks.write_text(json.dumps({"keys": [jwk_of(rsa_key(), "k1", "RS256")]}))
    return {"auth": "jwt", "jwt_jwks_file": jwks, "jwt_audience": AUDIENCE, "jwt_issuer": ISSUER}


MODES = [
    Mode(
        "api-key",
        lambda _: {"auth": "api-key", "api_keys": {key: user for user, key in USER_KEYS.items()}},
        lambda user: {"X-API-Key": USER_KEYS[user]},
    ),
    Mode(
        "jwt-hs256",
        lambda _: {
            "auth": "jwt",
            "jwt_secret": SECRET,
            "jwt_audience": AUDIENCE,
            "jwt_issuer": ISSUER,
        },
        lambda user: bearer(token(claims(user))),
    ),
    Mode(
        "jwt-rs256-jwks",
        jwks_settings,
        lambda user: bearer(token(claims(user), rsa_key(), "RS256", kid="k1")),
    ),
    Mode(
        "header",
        lambda _: {"auth": "header", "trusted_proxies": ["127.0.0.1"]},
        lambda user: {"X-User-Id": user},
    ),
    Mode(
        "own-dependency",
        lambda _: {"auth": "none"},
        lambda user: {"X-Session": next(s for s, u in SESSIONS.items() if u == user)},
        {"context": session_context},
    ),
]


class Client:
    """One user's HTTP session against the live server."""

    def __init__(self, base_url: str, headers: dict[str, str]) -> None:
        self.http = httpx.Client(base_url=base_url, headers=headers, timeout=30)

    def chatkit(self, request_type: str, /, **params: Any) -> httpx.Response:
        return self.http.post("/chatkit", json={"type": request_type, "params": params})

    def thread(self, thread_id: str) -> dict[str, Any]:
        response = self.chatkit("threads.get_by_id", thread_id=thread_id)
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def thread_ids(self) -> list[str]:
        response = self.chatkit("threads.list", limit=100)
        assert response.status_code == 200, response.text
        return [thread["id"] for thread in response.json()["data"]]

    def create_attachment(self, name: str, size: int) -> dict[str, Any]:
        response = self.chatkit("attachments.create", name=name, size=size, mime_type="text/plain")
        assert response.status_code == 200, response.text
        return response.json()  # type: ignore[no-any-return]

    def upload(self, attachment: dict[str, Any], data: bytes) -> httpx.Response:
        descriptor = attachment["upload_descriptor"]
        return self.http.request(
            descriptor["method"],
            descriptor["url"],
            content=data,
            headers={"Content-Type": "text/plain"},
        )


@dataclass
class World:
    """A's data on a live server, and a client for each user."""

    mode: str
    alice: Client
    bob: Client
    thread_id: str
    user_item: str
    assistant_item: str
    attachment_id: str
    pending: dict[str, Any]
    snapshot: dict[str, Any]

    def assert_alice_unchanged(self) -> None:
        assert self.alice.thread(self.thread_id) == self.snapshot
        assert self.alice.thread_ids() == [self.thread_id]
        content = self.alice.http.get(f"/attachments/{self.attachment_id}/content")
        assert (content.status_code, content.content) == (200, FILE_BYTES)


def seed(alice: Client, mode: str, bob: Client) -> World:
    response = alice.chatkit("threads.create", input=user_input("hello from alice"))
    assert response.status_code == 200, response.text
    events = sse_events(response.text)
    thread_id = events[0]["thread"]["id"]
    done = {
        event["item"]["type"]: event["item"]["id"]
        for event in events
        if event["type"] == "thread.item.done"
    }
    attachment = alice.create_attachment("notes.txt", len(FILE_BYTES))
    uploaded = alice.upload(attachment, FILE_BYTES)
    assert uploaded.status_code == 200, uploaded.text
    pending = alice.create_attachment("later.txt", len(FILE_BYTES))
    return World(
        mode,
        alice,
        bob,
        thread_id,
        done["user_message"],
        done["assistant_message"],
        attachment["id"],
        pending,
        alice.thread(thread_id),
    )


@pytest.fixture(scope="module", params=MODES, ids=[mode.name for mode in MODES])
def world(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    mode: Mode = request.param
    tmp = tmp_path_factory.mktemp(mode.name)
    settings = settings_for(tmp, attachments=True, **mode.settings(tmp))
    with run_app(create_app(settings, **mode.options)) as base:
        alice, bob = Client(base, mode.headers("alice")), Client(base, mode.headers("bob"))
        try:
            yield seed(alice, mode.name, bob)
        finally:
            alice.http.close()
            bob.http.close()


def assert_same_as_missing(
    foreign: httpx.Response, missing: httpx.Response, ids: tuple[str, str]
) -> None:
    """B's answer about A's id is the answer about an id nobody has, id aside."""
    assert foreign.status_code == 404, foreign.text
    assert missing.status_code == 404, missing.text
    foreign_error, missing_error = foreign.json()["error"], missing.json()["error"]
    assert foreign_error["code"] == missing_error["code"] == "not_found"
    assert foreign_error["message"].replace(ids[0], "<id>") == missing_error["message"].replace(
        ids[1], "<id>"
    )


def test_users_are_told_apart(world: World) -> None:
    """The matrix means something only if A and B really are two users."""
    assert world.bob.thread_ids() == []
    assert world.alice.thread_ids() == [world.thread_id]


def test_unauthenticated_request_sees_nothing(world: World) -> None:
    anonymous = httpx.post(
        str(world.alice.http.base_url) + "/chatkit",
        json={"type": "threads.get_by_id", "params": {"thread_id": world.thread_id}},
    )
    assert anonymous.status_code == 401
    assert anonymous.headers["www-authenticate"]


def test_threads_get_by_id(world: World) -> None:
    foreign = world.bob.chatkit("threads.get_by_id", thread_id=world.thread_id)
    missing = world.bob.chatkit("threads.get_by_id", thread_id=MISSING_THREAD)
    assert_same_as_missing(foreign, missing, (world.thread_id, MISSING_THREAD))


def test_threads_list(world: World) -> None:
    response = world.bob.chatkit("threads.list", limit=100)
    assert response.status_code == 200
    assert response.json()["data"] == []
    # A's thread id as B's page cursor reads as an id nobody has
    foreign = world.bob.chatkit("threads.list", limit=10, after=world.thread_id)
    missing = world.bob.chatkit("threads.list", limit=10, after=MISSING_THREAD)
    assert foreign.status_code == missing.status_code == 400
    assert foreign.json()["error"]["code"] == missing.json()["error"]["code"] == "invalid_page"
    assert foreign.json()["error"]["message"].replace(world.thread_id, "<id>") == missing.json()[
        "error"
    ]["message"].replace(MISSING_THREAD, "<id>")


def test_threads_update(world: World) -> None:
    foreign = world.bob.chatkit("threads.update", thread_id=world.thread_id, title="owned by bob")
    missing = world.bob.chatkit("threads.update", thread_id=MISSING_THREAD, title="owned by bob")
    assert_same_as_missing(foreign, missing, (world.thread_id, MISSING_THREAD))
    world.assert_alice_unchanged()


def test_threads_delete(world: World) -> None:
    foreign = world.bob.chatkit("threads.delete", thread_id=world.thread_id)
    missing = world.bob.chatkit("threads.delete", thread_id=MISSING_THREAD)
    assert_same_as_missing(foreign, missing, (world.thread_id, MISSING_THREAD))
    world.assert_alice_unchanged()


def test_threads_add_user_message(world: World) -> None:
    foreign = world.bob.chatkit(
        "threads.add_user_message", thread_id=world.thread_id, input=user_input("hi")
    )
    missing = world.bob.chatkit(
        "threads.add_user_message", thread_id=MISSING_THREAD, input=user_input("hi")
    )
    assert_same_as_missing(foreign, missing, (world.thread_id, MISSING_THREAD))
    world.assert_alice_unchanged()


def test_threads_retry_after_item(world: World) -> None:
    foreign = world.bob.chatkit(
        "threads.retry_after_item", thread_id=world.thread_id, item_id=world.user_item
    )
    missing = world.bob.chatkit(
        "threads.retry_after_item", thread_id=MISSING_THREAD, item_id=world.user_item
    )
    assert_same_as_missing(foreign, missing, (world.thread_id, MISSING_THREAD))
    world.assert_alice_unchanged()


def test_threads_custom_action(world: World) -> None:
    action = {"type": "archive", "payload": {}}
    foreign = world.bob.chatkit(
        "threads.custom_action", thread_id=world.thread_id, item_id=None, action=action
    )
    missing = world.bob.chatkit(
        "threads.custom_action", thread_id=MISSING_THREAD, item_id=None, action=action
    )
    assert_same_as_missing(foreign, missing, (world.thread_id, MISSING_THREAD))
    world.assert_alice_unchanged()


def test_items_list(world: World) -> None:
    foreign = world.bob.chatkit("items.list", thread_id=world.thread_id, limit=50)
    missing = world.bob.chatkit("items.list", thread_id=MISSING_THREAD, limit=50)
    assert_same_as_missing(foreign, missing, (world.thread_id, MISSING_THREAD))


def test_items_feedback(world: World) -> None:
    foreign = world.bob.chatkit(
        "items.feedback",
        thread_id=world.thread_id,
        item_ids=[world.assistant_item],
        kind="negative",
    )
    missing = world.bob.chatkit(
        "items.feedback", thread_id=MISSING_THREAD, item_ids=[MISSING_ITEM], kind="negative"
    )
    assert_same_as_missing(foreign, missing, (world.thread_id, MISSING_THREAD))
    world.assert_alice_unchanged()


def test_attachments_create_cannot_reach_a_attachments(world: World) -> None:
    """B's new attachment is B's alone, and A's attachment cannot ride in B's message."""
    own = world.bob.create_attachment("bob.txt", 3)
    assert own["id"] != world.attachment_id
    assert world.alice.http.get(f"/attachments/{own['id']}/content").status_code == 404
    foreign = world.bob.chatkit("threads.create", input=user_input("look", [world.attachment_id]))
    missing = world.bob.chatkit("threads.create", input=user_input("look", [MISSING_ATTACHMENT]))
    assert_same_as_missing(foreign, missing, (world.attachment_id, MISSING_ATTACHMENT))
    assert world.bob.thread_ids() == []


def test_attachment_upload(world: World) -> None:
    """B holding A's upload URL (token included) cannot fill A's pending attachment."""
    foreign = world.bob.upload(world.pending, b"bob's bytes\n")
    missing_url = world.pending["upload_descriptor"]["url"].replace(
        world.pending["id"], MISSING_ATTACHMENT
    )
    missing = world.bob.http.put(
        missing_url, content=b"bob's bytes\n", headers={"Content-Type": "text/plain"}
    )
    assert_same_as_missing(foreign, missing, (world.pending["id"], MISSING_ATTACHMENT))
    # A's upload URL still works, once, for A
    assert world.alice.upload(world.pending, FILE_BYTES).status_code == 200
    content = world.alice.http.get(f"/attachments/{world.pending['id']}/content")
    assert content.content == FILE_BYTES


def test_attachment_download(world: World) -> None:
    foreign = world.bob.http.get(f"/attachments/{world.attachment_id}/content")
    missing = world.bob.http.get(f"/attachments/{MISSING_ATTACHMENT}/content")
    assert_same_as_missing(foreign, missing, (world.attachment_id, MISSING_ATTACHMENT))
    assert FILE_BYTES not in foreign.content
    world.assert_alice_unchanged()


def test_attachment_delete(world: World) -> None:
    foreign = world.bob.chatkit("attachments.delete", attachment_id=world.attachment_id)
    missing = world.bob.chatkit("attachments.delete", attachment_id=MISSING_ATTACHMENT)
    assert_same_as_missing(foreign, missing, (world.attachment_id, MISSING_ATTACHMENT))
    foreign_rest = world.bob.http.delete(f"/attachments/{world.attachment_id}")
    missing_rest = world.bob.http.delete(f"/attachments/{MISSING_ATTACHMENT}")
    assert_same_as_missing(foreign_rest, missing_rest, (world.attachment_id, MISSING_ATTACHMENT))
    world.assert_alice_unchanged()


def test_none_mode_has_one_user_whatever_the_headers(tmp_path: Path) -> None:
    """In ``none`` mode there is no B: headers naming another user change nothing."""
    settings = settings_for(tmp_path, auth="none")
    with run_app(create_app(settings)) as base:
        local = Client(base, {})
        posing = Client(base, {"X-User-Id": "bob", **bearer(token(claims("bob")))})
        created = local.chatkit("threads.create", input=user_input("hi"))
        thread_id = sse_events(created.text)[0]["thread"]["id"]
        assert posing.thread_ids() == local.thread_ids() == [thread_id]
        local.http.close()
        posing.http.close()
