"""``chatkit-backend serve`` processes and the store: shared PostgreSQL, schema checks on start."""

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit_backend.stores import migrations
from tests.support.live import REPO, free_port, sse_events

START_TIMEOUT = 90.0


@contextmanager
def serve(database_url: str, log: Path) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """Start ``serve`` on a free port (output to ``log``); yields (base URL, process)."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATKIT_", "OPENAI_"))}
    env.update(
        {
            "CHATKIT_DATABASE_URL": database_url,
            "CHATKIT_PORT": str(port),
            "CHATKIT_HOST": "127.0.0.1",
            "CHATKIT_DATA_DIR": str(log.parent / f"data-{port}"),
            "CHATKIT_OFFLINE_TOKEN_DELAY": "0",
        }
    )
    with log.open("wb") as output:
        process = subprocess.Popen(
            [sys.executable, "-m", "chatkit_backend", "serve"],
            env=env,
            cwd=REPO,
            stdout=output,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}", process
    finally:
        process.terminate()
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def wait_healthy(base_url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"serve exited with {process.returncode}:\n{log.read_text()}")
        try:
            if httpx.get(f"{base_url}/healthz", timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{base_url} did not become healthy:\n{log.read_text()}")


def post(base_url: str, body: dict[str, Any]) -> httpx.Response:
    response = httpx.post(f"{base_url}/chatkit", json=body, timeout=30.0)
    assert response.status_code == 200, response.text
    return response


def user_input(text: str) -> dict[str, Any]:
    return {
        "content": [{"type": "input_text", "text": text}],
        "attachments": [],
        "inference_options": {},
    }


@pytest.mark.postgres
def test_a_thread_started_on_one_server_is_continued_and_listed_on_the_other(
    fresh_postgres_url: str, tmp_path: Path
) -> None:
    migrations.upgrade(fresh_postgres_url)
    with ExitStack() as stack:
        servers = [
            stack.enter_context(serve(fresh_postgres_url, tmp_path / f"serve-{n}.log"))
            for n in (1, 2)
        ]
        for n, (base_url, process) in enumerate(servers, start=1):
            wait_healthy(base_url, process, tmp_path / f"serve-{n}.log")
        (first, _), (second, _) = servers
        assert first != second

        created = sse_events(
            post(
                first, {"type": "threads.create", "params": {"input": user_input("hello from one")}}
            ).text
        )
        thread_id = next(e["thread"]["id"] for e in created if e["type"] == "thread.created")
        assert any(
            e["type"] == "thread.item.done" and e["item"]["type"] == "assistant_message"
            for e in created
        )

        continued = sse_events(
            post(
                second,
                {
                    "type": "threads.add_user_message",
                    "params": {"thread_id": thread_id, "input": user_input("and hello from two")},
                },
            ).text
        )
        done = [e["item"] for e in continued if e["type"] == "thread.item.done"]
        assert [item["type"] for item in done] == ["user_message", "assistant_message"]
        assert all(item["thread_id"] == thread_id for item in done)

        for base_url in (first, second):
            listed = post(base_url, {"type": "threads.list", "params": {"limit": 10}}).json()
            assert [t["id"] for t in listed["data"]] == [thread_id]
            items = post(
                base_url, {"type": "items.list", "params": {"thread_id": thread_id, "order": "asc"}}
            ).json()
            kinds = [
                (item["type"], item["content"][0].get("text"))
                for item in items["data"]
                if item["type"] == "user_message"
            ]
            assert kinds == [
                ("user_message", "hello from one"),
                ("user_message", "and hello from two"),
            ]
            assert [item["type"] for item in items["data"]].count("assistant_message") == 2


@pytest.mark.postgres
def test_serve_refuses_a_postgresql_schema_that_is_behind_naming_the_fix(
    fresh_postgres_url: str,
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("CHATKIT_", "OPENAI_"))}
    env.update(
        {
            "CHATKIT_DATABASE_URL": fresh_postgres_url,
            "CHATKIT_PORT": str(free_port()),
            "COLUMNS": "400",
        }
    )
    result = subprocess.run(
        [sys.executable, "-m", "chatkit_backend", "serve"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=START_TIMEOUT,
    )
    assert result.returncode == 1
    assert (
        "database schema is at revision none (empty database), this version needs 0001: "
        f"run `chatkit-backend db upgrade --database-url {fresh_postgres_url}`"
    ) in " ".join(result.stderr.split())
    assert migrations.current(fresh_postgres_url) is None


def test_serve_upgrades_a_sqlite_database_on_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/db/chat.db"
    log = tmp_path / "serve.log"
    with serve(url, log) as (base_url, process):
        wait_healthy(base_url, process, log)
        assert migrations.current(url) == "0001"
