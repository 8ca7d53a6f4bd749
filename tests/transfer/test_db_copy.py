"""``chatkit-backend db copy``: SQLite to PostgreSQL and back, files, reruns, bad input."""

import asyncio
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Column, ForeignKey, Integer, String, Table, insert, select

from chatkit_backend.stores import open_store
from chatkit_backend.stores.engine import EngineOptions, build_engine, parse_database_url
from chatkit_backend.stores.schema import metadata
from chatkit_backend.transfer.db_copy import copy_database
from tests.cli.conftest import invoke
from tests.transfer.seeding import (
    FILE_BYTES,
    IMAGE_BYTES,
    file_bytes,
    seeded_deployment,
    snapshot_of,
)

TABLES = [
    "chatkit_threads",
    "chatkit_usage",
    "chatkit_attachments",
    "chatkit_feedback",
    "chatkit_items",
]
SOURCE_COUNTS = {
    "chatkit_threads": 3,
    "chatkit_usage": 0,  # no replies in the seed; the table is copied all the same
    "chatkit_attachments": 2,
    "chatkit_feedback": 3,
    "chatkit_items": 16,
}


def copy(source: str, target: str, *extra: str) -> dict[str, Any]:
    result = invoke("db", "copy", "--from", source, "--to", target, "--json", *extra)
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)  # type: ignore[no-any-return]


def counts(report: dict[str, Any], field: str) -> dict[str, int]:
    return {table["name"]: table[field] for table in report["tables"]}


@pytest.mark.postgres
def test_sqlite_to_postgresql_and_back_keeps_everything(
    tmp_path: Path, fresh_postgres: str
) -> None:
    source = seeded_deployment(tmp_path / "a")
    expected = snapshot_of(source, upgrade=False)
    attachments = expected["alice/thr_all"].attachments

    there = copy(source, fresh_postgres, "--to-attachments", str(tmp_path / "pg-files"))

    assert (
        counts(there, "source")
        == counts(there, "copied")
        == counts(there, "target")
        == SOURCE_COUNTS
    )
    assert there["target_revision_before"] is None and there["verified"] is True
    assert there["files"]["copied"] == 2 and there["files"]["missing"] == 0
    assert snapshot_of(fresh_postgres, upgrade=False) == expected
    assert file_bytes(tmp_path / "pg-files", attachments) == {
        "atc_f": FILE_BYTES,
        "atc_i": IMAGE_BYTES,
    }

    back_url = f"sqlite:///{tmp_path}/b/chat.db"
    back = copy(fresh_postgres, back_url, "--from-attachments", str(tmp_path / "pg-files"))

    assert counts(back, "copied") == counts(back, "target") == SOURCE_COUNTS
    assert snapshot_of(back_url, upgrade=False) == expected
    assert back["files"]["to"] == (tmp_path / "b" / "attachments").resolve().as_uri()
    assert file_bytes(tmp_path / "b" / "attachments", attachments) == {
        "atc_f": FILE_BYTES,
        "atc_i": IMAGE_BYTES,
    }


@pytest.mark.postgres
def test_running_it_twice_copies_nothing_the_second_time(
    tmp_path: Path, fresh_postgres: str
) -> None:
    source = seeded_deployment(tmp_path / "a")
    files = ["--to-attachments", str(tmp_path / "pg-files")]
    copy(source, fresh_postgres, *files)

    again = copy(source, fresh_postgres, *files)

    assert counts(again, "copied") == dict.fromkeys(TABLES, 0)
    assert counts(again, "present") == counts(again, "target") == SOURCE_COUNTS
    assert again["files"]["copied"] == 0 and again["files"]["present"] == 2


def test_a_target_with_rows_of_its_own_keeps_them(tmp_path: Path) -> None:
    source = seeded_deployment(tmp_path / "a")
    target = seeded_deployment(tmp_path / "b")  # the same rows, and one more thread and feedback

    async def add_own() -> None:
        from chatkit_backend.context import RequestContext
        from tests.stores.samples import message, thread

        store = open_store(target)
        carol = RequestContext(user_id="carol")
        try:
            await store.save_thread(thread("thr_carol"), carol)
            await store.add_thread_items("thr_carol", [message("msg_c", "thr_carol")], carol)
            await store.save_feedback("thr_carol", ["msg_c"], "positive", carol)
        finally:
            await store.close()

    asyncio.run(add_own())

    report = copy(source, target)

    assert counts(report, "copied") == dict.fromkeys(TABLES, 0)
    assert counts(report, "target") == {
        "chatkit_threads": 4, "chatkit_usage": 0, "chatkit_attachments": 2, "chatkit_feedback": 4, "chatkit_items": 17,
    }  # fmt: skip


