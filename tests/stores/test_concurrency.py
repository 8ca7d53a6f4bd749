"""Concurrent writers, several processes on one SQLite file, several stores on one PostgreSQL."""

import asyncio
import sqlite3
import sys
import textwrap
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from chatkit.types import AssistantMessageContent

from chatkit_backend.stores import BackendStore, SQLStore, StoreUnavailableError, open_store
from chatkit_backend.stores.connections import SQLiteDatabase
from tests.stores.conftest import ALICE, BOB, empty_postgres_store
from tests.stores.samples import T0, message, thread
from tests.support.live import clean_env


async def test_fifty_concurrent_writers_on_one_thread_lose_nothing(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    ids = [f"msg_{n:02d}" for n in range(50)]
    await asyncio.gather(
        *(
            store.add_thread_item(
                "thr_1", message(i, created_at=T0 + timedelta(milliseconds=n)), ALICE
            )
            for n, i in enumerate(ids)
        )
    )
    page = await store.load_thread_items("thr_1", None, 100, "asc", ALICE)
    assert [item.id for item in page.data] == ids


async def test_concurrent_updates_of_one_item_leave_one_of_them(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    texts = [f"version {n}" for n in range(20)]
    await asyncio.gather(
        *(store.save_item("thr_1", message("msg_1", text=t), ALICE) for t in texts)
    )
    page = await store.load_thread_items("thr_1", None, 100, "asc", ALICE)
    assert len(page.data) == 1
    content = page.data[0].content[0]  # type: ignore[union-attr]
    assert isinstance(content, AssistantMessageContent) and content.text in texts


async def test_concurrent_readers_and_writers_see_whole_items(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)

    async def write(n: int) -> None:
        await store.add_thread_item(
            "thr_1", message(f"msg_{n:02d}", created_at=T0 + timedelta(seconds=n)), ALICE
        )

    async def read() -> int:
        page = await store.load_thread_items("thr_1", None, 100, "desc", ALICE)
        return len(page.data)

    results = await asyncio.gather(*(write(n) if n % 2 else read() for n in range(40)))
    counts = [r for r in results if isinstance(r, int)]
    assert all(0 <= c <= 20 for c in counts)
    assert len((await store.load_thread_items("thr_1", None, 100, "asc", ALICE)).data) == 20


WRITER = textwrap.dedent(
    """
    import asyncio, sys
    from datetime import datetime, timedelta
    from chatkit.types import AssistantMessageContent, AssistantMessageItem
    from chatkit_backend.context import RequestContext
    from chatkit_backend.stores import open_store

    async def main(url: str, name: str, count: int) -> None:
        store = open_store(url)
        await store.open()
        ctx = RequestContext(user_id="alice")
        start = datetime(2025, 1, 1)
        print("ready", flush=True)
        sys.stdin.readline()  # both processes start writing together
        for n in range(count):
            item = AssistantMessageItem(
                id=f"msg_{name}_{n:03d}", thread_id="thr_1", created_at=start + timedelta(seconds=n),
                content=[AssistantMessageContent(text=name)],
            )
            await store.add_thread_item("thr_1", item, ctx)
            if n % 10 == 0:
                await store.load_thread_items("thr_1", None, 20, "desc", ctx)
        await store.close()

    asyncio.run(main(sys.argv[1], sys.argv[2], int(sys.argv[3])))
    """
)


async def test_two_processes_write_to_one_sqlite_file(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/shared.db"
    store = open_store(url)
    await store.save_thread(thread(), ALICE)
    processes = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            "-c",
            WRITER,
            url,
            name,
            "60",
            env=clean_env(),
            stdin=asyncio.subprocess.PIPE,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
        )
        for name in ("one", "two")
    ]
    for process in processes:
        assert process.stdout is not None
        assert await asyncio.wait_for(process.stdout.readline(), 60) == b"ready\n"
    errors = [(await p.communicate(b"go\n"))[1].decode() for p in processes]
    assert [p.returncode for p in processes] == [0, 0], errors
    page = await store.load_thread_items("thr_1", None, 500, "asc", ALICE)
    ids = [item.id for item in page.data]
    assert len(ids) == 120
    assert {i.rsplit("_", 1)[0] for i in ids} == {"msg_one", "msg_two"}
    await store.close()


def test_sqlite_runs_in_wal_mode_with_a_busy_timeout_and_foreign_keys(tmp_path: Path) -> None:
    names = ("journal_mode", "busy_timeout", "foreign_keys", "synchronous", "wal_autocheckpoint")

    async def pragmas() -> list[tuple[Any, ...]]:
        store = open_store(f"sqlite:///{tmp_path}/chat.db", busy_timeout_ms=4321)
        assert isinstance(store, SQLStore)
        await store.open()
        try:
            db = store._db
            assert isinstance(db, SQLiteDatabase)
            # The event loop's own connection never waits (busy timeout 0, no checkpoint);
            # the writer's thread waits up to the busy timeout.
            direct = tuple([(await db.read(f"PRAGMA {name}", ()))[0][0] for name in names])
            async with db.transaction() as tx:
                writer = tuple([(await tx.fetch(f"PRAGMA {name}", ()))[0][0] for name in names])
            return [direct, writer]
        finally:
            await store.close()

    direct, writer = asyncio.run(pragmas())
    assert direct == ("wal", 0, 1, 1, 0)  # synchronous 1: NORMAL (see docs/stores.md)
    assert writer == ("wal", 4321, 1, 1, 1000)


async def test_a_sqlite_file_locked_past_the_busy_timeout_is_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "chat.db"
    store = open_store(f"sqlite:///{path}", busy_timeout_ms=200)
    await store.save_thread(thread(), ALICE)
    other = sqlite3.connect(path, isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another process holds the write lock
    try:
        started = time.perf_counter()
        with pytest.raises(StoreUnavailableError) as caught:
            await store.add_thread_item("thr_1", message("msg_1"), ALICE)
        assert time.perf_counter() - started >= 0.2
        assert caught.value.status == 503
        assert (
            caught.value.message
            == "the SQLite database stayed locked past the busy timeout (200 ms)"
        )
        # Readers are not blocked by the writer (WAL).
        assert (await store.load_thread("thr_1", ALICE)).id == "thr_1"
    finally:
        other.execute("ROLLBACK")
        other.close()
    await store.add_thread_item("thr_1", message("msg_1"), ALICE)
    await store.close()


@pytest.mark.postgres
async def test_two_stores_on_one_postgresql_database_see_each_others_writes(
    contract_postgres_url: str,
) -> None:
    first = await empty_postgres_store(contract_postgres_url)
    second = open_store(contract_postgres_url)
    try:
        await first.save_thread(thread(title="from first"), ALICE)
        assert (await second.load_thread("thr_1", ALICE)).title == "from first"
        await second.add_thread_item("thr_1", message("msg_from_second"), ALICE)
        assert (await first.load_item("thr_1", "msg_from_second", ALICE)).id == "msg_from_second"
        await asyncio.gather(
            *(
                (first if n % 2 else second).add_thread_item(
                    "thr_1", message(f"msg_{n:02d}"), ALICE
                )
                for n in range(50)
            )
        )
        for store in (first, second):
            page = await store.load_thread_items("thr_1", None, 100, "asc", ALICE)
            assert len(page.data) == 51
        await second.save_thread(thread("thr_bob"), BOB)
        assert [t.id for t in (await first.load_threads(10, None, "asc", BOB)).data] == ["thr_bob"]
        await first.delete_thread("thr_1", ALICE)
        assert (await second.load_threads(10, None, "asc", ALICE)).data == []
    finally:
        await first.close()
        await second.close()
