"""The store contract, run on every store (memory, SQLite file, PostgreSQL server).

Each test checks one rule written in ``chatkit_backend.stores.base``.
"""

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from chatkit.store import NotFoundError as SDKNotFoundError
from chatkit.types import AssistantMessageContent, ThreadItem

from chatkit_backend.context import RequestContext
from chatkit_backend.errors import BackendError
from chatkit_backend.stores import BackendStore, InvalidPageError, StoreNotFoundError
from tests.stores.conftest import ALICE, BOB
from tests.stores.samples import (
    T0,
    every_item_type,
    file_attachment,
    image_attachment,
    locked_thread,
    message,
    thread,
)


async def walk_items(store: BackendStore, thread_id: str, limit: int, order: str) -> list[str]:
    """Every item id, page by page, checking each page's ``after`` and ``has_more``."""
    seen: list[str] = []
    after = None
    while True:
        page = await store.load_thread_items(thread_id, after, limit, order, ALICE)
        seen += [item.id for item in page.data]
        assert len(page.data) <= limit
        if not page.has_more:
            assert page.after is None
            return seen
        assert len(page.data) == limit
        assert page.after == page.data[-1].id
        after = page.after


# -- threads ---------------------------------------------------------------------------


async def test_saved_thread_loads_equal_to_what_was_saved(store: BackendStore) -> None:
    saved = locked_thread()
    await store.save_thread(saved, ALICE)
    assert await store.load_thread(saved.id, ALICE) == saved


async def test_save_thread_upserts(store: BackendStore) -> None:
    original = thread(title="first")
    await store.save_thread(original, ALICE)
    await store.save_thread(original.model_copy(update={"title": "second"}), ALICE)
    assert (await store.load_thread(original.id, ALICE)).title == "second"
    page = await store.load_threads(10, None, "asc", ALICE)
    assert [t.id for t in page.data] == [original.id]


async def test_loaded_thread_is_a_copy(store: BackendStore) -> None:
    await store.save_thread(thread(title="kept"), ALICE)
    loaded = await store.load_thread("thr_1", ALICE)
    loaded.title = "changed without saving"
    assert (await store.load_thread("thr_1", ALICE)).title == "kept"


async def test_missing_thread_is_not_found_with_status_404(store: BackendStore) -> None:
    with pytest.raises(StoreNotFoundError) as caught:
        await store.load_thread("thr_missing", ALICE)
    assert isinstance(caught.value, SDKNotFoundError)
    assert isinstance(caught.value, BackendError)
    assert (caught.value.status, caught.value.code) == (404, "not_found")
    assert caught.value.message == "thread 'thr_missing' not found"


async def test_threads_are_listed_by_created_at_then_id_in_both_orders(store: BackendStore) -> None:
    ids = [f"thr_{letter}" for letter in "edcba"]
    for thread_id in ids:  # all created at the same instant: id breaks the tie
        await store.save_thread(thread(thread_id, T0), ALICE)
    await store.save_thread(thread("thr_old", T0 - timedelta(days=1)), ALICE)
    asc = await store.load_threads(10, None, "asc", ALICE)
    assert [t.id for t in asc.data] == ["thr_old", *sorted(ids)]
    desc = await store.load_threads(10, None, "desc", ALICE)
    assert [t.id for t in desc.data] == [*sorted(ids, reverse=True), "thr_old"]


async def test_thread_pages_follow_the_cursor(store: BackendStore) -> None:
    for n in range(7):
        await store.save_thread(thread(f"thr_{n}", T0 + timedelta(minutes=n % 3)), ALICE)
    expected = sorted((f"thr_{n}" for n in range(7)), key=lambda i: (int(i[-1]) % 3, i))
    for order, want in (("asc", expected), ("desc", expected[::-1])):
        seen, after = [], None
        while True:
            page = await store.load_threads(3, after, order, ALICE)
            seen += [t.id for t in page.data]
            if not page.has_more:
                assert page.after is None
                break
            assert page.after == page.data[-1].id
            after = page.after
        assert seen == want


async def test_threads_of_other_users_are_not_listed(store: BackendStore) -> None:
    await store.save_thread(thread("thr_alice"), ALICE)
    await store.save_thread(thread("thr_bob"), BOB)
    assert [t.id for t in (await store.load_threads(10, None, "desc", ALICE)).data] == ["thr_alice"]
    assert [t.id for t in (await store.load_threads(10, None, "desc", BOB)).data] == ["thr_bob"]


