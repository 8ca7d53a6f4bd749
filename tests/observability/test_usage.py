"""Each reply's tokens: in /metrics as it ends, in the store, and through `chatkit-backend usage`."""

import asyncio
import json
from pathlib import Path

import httpx
import pytest

from chatkit_backend.context import RequestContext
from chatkit_backend.observability.usage import ReplyUsage, model_label
from chatkit_backend.responder.guard import TimeoutModel
from chatkit_backend.responder.offline import OfflineModel
from chatkit_backend.stores.usage import UsageQuery, UsageRecord
from tests.cli.conftest import invoke
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.observability.support import app_client, model_settings, reply, sample
from tests.support.bodies import create_body
from tests.support.live import run_app, sse_events
from tests.support.wait import poll

USAGE = Reply(
    text="one two three", input_tokens=120, cached_tokens=48, output_tokens=30, reasoning_tokens=9
)


@pytest.mark.parametrize("api", ["openai", "openai-compatible"])
async def test_a_reply_moves_the_token_counters_by_the_servers_numbers(api: str) -> None:
    with FakeOpenAIServer() as fake:
        fake.enqueue(USAGE, USAGE)
        async with app_client(model_settings(fake.url, api)) as (app, client):
            await reply(client)
            await reply(client, "again")
            metrics = (await client.get("/metrics")).text
            await app.state.services.usage.settled()
            totals = await app.state.services.store.admin_usage(UsageQuery(by=("user", "model")))
    for kind, each in (("input", 120), ("cached", 48), ("output", 30), ("reasoning", 9)):
        value = sample(metrics, "chatkit_model_tokens_total", model="fake-model", kind=kind)
        assert value == 2 * each, kind
    assert sample(metrics, "chatkit_replies_total", model="fake-model", outcome="completed") == 2
    assert sample(metrics, "chatkit_model_first_token_seconds_count", model="fake-model") == 2
    [total] = totals
    assert (total.user_id, total.model, total.replies, total.requests) == (
        "local",
        "fake-model",
        2,
        2,
    )
    assert (total.input_tokens, total.cached_tokens, total.output_tokens) == (240, 96, 60)
    assert total.reasoning_tokens == 18


async def test_time_to_first_token_is_measured_from_the_start_of_the_run() -> None:
    with FakeOpenAIServer(Reply(text="late", first_token_delay=0.3)) as fake:
        async with app_client(model_settings(fake.url)) as (_, client):
            await reply(client)
            metrics = (await client.get("/metrics")).text
    seconds = sample(metrics, "chatkit_model_first_token_seconds_sum", model="fake-model")
    assert seconds is not None and 0.3 <= seconds < 10
    assert (
        sample(metrics, "chatkit_model_first_token_seconds_bucket", model="fake-model", le="0.25")
        == 0
    )


async def test_a_failed_reply_counts_as_failed_with_no_tokens() -> None:
    with FakeOpenAIServer(Reply(status=500)) as fake:
        async with app_client(model_settings(fake.url)) as (app, client):
            response = await reply(client)
            assert any(event["type"] == "error" for event in sse_events(response.text))
            metrics = (await client.get("/metrics")).text
            await app.state.services.usage.settled()
            totals = await app.state.services.store.admin_usage(UsageQuery(by=("model",)))
    assert sample(metrics, "chatkit_replies_total", model="fake-model", outcome="failed") == 1
    assert sample(metrics, "chatkit_model_tokens_total", model="fake-model", kind="input") == 0
    assert sample(metrics, "chatkit_model_first_token_seconds_count", model="fake-model") is None
    assert [(t.model, t.replies, t.total_tokens) for t in totals] == [("fake-model", 1, 0)]


