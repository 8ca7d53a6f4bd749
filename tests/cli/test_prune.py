"""``chatkit-backend prune --older-than``: retention on the store and files of a real server."""

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

from chatkit_backend.cli.prune import parse_duration
from tests.cli.conftest import invoke
from tests.cli.seed import API_KEYS, age_thread, file_of, new_thread, thread_exists
from tests.client.conftest import Live, live_settings, serve


@pytest.fixture
def live(tmp_path: Path) -> Iterator[Live]:
    with serve(live_settings(tmp_path, auth="api-key", api_keys=API_KEYS)) as running:
        yield running


def data_dir(live: Live) -> list[str]:
    return ["--data-dir", str(live.settings.data_dir)]


def test_old_inactive_threads_go_with_their_files_and_the_rest_stay(live: Live) -> None:
    old, old_file = new_thread(live, "alice", "old news", file=("old.txt", b"old"))
    used, _ = new_thread(live, "bob", "old but in use")
    recent, recent_file = new_thread(live, "alice", "recent", file=("new.txt", b"new"))
    age_thread(live, "alice", old, days=40)
    age_thread(live, "bob", used, days=40, items_too=False)  # its messages are recent
    assert old_file is not None and recent_file is not None

    result = invoke("prune", "--older-than", "30d", *data_dir(live), "--json")

    assert result.exit_code == 0
    report = json.loads(result.stdout)
    assert report["threads"] == [{"user_id": "alice", "thread_id": old, "files": 1}]
    assert (report["kept_active"], report["files"], report["dry_run"]) == (1, 1, False)
    assert not thread_exists(live, "alice", old)
    assert not file_of(live, "alice", old_file).exists()
    assert thread_exists(live, "bob", used)
    assert thread_exists(live, "alice", recent)
    assert file_of(live, "alice", recent_file).read_bytes() == b"new"


def test_dry_run_reports_and_deletes_nothing(live: Live) -> None:
    old, old_file = new_thread(live, "bob", "ancient", file=("a.txt", b"a"))
    age_thread(live, "bob", old, days=10)

    result = invoke("prune", "--older-than", "1w", "--dry-run", *data_dir(live))

    assert result.exit_code == 0
    assert result.stdout.startswith("Would delete 1 thread inactive for over 1w (before ")
    assert "UTC), with 1 attachment file." in result.stdout
    assert thread_exists(live, "bob", old)
    assert old_file is not None and file_of(live, "bob", old_file).exists()


def test_user_limits_the_prune_to_that_user(live: Live) -> None:
    alice_old, _ = new_thread(live, "alice", "alice old")
    bob_old, _ = new_thread(live, "bob", "bob old")
    age_thread(live, "alice", alice_old, days=3)
    age_thread(live, "bob", bob_old, days=3)

    result = invoke("prune", "--older-than", "2d", "--user", "bob", *data_dir(live), "--json")

    assert [row["thread_id"] for row in json.loads(result.stdout)["threads"]] == [bob_old]
    assert thread_exists(live, "alice", alice_old)


def test_uploads_never_sent_are_pruned_with_their_files(live: Live) -> None:
    import asyncio

    async def upload() -> str:
        async with live.client(api_key="key-alice") as client:
            return (await client.upload_direct("draft.txt", b"never sent", "text/plain")).id

    attachment_id = asyncio.run(upload())
    stored = file_of(live, "alice", attachment_id)
    assert stored.exists()
    # The behaviour under test is age: the store stamps an upload's row with its own clock
    # (no way to back-date it from outside), so the row must really be older than 1 s.
    time.sleep(1.2)

    result = invoke("prune", "--older-than", "1s", *data_dir(live), "--json")

    assert json.loads(result.stdout)["stale_attachments"] == [attachment_id]
    assert not stored.exists()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30d", timedelta(days=30)),
        ("12h", timedelta(hours=12)),
        ("15m", timedelta(minutes=15)),
        ("90s", timedelta(seconds=90)),
        ("2w", timedelta(weeks=2)),
        ("1d12h", timedelta(days=1, hours=12)),
    ],
)
def test_durations(text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected


@pytest.mark.parametrize("text", ["30", "d", "30x", "1.5d", "0d", "-3d"])
def test_a_bad_duration_is_a_usage_error(text: str, tmp_path: Path) -> None:
    result = invoke("prune", "--older-than", text, "--data-dir", str(tmp_path))

    assert result.exit_code == 2
    assert "Invalid value for '--older-than'" in result.stderr
    assert not (tmp_path / "chatkit.db").exists()


def test_a_malformed_duration_names_every_unit_and_sums() -> None:
    with pytest.raises(ValueError) as raised:
        parse_duration("soon")
    assert str(raised.value) == (
        "'soon' is not a duration: use a number with s, m, h, d or w"
        " (e.g. 30d, 12h, 15m, 90s, 2w), or a sum such as 1d12h"
    )
