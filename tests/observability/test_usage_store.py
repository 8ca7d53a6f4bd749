"""The stores keep each reply's usage and add it up; they list feedback across users."""

from datetime import UTC, date, datetime, timedelta

import pytest

from chatkit_backend.context import RequestContext
from chatkit_backend.stores import BackendStore
from chatkit_backend.stores.usage import FeedbackQuery, UsageQuery, UsageRecord
from tests.stores.samples import message, thread

DAY1 = datetime(2026, 3, 1, 23, 59, 59, tzinfo=UTC)
DAY2 = datetime(2026, 3, 2, 0, 0, 1, tzinfo=UTC)


def record(user: str, at: datetime, model: str = "m1", **tokens: int) -> UsageRecord:
    return UsageRecord(
        user_id=user,
        thread_id="thr_1",
        model=model,
        outcome="completed",
        created_at=at,
        input_tokens=tokens.get("input", 100),
        output_tokens=tokens.get("output", 10),
        cached_tokens=tokens.get("cached", 40),
        reasoning_tokens=tokens.get("reasoning", 3),
        requests=tokens.get("requests", 1),
        tenant_id="acme" if user.startswith("acme/") else None,
        item_id="msg_1",
        request_id="req-1",
    )


async def seed(store: BackendStore) -> None:
    await store.save_usage(record("alice", DAY1))
    await store.save_usage(record("alice", DAY1, model="m2", input=7, output=1, cached=0))
    await store.save_usage(record("alice", DAY2, input=50, output=5, cached=0, reasoning=0))
    await store.save_usage(record("acme/bob", DAY2, requests=2))


async def test_usage_adds_up_per_day_user_and_model(store: BackendStore) -> None:
    await seed(store)
    totals = await store.admin_usage(UsageQuery(by=("day", "user", "model")))
    rows = [
        (t.day, t.user_id, t.model, t.replies, t.input_tokens, t.cached_tokens, t.output_tokens)
        for t in totals
    ]
    assert rows == [
        ("2026-03-01", "alice", "m1", 1, 100, 40, 10),
        ("2026-03-01", "alice", "m2", 1, 7, 0, 1),
        ("2026-03-02", "acme/bob", "m1", 1, 100, 40, 10),
        ("2026-03-02", "alice", "m1", 1, 50, 0, 5),
    ]


async def test_usage_by_day_only_and_as_one_total(store: BackendStore) -> None:
    await seed(store)
    by_day = await store.admin_usage(UsageQuery(by=("day",)))
    assert [(t.day, t.user_id, t.replies, t.total_tokens, t.requests) for t in by_day] == [
        ("2026-03-01", None, 2, 118, 2),
        ("2026-03-02", None, 2, 165, 3),
    ]
    (total,) = await store.admin_usage(UsageQuery(by=()))
    assert (total.replies, total.input_tokens, total.output_tokens, total.reasoning_tokens) == (
        4,
        257,
        26,
        9,
    )


async def test_usage_filters_by_user_tenant_and_days(store: BackendStore) -> None:
    await seed(store)
    alice_day2 = await store.admin_usage(
        UsageQuery(by=("user",), user_id="alice", since=date(2026, 3, 2))
    )
    assert [(t.user_id, t.total_tokens) for t in alice_day2] == [("alice", 55)]
    until_day1 = await store.admin_usage(UsageQuery(by=("user",), until=date(2026, 3, 1)))
    assert [(t.user_id, t.total_tokens) for t in until_day1] == [("alice", 118)]
    tenant = await store.admin_usage(UsageQuery(by=("tenant", "user"), tenant_id="acme"))
    assert [(t.tenant_id, t.user_id, t.total_tokens) for t in tenant] == [("acme", "acme/bob", 110)]
    assert await store.admin_usage(UsageQuery(user_id="nobody")) == []


async def test_usage_tokens_of_a_day_for_quotas(store: BackendStore) -> None:
    await seed(store)
    assert await store.usage_tokens("2026-03-01", user_id="alice") == 118
    assert await store.usage_tokens("2026-03-02", user_id="alice") == 55
    assert await store.usage_tokens("2026-03-02", tenant_id="acme") == 110
    assert await store.usage_tokens("2026-03-03", user_id="alice") == 0
    with pytest.raises(ValueError, match="one of user_id or tenant_id"):
        await store.usage_tokens("2026-03-01")


async def test_usage_outlives_its_thread(store: BackendStore) -> None:
    alice = RequestContext(user_id="alice")
    kept = thread("thr_kept")
    await store.save_thread(kept, alice)
    await store.save_usage(record("alice", DAY1))
    await store.delete_thread(kept.id, alice)
    assert [t.total_tokens for t in await store.admin_usage(UsageQuery(by=()))] == [110]


def test_grouping_by_an_unknown_key_is_refused() -> None:
    with pytest.raises(ValueError, match="cannot group usage by 'week'"):
        UsageQuery(by=("week",))  # type: ignore[arg-type]


async def test_feedback_is_listed_across_users_oldest_first(store: BackendStore) -> None:
    alice, bob = RequestContext(user_id="alice"), RequestContext(user_id="bob")
    for context, thread_id in ((alice, "thr_a"), (bob, "thr_b")):
        await store.save_thread(thread(thread_id), context)
        await store.add_thread_item(thread_id, message("msg_r", thread_id), context)
    start = datetime.now(UTC) - timedelta(seconds=1)
    await store.save_feedback("thr_a", ["msg_r"], "positive", alice)
    await store.save_feedback("thr_b", ["msg_r"], "negative", bob)
    await store.save_feedback("thr_a", ["msg_r"], "negative", alice)

    every = await store.admin_feedback(FeedbackQuery())
    assert [(f.user_id, f.thread_id, f.kind) for f in every] == [
        ("alice", "thr_a", "positive"),
        ("bob", "thr_b", "negative"),
        ("alice", "thr_a", "negative"),
    ]
    negative = await store.admin_feedback(FeedbackQuery(kind="negative"))
    assert [(f.user_id, f.kind) for f in negative] == [("bob", "negative"), ("alice", "negative")]
    assert [f.kind for f in await store.admin_feedback(FeedbackQuery(user_id="alice"))] == [
        "positive",
        "negative",
    ]
    assert len(await store.admin_feedback(FeedbackQuery(limit=2))) == 2
    assert len(await store.admin_feedback(FeedbackQuery(since=start))) == 3
    later = datetime.now(UTC) + timedelta(minutes=1)
    assert await store.admin_feedback(FeedbackQuery(since=later)) == []
