"""``load_threads_json``: the ``threads.list`` answer written from the stored JSON.

It must be byte for byte what the app answers through the models (``server.encoding``,
itself checked against the SDK's ``ChatKitServer``), on every store, for every shape a
thread can take: no title, a locked or closed status with and without a reason, image
domains, metadata (which the answer leaves out), and strings that look like the JSON
around them.
"""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from chatkit.types import (
    ActiveStatus,
    AssistantMessageContent,
    AssistantMessageItem,
    ClosedStatus,
    HiddenContextItem,
    LockedStatus,
    Page,
    Thread,
    ThreadMetadata,
)

from chatkit_backend.server.encoding import thread_page_json, thread_response, to_json
from chatkit_backend.stores import BackendStore, InvalidPageError, MemoryStore, codec
from tests.stores.conftest import ALICE, BOB
from tests.stores.samples import T0

TRICKY = 'a "quote", a \\ backslash, ,"metadata":{}, ,"reason":null}, é, 😀, \n\t\u2028'


def shapes() -> list[ThreadMetadata]:
    statuses: list[ActiveStatus | LockedStatus | ClosedStatus] = [
        ActiveStatus(),
        LockedStatus(),
        LockedStatus(reason="archived"),
        ClosedStatus(),
        ClosedStatus(reason=TRICKY),
    ]
    made: list[ThreadMetadata] = []
    for n, status in enumerate(statuses):
        for title in (None, "", "plain", TRICKY):
            for domains in (None, [], ["cdn.example.com", TRICKY]):
                made.append(
                    ThreadMetadata(
                        id=f"thr_{len(made):03d}",
                        title=title,
                        created_at=T0 + timedelta(seconds=n),
                        status=status,
                        allowed_image_domains=domains,
                        metadata={"k": None, "title": None, "nested": {"status": TRICKY}}
                        if n % 2
                        else {},
                    )
                )
    made.append(
        ThreadMetadata(
            id="thr_aware",
            created_at=datetime(2025, 1, 1, 12, 0, 0, 123456, timezone(timedelta(hours=5))),
        )
    )
    made.append(ThreadMetadata(id="thr_utc", created_at=datetime(2025, 1, 1, tzinfo=UTC)))
    return made


def expected_row(thread: ThreadMetadata) -> str:
    page = Page(data=[thread], has_more=False, after=None)
    body = thread_page_json(page).decode()
    return body[len('{"data":[') : -len('],"has_more":false}')]


@pytest.mark.parametrize("thread", shapes(), ids=lambda t: t.id)
def test_a_stored_thread_becomes_the_row_the_app_answers(thread: ThreadMetadata) -> None:
    row = expected_row(thread)
    assert codec.thread_list_row(codec.dump_thread(thread)) == row
    assert codec.thread_list_row_of(thread) == row
    full = to_json(Page(data=[thread_response(thread)], has_more=False)).decode()
    assert full == '{"data":[' + row + '],"has_more":false}'


def test_a_thread_with_items_shows_its_visible_items() -> None:
    visible = AssistantMessageItem(
        id="msg_1", thread_id="thr_1", created_at=T0, content=[AssistantMessageContent(text="hi")]
    )
    hidden = HiddenContextItem(id="hc_1", thread_id="thr_1", created_at=T0, content="secret")
    thread = Thread(id="thr_1", created_at=T0, items=Page(data=[visible, hidden], has_more=True))
    expected = to_json(thread_response(thread)).decode()
    assert codec.thread_list_row_of(thread) == expected
    assert "secret" not in expected


async def test_json_pages_equal_the_pages_through_the_models(store: BackendStore) -> None:
    threads = shapes()
    for thread in threads:
        await store.save_thread(thread, ALICE)
    await store.save_thread(ThreadMetadata(id="thr_bob", created_at=T0), BOB)
    for order in ("asc", "desc"):
        for limit in (1, 7, 20, 100):
            after = None
            while True:
                page = await store.load_threads(limit, after, order, ALICE)
                body = await store.load_threads_json(limit, after, order, ALICE)
                assert body == thread_page_json(page)
                if not page.has_more:
                    break
                after = page.after
    with pytest.raises(InvalidPageError, match="after: no thread 'thr_bob' to continue from"):
        await store.load_threads_json(10, "thr_bob", "asc", ALICE)
    with pytest.raises(InvalidPageError):
        await store.load_threads_json(0, None, "asc", ALICE)
    assert await store.load_threads_json(10, None, "asc", BOB) == thread_page_json(
        await store.load_threads(10, None, "asc", BOB)
    )


async def test_the_default_implementation_goes_through_load_threads() -> None:
    class Plain(MemoryStore):
        load_threads_json = BackendStore.load_threads_json  # the base class's version

    store = Plain()
    for thread in shapes()[:12]:
        await store.save_thread(thread, ALICE)
    page = await store.load_threads(5, None, "desc", ALICE)
    assert await store.load_threads_json(5, None, "desc", ALICE) == thread_page_json(page)
