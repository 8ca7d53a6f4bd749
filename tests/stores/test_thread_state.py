"""A thread's state on every store: metadata updates that never write a stale copy, the
status helper, the owner lookup, and reply leases (one reply at a time per thread)."""

import asyncio
import secrets

import pytest
from chatkit.types import ActiveStatus, ClosedStatus, LockedStatus, ThreadMetadata

from chatkit_backend.stores import BackendStore, StoreNotFoundError
from chatkit_backend.stores.thread_updates import ThreadUpdate
from tests.stores.conftest import ALICE, BOB
from tests.stores.samples import T0


def _thread(**fields: object) -> ThreadMetadata:
    return ThreadMetadata.model_validate(
        {"id": f"thr_{secrets.token_hex(6)}", "created_at": T0, **fields}
    )


async def _saved(store: BackendStore, **fields: object) -> ThreadMetadata:
    thread = _thread(**fields)
    await store.save_thread(thread, ALICE)
    return thread


# -- update_thread -------------------------------------------------------------------------
async def test_an_update_from_a_stale_copy_keeps_what_others_wrote_since(
    store: BackendStore,
) -> None:
    started = await _saved(store, title=None, metadata={"shared": 1, "gone": True})
    # Meanwhile: a rename, a lock and a metadata key of someone else's.
    await store.update_thread(started.id, ThreadUpdate.setting(title="Mine"), ALICE)
    await store.set_thread_status(started.id, LockedStatus(reason="admin"), ALICE)
    meanwhile = await store.load_thread(started.id, ALICE)
    meanwhile.metadata["theirs"] = "x"
    await store.update_thread(started.id, ThreadUpdate.between(started, meanwhile), ALICE)

    # The reply's copy, from before all that: an automatic title, its own metadata.
    reply = started.model_copy(deep=True)
    reply.title = "Automatic title"
    reply.metadata["ours"] = [1, 2]
    del reply.metadata["gone"]
    stored = await store.update_thread(started.id, ThreadUpdate.between(started, reply), ALICE)

    assert stored == await store.load_thread(started.id, ALICE)
    assert stored.title == "Mine"
    assert stored.status == LockedStatus(reason="admin")
    assert stored.metadata == {"shared": 1, "theirs": "x", "ours": [1, 2]}


async def test_an_update_whose_values_still_hold_applies_whole(store: BackendStore) -> None:
    started = await _saved(store, metadata={"a": 1})
    changed = started.model_copy(deep=True)
    changed.title = "New"
    changed.status = ClosedStatus(reason="done")
    changed.allowed_image_domains = ["example.com"]
    changed.metadata["a"] = 2
    stored = await store.update_thread(started.id, ThreadUpdate.between(started, changed), ALICE)
    assert stored == changed
    assert await store.load_thread(started.id, ALICE) == changed


async def test_an_empty_update_changes_nothing(store: BackendStore) -> None:
    started = await _saved(store, title="Same")
    assert not ThreadUpdate.between(started, started)
    assert await store.update_thread(started.id, ThreadUpdate(), ALICE) == started


async def test_updating_a_missing_or_foreign_thread_is_not_found(store: BackendStore) -> None:
    theirs = await _saved(store, title="Alice's")
    for thread_id, context in (("thr_missing", ALICE), (theirs.id, BOB)):
        with pytest.raises(StoreNotFoundError, match="not found"):
            await store.update_thread(thread_id, ThreadUpdate.setting(title="x"), context)
        with pytest.raises(StoreNotFoundError):
            await store.set_thread_status(thread_id, LockedStatus(), context)
    assert (await store.load_thread(theirs.id, ALICE)).title == "Alice's"


async def test_concurrent_updates_of_different_fields_both_land(store: BackendStore) -> None:
    started = await _saved(store)
    renamed = started.model_copy(update={"title": "Renamed"})
    tagged = started.model_copy(update={"metadata": {"tag": "vip"}})
    await asyncio.gather(
        *(
            store.update_thread(started.id, ThreadUpdate.between(started, changed), ALICE)
            for changed in (renamed, tagged)
            for _ in range(5)
        )
    )
    stored = await store.load_thread(started.id, ALICE)
    assert (stored.title, stored.metadata) == ("Renamed", {"tag": "vip"})


def test_a_field_that_cannot_be_updated_is_refused() -> None:
    with pytest.raises(ValueError, match="'id' cannot be updated"):
        ThreadUpdate.setting(id="other")


