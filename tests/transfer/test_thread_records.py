"""``threads export`` then ``threads import``: a round trip gives equal models, every type."""

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from chatkit_backend.context import RequestContext
from chatkit_backend.stores import BackendStore, MemoryStore, open_store
from chatkit_backend.transfer.errors import InvalidRecordError, TransferError
from chatkit_backend.transfer.records import ThreadRecord, dump_record, parse_record
from chatkit_backend.transfer.threads import export_record, import_record, sdk_store_records
from tests.cli.conftest import invoke
from tests.stores.postgres import create_database, drop_database
from tests.stores.samples import every_item_type, file_attachment, locked_thread, message, thread
from tests.transfer.seeding import (
    FILE_BYTES,
    IMAGE_BYTES,
    USERS,
    file_bytes,
    seed,
    seeded_deployment,
    snapshot,
    snapshot_of,
)

KINDS = ["memory", "sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture
async def new_store(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[[], Any]]:
    """Makes fresh, open stores of the kind the test is parametrized with."""
    opened: list[BackendStore] = []
    databases: list[str] = []

    async def make() -> BackendStore:
        kind = request.param
        if kind == "memory":
            store: BackendStore = MemoryStore()
        elif kind == "sqlite":
            store = open_store(f"sqlite:///{tmp_path}/store{len(opened)}.db")
        else:
            databases.append(await asyncio.to_thread(create_database))
            store = open_store(databases[-1], auto_upgrade=True)
        await store.open()
        opened.append(store)
        return store

    yield make
    for store in opened:
        await store.close()
    for url in databases:
        await asyncio.to_thread(drop_database, url)


async def export_lines(store: BackendStore) -> list[str]:
    """What `threads export` writes for every user, one line per thread."""
    lines = []
    for user in USERS:
        for owned in await store.admin_list_threads(user, limit=100):
            lines.append(dump_record(await export_record(store, user, owned.thread)))
    return lines


@pytest.mark.parametrize("new_store", KINDS, indirect=True)
async def test_round_trip_gives_equal_models_for_every_item_type(new_store: Any) -> None:
    source, target = await new_store(), await new_store()
    await seed(source)
    lines = await export_lines(source)

    for number, line in enumerate(lines, start=1):
        await import_record(target, parse_record(line, number))

    restored = await snapshot(target)
    assert restored == await snapshot(source)
    every = restored["alice/thr_all"]
    assert {item.type for item in every.items} == {item.type for item in every_item_type()}
    assert every.thread == locked_thread("thr_all")
    assert [row[1] for row in every.feedback] == ["positive", "positive", "negative"]


@pytest.mark.parametrize("new_store", KINDS, indirect=True)
async def test_importing_twice_changes_nothing(new_store: Any) -> None:
    source, target = await new_store(), await new_store()
    await seed(source)
    records = [parse_record(line, n) for n, line in enumerate(await export_lines(source), 1)]
    for record in records:
        first = await import_record(target, record)
        assert first.created
    once = await snapshot(target)

    again = [await import_record(target, record) for record in records]

    assert await snapshot(target) == once
    assert [done.created for done in again] == [False] * len(records)
    assert sum(done.feedback for done in again) == 0


async def test_user_re_owns_the_threads() -> None:
    source, target = MemoryStore(), MemoryStore()
    await seed(source)
    record = await export_record(source, "alice", locked_thread("thr_all"))

    done = await import_record(target, record, user_id="carol")

    assert done.user_id == "carol"
    carol = await snapshot(target, ("carol",))
    alice = await snapshot(source, ("alice",))
    assert carol["carol/thr_all"] == alice["alice/thr_all"]
    assert await target.admin_list_threads("alice") == []


async def test_a_thread_another_user_owns_is_refused_whole() -> None:
    target = MemoryStore()
    await target.save_thread(thread("thr_x", title="Bob's"), RequestContext(user_id="bob"))
    record = ThreadRecord(user_id="alice", thread=thread("thr_x"), items=[message("m1", "thr_x")])

    with pytest.raises(TransferError) as raised:
        await import_record(target, record)

    assert raised.value.message == (
        "thread thr_x: another user already owns a thread with this id in the target store; "
        "nothing of it was imported"
    )
    bobs = await target.load_thread("thr_x", RequestContext(user_id="bob"))
    assert bobs.title == "Bob's"


def test_records_written_before_attachments_and_feedback_still_read() -> None:
    old = {
        "user_id": "alice",
        "thread": {"id": "t", "created_at": "2025-01-01T00:00:00"},
        "items": [],
    }

    record = parse_record(json.dumps(old), 1)

    assert (record.attachments, record.feedback, record.files) == ([], [], {})


@pytest.mark.parametrize(
    ("line", "message"),
    [
        ("{nope", "line 7: not JSON (Invalid JSON: key must be a string at line 1 column 2)"),
        ('{"user_id": "a", "thread": {"id": "t"}}', "line 7: thread.created_at: Field required"),
        ('{"thread": {"id": "t", "created_at": "2025-01-01"}}', "line 7: user_id: Field required"),
        (
            '{"user_id": "a", "thread": {"id": "t", "created_at": "2025-01-01"}, "files": {"x": "%%"}}',
            "line 7: files: Value error, files['x'] is not base64",
        ),
    ],
)
def test_a_bad_line_names_its_number_and_field(line: str, message: str) -> None:
    with pytest.raises(InvalidRecordError) as raised:
        parse_record(line, 7)

    assert raised.value.message == message


# -- the commands, on a real SQLite file and PostgreSQL --------------------------------------
@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def target_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path}/restored/chat.db"
        return
    url = create_database()
    try:
        yield url
    finally:
        drop_database(url)


