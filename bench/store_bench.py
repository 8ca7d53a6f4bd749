"""Store benchmark: page and write costs on threads of 1k, 10k and 100k items.

For each store (memory, SQLite file, PostgreSQL when reachable) and thread size, prints
the median microseconds of ``add_thread_item``, the first page ascending and descending,
the page after a middle cursor, and ``load_item``. Beside them, measured in the same run
on the same items, the guide's ``SimpleInMemoryStore`` paging (copy a thread's values into
a list, scan for the cursor). Then the checks: every page operation's 100k/1k ratio is at
most 1.5, and a SQLite page on the 100k thread beats the guide's middle page there.

    .venv/bin/python bench/store_bench.py [--sizes 1000,10000,100000] [--reps 200]

PostgreSQL: a scratch database is created on ``CHATKIT_BENCH_POSTGRES_URL`` (default
``postgresql://postgres@127.0.0.1:5432/test``) and dropped afterwards.
"""

import argparse
import asyncio
import os
import random
import secrets
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

warnings.simplefilter("ignore", DeprecationWarning)

from chatkit.types import (  # noqa: E402
    AssistantMessageContent,
    AssistantMessageItem,
    Page,
    ThreadItem,
    ThreadMetadata,
)

from chatkit_backend.context import RequestContext  # noqa: E402
from chatkit_backend.stores import BackendStore, MemoryStore, generate_id, open_store  # noqa: E402

PAGE = 20  # the SDK's DEFAULT_PAGE_SIZE
BATCH = 5_000
CONTEXT = RequestContext(user_id="bench")
ADMIN_URL = os.environ.get(
    "CHATKIT_BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/test"
)
OPERATIONS = ("add", "page_asc", "page_desc", "page_middle", "load_item")
PAGE_OPERATIONS = ("page_asc", "page_desc", "page_middle")


