"""Cancelled calls (a client hanging up) never leave a connection inside a transaction.

The caller sees ``CancelledError`` at once; the write is whole or absent; the next calls,
on the same pool, work as usual and find no lock held.
"""

import asyncio
from datetime import timedelta
from typing import Any

import pytest
from chatkit.types import ThreadItem

from chatkit_backend.stores import BackendStore, SQLStore
from tests.stores.conftest import ALICE, make_store
from tests.stores.samples import T0, message, thread

KINDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


def batch(count: int) -> list[ThreadItem]:
    return [
        message(f"msg_{n:05d}", created_at=T0 + timedelta(milliseconds=n)) for n in range(count)
    ]


async def cancel_soon(call: "asyncio.Future[Any]", turns: int) -> None:
    for _ in range(turns):
        await asyncio.sleep(0)
    call.cancel()


@pytest.mark.parametrize("kind", KINDS)
async def test_a_cancelled_bulk_write_is_whole_or_absent_and_releases_the_lock(
    kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    store = await make_store(kind, request, tmp_path_factory)
    assert isinstance(store, SQLStore)
    try:
        await store.save_thread(thread(), ALICE)
        for turns in (0, 1, 2, 5, 20):
            items = batch(2000)
            call = asyncio.ensure_future(store.add_thread_items("thr_1", items, ALICE))
            await cancel_soon(call, turns)
            with pytest.raises(asyncio.CancelledError):
                await call
            # The next write goes through at once: no transaction was left open.
            await asyncio.wait_for(store.add_thread_item("thr_1", message("msg_next"), ALICE), 5)
            page = await store.load_thread_items("thr_1", None, 10_000, "asc", ALICE)
            stored = {item.id for item in page.data} - {"msg_next"}
            assert stored in (set(), {item.id for item in items}), len(stored)
            await store.delete_thread("thr_1", ALICE)
            await store.save_thread(thread(), ALICE)
    finally:
        await store.close()


@pytest.mark.parametrize("kind", KINDS)
async def test_cancelled_reads_and_writes_leave_a_working_pool(
    kind: str, request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> None:
    store: BackendStore = await make_store(kind, request, tmp_path_factory)
    try:
        await store.save_thread(thread(), ALICE)
        await store.add_thread_items("thr_1", batch(50), ALICE)
        for n in range(60):
            calls = [
                asyncio.ensure_future(store.load_thread_items("thr_1", None, 20, "desc", ALICE)),
                asyncio.ensure_future(store.add_thread_item("thr_1", message(f"msg_c{n}"), ALICE)),
                asyncio.ensure_future(store.load_item("thr_1", "msg_00001", ALICE)),
            ]
            await cancel_soon(calls[n % 3], n % 4)
            await asyncio.gather(*calls, return_exceptions=True)
        # Everything works after, on the same pool, quickly.
        async with asyncio.timeout(10):
            await asyncio.gather(
                *(
                    store.add_thread_item("thr_1", message(f"msg_after{n}"), ALICE)
                    for n in range(20)
                )
            )
            page = await store.load_thread_items("thr_1", None, 1000, "asc", ALICE)
        assert {f"msg_after{n}" for n in range(20)} <= {item.id for item in page.data}
        if isinstance(store, SQLStore):
            limit = store.options.pool_size + store.options.max_overflow
            # A cancelled PostgreSQL call discards its connection; never more than the pool
            # at once, and far fewer than the calls.
            assert store.connections_opened <= limit + 60
    finally:
        await store.close()