def test_a_reply_stopped_by_its_client_counts_as_cancelled(tmp_path: Path) -> None:
    from chatkit_backend import create_app

    with FakeOpenAIServer(Reply(text="a b c d e f", stall_after_tokens=2)) as fake:
        app = create_app(model_settings(fake.url))
        with run_app(app) as base_url:
            with httpx.stream(
                "POST", f"{base_url}/chatkit", json=create_body(), timeout=30
            ) as stream:
                for line in stream.iter_lines():
                    if "assistant_message.content_part.text_delta" in line:
                        break  # the client goes away mid-reply

            def counted() -> str | None:
                text = httpx.get(f"{base_url}/metrics").text
                cancelled = sample(
                    text, "chatkit_replies_total", model="fake-model", outcome="cancelled"
                )
                return text if cancelled == 1 else None

            metrics = poll(counted, "a cancelled reply counted")
    assert sample(metrics, "chatkit_replies_total", model="fake-model", outcome="completed") is None
    assert sample(metrics, "chatkit_model_first_token_seconds_count", model="fake-model") == 1


async def test_the_usage_command_adds_up_per_day_user_and_model(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'chat.db'}"
    with FakeOpenAIServer() as fake:
        fake.enqueue(USAGE, USAGE)
        settings = model_settings(fake.url, database_url=database)
        async with app_client(settings) as (app, client):
            await reply(client)
            await reply(client)
            await app.state.services.usage.settled()
    result = await asyncio.to_thread(invoke, "usage", "--database-url", database, "--json")
    assert result.exit_code == 0, result.stderr
    [row] = json.loads(result.stdout)
    assert row["user"] == "local" and row["model"] == "fake-model" and len(row["day"]) == 10
    assert (row["replies"], row["input_tokens"], row["cached_tokens"]) == (2, 240, 96)
    assert (row["output_tokens"], row["reasoning_tokens"], row["total_tokens"]) == (60, 18, 300)
    shown = await asyncio.to_thread(invoke, "usage", "--database-url", database, "--by", "model")
    assert shown.exit_code == 0
    assert "fake-model" in shown.stdout and "300" in shown.stdout and "local" not in shown.stdout


def test_the_usage_command_refuses_a_bad_grouping_and_a_bad_day(tmp_path: Path) -> None:
    database = f"sqlite:///{tmp_path / 'chat.db'}"
    bad_key = invoke("usage", "--database-url", database, "--by", "week")
    assert bad_key.exit_code == 2
    assert "--by: cannot group by 'week'" in bad_key.stderr
    bad_day = invoke("usage", "--database-url", database, "--since", "yesterday")
    assert bad_day.exit_code == 2
    assert "--since: 'yesterday' is not a day" in bad_day.stderr
    missing = invoke("usage", "--database-url", database)
    assert missing.exit_code == 1
    assert missing.stderr == (
        f"error: no database at {tmp_path / 'chat.db'}: check --data-dir or --database-url "
        "(the server creates it when it first starts)\n"
    )
    assert not (tmp_path / "chat.db").exists()
    assert invoke("db", "upgrade", "--database-url", database).exit_code == 0
    empty = invoke("usage", "--database-url", database)
    assert empty.exit_code == 0 and "No usage recorded." in empty.stdout


def test_model_labels_name_the_model_through_its_wrappers() -> None:
    guarded = TimeoutModel(OfflineModel(), first_token_timeout=1, idle_timeout=1)
    assert model_label(guarded) == "offline"
    assert model_label("gpt-4.1-mini") == "gpt-4.1-mini"
    assert model_label(None) == "default"


async def test_usage_is_written_in_the_background_and_a_store_failure_is_only_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from chatkit_backend.metrics import Metrics
    from chatkit_backend.observability.usage import UsageRecorder
    from chatkit_backend.stores import MemoryStore

    class Broken(MemoryStore):
        async def save_usage(self, record: UsageRecord) -> None:
            raise OSError("disk full")

    recorder = UsageRecorder(Metrics(), store=Broken())
    recorder.reply_ended(
        RequestContext(user_id="alice"),
        ReplyUsage(thread_id="thr_1", model="m", outcome="completed", input_tokens=5),
    )
    await recorder.settled()
    assert "could not record a reply's usage (thread thr_1): OSError: disk full" in caplog.text