async def test_thread_cursor_of_another_user_is_an_error(store: BackendStore) -> None:
    await store.save_thread(thread("thr_alice"), ALICE)
    await store.save_thread(thread("thr_bob"), BOB)
    with pytest.raises(InvalidPageError) as caught:
        await store.load_threads(10, "thr_bob", "asc", ALICE)
    assert (caught.value.status, caught.value.code) == (400, "invalid_page")
    assert caught.value.message == "after: no thread 'thr_bob' to continue from"


# -- ownership -------------------------------------------------------------------------


async def test_same_user_id_in_two_tenants_owns_separate_threads(store: BackendStore) -> None:
    acme = RequestContext(user_id="alice", tenant_id="acme")
    globex = RequestContext(user_id="alice", tenant_id="globex")
    await store.save_thread(thread("thr_acme"), acme)
    assert [t.id for t in (await store.load_threads(10, None, "asc", acme)).data] == ["thr_acme"]
    assert (await store.load_threads(10, None, "asc", globex)).data == []
    with pytest.raises(StoreNotFoundError):
        await store.load_thread("thr_acme", globex)


async def test_a_slash_in_a_tenant_does_not_merge_two_owners(store: BackendStore) -> None:
    first = RequestContext(user_id="b/c", tenant_id="a")
    second = RequestContext(user_id="c", tenant_id="a/b")
    await store.save_thread(thread("thr_first"), first)
    assert (await store.load_threads(10, None, "asc", second)).data == []
    with pytest.raises(StoreNotFoundError):
        await store.load_thread("thr_first", second)


async def test_foreign_thread_reads_as_not_found_and_its_items_as_an_empty_page(
    store: BackendStore,
) -> None:
    await store.save_thread(thread(), ALICE)
    await store.add_thread_item("thr_1", message("msg_1"), ALICE)
    await store.add_thread_item("thr_1", message("msg_2"), ALICE)
    with pytest.raises(StoreNotFoundError):
        await store.load_thread("thr_1", BOB)
    with pytest.raises(StoreNotFoundError):
        await store.load_item("thr_1", "msg_1", BOB)
    with pytest.raises(StoreNotFoundError):
        await store.load_feedback("thr_1", BOB)
    for after in (None, "msg_1", "msg_nope"):  # the SDK's store contract: an empty page
        for order in ("asc", "desc"):
            page = await store.load_thread_items("thr_1", after, 10, order, BOB)
            assert (page.data, page.has_more, page.after) == ([], False, None)
    assert len((await store.load_thread_items("thr_1", None, 10, "asc", ALICE)).data) == 2


async def test_items_of_a_missing_thread_are_an_empty_page(store: BackendStore) -> None:
    for after in (None, "msg_1"):
        page = await store.load_thread_items("thr_nope", after, 10, "asc", ALICE)
        assert (page.data, page.has_more, page.after) == ([], False, None)


async def test_the_sdk_store_contract_on_isolation_holds(store: BackendStore) -> None:
    """The cases of the SDK's own store suite (``tests/test_store.py`` of chatkit-python):
    the owner reads back what was saved; another user gets NotFoundError for the thread
    and an item, and an empty page of items."""
    await store.save_thread(thread("shared_thread"), ALICE)
    items = every_item_type()[:3]
    for item in items:
        await store.add_thread_item("shared_thread", item, ALICE)
    assert (await store.load_thread_items("shared_thread", None, 10, "asc", ALICE)).data == items
    assert (await store.load_thread_items("shared_thread", None, 10, "asc", BOB)).data == []
    with pytest.raises(SDKNotFoundError):
        await store.load_thread("shared_thread", BOB)
    with pytest.raises(SDKNotFoundError):
        await store.load_item("shared_thread", items[0].id, BOB)
    await store.save_attachment(file_attachment("atc_1"), ALICE)
    with pytest.raises(SDKNotFoundError):
        await store.load_attachment("atc_1", BOB)


