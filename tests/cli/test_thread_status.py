"""``chatkit-backend threads lock|close|reopen``, run as a user runs them (a process of its
own, a clean environment) against the store of a running server, SQLite and PostgreSQL;
the server refuses new messages on the locked or closed thread (409) until it is reopened."""

import json
from collections.abc import Iterator

import pytest

from tests.lifecycle.harness import STORE_KINDS, Live, error_of, message, served
from tests.support.live import run_cli


@pytest.fixture(scope="module", params=STORE_KINDS)
def live(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Live]:
    with served(request.param, tmp_path_factory.mktemp("cli-status"), request) as app:
        yield app


def cli(live: Live, *args: str) -> tuple[int, str, str]:
    done = run_cli([*args, "--database-url", live.database_url])
    return done.returncode, done.stdout, done.stderr


def test_lock_close_and_reopen_a_thread(live: Live) -> None:
    thread_id, _ = live.create_thread("hello")

    code, out, err = cli(live, "threads", "lock", thread_id, "--reason", "Under review")
    assert (code, err) == (0, "")
    assert out == f"Locked {thread_id} (user local): Under review.\n"
    refused = error_of(live.post(message(thread_id)), 409, "thread_locked")
    assert refused == f"thread {thread_id!r} is locked: Under review"

    code, out, err = cli(live, "threads", "close", thread_id, "-r", "Resolved", "--json")
    assert (code, err) == (0, "")
    assert json.loads(out) == {
        "user_id": "local",
        "id": thread_id,
        "status": {"type": "closed", "reason": "Resolved"},
    }
    error_of(live.post(message(thread_id)), 409, "thread_closed")
    assert live.thread(thread_id)["status"] == {"type": "closed", "reason": "Resolved"}

    code, out, err = cli(live, "threads", "reopen", thread_id, "--user", "local")
    assert (code, out, err) == (0, f"Reopened {thread_id} (user local).\n", "")
    assert live.post(message(thread_id)).status_code == 200


def test_a_thread_that_is_not_there_exits_1_naming_it(live: Live) -> None:
    thread_id, _ = live.create_thread("hello")
    code, out, err = cli(live, "threads", "lock", "thr_missing")
    assert (code, out) == (1, "")
    assert err == "error: thread thr_missing not found\n"
    code, out, err = cli(live, "threads", "close", thread_id, "--user", "someone-else")
    assert (code, out) == (1, "")
    assert err == f"error: thread {thread_id} not found for user someone-else\n"
    assert live.thread(thread_id)["status"] == {"type": "active"}  # untouched


def test_the_commands_say_what_they_do_in_their_help() -> None:
    for command, words in (
        ("lock", "Lock a thread: it takes no new messages until it is reopened."),
        ("close", "Close a thread: it takes no new messages"),
        ("reopen", "Reopen a locked or closed thread: it takes messages again."),
    ):
        done = run_cli(["threads", command, "--help"])
        assert done.returncode == 0
        assert words in " ".join(done.stdout.split())
        if command != "reopen":
            assert "--reason" in done.stdout
    listing = run_cli(["threads", "--help"]).stdout
    assert all(name in listing for name in ("lock", "close", "reopen"))
