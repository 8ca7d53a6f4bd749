"""What commands print: data tables into a pipe or a file keep every cell whole (ids, days,
numbers); a problem is one ``error:`` line, with no log record or traceback before it."""

import asyncio
from datetime import UTC, datetime
from pathlib import Path

import pytest
from chatkit.types import ThreadMetadata
from rich.table import Table

from chatkit_backend.cli.output import print_table
from chatkit_backend.context import RequestContext
from chatkit_backend.stores import open_store
from chatkit_backend.stores.usage import UsageRecord
from tests.cli.conftest import invoke
from tests.support.live import free_port, run_cli

THREAD_ID = "thr_b2124bc28e6037790f0d6a72a7488731"
LONG_TITLE = "a title long enough to push the table past eighty columns " * 2


def test_a_table_into_a_pipe_is_printed_whole(capsys: pytest.CaptureFixture[str]) -> None:
    table = Table("thread", "title", box=None, pad_edge=False)
    table.add_row(THREAD_ID, LONG_TITLE)

    print_table(table)

    [header, row] = capsys.readouterr().out.splitlines()
    assert header.split() == ["thread", "title"]
    assert row.rstrip() == f"{THREAD_ID}  {LONG_TITLE.rstrip()}"


def test_threads_list_into_a_pipe_shows_whole_ids(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'chat.db'}"

    async def seed() -> None:
        store = open_store(database)
        try:
            thread = ThreadMetadata(id=THREAD_ID, title=LONG_TITLE, created_at=datetime.now())
            await store.save_thread(thread, RequestContext(user_id="alice"))
        finally:
            await store.close()

    asyncio.run(seed())

    result = invoke("threads", "list", "--database-url", database, env={"COLUMNS": "80"})

    assert result.exit_code == 0, result.stderr
    row = result.stdout.splitlines()[1]
    assert row.split()[:2] == ["alice", THREAD_ID]
    assert LONG_TITLE.strip() in row


def test_usage_into_a_pipe_shows_whole_days_and_numbers(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'chat.db'}"
    spent = UsageRecord(
        user_id="alice@example.com",
        thread_id=THREAD_ID,
        model="openai-compatible-model-with-a-long-name",
        outcome="completed",
        created_at=datetime(2025, 1, 31, 12, tzinfo=UTC),
        input_tokens=1_234_567,
        output_tokens=7_654_321,
        requests=3,
    )

    async def seed() -> None:
        store = open_store(database)
        try:
            await store.save_usage(spent)
        finally:
            await store.close()

    asyncio.run(seed())

    result = invoke("usage", "--database-url", database, env={"COLUMNS": "80"})

    assert result.exit_code == 0, result.stderr
    [header, row] = result.stdout.splitlines()
    assert header.split()[:4] == ["day", "user", "model", "replies"]
    assert row.split() == [
        "2025-01-31",
        "alice@example.com",
        "openai-compatible-model-with-a-long-name",
        "1",
        "3",
        "1,234,567",
        "0",
        "7,654,321",
        "0",
        "8,888,888",
    ]


@pytest.mark.parametrize("command", [["threads", "list"], ["usage"], ["feedback", "list"]])
def test_an_unreachable_database_is_one_error_line(command: list[str]) -> None:
    port = free_port()  # nothing listens there

    done = run_cli([*command, "--database-url", f"postgresql://app:hunter2@127.0.0.1:{port}/chat"])

    assert done.returncode == 1
    assert done.stderr.splitlines() == [
        f"error: cannot reach the database at postgresql://app:***@127.0.0.1:{port}/chat: "
        "ConnectionRefusedError"
    ]
