"""``chatkit-backend serve`` processes and the store: shared PostgreSQL, schema checks on start."""

import subprocess
from contextlib import AbstractContextManager, ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit_backend.stores import migrations
from tests.support.bodies import user_input
from tests.support.live import free_port, run_cli, run_serve, sse_events

START_TIMEOUT = 90.0
HEAD = migrations.head()


def serve(
    database_url: str, log: Path
) -> AbstractContextManager[tuple[str, subprocess.Popen[str]]]:
    """Start ``serve`` on a free port (output to ``log``) until healthy; yields (base URL, process)."""
    env = {
        "CHATKIT_DATABASE_URL": database_url,
        "CHATKIT_DATA_DIR": str(log.parent / f"data-{log.stem}"),
        "CHATKIT_OFFLINE_TOKEN_DELAY": "0",
    }
    return run_serve(env, log=log, timeout=START_TIMEOUT)


def post(base_url: str, body: dict[str, Any]) -> httpx.Response:
    response = httpx.post(f"{base_url}/chatkit", json=body, timeout=30.0)
    assert response.status_code == 200, response.text
    return response


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
    env = {
        "CHATKIT_DATABASE_URL": fresh_postgres_url,
        "CHATKIT_PORT": str(free_port()),
        "COLUMNS": "400",
    }
    result = run_cli(["serve"], env, timeout=START_TIMEOUT)
    assert result.returncode == 1
    assert (
        f"database schema is at revision none (empty database), this version needs {HEAD}: "
        f"run `chatkit-backend db upgrade --database-url {fresh_postgres_url}`"
    ) in " ".join(result.stderr.split())
    assert migrations.current(fresh_postgres_url) is None


def test_serve_upgrades_a_sqlite_database_on_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/db/chat.db"
    log = tmp_path / "serve.log"
    with serve(url, log):
        assert migrations.current(url) == HEAD