# -- set_thread_status, admin_thread_owner --------------------------------------------------
async def test_set_thread_status_locks_closes_and_reopens(store: BackendStore) -> None:
    thread = await _saved(store, title="Kept")
    for status in (LockedStatus(reason="r1"), ClosedStatus(), ActiveStatus()):
        stored = await store.set_thread_status(thread.id, status, ALICE)
        assert stored.status == status and stored.title == "Kept"
        assert (await store.load_thread(thread.id, ALICE)).status == status


async def test_admin_thread_owner_finds_whoever_owns_a_thread(store: BackendStore) -> None:
    thread = _thread()
    await store.save_thread(thread, BOB)
    assert await store.admin_thread_owner(thread.id) == "bob"
    assert await store.admin_thread_owner("thr_nobody") is None


# -- reply leases ----------------------------------------------------------------------------
async def test_one_holder_at_a_time_until_release(store: BackendStore) -> None:
    thread = await _saved(store)
    assert await store.acquire_thread_lease(thread.id, "h1", 30, ALICE, request_id="req-1")
    assert not await store.acquire_thread_lease(thread.id, "h2", 30, ALICE)
    assert await store.acquire_thread_lease(thread.id, "h1", 30, ALICE)  # a retry: still h1's
    state = await store.renew_thread_lease(thread.id, "h1", 30)
    assert (state.held, state.stop_requested) == (True, False)
    assert not (await store.renew_thread_lease(thread.id, "h2", 30)).held
    await store.release_thread_lease(thread.id, "h2")  # not h2's: nothing happens
    assert not await store.acquire_thread_lease(thread.id, "h2", 30, ALICE)
    await store.release_thread_lease(thread.id, "h1")
    assert await store.acquire_thread_lease(thread.id, "h2", 30, ALICE)
    other = await _saved(store)
    assert await store.acquire_thread_lease(other.id, "h3", 30, ALICE)  # per thread


async def test_a_lease_not_renewed_expires(store: BackendStore) -> None:
    thread = await _saved(store)
    assert await store.acquire_thread_lease(thread.id, "dead", 0.3, ALICE)
    assert not await store.acquire_thread_lease(thread.id, "next", 30, ALICE)
    await asyncio.sleep(0.4)  # the holder died: nobody renewed
    assert await store.acquire_thread_lease(thread.id, "next", 30, ALICE)
    assert not (await store.renew_thread_lease(thread.id, "dead", 30)).held


async def test_a_stop_request_reaches_the_holder_of_that_request_only(
    store: BackendStore,
) -> None:
    thread = await _saved(store)
    await store.acquire_thread_lease(thread.id, "h1", 30, ALICE, request_id="req-stop")
    assert not await store.request_reply_stop("req-stop", BOB)  # not Bob's thread
    assert not await store.request_reply_stop("req-other", ALICE)
    assert not (await store.renew_thread_lease(thread.id, "h1", 30)).stop_requested
    assert await store.request_reply_stop("req-stop", ALICE)
    assert (await store.renew_thread_lease(thread.id, "h1", 30)).stop_requested
    await store.release_thread_lease(thread.id, "h1")
    assert not await store.request_reply_stop("req-stop", ALICE)  # nothing runs any more
    # A new reply on the thread starts without the old stop.
    await store.acquire_thread_lease(thread.id, "h2", 30, ALICE, request_id="req-stop")
    assert not (await store.renew_thread_lease(thread.id, "h2", 30)).stop_requested


async def test_concurrent_acquirers_get_one_lease(store: BackendStore) -> None:
    thread = await _saved(store)
    won = await asyncio.gather(
        *(store.acquire_thread_lease(thread.id, f"h{n}", 30, ALICE) for n in range(8))
    )
    assert won.count(True) == 1


async def test_on_postgresql_the_lease_table_is_not_logged(store: BackendStore) -> None:
    """Leases are worth nothing after a database crash: no WAL flush per reply for them."""
    if store.kind != "postgresql":
        pytest.skip("PostgreSQL only: SQLite and memory have no unlogged tables")
    from sqlalchemy import text

    from chatkit_backend.stores import SQLStore

    assert isinstance(store, SQLStore)
    async with store.engine.connect() as connection:
        persistence = await connection.scalar(
            text(
                "SELECT relpersistence::text FROM pg_class WHERE relname = 'chatkit_thread_leases'"
            )
        )
    assert persistence == "u"