def test_export_then_import_with_the_commands(tmp_path: Path, target_url: str) -> None:
    source = seeded_deployment(tmp_path / "a")
    exported = tmp_path / "all.jsonl"
    for user in USERS:
        result = invoke(
            "threads", "export", "--user", user, "--with-files",
            "--database-url", source, "--data-dir", str(tmp_path / "a"),
        )  # fmt: skip
        assert result.exit_code == 0, result.output
        with exported.open("a") as handle:
            handle.write(result.stdout)
    if target_url.startswith("postgresql"):
        assert invoke("db", "upgrade", "--database-url", target_url).exit_code == 0

    restore = invoke(
        "threads", "import", str(exported), "--json",
        "--database-url", target_url, "--data-dir", str(tmp_path / "restored"),
    )  # fmt: skip

    assert restore.exit_code == 0, restore.output
    assert json.loads(restore.stdout) == {
        "threads": 3, "created": 3, "existing": 0, "items": 16, "attachments": 2,
        "feedback": 3, "files": 2, "failed": [],
    }  # fmt: skip
    assert snapshot_of(target_url) == snapshot_of(source)
    attachments = snapshot_of(source)["alice/thr_all"].attachments
    assert file_bytes(tmp_path / "restored" / "attachments", attachments) == {
        "atc_f": FILE_BYTES,
        "atc_i": IMAGE_BYTES,
    }


def test_export_keeps_attachments_feedback_and_every_field(tmp_path: Path) -> None:
    source = seeded_deployment(tmp_path / "a")

    result = invoke("threads", "export", "thr_all", "--user", "alice", "--database-url", source)

    record = json.loads(result.stdout)
    assert set(record) == {"user_id", "thread", "items", "attachments", "feedback"}
    assert [a["id"] for a in record["attachments"]] == ["atc_f", "atc_i"]
    assert record["attachments"][0]["metadata"] == {"path": "alice/atc_f", "size": 12}
    assert [row["kind"] for row in record["feedback"]] == ["positive", "positive", "negative"]
    assert record["thread"]["metadata"] == {"project": "p1", "tags": ["a", "b"]}
    assert parse_record(result.stdout, 1).items == every_item_type("thr_all")


def test_import_reports_bad_lines_and_imports_the_rest(tmp_path: Path) -> None:
    source = seeded_deployment(tmp_path / "a")
    good = invoke("threads", "export", "thr_plain", "--user", "alice", "--database-url", source)
    path = tmp_path / "mixed.jsonl"
    path.write_text('{"user_id": "x"}\n\n' + good.stdout)
    target = f"sqlite:///{tmp_path}/b/chat.db"

    result = invoke("threads", "import", str(path), "--user", "dora", "--database-url", target)

    assert result.exit_code == 1
    assert result.stdout == (
        "Imported 1 thread (1 new, 0 already here): 3 items, 0 attachments, 0 feedback, 0 files.\n"
    )
    assert result.stderr == "error: line 1: thread: Field required\n"
    assert set(snapshot_of(target)) == set()  # dora is not in USERS
    assert (
        invoke(
            "threads", "list", "--user", "dora", "--database-url", target, "--json"
        ).stdout.count("thr_plain")
        == 1
    )


def test_import_reads_stdin(tmp_path: Path) -> None:
    source = seeded_deployment(tmp_path / "a")
    exported = invoke("threads", "export", "--user", "bob", "--database-url", source).stdout
    target = f"sqlite:///{tmp_path}/b/chat.db"

    result = invoke("threads", "import", "-", "--database-url", target, input=exported)

    assert result.exit_code == 0
    assert snapshot_of(target)["bob/thr_bob"] == snapshot_of(source)["bob/thr_bob"]


def test_import_of_a_missing_file_exits_2(tmp_path: Path) -> None:
    result = invoke("threads", "import", str(tmp_path / "none.jsonl"))

    assert result.exit_code == 2
    assert result.stderr == f"error: {tmp_path / 'none.jsonl'}: no such file\n"


class SampleLikeStore(MemoryStore):
    """A store that keeps no attachments, as the SDK samples' stores."""

    async def load_attachment(self, attachment_id: str, context: Any) -> Any:
        raise NotImplementedError("MemoryStore does not load attachments.")


@pytest.mark.parametrize("keeps_attachments", [True, False])
async def test_any_sdk_store_moves_in_through_records(keeps_attachments: bool) -> None:
    source = MemoryStore() if keeps_attachments else SampleLikeStore()
    await seed(source)
    target = MemoryStore()

    records = [
        record
        async for record in sdk_store_records(
            source, RequestContext(user_id="alice"), "zoe", page_size=1
        )
    ]
    for record in records:
        await import_record(target, parse_record(dump_record(record), 1))

    assert [record.thread.id for record in records] == ["thr_all", "thr_plain"]
    moved = await snapshot(target, ("zoe",))
    original = await snapshot(source, ("alice",))
    for thread_id in ("thr_all", "thr_plain"):
        assert moved[f"zoe/{thread_id}"].thread == original[f"alice/{thread_id}"].thread
        assert moved[f"zoe/{thread_id}"].items == original[f"alice/{thread_id}"].items
        assert moved[f"zoe/{thread_id}"].feedback == []
    attachments = {a.id: a for a in moved["zoe/thr_all"].attachments}
    assert set(attachments) == {"atc_f", "atc_i"}
    stored_row = file_attachment("atc_f", "thr_all")
    held_copy = every_item_type("thr_all")[0].attachments[0]  # type: ignore[union-attr]
    assert attachments["atc_f"] == (stored_row if keeps_attachments else held_copy)