async def test_foreign_thread_cannot_be_written(store: BackendStore) -> None:
    await store.save_thread(thread(title="alice's"), ALICE)
    await store.add_thread_item("thr_1", message("msg_1", text="alice's"), ALICE)
    with pytest.raises(StoreNotFoundError):
        await store.save_thread(thread(title="bob's now"), BOB)
    with pytest.raises(StoreNotFoundError):
        await store.add_thread_item("thr_1", message("msg_2"), BOB)
    with pytest.raises(StoreNotFoundError):
        await store.save_item("thr_1", message("msg_1", text="bob's"), BOB)
    with pytest.raises(StoreNotFoundError):
        await store.save_feedback("thr_1", ["msg_1"], "negative", BOB)
    with pytest.raises(StoreNotFoundError):
        await store.save_attachment(file_attachment("atc_bob", thread_id="thr_1"), BOB)
    assert (await store.load_thread("thr_1", ALICE)).title == "alice's"
    items = await store.load_thread_items("thr_1", None, 10, "asc", ALICE)
    assert [(i.id, i.content[0].text) for i in items.data] == [("msg_1", "alice's")]  # type: ignore[union-attr]
    assert await store.load_feedback("thr_1", ALICE) == []


async def test_deleting_a_foreign_thread_or_item_is_a_noop_that_keeps_it(
    store: BackendStore,
) -> None:
    await store.save_thread(thread(), ALICE)
    await store.add_thread_item("thr_1", message("msg_1"), ALICE)
    await store.delete_thread_item("thr_1", "msg_1", BOB)
    await store.delete_thread("thr_1", BOB)
    assert (await store.load_item("thr_1", "msg_1", ALICE)).id == "msg_1"
    assert (await store.load_thread("thr_1", ALICE)).id == "thr_1"


async def test_foreign_attachment_is_not_found_and_kept(store: BackendStore) -> None:
    await store.save_attachment(file_attachment("atc_1"), ALICE)
    with pytest.raises(StoreNotFoundError):
        await store.load_attachment("atc_1", BOB)
    with pytest.raises(StoreNotFoundError) as caught:
        await store.save_attachment(file_attachment("atc_1"), BOB)
    assert caught.value.message == "attachment 'atc_1' not found"
    await store.delete_attachment("atc_1", BOB)
    assert await store.load_attachment("atc_1", ALICE) == file_attachment("atc_1")


async def test_context_without_user_id_is_refused(store: BackendStore) -> None:
    with pytest.raises(TypeError, match="context object with a non-empty string `user_id`"):
        await store.load_threads(10, None, "asc", {})


# -- items -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "index", range(len(every_item_type())), ids=lambda i: every_item_type()[i].type + str(i)
)
async def test_every_item_type_round_trips_exactly(store: BackendStore, index: int) -> None:
    item = every_item_type()[index]
    await store.save_thread(thread(), ALICE)
    await store.add_thread_item("thr_1", item, ALICE)
    loaded = await store.load_item("thr_1", item.id, ALICE)
    assert type(loaded) is type(item)
    assert loaded == item
    assert loaded.model_dump() == item.model_dump()


async def test_all_item_types_come_back_in_order(store: BackendStore) -> None:
    items = every_item_type()
    await store.save_thread(thread(), ALICE)
    for item in random.Random(7).sample(items, len(items)):
        await store.add_thread_item("thr_1", item, ALICE)
    page = await store.load_thread_items("thr_1", None, 50, "asc", ALICE)
    assert page.data == items
    assert page.has_more is False and page.after is None


async def test_attachment_metadata_inside_messages_is_kept(store: BackendStore) -> None:
    user_message = every_item_type()[0]
    await store.save_thread(thread(), ALICE)
    await store.add_thread_item("thr_1", user_message, ALICE)
    loaded = await store.load_item("thr_1", user_message.id, ALICE)
    assert [a.metadata for a in loaded.attachments] == [  # type: ignore[union-attr]
        {"path": "alice/atc_f", "size": 12},
        {"width": 640},
    ]


async def test_items_with_equal_created_at_are_ordered_by_id_and_none_are_lost(
    store: BackendStore,
) -> None:
    await store.save_thread(thread(), ALICE)
    ids = [f"msg_{n:03d}" for n in range(23)]
    for item_id in random.Random(1).sample(ids, len(ids)):
        await store.add_thread_item("thr_1", message(item_id, created_at=T0), ALICE)
    for limit in (1, 4, 5, 23, 50):
        assert await walk_items(store, "thr_1", limit, "asc") == ids
        assert await walk_items(store, "thr_1", limit, "desc") == ids[::-1]


