"""Store benchmark: every hot-path call, against the raw driver running the same SQL.

For each store (memory, a SQLite file, PostgreSQL when reachable) and size N (default
1k, 10k, 100k), a user owns N threads and one of them holds N items. Every hot-path call
of the store is timed: ``load_thread``, ``load_threads`` (and ``load_threads_json``),
``load_thread_items`` (first page ascending, descending, and after a middle cursor),
``load_item``, ``add_thread_item``, ``save_item``, ``save_thread``, ``load_attachment``,
``save_attachment``, ``delete_thread_item``; pages are 20 rows.

Beside each, in the same run and on the same rows, the **raw-driver floor**: the same
SQL text through ``sqlite3`` (synchronously, no thread hand-off) or one asyncpg
connection, decoding and encoding included, so the ratio is what the store adds. It prints
the median microseconds per call, the CPU per call (this process, every thread), the
floor and the ratio, then the targets of issue 12 and whether pages stay flat (N=max over
N=min, at most 1.5). The guide's ``SimpleInMemoryStore`` paging is shown for comparison.

    .venv/bin/python bench/store_bench.py [--sizes 1000,10000,100000] [--reps 200]
        [--stores memory,sqlite,postgresql] [--loop uvloop|asyncio]

It runs on uvloop when installed, as ``serve`` does (uvicorn picks it). PostgreSQL: a
scratch database on ``CHATKIT_BENCH_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``), dropped afterwards. Its writes wait for
the server's ``fsync`` of the WAL (``synchronous_commit=on``): the floor shows that cost.
"""

import argparse
import asyncio
import os
import random
import secrets
import sqlite3
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import count
from pathlib import Path
from typing import Any

warnings.simplefilter("ignore", DeprecationWarning)

import asyncpg  # noqa: E402
from chatkit.types import (  # noqa: E402
    AssistantMessageContent,
    AssistantMessageItem,
    FileAttachment,
    Page,
    ThreadItem,
    ThreadMetadata,
)
from sqlalchemy.engine import make_url  # noqa: E402

from chatkit_backend.context import RequestContext  # noqa: E402
from chatkit_backend.stores import BackendStore, MemoryStore, SQLStore, codec, open_store  # noqa: E402
from chatkit_backend.stores.schema import threads as threads_table  # noqa: E402
from chatkit_backend.stores.statements import SQL, Statements, db_time, statements_for  # noqa: E402

