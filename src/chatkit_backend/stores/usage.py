"""What the stores keep about spending: one ``UsageRecord`` per reply, read back as totals.

``BackendStore.save_usage`` writes a record; ``admin_usage`` adds records up by day, user,
tenant and model (any of them, or none: one grand total), for the ``usage`` command and
for reports; ``usage_tokens`` is one user's (or tenant's) total of a day, for quotas.
Feedback read back across users (``admin_feedback``) is listed here too, as
``FeedbackQuery``.
"""

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Literal, get_args

from chatkit.types import FeedbackKind

UsageKey = Literal["day", "user", "tenant", "model"]
USAGE_KEYS: tuple[UsageKey, ...] = get_args(UsageKey)
OUTCOMES = ("completed", "failed", "cancelled")
"""How a reply ended: it ran to its end, the model (or a tool) failed, or it was stopped."""


def day_of(moment: datetime) -> str:
    """The UTC date of ``moment`` as ``YYYY-MM-DD`` (a naive time is taken as UTC)."""
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).date().isoformat()


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One reply's spending, as the model server counted it.

    ``user_id`` is the store's owner (``"<tenant>/<user>"`` with a tenant, as for
    threads); ``cached_tokens`` are part of ``input_tokens``, ``reasoning_tokens`` part of
    ``output_tokens``. ``item_id`` is the user message answered (None for a turn that
    continues a thread); ``requests`` the model calls the reply made.
    """

    user_id: str
    thread_id: str
    model: str
    outcome: str
    created_at: datetime
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0
    requests: int = 0
    tenant_id: str | None = None
    item_id: str | None = None
    request_id: str | None = None

    @property
    def day(self) -> str:
        return day_of(self.created_at)

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(slots=True)
class UsageTotal:
    """Records added up; the keys not grouped by are None."""

    day: str | None = None
    user_id: str | None = None
    tenant_id: str | None = None
    model: str | None = None
    replies: int = 0
    requests: int = 0
    input_tokens: int = 0
    output_tokens: int = 0
    cached_tokens: int = 0
    reasoning_tokens: int = 0

    @property
    def total_tokens(self) -> int:
        return self.input_tokens + self.output_tokens


@dataclass(frozen=True, slots=True)
class UsageQuery:
    """Which records ``admin_usage`` adds up: ``since``/``until`` are UTC days, inclusive;
    ``by`` the keys to group by, in the order the totals are sorted."""

    by: Sequence[UsageKey] = ("day", "user", "model")
    user_id: str | None = None
    tenant_id: str | None = None
    since: date | None = None
    until: date | None = None

    def __post_init__(self) -> None:
        unknown = [key for key in self.by if key not in USAGE_KEYS]
        if unknown:
            raise ValueError(f"cannot group usage by {unknown[0]!r}: use {', '.join(USAGE_KEYS)}")

    def matches(self, record: UsageRecord) -> bool:
        day = record.day
        return (
            (self.user_id is None or record.user_id == self.user_id)
            and (self.tenant_id is None or record.tenant_id == self.tenant_id)
            and (self.since is None or day >= self.since.isoformat())
            and (self.until is None or day <= self.until.isoformat())
        )


def add_up(records: Iterable[UsageRecord], query: UsageQuery) -> list[UsageTotal]:
    """The totals of the records ``query`` matches, grouped and sorted by ``query.by``
    (what the SQL store computes with ``GROUP BY``)."""
    totals: dict[tuple[str | None, ...], UsageTotal] = {}
    for record in records:
        if not query.matches(record):
            continue
        values = {
            "day": record.day,
            "user": record.user_id,
            "tenant": record.tenant_id,
            "model": record.model,
        }
        key = tuple(values[name] for name in query.by)
        total = totals.get(key)
        if total is None:
            total = totals[key] = UsageTotal(
                day=values["day"] if "day" in query.by else None,
                user_id=values["user"] if "user" in query.by else None,
                tenant_id=values["tenant"] if "tenant" in query.by else None,
                model=values["model"] if "model" in query.by else None,
            )
        total.replies += 1
        total.requests += record.requests
        total.input_tokens += record.input_tokens
        total.output_tokens += record.output_tokens
        total.cached_tokens += record.cached_tokens
        total.reasoning_tokens += record.reasoning_tokens
    return [totals[key] for key in sorted(totals, key=lambda key: [(k or "") for k in key])]


@dataclass(frozen=True, slots=True)
class FeedbackQuery:
    """Which feedback ``admin_feedback`` lists (oldest first): of one owner, of one kind,
    recorded at or after ``since``, at most ``limit`` rows (None: all)."""

    user_id: str | None = None
    kind: FeedbackKind | None = None
    since: datetime | None = None
    limit: int | None = 100

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ValueError(f"limit must be at least 1 (got {self.limit})")