def test_text_output_is_a_table_and_a_verdict(tmp_path: Path) -> None:
    source = seeded_deployment(tmp_path / "a")
    target = f"sqlite:///{tmp_path}/b/chat.db"

    result = invoke("db", "copy", "--from", source, "--to", target)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert (
        lines[0]
        == f"Copied sqlite+aiosqlite:///{tmp_path}/a/chat.db -> sqlite+aiosqlite:///{tmp_path}/b/chat.db"
    )
    assert lines[1].split() == ["table", "source", "copied", "already", "there", "target"]
    assert lines[6].split() == ["chatkit_items", "16", "16", "0", "16"]
    assert lines[7].startswith("files: 2 copied, 0 already there (file://")
    assert lines[-1] == "verified: every source row is in the target"


@pytest.fixture
def extra_table() -> Iterator[Table]:
    """A table as a later schema revision might add (numbered rows under a thread)."""
    table = Table(
        "chatkit_test_notes",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("thread_id", String(255), ForeignKey("chatkit_threads.id"), nullable=False),
        Column("note", String(200), nullable=False),
    )
    try:
        yield table
    finally:
        metadata.remove(table)


def test_tables_added_to_the_schema_later_are_copied(tmp_path: Path, extra_table: Table) -> None:
    source = seeded_deployment(tmp_path / "a")
    target = f"sqlite:///{tmp_path}/b/chat.db"

    async def prepare() -> list[tuple[str, str]]:
        for url in (source, target):
            (tmp_path / "b").mkdir(exist_ok=True)
            engine = build_engine(parse_database_url(url), EngineOptions())
            async with engine.begin() as conn:
                await conn.run_sync(lambda sync: extra_table.create(sync, checkfirst=True))
                if url == source:
                    await conn.execute(
                        insert(extra_table),
                        [
                            {"thread_id": "thr_all", "note": "a"},
                            {"thread_id": "thr_all", "note": "a"},
                        ],
                    )
            await engine.dispose()
        await copy_database(source, target)
        await copy_database(source, target)  # twice: still two notes, not four
        engine = build_engine(parse_database_url(target), EngineOptions())
        async with engine.connect() as conn:
            rows = (await conn.execute(select(extra_table.c.thread_id, extra_table.c.note))).all()
        await engine.dispose()
        return [tuple(row) for row in rows]

    assert asyncio.run(prepare()) == [("thr_all", "a"), ("thr_all", "a")]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--from", "memory://", "--to", "sqlite:///{tmp}/x.db"],
            "error: --from: memory:// keeps nothing between processes, so there is nothing to copy from or to; use a SQLite file or PostgreSQL",
        ),
        (
            ["--from", "sqlite:///{tmp}/x.db", "--to", "sqlite:///{tmp}/x.db"],
            "error: --from and --to name the same database (sqlite+aiosqlite:///{tmp}/x.db): nothing to copy",
        ),
        (
            ["--from", "sqlite:///{tmp}/none.db", "--to", "sqlite:///{tmp}/y.db"],
            "error: --from: there is no database at sqlite+aiosqlite:///{tmp}/none.db",
        ),
        (
            ["--from", "mysql://h/db", "--to", "sqlite:///{tmp}/y.db"],
            "error: unsupported database URL scheme 'mysql'; use memory://, sqlite:///path.db (sqlite+aiosqlite:///path.db) or postgresql://user:password@host:5432/db (postgresql+asyncpg://...)",
        ),
        (
            [
                "--from",
                "sqlite:///{tmp}/a.db",
                "--to",
                "sqlite:///{tmp}/y.db",
                "--to-attachments",
                "ftp://x/y",
            ],
            "error: --to-attachments: ftp:// is not attachment storage: give a folder, a file:// URL or an s3://bucket/prefix URL",
        ),
    ],
)
def test_bad_arguments_exit_2(tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "a.db").touch()

    result = invoke("db", "copy", *[arg.format(tmp=tmp_path) for arg in args])

    assert result.exit_code == 2
    assert result.stderr == message.format(tmp=tmp_path) + "\n"


def test_a_source_without_the_schema_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty.db").touch()
    target = tmp_path / "out" / "chat.db"

    result = invoke(
        "db", "copy", "--from", f"sqlite:///{tmp_path}/empty.db", "--to", f"sqlite:///{target}"
    )

    assert result.exit_code == 1
    assert result.stderr == (
        f"error: --from: sqlite+aiosqlite:///{tmp_path}/empty.db holds no chatkit-backend tables\n"
    )
    assert not target.exists()