PAGE = 20  # the SDK's DEFAULT_PAGE_SIZE
BATCH = 5_000
ADMIN_URL = os.environ.get(
    "CHATKIT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
TARGETS = {  # issue 12: median µs of a page / a write, CPU µs per call
    "sqlite": {"page": 300, "write": 500, "cpu": 200},
    "postgresql": {"page": 500, "write": 700, "cpu": 200},
}
T0 = datetime(2025, 1, 1)
Call = Callable[[], Awaitable[Any]]


# -- the data ---------------------------------------------------------------------------
def make_item(
    thread_id: str, n: int, start: datetime = T0, item_id: str | None = None
) -> ThreadItem:
    return AssistantMessageItem(
        id=item_id or f"msg_{n:08d}_{secrets.token_hex(4)}",
        thread_id=thread_id,
        created_at=start + timedelta(milliseconds=n),
        content=[AssistantMessageContent(text=f"message {n} " + "lorem ipsum " * 8)],
    )


def make_thread(thread_id: str, n: int) -> ThreadMetadata:
    return ThreadMetadata(
        id=thread_id, title=f"thread {n} about lorem ipsum", created_at=T0 + timedelta(seconds=n)
    )


def make_attachment(attachment_id: str, thread_id: str | None) -> FileAttachment:
    return FileAttachment(
        id=attachment_id, name="notes.txt", mime_type="text/plain", thread_id=thread_id
    )


@dataclass
class Fixture:
    """What one size N holds: a user with N threads, one of them with N items."""

    size: int
    user: RequestContext
    thread_id: str
    items: list[ThreadItem]
    thread_ids: list[str]
    side_thread: str  # items to delete live here, so pages stay as they are
    deletable: list[str] = field(default_factory=list)
    counter: Any = field(default_factory=count)

    @property
    def middle_item(self) -> str:
        return self.items[len(self.items) // 2].id

    @property
    def middle_thread(self) -> str:
        return self.thread_ids[len(self.thread_ids) // 2]

    def pick(self) -> str:
        return self.items[(next(self.counter) * 7919) % len(self.items)].id

    def new_item(self) -> ThreadItem:
        n = next(self.counter)
        return make_item(self.thread_id, n, datetime(2030, 1, 1))

    def updated_item(self) -> ThreadItem:
        item = self.items[-1].model_copy(deep=True)
        item.content = [AssistantMessageContent(text=f"edited {next(self.counter)}")]  # type: ignore[attr-defined]
        return item

    def updated_thread(self) -> ThreadMetadata:
        return make_thread(self.thread_id, 0).model_copy(
            update={"title": f"renamed {next(self.counter)}"}
        )


def fixtures(sizes: list[int], reps: int) -> dict[int, Fixture]:
    made = {}
    for size in sizes:
        user = RequestContext(user_id=f"bench_user_{size}")
        thread_id = f"thr_bench_{size}"
        made[size] = Fixture(
            size=size,
            user=user,
            thread_id=thread_id,
            items=[make_item(thread_id, n) for n in range(size)],
            thread_ids=[thread_id, *(f"thr_{size}_{n:07d}" for n in range(1, size))],
            side_thread=f"thr_side_{size}",
            deletable=[f"msg_del_{size}_{n:06d}" for n in range(2 * (reps + 20))],
        )
    return made


async def fill(store: BackendStore, fixture: Fixture) -> None:
    user = fixture.user
    threads = [make_thread(thread_id, n) for n, thread_id in enumerate(fixture.thread_ids)]
    if isinstance(store, SQLStore):  # many threads at once, through SQLAlchemy
        rows = [
            {
                "id": t.id,
                "user_id": user.user_id,
                "created_at": t.created_at.replace(tzinfo=UTC),
                "data": codec.dump_thread(t),
            }
            for t in threads
        ]
        async with store.engine.begin() as conn:
            for offset in range(0, len(rows), BATCH):
                await conn.execute(threads_table.insert(), rows[offset : offset + BATCH])
    else:
        for thread in threads:
            await store.save_thread(thread, user)
    for offset in range(0, fixture.size, BATCH):
        await store.add_thread_items(
            fixture.thread_id, fixture.items[offset : offset + BATCH], user
        )
    await store.save_thread(make_thread(fixture.side_thread, -1), user)
    await store.add_thread_items(
        fixture.side_thread,
        [make_item(fixture.side_thread, n, item_id=i) for n, i in enumerate(fixture.deletable)],
        user,
    )
    await store.save_attachment(make_attachment(f"atc_bench_{fixture.size}", None), user)


# -- the calls --------------------------------------------------------------------------
@dataclass(frozen=True)
class Operation:
    name: str
    kind: str  # "page", "read" or "write"
    store: Callable[[BackendStore, Fixture], Call]
    floor: Callable[["Raw", Fixture], Call] | None


class Raw:
    """The same SQL on a raw driver connection: ``sqlite3`` (synchronous) or asyncpg."""

    def __init__(self, sql: Statements, run: Callable[[str, tuple[Any, ...]], Awaitable[Any]]):
        self.sql = sql
        self.run = run
        self.time = db_time(sql.dialect)  # type: ignore[arg-type]

    async def rows(self, statement: SQL, **values: Any) -> Any:
        return await self.run(statement.text, statement.args(**values))


def _page_of(rows: Any, parse: Callable[[str], Any], column: int = 0) -> Page[Any]:
    data = [parse(row[column]) for row in rows[:PAGE]]
    return Page.model_construct(data=data, has_more=len(rows) > PAGE, after=None)


def _items_page(order: str, middle: bool) -> Operation:
    def store(s: BackendStore, f: Fixture) -> Call:
        after = f.middle_item if middle else None
        return lambda: s.load_thread_items(f.thread_id, after, PAGE, order, f.user)

    def floor(r: Raw, f: Fixture) -> Call:
        statement = r.sql.items_page[(order, middle)]  # type: ignore[index]
        after = f.middle_item if middle else None

        async def call() -> Any:
            rows = await r.rows(
                statement, thread_id=f.thread_id, user_id=f.user.user_id, after=after,
                limit=PAGE + 1,
            )  # fmt: skip
            return _page_of(rows, codec.load_item)

        return call

    label = "after middle" if middle else order
    return Operation(f"load_thread_items ({label})", "page", store, floor)


def _threads_page(as_json: bool, middle: bool) -> Operation:
    def store(s: BackendStore, f: Fixture) -> Call:
        after = f.middle_thread if middle else None
        load = s.load_threads_json if as_json else s.load_threads
        return lambda: load(PAGE, after, "desc", f.user)

    def floor(r: Raw, f: Fixture) -> Call:
        statement = r.sql.threads_page[("desc", middle)]
        after = f.middle_thread if middle else None

        async def call() -> Any:
            rows = await r.rows(statement, user_id=f.user.user_id, after=after, limit=PAGE + 1)
            if as_json:
                return codec.thread_list_json(
                    [codec.thread_list_row(row[1]) for row in rows[:PAGE]], len(rows) > PAGE, None
                )
            return _page_of(rows, codec.load_thread, 1)

        return call

    name = "load_threads_json" if as_json else "load_threads"
    return Operation(f"{name}{' (after middle)' if middle else ''}", "page", store, floor)


def _load_thread() -> Operation:
    def floor(r: Raw, f: Fixture) -> Call:
        async def call() -> Any:
            rows = await r.rows(r.sql.thread, id=f.thread_id, user_id=f.user.user_id)
            return codec.load_thread(rows[0][0])

        return call

    return Operation(
        "load_thread", "read", lambda s, f: lambda: s.load_thread(f.thread_id, f.user), floor
    )


def _load_item() -> Operation:
    def store(s: BackendStore, f: Fixture) -> Call:
        return lambda: s.load_item(f.thread_id, f.pick(), f.user)

    def floor(r: Raw, f: Fixture) -> Call:
        async def call() -> Any:
            rows = await r.rows(
                r.sql.item, thread_id=f.thread_id, id=f.pick(), user_id=f.user.user_id
            )
            return codec.load_item(rows[0][0])

        return call

    return Operation("load_item", "read", store, floor)


def _save_item(new: bool) -> Operation:
    def store(s: BackendStore, f: Fixture) -> Call:
        if new:
            return lambda: s.add_thread_item(f.thread_id, f.new_item(), f.user)
        return lambda: s.save_item(f.thread_id, f.updated_item(), f.user)

    def floor(r: Raw, f: Fixture) -> Call:
        async def call() -> Any:
            item = f.new_item() if new else f.updated_item()
            rows = await r.rows(
                r.sql.save_item, thread_id=f.thread_id, id=item.id,
                created_at=r.time(item.created_at), type=item.type, data=codec.dump_item(item),
                user_id=f.user.user_id,
            )  # fmt: skip
            assert rows

        return call

    return Operation("add_thread_item" if new else "save_item", "write", store, floor)


def _save_thread() -> Operation:
    def floor(r: Raw, f: Fixture) -> Call:
        async def call() -> Any:
            thread = f.updated_thread()
            rows = await r.rows(
                r.sql.save_thread, id=thread.id, user_id=f.user.user_id,
                created_at=r.time(thread.created_at), data=codec.dump_thread(thread),
            )  # fmt: skip
            assert rows

        return call

    return Operation(
        "save_thread",
        "write",
        lambda s, f: lambda: s.save_thread(f.updated_thread(), f.user),
        floor,
    )


def _load_attachment() -> Operation:
    def store(s: BackendStore, f: Fixture) -> Call:
        return lambda: s.load_attachment(f"atc_bench_{f.size}", f.user)

    def floor(r: Raw, f: Fixture) -> Call:
        async def call() -> Any:
            rows = await r.rows(r.sql.attachment, id=f"atc_bench_{f.size}", user_id=f.user.user_id)
            return codec.load_attachment(rows[0][0])

        return call

    return Operation("load_attachment", "read", store, floor)


def _save_attachment() -> Operation:
    def new(f: Fixture) -> FileAttachment:
        return make_attachment(f"atc_{f.size}_{next(f.counter)}", f.thread_id)

    def store(s: BackendStore, f: Fixture) -> Call:
        return lambda: s.save_attachment(new(f), f.user)

    def floor(r: Raw, f: Fixture) -> Call:
        async def call() -> Any:
            attachment = new(f)
            rows = await r.rows(
                r.sql.save_bound_attachment, id=attachment.id, user_id=f.user.user_id,
                bound_to=attachment.thread_id, created_at=r.time(datetime.now(UTC)),
                data=codec.dump_attachment(attachment),
            )  # fmt: skip
            assert rows

        return call

    return Operation("save_attachment", "write", store, floor)


def _delete_item() -> Operation:
    def store(s: BackendStore, f: Fixture) -> Call:
        ids = f.deletable[: len(f.deletable) // 2]  # the store deletes one half, its floor
        return lambda: s.delete_thread_item(f.side_thread, ids.pop(), f.user)  # the other

    def floor(r: Raw, f: Fixture) -> Call:
        ids = f.deletable[len(f.deletable) // 2 :]

        async def call() -> Any:
            await r.rows(
                r.sql.delete_item, thread_id=f.side_thread, id=ids.pop(), user_id=f.user.user_id
            )

        return call

    return Operation("delete_thread_item", "write", store, floor)


OPERATIONS = [
    _load_thread(),
    _threads_page(False, False),
    _threads_page(True, False),
    _threads_page(False, True),
    _items_page("asc", False),
    _items_page("desc", False),
    _items_page("asc", True),
    _load_item(),
    _load_attachment(),
    _save_thread(),
    _save_item(True),
    _save_item(False),
    _save_attachment(),
    _delete_item(),
]


class GuideStore:
    """The paging of the guide's ``SimpleInMemoryStore``, copied as it is, for comparison."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, ThreadItem]] = {}

    def add(self, thread_id: str, item: ThreadItem) -> None:
        self._items.setdefault(thread_id, {})[item.id] = item

    async def load_thread_items(self, thread_id: str, after: str | None, limit: int) -> Page[Any]:
        items = list(self._items[thread_id].values())
        start = 0
        if after:
            start = next((i for i, item in enumerate(items) if item.id == after), 0) + 1
        return Page(data=items[start : start + limit], has_more=start + limit < len(items))


# -- timing -----------------------------------------------------------------------------
Key = tuple[str, str, int]  # (who: store name or "<store> floor", operation, size)


@dataclass
class Timing:
    median_us: float
    cpu_us: float


async def time_all(calls: dict[Key, Call], reps: int, warmup: int = 5) -> dict[Key, Timing]:
    """Median wall time and mean CPU time of every call, all timed in turn (shuffled), so
    the machine's noise (other processes, frequency changes) spreads evenly over them."""
    for call in calls.values():
        for _ in range(warmup):
            await call()
    wall: dict[Key, list[int]] = {key: [] for key in calls}
    cpu: dict[Key, int] = dict.fromkeys(calls, 0)
    order = list(calls)
    shuffle = random.Random(0).shuffle
    clock, cpu_clock = time.perf_counter_ns, time.process_time_ns
    for _ in range(reps):
        shuffle(order)
        for key in order:
            call = calls[key]
            started, cpu_started = clock(), cpu_clock()
            await call()
            cpu[key] += cpu_clock() - cpu_started
            wall[key].append(clock() - started)
    return {
        key: Timing(statistics.median(wall[key]) / 1000, cpu[key] / reps / 1000) for key in calls
    }


# -- stores and floors ------------------------------------------------------------------
async def postgres_scratch() -> tuple[str | None, str]:
    name = f"chatkit_bench_{secrets.token_hex(4)}"
    try:
        connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False), name


async def drop_postgres(name: str) -> None:
    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


async def raw_for(kind: str, target: str) -> tuple[Raw, Callable[[], Awaitable[None]]]:
    """A raw connection running the store's own SQL text, and how to close it."""
    sql = statements_for(kind)  # type: ignore[arg-type]
    if kind == "sqlite":
        connection = sqlite3.connect(target, isolation_level=None, check_same_thread=False)
        connection.executescript(
            "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; "
            "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;"
        )

        async def run_sqlite(text: str, args: tuple[Any, ...]) -> Any:
            return connection.execute(text, args).fetchall()

        async def close_sqlite() -> None:
            connection.close()

        return Raw(sql, run_sqlite), close_sqlite
    pg = await asyncpg.connect(target)

    async def run_pg(text: str, args: tuple[Any, ...]) -> Any:
        return await pg.fetch(text, *args)

    return Raw(sql, run_pg), pg.close


# -- the report -------------------------------------------------------------------------
def _floor_note(floor: float | None, limit: float, unit: str) -> str:
    if floor is None:
        return ""
    if floor > limit:
        return f" (the raw driver alone takes {floor:,.0f} {unit}: the floor is over the target)"
    return f" (the raw driver takes {floor:,.0f} {unit})"


def report(
    results: dict[Key, Timing], stores: list[str], sizes: list[int], guide: dict[int, float]
) -> bool:
    small, large = min(sizes), max(sizes)
    ok = True
    head = [
        "store", "operation", *(f"µs @ {s:,}" for s in sizes), "CPU µs/call", "raw floor µs",
        "floor CPU µs", "ratio", f"{large:,}/{small:,}",
    ]  # fmt: skip
    print("| " + " | ".join(head) + " |")
    print("|" + "|".join("---" for _ in head) + "|")
    verdicts: list[str] = []
    for store in stores:
        for operation in OPERATIONS:
            mine = [results[(store, operation.name, size)] for size in sizes]
            floor = results.get((f"{store} floor", operation.name, large))
            ratio = mine[-1].median_us / floor.median_us if floor else None
            flat = mine[-1].median_us / mine[0].median_us
            cells = [
                store,
                operation.name,
                *(f"{t.median_us:,.0f}" for t in mine),
                f"{mine[-1].cpu_us:,.0f}",
                f"{floor.median_us:,.0f}" if floor else "-",
                f"{floor.cpu_us:,.0f}" if floor else "-",
                f"{ratio:.2f}x" if ratio else "-",
                f"{flat:.2f}" if operation.kind == "page" else "",
            ]
            print("| " + " | ".join(cells) + " |")
            if operation.kind == "page" and len(sizes) > 1 and flat > 1.5:
                ok = False
                verdicts.append(f"{store} {operation.name}: {flat:.2f} > 1.5 (not flat)")
            target = TARGETS.get(store)
            if target is None:
                continue
            limit = target["write" if operation.kind == "write" else "page"]
            worst = max(t.median_us for t in mine)
            cpu = max(t.cpu_us for t in mine)
            if worst > limit:
                ok = False
                verdicts.append(
                    f"{store} {operation.name}: {worst:,.0f} µs > {limit} µs"
                    + _floor_note(floor.median_us if floor else None, limit, "µs")
                )
            if cpu > target["cpu"]:
                ok = False
                verdicts.append(
                    f"{store} {operation.name}: CPU {cpu:,.0f} µs > {target['cpu']} µs"
                    + _floor_note(floor.cpu_us if floor else None, target["cpu"], "µs of CPU")
                )
    print(
        "\nGuide's SimpleInMemoryStore, page after the middle (for comparison): "
        + ", ".join(f"{guide[s]:,.0f} µs @ {s:,}" for s in sizes)
    )
    print("\nTargets (issue 12): SQLite page ≤ 300 µs, write ≤ 500 µs; PostgreSQL page ≤ 500 µs, "
          "write ≤ 700 µs; CPU ≤ 200 µs per call; pages flat (≤ 1.5)")  # fmt: skip
    for line in verdicts:
        print(f"  MISSED {line}")
    print("all targets met" if ok else f"{len(verdicts)} targets missed")
    return ok


async def run(sizes: list[int], reps: int, wanted: list[str]) -> bool:
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="chatkit-bench-"))
    stores: dict[str, BackendStore] = {}
    raws: dict[str, Raw] = {}
    closers: list[Callable[[], Awaitable[None]]] = []
    if "memory" in wanted:
        stores["memory"] = MemoryStore()
    if "sqlite" in wanted:
        stores["sqlite"] = open_store(f"sqlite:///{folder}/bench.db")
    postgres_name = None
    if "postgresql" in wanted:
        postgres_url, postgres_name = await postgres_scratch()
        if postgres_url is not None:
            stores["postgresql"] = open_store(postgres_url, auto_upgrade=True)
        else:
            print(f"postgresql: skipped, not reachable at {ADMIN_URL} ({postgres_name})",
                  file=sys.stderr)  # fmt: skip
            postgres_name = None
    data = fixtures(sizes, reps)
    guide_store = GuideStore()
    for fixture in data.values():
        for item in fixture.items:
            guide_store.add(fixture.thread_id, item)
    try:
        for name, store in stores.items():
            await store.open()
            for fixture in data.values():
                await fill(store, fixture)
            if name != "memory":
                target = str(folder / "bench.db") if name == "sqlite" else postgres_url  # type: ignore[possibly-undefined]
                raw, close = await raw_for(name, target)
                raws[name], closers = raw, [*closers, close]
            print(f"  filled {name} ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
        calls: dict[Key, Call] = {}
        for name, store in stores.items():
            for operation in OPERATIONS:
                for size, fixture in data.items():
                    calls[(name, operation.name, size)] = operation.store(store, fixture)
                if name in raws and operation.floor is not None:
                    fixture = data[max(sizes)]
                    calls[(f"{name} floor", operation.name, max(sizes))] = operation.floor(
                        raws[name], fixture
                    )
        for size, fixture in data.items():
            middle = fixture.middle_item
            calls[("guide", "page", size)] = lambda f=fixture, m=middle: (
                guide_store.load_thread_items(f.thread_id, m, PAGE)
            )
        results = await time_all(calls, reps)
        print(f"  timed ({time.perf_counter() - started:.0f} s)", file=sys.stderr)
    finally:
        for close in closers:
            await close()
        for store in stores.values():
            await store.close()
        if postgres_name is not None:
            await drop_postgres(postgres_name)
    loop = type(asyncio.get_running_loop()).__module__.split(".")[0]
    print(
        f"\nMedian µs per call and mean CPU µs per call (this process, all threads); a page is "
        f"{PAGE} rows; {reps} calls each, all stores, sizes and floors timed in turn; "
        f"event loop {loop}; Python {sys.version.split()[0]}; {os.cpu_count()} CPUs; "
        f"load average {os.getloadavg()[0]:.1f}\n"
    )
    guide = {size: results[("guide", "page", size)].median_us for size in sizes}
    ok = report(results, list(stores), sizes, guide)
    print(f"\n(run took {time.perf_counter() - started:.0f} s)")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", default="1000,10000,100000", help="N, comma-separated.")
    parser.add_argument("--reps", type=int, default=200, help="Timed calls per operation.")
    parser.add_argument("--stores", default="memory,sqlite,postgresql")
    parser.add_argument("--loop", choices=["uvloop", "asyncio"], default="uvloop")
    args = parser.parse_args()
    sizes = sorted(int(part) for part in args.sizes.split(","))
    coroutine = run(sizes, args.reps, args.stores.split(","))
    if args.loop == "uvloop":
        try:
            import uvloop

            ok = uvloop.run(coroutine)
        except ImportError:
            ok = asyncio.run(coroutine)
    else:
        ok = asyncio.run(coroutine)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
