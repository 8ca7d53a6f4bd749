"""``chatkit-backend threads``: list, show, export and delete, on the store of a real server."""

import json
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.cli.conftest import invoke
from tests.cli.seed import API_KEYS, file_of, new_thread, thread_exists
from tests.client.conftest import Live, live_settings, serve


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Live]:
    settings = live_settings(tmp_path_factory.mktemp("threads"), auth="api-key", api_keys=API_KEYS)
    with serve(settings) as running:
        yield running


@pytest.fixture(scope="module")
def seeded(live: Live) -> dict[str, str]:
    """Two threads for alice, one for bob, oldest first."""
    return {
        "alice-1": new_thread(live, "alice", "alice first")[0],
        "bob-1": new_thread(live, "bob", "bob only")[0],
        "alice-2": new_thread(live, "alice", "alice second")[0],
    }


def store_args(live: Live) -> list[str]:
    return ["--data-dir", str(live.settings.data_dir)]


def test_list_shows_every_users_threads_newest_first(live: Live, seeded: dict[str, str]) -> None:
    result = invoke("threads", "list", *store_args(live), "--json")

    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    ours = [
        (row["user_id"], row["id"], row["title"]) for row in rows if row["id"] in seeded.values()
    ]
    assert ours == [
        ("alice", seeded["alice-2"], "alice second"),
        ("bob", seeded["bob-1"], "bob only"),
        ("alice", seeded["alice-1"], "alice first"),
    ]


def test_list_for_one_user_is_a_table(live: Live, seeded: dict[str, str]) -> None:
    result = invoke("threads", "list", "--user", "bob", *store_args(live))

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["user", "thread", "title", "created", "(UTC)", "status"]
    assert lines[1].split()[:4] == ["bob", seeded["bob-1"], "bob", "only"]
    assert lines[1].split()[-1] == "active"
    assert len(lines) == 2


def test_show_prints_the_conversation(live: Live, seeded: dict[str, str]) -> None:
    result = invoke("threads", "show", seeded["alice-1"], "--user", "alice", *store_args(live))

    assert result.exit_code == 0
    lines = result.stdout.splitlines()
    assert lines[0] == f"alice first  {seeded['alice-1']}"
    assert lines[1].startswith("user alice, created ") and lines[1].endswith(" UTC, 2 items")
    assert lines[2] == "you> alice first"
    assert lines[3].startswith("assistant> You wrote: “alice first”.")


def test_show_as_json_holds_thread_and_items(live: Live, seeded: dict[str, str]) -> None:
    result = invoke(
        "threads", "show", seeded["bob-1"], "--user", "bob", *store_args(live), "--json"
    )

    data = json.loads(result.stdout)
    assert data["thread"]["id"] == seeded["bob-1"]
    assert [item["type"] for item in data["items"]] == ["user_message", "assistant_message"]


def test_another_users_thread_is_not_found(live: Live, seeded: dict[str, str]) -> None:
    result = invoke("threads", "show", seeded["alice-1"], "--user", "bob", *store_args(live))

    assert result.exit_code == 1
    assert result.stdout == ""
    assert result.stderr == f"error: thread {seeded['alice-1']} not found for user bob\n"


def test_export_writes_one_json_line_per_thread(live: Live, seeded: dict[str, str]) -> None:
    result = invoke("threads", "export", "--user", "alice", *store_args(live))

    assert result.exit_code == 0
    records = [json.loads(line) for line in result.stdout.splitlines()]
    alice = [r for r in records if r["thread"]["id"] in (seeded["alice-1"], seeded["alice-2"])]
    assert len(alice) == 2
    assert {r["user_id"] for r in records} == {"alice"}
    for record in alice:
        assert [item["type"] for item in record["items"]] == ["user_message", "assistant_message"]
        assert record["items"][0]["content"][0]["text"] == record["thread"]["title"]


def test_export_of_named_threads_to_a_file(
    live: Live, seeded: dict[str, str], tmp_path: Path
) -> None:
    target = tmp_path / "export.jsonl"
    result = invoke(
        "threads",
        "export",
        seeded["alice-2"],
        "--user",
        "alice",
        "-o",
        str(target),
        *store_args(live),
    )

    assert result.exit_code == 0
    assert result.stdout == f"Exported 1 thread to {target}.\n"
    lines = target.read_text().splitlines()
    assert [json.loads(line)["thread"]["id"] for line in lines] == [seeded["alice-2"]]


def test_delete_removes_the_thread_and_its_attachment_files(live: Live) -> None:
    thread_id, attachment_id = new_thread(
        live, "alice", "with a file", file=("notes.txt", b"remember")
    )
    assert attachment_id is not None
    stored = file_of(live, "alice", attachment_id)
    assert stored.read_bytes() == b"remember"

    result = invoke(
        "threads", "delete", thread_id, "--user", "alice", "--yes", "--json", *store_args(live)
    )

    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "deleted": [{"user_id": "alice", "thread_id": thread_id, "files": 1}]
    }
    assert not stored.exists()
    assert not thread_exists(live, "alice", thread_id)


def test_delete_asks_first_and_no_keeps_everything(live: Live) -> None:
    thread_id, _ = new_thread(live, "bob", "keep me")

    result = invoke("threads", "delete", thread_id, "--user", "bob", *store_args(live), input="n\n")

    assert result.exit_code == 1
    assert "Delete 1 thread of user bob and their files? [y/N]" in result.stderr
    assert result.stderr.endswith("error: nothing deleted\n")
    assert thread_exists(live, "bob", thread_id)


def test_delete_refuses_all_when_one_is_missing(live: Live) -> None:
    thread_id, _ = new_thread(live, "bob", "not alone")

    result = invoke(
        "threads", "delete", thread_id, "thr_missing", "--user", "bob", "--yes", *store_args(live)
    )

    assert result.exit_code == 1
    assert result.stderr == "error: thread thr_missing not found for user bob\n"
    assert thread_exists(live, "bob", thread_id)


def test_a_bad_database_url_is_one_error_line(tmp_path: Path) -> None:
    result = invoke(
        "threads", "list", "--database-url", "mysql://nope/db", "--data-dir", str(tmp_path)
    )

    assert result.exit_code == 1
    assert result.stderr.startswith("error: unsupported database URL scheme 'mysql'")
    assert "Traceback" not in result.stderr
