"""Thumbs up and down over HTTP, read back with ``chatkit-backend feedback list|export``."""

import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

from chatkit_backend import Settings, create_app
from tests.cli.conftest import invoke
from tests.observability.support import sample
from tests.support.bodies import create_body, user_input
from tests.support.live import run_app, sse_events


@dataclass
class Rated:
    """A thread with two questions answered, the first thumbed up, the second down."""

    base_url: str
    database_url: str
    thread_id: str
    answers: list[dict[str, Any]]
    metrics: str


def _answer(events: list[dict[str, Any]]) -> dict[str, Any]:
    done = [
        event["item"]
        for event in events
        if event["type"] == "thread.item.done" and event["item"]["type"] == "assistant_message"
    ]
    assert done, events
    answer: dict[str, Any] = done[-1]
    return answer


@pytest.fixture(scope="module")
def rated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Rated]:
    folder = tmp_path_factory.mktemp("feedback")
    database_url = f"sqlite:///{folder / 'chat.db'}"
    settings = Settings(
        database_url=database_url, data_dir=folder, offline_token_delay=0, attachments=False
    )
    with run_app(create_app(settings)) as base_url, httpx.Client(base_url=base_url) as client:
        created = sse_events(client.post("/chatkit", json=create_body("What is 2+2?")).text)
        thread_id = next(e["thread"]["id"] for e in created if e["type"] == "thread.created")
        followed = client.post(
            "/chatkit",
            json={
                "type": "threads.add_user_message",
                "params": {"thread_id": thread_id, "input": user_input("And 3+3?")},
            },
        )
        answers = [_answer(created), _answer(sse_events(followed.text))]
        for answer, kind in zip(answers, ("positive", "negative"), strict=True):
            rated = client.post(
                "/chatkit",
                json={
                    "type": "items.feedback",
                    "params": {"thread_id": thread_id, "item_ids": [answer["id"]], "kind": kind},
                },
            )
            assert rated.status_code == 200, rated.text
        metrics = client.get("/metrics").text
        yield Rated(base_url, database_url, thread_id, answers, metrics)


def _text(answer: dict[str, Any]) -> str:
    return "".join(part["text"] for part in answer["content"])


def test_feedback_list_shows_each_rated_message_with_the_question(rated: Rated) -> None:
    result = invoke("feedback", "list", "--database-url", rated.database_url, "--json")
    assert result.exit_code == 0, result.stderr
    rows = json.loads(result.stdout)
    assert [(row["kind"], row["user_message"]) for row in rows] == [
        ("positive", "What is 2+2?"),
        ("negative", "And 3+3?"),
    ]
    for row, answer in zip(rows, rated.answers, strict=True):
        assert row["thread_id"] == rated.thread_id
        assert row["item_id"] == answer["id"]
        assert row["assistant"] == _text(answer)
        assert row["user_id"] == "local"
        assert row["user_message_id"].startswith("msg_")


def test_feedback_list_filters_by_kind_user_and_time(rated: Rated) -> None:
    def rows(*options: str) -> list[dict[str, Any]]:
        result = invoke(
            "feedback", "list", "--database-url", rated.database_url, "--json", *options
        )
        assert result.exit_code == 0, result.stderr
        return list(json.loads(result.stdout))

    assert [row["user_message"] for row in rows("--kind", "negative")] == ["And 3+3?"]
    assert [row["kind"] for row in rows("--user", "local")] == ["positive", "negative"]
    assert rows("--user", "someone-else") == []
    assert len(rows("--since", "2000-01-01")) == 2
    assert rows("--since", "2999-01-01T00:00:00Z") == []
    assert len(rows("--limit", "1")) == 1


def test_feedback_list_prints_a_table(rated: Rated) -> None:
    result = invoke("feedback", "list", "--database-url", rated.database_url)
    assert result.exit_code == 0
    assert "What is 2+2?" in result.stdout and "negative" in result.stdout
    assert rated.thread_id in result.stdout


def test_feedback_export_writes_json_lines(rated: Rated, tmp_path: Path) -> None:
    out = tmp_path / "feedback.jsonl"
    written = invoke("feedback", "export", "--database-url", rated.database_url, "-o", str(out))
    assert written.exit_code == 0, written.stderr
    assert "wrote 2 rated message(s)" in written.stdout
    lines = [json.loads(line) for line in out.read_text().splitlines()]
    assert [line["kind"] for line in lines] == ["positive", "negative"]
    assert set(lines[0]) == {
        "rated_at",
        "kind",
        "user_id",
        "thread_id",
        "item_id",
        "assistant",
        "user_message_id",
        "user_message",
    }
    printed = invoke(
        "feedback", "export", "--database-url", rated.database_url, "--kind", "positive"
    )
    assert [json.loads(line)["user_message"] for line in printed.stdout.splitlines()] == [
        "What is 2+2?"
    ]


def test_feedback_is_counted_by_kind(rated: Rated) -> None:
    assert sample(rated.metrics, "chatkit_feedback_total", kind="positive") == 1
    assert sample(rated.metrics, "chatkit_feedback_total", kind="negative") == 1


def test_bad_options_exit_2_naming_them(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'chat.db'}"
    kind = invoke("feedback", "list", "--database-url", database, "--kind", "meh")
    assert kind.exit_code == 2
    assert "--kind: 'meh' is not a kind of feedback: use positive or negative" in kind.stderr
    since = invoke("feedback", "export", "--database-url", database, "--since", "last week")
    assert since.exit_code == 2
    assert "--since: 'last week' is not a date" in since.stderr
    assert invoke("db", "upgrade", "--database-url", database).exit_code == 0
    empty = invoke("feedback", "list", "--database-url", database)
    assert empty.exit_code == 0 and "No feedback." in empty.stdout