class GuideStore:
    """The paging of the guide's ``SimpleInMemoryStore``, copied as it is, for comparison."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, ThreadItem]] = {}

    def add(self, thread_id: str, item: ThreadItem) -> None:
        self._items.setdefault(thread_id, {})[item.id] = item

    async def load_thread_items(
        self, thread_id: str, after: str | None, limit: int
    ) -> Page[ThreadItem]:
        if thread_id not in self._items:
            return Page(data=[], has_more=False)
        items = list(self._items[thread_id].values())
        start_idx = 0
        if after:
            start_idx = next((i for i, item in enumerate(items) if item.id == after), 0) + 1
        page_items = items[start_idx : start_idx + limit]
        return Page(data=page_items, has_more=start_idx + limit < len(items))


@dataclass
class Row:
    store: str
    size: int
    medians: dict[str, float] = field(default_factory=dict)


def make_items(thread_id: str, count: int, start: datetime) -> list[ThreadItem]:
    return [
        AssistantMessageItem(
            id=generate_id("message"),
            thread_id=thread_id,
            created_at=start + timedelta(milliseconds=n),
            content=[AssistantMessageContent(text=f"message {n} " + "lorem ipsum " * 8)],
        )
        for n in range(count)
    ]


Key = tuple[str, int]  # (store, thread size)


async def interleaved_medians(
    operations: dict[Key, Callable[[], Awaitable[Any]]], reps: int, warmup: int = 5
) -> dict[Key, float]:
    """Median microseconds of each operation, all of them timed in turn (shuffled), call by call.

    Taking every store and size in turn spreads the machine's noise (other processes,
    frequency changes) evenly over them, so the ratios between them are fair.
    """
    for operation in operations.values():
        for _ in range(warmup):
            await operation()
    timings: dict[Key, list[int]] = {key: [] for key in operations}
    order = list(operations)
    shuffle = random.Random(0).shuffle
    for _ in range(reps):
        shuffle(order)  # no key always runs first (after a pause) or right after a slow one
        for key in order:
            operation = operations[key]
            started = time.perf_counter_ns()
            await operation()
            timings[key].append(time.perf_counter_ns() - started)
    return {key: statistics.median(values) / 1000 for key, values in timings.items()}


async def fill(store: BackendStore, size: int, items: list[ThreadItem]) -> str:
    thread_id = f"thr_bench_{size}"
    await store.save_thread(ThreadMetadata(id=thread_id, created_at=datetime(2025, 1, 1)), CONTEXT)
    for offset in range(0, size, BATCH):
        await store.add_thread_items(thread_id, items[offset : offset + BATCH], CONTEXT)
    return thread_id


class Workload:
    """The calls to time, for each store and thread size."""

    def __init__(
        self, stores: dict[str, BackendStore], items_by_size: dict[int, list[ThreadItem]]
    ) -> None:
        self.stores = stores
        self.items_by_size = items_by_size
        self.middles = {size: items[size // 2].id for size, items in items_by_size.items()}
        self.picks = {
            size: random.Random(size).choices(items, k=64) for size, items in items_by_size.items()
        }
        self.guide = GuideStore()
        for size, items in items_by_size.items():
            for item in items:
                self.guide.add(f"thr_bench_{size}", item)
        self._counter = iter(range(10**9))

    def keys(self, with_guide: bool) -> list[Key]:
        names = [*self.stores, *(["guide (baseline)"] if with_guide else [])]
        return [(name, size) for name in names for size in self.items_by_size]

    def page(self, key: Key, middle: bool, order: str) -> Callable[[], Awaitable[Any]]:
        name, size = key
        thread_id, after = f"thr_bench_{size}", self.middles[size] if middle else None
        if name == "guide (baseline)":
            return lambda: self.guide.load_thread_items(thread_id, after, PAGE)
        store = self.stores[name]
        return lambda: store.load_thread_items(thread_id, after, PAGE, order, CONTEXT)

    def load_item(self, key: Key) -> Callable[[], Awaitable[Any]]:
        name, size = key
        store, picks = self.stores[name], self.picks[size]
        return lambda: store.load_item(
            f"thr_bench_{size}", picks[next(self._counter) % 64].id, CONTEXT
        )

    def add(self, key: Key) -> Callable[[], Awaitable[None]]:
        name, size = key
        store, thread_id = self.stores[name], f"thr_bench_{size}"

        async def run() -> None:
            item = AssistantMessageItem(
                id=generate_id("message"),
                thread_id=thread_id,
                created_at=datetime(2026, 1, 1) + timedelta(milliseconds=next(self._counter)),
                content=[AssistantMessageContent(text="new message " + "lorem ipsum " * 8)],
            )
            await store.add_thread_item(thread_id, item, CONTEXT)

        return run


async def measure(workload: Workload, reps: int) -> list[Row]:
    medians: dict[str, dict[Key, float]] = {}
    phases: dict[str, tuple[bool, Callable[[Key], Callable[[], Awaitable[Any]]]]] = {
        "page_asc": (True, lambda key: workload.page(key, False, "asc")),
        "page_desc": (False, lambda key: workload.page(key, False, "desc")),
        "page_middle": (True, lambda key: workload.page(key, True, "asc")),
        "load_item": (False, workload.load_item),
        "add": (False, workload.add),
    }
    for operation, (with_guide, make) in phases.items():
        medians[operation] = await interleaved_medians(
            {key: make(key) for key in workload.keys(with_guide)}, reps
        )
        print(f"  timed {operation}", file=sys.stderr)
    return [
        Row(
            name,
            size,
            {op: values[(name, size)] for op, values in medians.items() if (name, size) in values},
        )
        for name, size in workload.keys(with_guide=True)
    ]


async def postgres_scratch() -> tuple[str | None, str]:
    """A scratch database URL (or None and the reason it is unavailable)."""
    import asyncpg

    name = f"chatkit_bench_{secrets.token_hex(4)}"
    try:
        connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        return None, f"{type(exc).__name__}: {exc}"
    try:
        await connection.execute(f'CREATE DATABASE "{name}"')
    finally:
        await connection.close()
    from sqlalchemy.engine import make_url

    return make_url(ADMIN_URL).set(database=name).render_as_string(hide_password=False), name


async def drop_postgres(name: str) -> None:
    import asyncpg

    connection = await asyncpg.connect(ADMIN_URL, timeout=5)
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await connection.close()


def print_table(rows: list[Row]) -> None:
    headers = [
        "store",
        "items",
        "add_thread_item",
        "page asc",
        "page desc",
        "page after middle",
        "load_item",
    ]
    print("| " + " | ".join(headers) + " |")
    print("|" + "|".join("---" for _ in headers) + "|")
    for row in rows:
        cells = [row.store, f"{row.size:,}"] + [
            f"{row.medians[op]:,.0f}" if op in row.medians else "-" for op in OPERATIONS
        ]
        print("| " + " | ".join(cells) + " |")


def check(rows: list[Row], sizes: list[int]) -> bool:
    """Print the target checks; True when all hold."""
    ok = True
    small, large = min(sizes), max(sizes)
    by_key = {(row.store, row.size): row for row in rows}
    print(
        f"\nTargets: page cost ratio {large:,}/{small:,} <= 1.5 for every store and page operation"
    )
    for store in dict.fromkeys(row.store for row in rows if row.store != "guide (baseline)"):
        ratios = []
        for op in PAGE_OPERATIONS:
            ratio = by_key[(store, large)].medians[op] / by_key[(store, small)].medians[op]
            ratios.append(f"{op} {ratio:.2f}")
            ok &= ratio <= 1.5
        print(f"  {store:<12} " + ", ".join(ratios))
    guide = by_key[("guide (baseline)", large)].medians
    ratios = ", ".join(
        f"{op} {guide[op] / by_key[('guide (baseline)', small)].medians[op]:.1f}"
        for op in ("page_asc", "page_middle")
    )
    print(f"  {'guide':<12} {ratios} (for comparison)")
    if ("sqlite", large) in by_key:
        sqlite = by_key[("sqlite", large)].medians
        slowest = max(sqlite[op] for op in PAGE_OPERATIONS)
        faster = slowest < guide["page_middle"]
        ok &= faster
        print(
            f"SQLite's slowest page on {large:,} items: {slowest:,.0f} us; the guide's middle page: "
            f"{guide['page_middle']:,.0f} us ({guide['page_middle'] / slowest:.1f}x slower) -> "
            + ("ok" if faster else "NOT MET")
        )
    print("all targets met" if ok else "SOME TARGETS NOT MET")
    return ok


async def run(sizes: list[int], reps: int) -> bool:
    started = time.perf_counter()
    folder = Path(tempfile.mkdtemp(prefix="chatkit-bench-"))
    stores: dict[str, BackendStore] = {
        "memory": MemoryStore(),
        "sqlite": open_store(f"sqlite:///{folder}/bench.db"),
    }
    postgres_url, postgres_name = await postgres_scratch()
    if postgres_url is not None:
        stores["postgresql"] = open_store(postgres_url, auto_upgrade=True)
    else:
        print(
            f"postgresql: skipped, not reachable at {ADMIN_URL} ({postgres_name})", file=sys.stderr
        )
    items_by_size = {
        size: make_items(f"thr_bench_{size}", size, datetime(2025, 1, 1)) for size in sizes
    }
    try:
        for name, store in stores.items():
            await store.open()
            for size, items in items_by_size.items():
                await fill(store, size, items)
            print(f"  filled {name}", file=sys.stderr)
        rows = await measure(Workload(stores, items_by_size), reps)
    finally:
        for store in stores.values():
            await store.close()
        if postgres_url is not None:
            await drop_postgres(postgres_name)
    print(
        f"\nMedian microseconds per call (page = {PAGE} items, {reps} calls each; all stores and "
        f"sizes timed in turn; Python {sys.version.split()[0]}, {os.cpu_count()} CPUs)\n"
    )
    print_table(rows)
    ok = check(rows, sizes)
    print(f"\n(run took {time.perf_counter() - started:.0f} s)")
    return ok


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--sizes", default="1000,10000,100000", help="Thread sizes, comma-separated."
    )
    parser.add_argument("--reps", type=int, default=200, help="Timed calls per operation.")
    args = parser.parse_args()
    sizes = [int(part) for part in args.sizes.split(",")]
    ok = asyncio.run(run(sizes, args.reps))
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
