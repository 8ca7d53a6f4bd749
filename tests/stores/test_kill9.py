"""Durability: every write acknowledged to a client survives ``kill -9`` of the server.

50 concurrent writers stream replies from a ``chatkit-backend serve`` process (the
offline model). A thread is acknowledged by its ``thread.created`` event and an item by
its ``thread.item.done`` event: the server sends each only after the store's write
returned. Mid-load the server gets SIGKILL; a new one starts on the same database, and
every acknowledged thread and item must be there.
"""

import asyncio
import signal
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from chatkit_backend.stores import migrations
from tests.support.bodies import create_body, user_input
from tests.support.live import run_serve, sse_event
from tests.support.wait import apoll

WRITERS = 50
ACKNOWLEDGED_BEFORE_THE_KILL = 200  # items; the kill comes while many more are in flight


async def _writer(http: httpx.AsyncClient, acked: dict[str, set[str]]) -> None:
    """Start a thread, then keep adding messages to it, noting what the server acknowledged."""
    thread_id: str | None = None
    while True:
        if thread_id is None:
            body = create_body("hello")
        else:
            body = {
                "type": "threads.add_user_message",
                "params": {"thread_id": thread_id, "input": user_input("and again")},
            }
        try:
            async with http.stream("POST", "/chatkit", json=body) as response:
                if response.status_code == 409:  # the last reply still holds the thread
                    await response.aread()
                    continue
                assert response.status_code == 200, await response.aread()
                async for line in response.aiter_lines():
                    event = sse_event(line)
                    if event is None:
                        continue
                    if event["type"] == "thread.created":
                        thread_id = event["thread"]["id"]
                        acked[thread_id] = set()
                    elif event["type"] == "thread.item.done" and thread_id is not None:
                        acked[thread_id].add(event["item"]["id"])
        except (httpx.TransportError, httpx.RemoteProtocolError):
            return  # the server was killed


async def _acknowledged_then_killed(base_url: str, kill: Callable[[], None]) -> dict[str, set[str]]:
    acked: dict[str, set[str]] = {}
    limits = httpx.Limits(max_connections=WRITERS, max_keepalive_connections=0)
    async with httpx.AsyncClient(base_url=base_url, timeout=30, limits=limits) as http:
        writers = [asyncio.create_task(_writer(http, acked)) for _ in range(WRITERS)]

        async def enough() -> bool:
            return sum(len(items) for items in acked.values()) >= ACKNOWLEDGED_BEFORE_THE_KILL

        try:
            await apoll(enough, f"{ACKNOWLEDGED_BEFORE_THE_KILL} items acknowledged", within=60)
            kill()  # SIGKILL while most writers are mid-stream
            await asyncio.wait_for(asyncio.gather(*writers), 30)
        finally:
            for task in writers:
                task.cancel()
    return {thread_id: set(items) for thread_id, items in acked.items()}


async def _missing(base_url: str, acked: dict[str, set[str]]) -> list[str]:
    """Acknowledged threads and items the restarted server does not have."""
    missing = []
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as http:
        for thread_id, items in acked.items():
            response = await http.post(
                "/chatkit",
                json={"type": "items.list", "params": {"thread_id": thread_id, "limit": 1000}},
            )
            if response.status_code != 200:
                missing.append(f"thread {thread_id}: {response.status_code}")
                continue
            found = {item["id"] for item in response.json()["data"]}
            missing += [f"item {item} of {thread_id}" for item in sorted(items - found)]
    return missing


def _kill_mid_load_and_check(env: dict[str, str], tmp_path: Path) -> None:
    with run_serve(env, cwd=tmp_path, log=tmp_path / "first.log", timeout=60) as (
        base_url,
        process,
    ):
        acked = asyncio.run(
            _acknowledged_then_killed(base_url, lambda: process.send_signal(signal.SIGKILL))
        )
        process.wait(timeout=10)
        assert process.returncode == -signal.SIGKILL
    assert len(acked) >= WRITERS
    assert sum(len(items) for items in acked.values()) >= ACKNOWLEDGED_BEFORE_THE_KILL
    with run_serve(env, cwd=tmp_path, log=tmp_path / "second.log", timeout=60) as (base_url, _):
        assert asyncio.run(_missing(base_url, acked)) == []


def test_acknowledged_writes_survive_kill_9_on_sqlite(tmp_path: Path) -> None:
    env = {"CHATKIT_DATA_DIR": str(tmp_path / "data"), "CHATKIT_OFFLINE_TOKEN_DELAY": "0"}
    _kill_mid_load_and_check(env, tmp_path)


@pytest.mark.postgres
def test_acknowledged_writes_survive_kill_9_on_postgresql(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    migrations.upgrade(fresh_postgres_url)
    env = {
        "CHATKIT_DATABASE_URL": fresh_postgres_url,
        "CHATKIT_DATA_DIR": str(tmp_path / "data"),
        "CHATKIT_OFFLINE_TOKEN_DELAY": "0",
    }
    _kill_mid_load_and_check(env, tmp_path)