async def test_items_are_ordered_by_created_at_before_id(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    await store.add_thread_item(
        "thr_1", message("msg_a", created_at=T0 + timedelta(seconds=2)), ALICE
    )
    await store.add_thread_item(
        "thr_1", message("msg_b", created_at=T0 + timedelta(seconds=1)), ALICE
    )
    await store.add_thread_item("thr_1", message("msg_c", created_at=T0), ALICE)
    assert await walk_items(store, "thr_1", 2, "asc") == ["msg_c", "msg_b", "msg_a"]
    assert await walk_items(store, "thr_1", 2, "desc") == ["msg_a", "msg_b", "msg_c"]


async def test_has_more_is_exact_when_the_last_page_is_full(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    for n in range(10):
        await store.add_thread_item(
            "thr_1", message(f"msg_{n}", created_at=T0 + timedelta(seconds=n)), ALICE
        )
    first = await store.load_thread_items("thr_1", None, 5, "asc", ALICE)
    assert (first.has_more, first.after) == (True, "msg_4")
    second = await store.load_thread_items("thr_1", "msg_4", 5, "asc", ALICE)
    assert [i.id for i in second.data] == [f"msg_{n}" for n in range(5, 10)]
    assert (second.has_more, second.after) == (False, None)
    desc = await store.load_thread_items("thr_1", "msg_5", 5, "desc", ALICE)
    assert [i.id for i in desc.data] == ["msg_4", "msg_3", "msg_2", "msg_1", "msg_0"]
    assert (desc.has_more, desc.after) == (False, None)


async def test_after_the_last_row_is_an_empty_final_page(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    await store.add_thread_item("thr_1", message("msg_only"), ALICE)
    page = await store.load_thread_items("thr_1", "msg_only", 5, "asc", ALICE)
    assert (page.data, page.has_more, page.after) == ([], False, None)


async def test_unknown_item_cursor_is_an_error_not_a_restart(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    await store.add_thread_item("thr_1", message("msg_1"), ALICE)
    with pytest.raises(InvalidPageError) as caught:
        await store.load_thread_items("thr_1", "msg_gone", 5, "asc", ALICE)
    assert (caught.value.status, caught.value.code) == (400, "invalid_page")
    assert caught.value.message == "after: no item 'msg_gone' in thread 'thr_1'"


async def test_cursor_from_another_thread_is_an_error(store: BackendStore) -> None:
    await store.save_thread(thread("thr_1"), ALICE)
    await store.save_thread(thread("thr_2"), ALICE)
    await store.add_thread_item("thr_2", message("msg_elsewhere", "thr_2"), ALICE)
    with pytest.raises(InvalidPageError, match="no item 'msg_elsewhere' in thread 'thr_1'"):
        await store.load_thread_items("thr_1", "msg_elsewhere", 5, "desc", ALICE)


@pytest.mark.parametrize(
    ("limit", "order", "message_text"),
    [
        (0, "asc", "limit must be a whole number of at least 1 (got 0)"),
        (-3, "desc", "limit must be a whole number of at least 1 (got -3)"),
        (10_001, "asc", "limit must be at most 10000 (got 10001)"),
        (5, "newest", "order must be 'asc' or 'desc' (got 'newest')"),
    ],
)
async def test_bad_limit_or_order_is_an_error(
    store: BackendStore, limit: int, order: str, message_text: str
) -> None:
    await store.save_thread(thread(), ALICE)
    with pytest.raises(InvalidPageError) as caught:
        await store.load_thread_items("thr_1", None, limit, order, ALICE)
    assert caught.value.message == message_text
    with pytest.raises(InvalidPageError):
        await store.load_threads(limit, None, order, ALICE)


async def test_adding_an_existing_item_id_replaces_it(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    await store.add_thread_item("thr_1", message("msg_1", text="first"), ALICE)
    await store.add_thread_item("thr_1", message("msg_1", text="second"), ALICE)
    page = await store.load_thread_items("thr_1", None, 10, "asc", ALICE)
    assert [(i.id, i.content[0].text) for i in page.data] == [("msg_1", "second")]  # type: ignore[union-attr]


async def test_save_item_upserts(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    item = message("msg_1", text="draft")
    await store.save_item("thr_1", item, ALICE)  # inserts
    item.content = [AssistantMessageContent(text="final")]
    await store.save_item("thr_1", item, ALICE)  # updates
    assert await store.load_item("thr_1", "msg_1", ALICE) == item
    assert len((await store.load_thread_items("thr_1", None, 10, "asc", ALICE)).data) == 1


async def test_adding_to_a_missing_thread_is_not_found(store: BackendStore) -> None:
    with pytest.raises(StoreNotFoundError, match="thread 'thr_nope' not found"):
        await store.add_thread_item("thr_nope", message("msg_1", "thr_nope"), ALICE)
    with pytest.raises(StoreNotFoundError):
        await store.save_item("thr_nope", message("msg_1", "thr_nope"), ALICE)


async def test_missing_item_is_not_found(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    with pytest.raises(StoreNotFoundError) as caught:
        await store.load_item("thr_1", "msg_nope", ALICE)
    assert caught.value.message == "item 'msg_nope' not found in thread 'thr_1'"


async def test_item_is_scoped_to_its_thread(store: BackendStore) -> None:
    await store.save_thread(thread("thr_1"), ALICE)
    await store.save_thread(thread("thr_2"), ALICE)
    await store.add_thread_item("thr_1", message("msg_1"), ALICE)
    with pytest.raises(StoreNotFoundError):
        await store.load_item("thr_2", "msg_1", ALICE)


async def test_delete_thread_item_removes_only_that_item(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    for n in range(3):
        await store.add_thread_item(
            "thr_1", message(f"msg_{n}", created_at=T0 + timedelta(seconds=n)), ALICE
        )
    await store.delete_thread_item("thr_1", "msg_1", ALICE)
    assert await walk_items(store, "thr_1", 10, "asc") == ["msg_0", "msg_2"]


async def test_add_thread_items_adds_many_in_order(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    await store.add_thread_item("thr_1", message("msg_005", text="old"), ALICE)
    batch: list[ThreadItem] = [message(f"msg_{n:03d}", text="new") for n in range(10)]
    await store.add_thread_items("thr_1", batch, ALICE)
    page = await store.load_thread_items("thr_1", None, 20, "asc", ALICE)
    assert page.data == batch


# -- deletes ---------------------------------------------------------------------------


async def test_delete_thread_removes_items_feedback_and_bound_attachments(
    store: BackendStore,
) -> None:
    await store.save_thread(thread("thr_1"), ALICE)
    await store.save_thread(thread("thr_2"), ALICE)
    await store.add_thread_item("thr_1", message("msg_1"), ALICE)
    await store.add_thread_item("thr_2", message("msg_1", "thr_2"), ALICE)
    await store.save_feedback("thr_1", ["msg_1"], "positive", ALICE)
    await store.save_attachment(file_attachment("atc_bound", thread_id="thr_1"), ALICE)
    await store.save_attachment(file_attachment("atc_other", thread_id="thr_2"), ALICE)
    await store.save_attachment(file_attachment("atc_loose"), ALICE)

    await store.delete_thread("thr_1", ALICE)

    with pytest.raises(StoreNotFoundError):
        await store.load_thread("thr_1", ALICE)
    with pytest.raises(StoreNotFoundError):
        await store.load_item("thr_1", "msg_1", ALICE)
    with pytest.raises(StoreNotFoundError):
        await store.load_attachment("atc_bound", ALICE)
    assert (await store.load_item("thr_2", "msg_1", ALICE)).id == "msg_1"
    assert (await store.load_attachment("atc_other", ALICE)).id == "atc_other"
    assert (await store.load_attachment("atc_loose", ALICE)).id == "atc_loose"
    # A new thread with the old id starts empty: nothing of the old one comes back.
    await store.save_thread(thread("thr_1"), ALICE)
    assert (await store.load_thread_items("thr_1", None, 10, "asc", ALICE)).data == []
    assert await store.load_feedback("thr_1", ALICE) == []


async def test_deleting_what_is_not_there_is_a_noop(store: BackendStore) -> None:
    await store.delete_thread("thr_nope", ALICE)
    await store.delete_thread_item("thr_nope", "msg_nope", ALICE)
    await store.delete_attachment("atc_nope", ALICE)
    await store.save_thread(thread(), ALICE)
    await store.delete_thread_item("thr_1", "msg_nope", ALICE)
    assert (await store.load_thread("thr_1", ALICE)).id == "thr_1"


# -- datetimes -------------------------------------------------------------------------


async def test_naive_datetimes_are_taken_as_utc_and_come_back_naive(store: BackendStore) -> None:
    naive = datetime(2025, 3, 1, 12, 0, 0, 1)
    await store.save_thread(thread("thr_naive", naive), ALICE)
    loaded = await store.load_thread("thr_naive", ALICE)
    assert loaded.created_at == naive and loaded.created_at.tzinfo is None

    # 12:30 at UTC+2 is 10:30 UTC: before the naive 12:00 (read as UTC), after 10:00 UTC.
    await store.save_thread(
        thread("thr_plus2", datetime(2025, 3, 1, 12, 30, tzinfo=timezone(timedelta(hours=2)))),
        ALICE,
    )
    await store.save_thread(thread("thr_utc10", datetime(2025, 3, 1, 10, 0, tzinfo=UTC)), ALICE)
    page = await store.load_threads(10, None, "asc", ALICE)
    assert [t.id for t in page.data] == ["thr_utc10", "thr_plus2", "thr_naive"]


async def test_aware_datetimes_keep_their_instant(store: BackendStore) -> None:
    aware = datetime(2025, 3, 1, 12, 30, 0, 999999, tzinfo=timezone(timedelta(hours=-5)))
    await store.save_thread(thread(), ALICE)
    await store.add_thread_item("thr_1", message("msg_1", created_at=aware), ALICE)
    loaded = await store.load_item("thr_1", "msg_1", ALICE)
    assert loaded.created_at == aware
    assert loaded.created_at.utcoffset() == timedelta(hours=-5)


async def test_microseconds_decide_order(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    await store.add_thread_item(
        "thr_1", message("msg_a", created_at=T0 + timedelta(microseconds=1)), ALICE
    )
    await store.add_thread_item("thr_1", message("msg_b", created_at=T0), ALICE)
    assert await walk_items(store, "thr_1", 10, "asc") == ["msg_b", "msg_a"]


# -- attachments -----------------------------------------------------------------------


async def test_attachments_round_trip_with_metadata(store: BackendStore) -> None:
    for attachment in (file_attachment(), image_attachment()):
        await store.save_attachment(attachment, ALICE)
        assert await store.load_attachment(attachment.id, ALICE) == attachment


async def test_save_attachment_upserts_and_binds_to_a_thread(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    await store.save_attachment(file_attachment("atc_1"), ALICE)
    bound = file_attachment("atc_1", thread_id="thr_1")
    await store.save_attachment(bound, ALICE)
    assert await store.load_attachment("atc_1", ALICE) == bound
    assert await store.admin_thread_attachments("alice", "thr_1") == [bound]


async def test_binding_an_attachment_to_a_missing_thread_is_not_found(store: BackendStore) -> None:
    with pytest.raises(StoreNotFoundError, match="thread 'thr_nope' not found"):
        await store.save_attachment(file_attachment("atc_1", thread_id="thr_nope"), ALICE)
    with pytest.raises(StoreNotFoundError):
        await store.load_attachment("atc_1", ALICE)


async def test_missing_attachment_is_not_found(store: BackendStore) -> None:
    with pytest.raises(StoreNotFoundError) as caught:
        await store.load_attachment("atc_nope", ALICE)
    assert caught.value.message == "attachment 'atc_nope' not found"


async def test_delete_attachment_removes_it(store: BackendStore) -> None:
    await store.save_attachment(file_attachment(), ALICE)
    await store.delete_attachment("atc_1", ALICE)
    with pytest.raises(StoreNotFoundError):
        await store.load_attachment("atc_1", ALICE)


# -- feedback --------------------------------------------------------------------------


async def test_feedback_is_recorded_oldest_first(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    await store.add_thread_item("thr_1", message("msg_1"), ALICE)
    await store.add_thread_item("thr_1", message("msg_2"), ALICE)
    before = datetime.now(UTC)
    await store.save_feedback("thr_1", ["msg_1", "msg_2"], "positive", ALICE)
    await store.save_feedback("thr_1", ["msg_2"], "negative", ALICE)
    recorded = await store.load_feedback("thr_1", ALICE)
    assert [(f.thread_id, f.item_ids, f.kind, f.user_id) for f in recorded] == [
        ("thr_1", ["msg_1", "msg_2"], "positive", "alice"),
        ("thr_1", ["msg_2"], "negative", "alice"),
    ]
    assert all(f.created_at >= before - timedelta(seconds=1) for f in recorded)
    assert all(f.created_at.tzinfo is not None for f in recorded)


async def test_feedback_on_a_missing_item_is_not_found(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    await store.add_thread_item("thr_1", message("msg_1"), ALICE)
    with pytest.raises(StoreNotFoundError) as caught:
        await store.save_feedback("thr_1", ["msg_1", "msg_nope"], "positive", ALICE)
    assert caught.value.message == "item 'msg_nope' not found in thread 'thr_1'"
    assert await store.load_feedback("thr_1", ALICE) == []


async def test_feedback_of_an_unknown_kind_is_a_bad_request(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    with pytest.raises(BackendError) as caught:
        await store.save_feedback("thr_1", [], "meh", ALICE)  # type: ignore[arg-type]
    assert (caught.value.status, caught.value.message) == (
        400,
        "feedback kind must be 'positive' or 'negative' (got 'meh')",
    )


# -- admin -----------------------------------------------------------------------------


async def test_admin_lists_threads_of_every_user_newest_first(store: BackendStore) -> None:
    await store.save_thread(thread("thr_a1", T0), ALICE)
    await store.save_thread(thread("thr_b1", T0 + timedelta(hours=1)), BOB)
    await store.save_thread(thread("thr_a2", T0 + timedelta(hours=2)), ALICE)
    everyone = await store.admin_list_threads(None)
    assert [(t.user_id, t.thread.id) for t in everyone] == [
        ("alice", "thr_a2"),
        ("bob", "thr_b1"),
        ("alice", "thr_a1"),
    ]
    assert [t.thread.id for t in await store.admin_list_threads("alice", limit=1)] == ["thr_a2"]
    older = await store.admin_list_threads(
        None, created_before=(T0 + timedelta(minutes=30)).replace(tzinfo=UTC)
    )
    assert [t.thread.id for t in older] == ["thr_a1"]
    assert everyone[1].thread == thread("thr_b1", T0 + timedelta(hours=1))


async def test_admin_finds_stale_unbound_attachments(store: BackendStore) -> None:
    await store.save_thread(thread(), ALICE)
    await store.save_attachment(file_attachment("atc_loose"), ALICE)
    await store.save_attachment(image_attachment("atc_bound", thread_id="thr_1"), ALICE)
    await store.save_attachment(file_attachment("atc_bobs"), BOB)
    assert await store.admin_stale_attachments(datetime.now(UTC) - timedelta(hours=1)) == []
    stale = await store.admin_stale_attachments(datetime.now(UTC) + timedelta(seconds=1))
    assert sorted((s.user_id, s.attachment.id) for s in stale) == [
        ("alice", "atc_loose"),
        ("bob", "atc_bobs"),
    ]
    assert all(s.created_at.tzinfo is not None for s in stale)
    assert [a.id for a in await store.admin_thread_attachments("alice", "thr_1")] == ["atc_bound"]
    assert await store.admin_thread_attachments("bob", "thr_1") == []


# -- ids -------------------------------------------------------------------------------


async def test_generated_ids_keep_sdk_prefixes_and_carry_128_random_bits(
    store: BackendStore,
) -> None:
    meta = thread()
    ids = {
        "thr": store.generate_thread_id(ALICE),
        "msg": store.generate_item_id("message", meta, ALICE),
        "tc": store.generate_item_id("tool_call", meta, ALICE),
        "tsk": store.generate_item_id("task", meta, ALICE),
        "wf": store.generate_item_id("workflow", meta, ALICE),
        "shcx": store.generate_item_id("sdk_hidden_context", meta, ALICE),
        "atc": store.generate_attachment_id("text/plain", ALICE),
    }
    for prefix, value in ids.items():
        head, _, random_part = value.partition("_")
        assert head == prefix
        assert len(random_part) == 32 and int(random_part, 16) >= 0
    assert len({store.generate_thread_id(ALICE) for _ in range(10_000)}) == 10_000
